/**
 * Reprovisioning asked for by an admin (docs/lifecycle.md "Reprovisioning asked for by an
 * admin"). The service cannot call a device, so an admin or approver records the ask on the
 * device; the device learns it from the answer to its next check-in at the central station and
 * reprovisions as it would on its own. Its reprovisioning request made while the ask is
 * outstanding counts as approved by the person who asked (they already decided); the ask is
 * cleared when the device confirms the fresh profile, when such a request is rejected, or when
 * it is cancelled.
 */
import { type Actor, type ServiceDeps, actorName } from './deps.js';
import { ServiceError } from './errors.js';
import type { DeviceIdText, DeviceRecord, ReprovisionAsk, RequestRecord } from './model.js';
import type { StoreTx } from './store.js';

/** Long enough for a ticket reference and a sentence; the same bound as a rejection's reason. */
export const MAX_REPROVISION_REASON = 500;

export interface ReprovisionAskResult {
  readonly device: DeviceRecord;
  /** False when nothing was written: an ask was already outstanding (ask), or none was (cancel). */
  readonly changed: boolean;
}

async function requireDevice(deps: Pick<ServiceDeps, 'store'>, deviceId: DeviceIdText): Promise<DeviceRecord> {
  const device = await deps.store.findDevice(deviceId);
  if (!device) throw new ServiceError('device_not_found', `no device has id "${deviceId}"; list them with "provisio device list"`);
  return device;
}

/**
 * Records that `actor` asks for the device to be reprovisioned (audit
 * `device.reprovision_requested`). Only a provisioned device can: anything else holds no
 * certificate to reprovision with. Idempotent while an ask is outstanding: the first one stands
 * and nothing is written.
 */
export async function askReprovision(deps: Pick<ServiceDeps, 'store' | 'clock'>, actor: Actor, deviceId: DeviceIdText, reason: string): Promise<ReprovisionAskResult> {
  const trimmed = reason.trim();
  if (trimmed.length === 0 || trimmed.length > MAX_REPROVISION_REASON) {
    throw new ServiceError('validation_failed', `a reprovisioning needs a reason of 1 to ${MAX_REPROVISION_REASON} characters`);
  }
  const device = await requireDevice(deps, deviceId);
  if (device.reprovisionAsk) return { device, changed: false };
  if (device.state !== 'provisioned') {
    throw new ServiceError(
      'device_not_provisioned',
      `device "${deviceId}" is ${device.state}; only a provisioned device can be reprovisioned${device.state === 'revoked' ? ' (a revoked device re-enters with a new key through a new provisioning request)' : ''}`,
    );
  }
  const now = deps.clock.now();
  const ask: ReprovisionAsk = { at: now, by: actor.userId, reason: trimmed };
  const won = await deps.store.transaction(async (tx) => {
    if (!(await tx.setReprovisionAsk(deviceId, null, ask))) return false;
    await tx.appendAudit({ at: now, actor: actorName(actor), action: 'device.reprovision_requested', targetType: 'device', targetId: deviceId, details: { reason: trimmed, state: device.state } });
    return true;
  });
  // Lost a race with a concurrent ask: that one stands.
  return { device: await requireDevice(deps, deviceId), changed: won };
}

/** Withdraws the outstanding ask (audit `device.reprovision_cancelled`); nothing outstanding: nothing written. */
export async function cancelReprovisionAsk(deps: Pick<ServiceDeps, 'store' | 'clock'>, actor: Actor, deviceId: DeviceIdText): Promise<ReprovisionAskResult> {
  const device = await requireDevice(deps, deviceId);
  const ask = device.reprovisionAsk;
  if (!ask) return { device, changed: false };
  const now = deps.clock.now();
  const won = await deps.store.transaction(async (tx) => {
    if (!(await tx.setReprovisionAsk(deviceId, ask.at, null))) return false;
    await tx.appendAudit({ at: now, actor: actorName(actor), action: 'device.reprovision_cancelled', targetType: 'device', targetId: deviceId, details: await askDetails(tx, ask) });
    return true;
  });
  return { device: await requireDevice(deps, deviceId), changed: won };
}

/** The ask as audit details: who (by name: the audit log names people), when, why. */
export async function askDetails(tx: Pick<StoreTx, 'findUserById'>, ask: ReprovisionAsk): Promise<Record<string, string>> {
  const user = await tx.findUserById(ask.by);
  return { requestedBy: user?.username ?? ask.by, requestedAt: ask.at.toISOString(), reason: ask.reason };
}

/**
 * Clears the ask inside `tx` when `request` answers it: a reprovisioning request made while the
 * ask was outstanding, now confirmed or rejected. Returns the ask it cleared, or null.
 */
export async function clearAnsweredAsk(tx: StoreTx, request: RequestRecord): Promise<ReprovisionAsk | null> {
  if (request.kind !== 'reprovision') return null;
  const ask = (await tx.findDevice(request.deviceId))?.reprovisionAsk;
  if (!ask || request.createdAt.getTime() < ask.at.getTime()) return null;
  return (await tx.setReprovisionAsk(request.deviceId, ask.at, null)) ? ask : null;
}
