/**
 * QR/app onboarding (docs/web.md "Onboard", D46): a technician at the bedside scans the QR code
 * of a pairing (its setup payload: service URL, root fingerprint, device id, code) or types the
 * code, sees the device record, and confirms the device in front of them.
 *
 * Confirming is the APPROVAL of the request the device made with that code — nothing new: it
 * runs requests.ts approveRequest with the signed-in person (roles admin or approver, every
 * re-check of approval-checks.ts), and holding the code is the proof that they stand at the
 * device the QR code was printed for. With separation of duties, the person who created the
 * pairing code (who pre-registered the device) may not confirm it too. The code is checked by
 * checkPairingCode, so a wrong one counts towards the lock like a device's wrong code.
 */
import { createHash } from 'node:crypto';
import { formatSetupPayload } from '@provisio/protocol';
import type { Actor, ServiceDeps } from './deps.js';
import { ServiceError } from './errors.js';
import type { DeviceRecord, PairingCodeRecord, RequestRecord } from './model.js';
import { checkPairingCode } from './pairing-codes.js';
import { approveRequest } from './requests.js';

/** The setup payload of a pairing code or token, for its QR code (docs/formats.md "Setup payload"). A secret. */
export function setupPayloadFor(deps: Pick<ServiceDeps, 'authority' | 'urls'>, secret: { deviceId: string; code: string } | { deviceId?: string | null; token: string }): string {
  const common = { url: deps.urls.serviceUrl, rootSha256: createHash('sha256').update(deps.authority.root.der).digest('hex') };
  if ('code' in secret) return formatSetupPayload({ ...common, deviceId: secret.deviceId, code: secret.code });
  return formatSetupPayload({ ...common, ...(secret.deviceId ? { deviceId: secret.deviceId } : {}), token: secret.token });
}

export interface OnboardingView {
  readonly pairing: PairingCodeRecord;
  /** Null until the device has asked (its `provisio device pair`). */
  readonly device: DeviceRecord | null;
  /** The request the device made with the code; null until it asked. */
  readonly request: RequestRecord | null;
}

/** What the technician sees for a device id and its code (the right code, whatever the pairing's state). */
export async function lookUpOnboarding(deps: Pick<ServiceDeps, 'store' | 'clock' | 'random'>, input: { deviceId: string; code: string }): Promise<OnboardingView> {
  const pairing = await checkPairingCode(deps, input);
  const request = pairing.usedRequestId ? await deps.store.findRequest(pairing.usedRequestId) : null;
  return { pairing, device: await deps.store.findDevice(pairing.deviceId), request };
}

/** The technician confirms the device in front of them: the approval of its pending pairing request. */
export async function confirmOnboarding(
  deps: Pick<ServiceDeps, 'store' | 'clock' | 'random' | 'authority' | 'urls' | 'decisions'>,
  actor: Actor,
  input: { deviceId: string; code: string },
): Promise<OnboardingView> {
  const view = await lookUpOnboarding(deps, input);
  const { pairing, request } = view;
  if (pairing.revokedAt) throw new ServiceError('pairing_code_revoked', `the pairing code of device ${pairing.deviceId} was revoked at ${pairing.revokedAt.toISOString()}; ask an administrator for a new one`);
  if (!request) {
    throw new ServiceError('pairing_not_asked', `device ${pairing.deviceId} has not asked yet: start "provisio device pair" on it with this code, then confirm`);
  }
  if (request.state !== 'pending') return view;
  const system = await deps.store.findSystemById(pairing.systemId);
  if (system?.separationOfDuties && pairing.createdBy === actor.userId) {
    throw new ServiceError(
      'approver_is_submitter',
      `${actor.username} created the pairing code of device ${pairing.deviceId} and may not confirm it too: system "${system.name}" keeps separation of duties (another approver confirms)`,
    );
  }
  await approveRequest(deps, actor, request.id, { confirmedInPerson: true, pairing: pairing.deviceId });
  return lookUpOnboarding(deps, input);
}
