/**
 * Revocation (docs/service.md "Revocation"): a device's certificates are revoked with an RFC 5280
 * reason and the device is disabled, in one transaction with its audit entries and a new CRL;
 * cached OCSP answers for those serials are dropped once it has committed. A revoked device may
 * re-key and re-enter approval (requests.ts), always decided by an approver.
 */
import { PkiError, type RevocationReason, isRevocationReason, parseCertificate, publicKeyFingerprint } from '@provisio/pki';
import { publishCrl } from './crl.js';
import { type Actor, type ServiceDeps, actorName } from './deps.js';
import { ServiceError } from './errors.js';
import type { CertificateRecord, DeviceIdText, DeviceRecord } from './model.js';
import type { StoreTx } from './store.js';
import { askDetails } from './reprovision-ask.js';

/**
 * What a device or bootstrap certificate may be revoked for. Refused: cACompromise and
 * aACompromise (they speak of a CA or attribute authority, not of an end entity), removeFromCRL
 * (delta CRLs only) and certificateHold (a hold is a reversible revocation, which Provisio does
 * not offer: revocation is final, a device re-enters approval with a new key instead).
 */
export const END_ENTITY_REVOCATION_REASONS: readonly RevocationReason[] = [
  'unspecified',
  'keyCompromise',
  'affiliationChanged',
  'superseded',
  'cessationOfOperation',
  'privilegeWithdrawn',
];

export function parseEndEntityReason(text: string): RevocationReason {
  if (!isRevocationReason(text) || !END_ENTITY_REVOCATION_REASONS.includes(text)) {
    const why = text === 'certificateHold'
      ? 'certificateHold is not supported: revocation is final'
      : isRevocationReason(text) ? `${text} does not apply to a device or bootstrap certificate` : `"${text.slice(0, 40)}" is not an RFC 5280 reason`;
    throw new PkiError('revocation_reason_invalid', `${why}; use one of ${END_ENTITY_REVOCATION_REASONS.join(', ')}`);
  }
  return text;
}

export interface DeviceRevocation {
  readonly device: DeviceRecord;
  /** The certificates this call revoked (none when the device was already revoked). */
  readonly revoked: readonly CertificateRecord[];
  /** False when the device was already revoked: nothing was written. */
  readonly changed: boolean;
  /** The number of the CRL published with this revocation; null when nothing changed. */
  readonly crlNumber: number | null;
}

/**
 * Revokes certificates in `tx` and audits each (fingerprints only); returns those it revoked. A
 * keyCompromise revocation also blocks the certificate's key in the same transaction: no identity
 * gets it certified again (issuance/key-policy.ts).
 */
export async function revokeCertificatesInTx(
  tx: StoreTx,
  certificates: readonly CertificateRecord[],
  revocation: { at: Date; reason: RevocationReason; actor: string },
): Promise<CertificateRecord[]> {
  const revoked: CertificateRecord[] = [];
  for (const c of certificates) {
    if (!(await tx.revokeCertificate(c.issuerFingerprint, c.serial, { at: revocation.at, reason: revocation.reason }))) continue;
    revoked.push({ ...c, status: 'revoked', revokedAt: revocation.at, revocationReason: revocation.reason });
    const keySha256 = revocation.reason === 'keyCompromise' ? c.publicKeySha256 ?? publicKeyFingerprint(parseCertificate(c.der).publicKey) : null;
    const keyBlocked = keySha256 !== null
      && (await tx.blockKey({ publicKeySha256: keySha256, blockedAt: revocation.at, issuerFingerprint: c.issuerFingerprint, serial: c.serial }));
    await tx.appendAudit({
      at: revocation.at,
      actor: revocation.actor,
      action: 'certificate.revoke',
      targetType: 'certificate',
      targetId: c.serial,
      details: {
        kind: c.kind,
        sha256: c.fingerprint,
        reason: revocation.reason,
        ...(c.deviceId ? { deviceId: c.deviceId } : {}),
        ...(keyBlocked ? { blockedKeySha256: keySha256 } : {}),
      },
    });
  }
  return revoked;
}

/**
 * Revokes every active, unexpired certificate of a device with `reasonText` and disables the
 * device (state revoked). Idempotent: a revoked device stays as it is and nothing is written.
 * A pending or rejected device has no certificate: its request is rejected instead.
 */
export async function revokeDevice(
  deps: Pick<ServiceDeps, 'store' | 'clock' | 'authority' | 'revocation'>,
  actor: Actor,
  deviceId: DeviceIdText,
  reasonText: string,
): Promise<DeviceRevocation> {
  const reason = parseEndEntityReason(reasonText);
  const device = await deps.store.findDevice(deviceId);
  if (!device) throw new ServiceError('device_not_found', `no device has id "${deviceId}"`);
  if (device.state === 'revoked') return { device, revoked: [], changed: false, crlNumber: null };
  if (device.state !== 'approved' && device.state !== 'provisioned') {
    throw new ServiceError('device_not_revocable', `device "${deviceId}" is ${device.state} and holds no certificate; reject its pending request instead ("provisio request reject")`);
  }
  const now = deps.clock.now();
  const outcome = await deps.store.transaction(async (tx) => {
    // The state moves first (compare-and-set): of two concurrent revocations one writes, the
    // other finds the device revoked and writes nothing.
    if (!(await tx.transitionDevice(deviceId, ['approved', 'provisioned'], 'revoked', now))) return null;
    const active = (await tx.listCertificatesForDevice(deviceId)).filter((c) => c.status === 'active' && c.notAfter > now);
    const revoked = await revokeCertificatesInTx(tx, active, { at: now, reason, actor: actorName(actor) });
    const crl = await publishCrl(tx, deps);
    // A revoked device never reprovisions: an outstanding ask is withdrawn with it.
    const ask = device.reprovisionAsk;
    const withdrawn = ask && (await tx.setReprovisionAsk(deviceId, ask.at, null)) ? await askDetails(tx, ask) : null;
    await tx.appendAudit({
      at: now,
      actor: actorName(actor),
      action: 'device.revoke',
      targetType: 'device',
      targetId: deviceId,
      details: {
        reason,
        previousState: device.state,
        serials: revoked.map((c) => c.serial),
        crlNumber: crl.crlNumber,
        ...(withdrawn ? { reprovisionRequestWithdrawn: withdrawn } : {}),
      },
    });
    return { revoked, crlNumber: crl.crlNumber };
  });
  const after = await deps.store.findDevice(deviceId);
  if (!after) throw new ServiceError('device_not_found', `no device has id "${deviceId}"`);
  if (!outcome) {
    if (after.state === 'revoked') return { device: after, revoked: [], changed: false, crlNumber: null };
    throw new ServiceError('device_not_revocable', `device "${deviceId}" changed state to ${after.state} concurrently; retry`);
  }
  deps.revocation.revoked(outcome.revoked.map((c) => c.serial));
  return { device: after, revoked: outcome.revoked, changed: true, crlNumber: outcome.crlNumber };
}

/**
 * For a known device asking to be provisioned again (state revoked, or rejected after it had been
 * revoked): null when it was never revoked (an ordinary retry after a rejection); otherwise the
 * reason it was revoked, which sends its request to an approver. That the request carries a new
 * key is key policy's (issuance/key-policy.ts: `device_key_revoked`), checked at intake and again
 * when the certificate is issued, so a rejected return does not reopen the door to the old key.
 */
export async function checkReentry(deps: Pick<ServiceDeps, 'store'>, device: DeviceRecord): Promise<RevocationReason | null> {
  const certificates = await deps.store.listCertificatesForDevice(device.deviceId);
  const revoked = certificates.find((c) => c.status === 'revoked');
  if (device.state !== 'revoked' && !revoked) return null;
  return revoked?.revocationReason ?? 'unspecified';
}
