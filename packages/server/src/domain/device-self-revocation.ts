/**
 * A device revokes one of its own certificates (CMP rr, RFC 4210 §5.3.9; docs/protocols.md),
 * authenticated by a current certificate of the same device. Revoking its current certificate
 * retires the device (state revoked, every active certificate revoked), as an administrator's
 * revocation does: a device without a current certificate cannot renew, and a key its owner gave
 * up should not stay certified under another certificate. Revoking an older, still active
 * certificate revokes just that one. Either way in one transaction with the audit entries and a
 * new CRL; the OCSP cache forgets the serials once it committed, so OCSP says revoked at once.
 */
import type { RevocationReason, SerialNumber } from '@provisio/pki';
import { publishCrl } from './crl.js';
import type { ServiceDeps } from './deps.js';
import { ServiceError } from './errors.js';
import type { CertificateRecord, DeviceIdText } from './model.js';
import { parseEndEntityReason, revokeCertificatesInTx } from './revocation.js';
import type { RenewingDevice } from './lifecycle.js';

const REASON_CODES: readonly (RevocationReason | null)[] = [
  'unspecified', 'keyCompromise', 'cACompromise', 'affiliationChanged', 'superseded', 'cessationOfOperation', 'certificateHold', null, 'removeFromCRL', 'privilegeWithdrawn', 'aACompromise',
];

/** RFC 5280 §5.3.1 CRLReason code → name, refusing what an end entity may not say (revocation.ts). */
export function reasonFromCode(code: number | null): RevocationReason {
  const name = code === null ? 'unspecified' : REASON_CODES[code] ?? `code ${code}`;
  return parseEndEntityReason(name ?? `code ${code}`);
}

export interface SelfRevocation {
  readonly revoked: readonly CertificateRecord[];
  readonly deviceRetired: boolean;
}

export async function revokeOwnCertificate(
  deps: Pick<ServiceDeps, 'store' | 'clock' | 'authority' | 'revocation'>,
  who: RenewingDevice,
  input: { serial: SerialNumber; reason: RevocationReason; protocol: 'cmp' },
): Promise<SelfRevocation> {
  const deviceId: DeviceIdText = who.device.deviceId;
  const target = await deps.store.findCertificate(deps.authority.issuerFingerprint, input.serial);
  if (!target || target.deviceId !== deviceId || target.kind !== 'device') {
    throw new ServiceError('certificate_not_found', `device "${deviceId}" has no certificate with serial ${input.serial} from this issuing CA`);
  }
  if (target.status === 'revoked') {
    throw new ServiceError('certificate_revoked', `certificate ${input.serial} was revoked already (${target.revocationReason}) at ${target.revokedAt?.toISOString()}`);
  }
  const now = deps.clock.now();
  const retire = target.serial === who.record.serial;
  const actor = `device:${deviceId}`;
  const outcome = await deps.store.transaction(async (tx) => {
    if (retire && !(await tx.transitionDevice(deviceId, ['provisioned', 'approved'], 'revoked', now))) {
      throw new ServiceError('device_not_provisioned', `device "${deviceId}" changed state concurrently; retry`);
    }
    const targets = retire ? (await tx.listCertificatesForDevice(deviceId)).filter((c) => c.status === 'active' && c.notAfter > now) : [target];
    const revoked = await revokeCertificatesInTx(tx, targets, { at: now, reason: input.reason, actor });
    if (revoked.length === 0) throw new ServiceError('certificate_revoked', `certificate ${input.serial} was revoked concurrently`);
    const crl = await publishCrl(tx, deps);
    await tx.appendAudit({
      at: now,
      actor,
      action: retire ? 'device.revoke' : 'certificate.self_revoke',
      targetType: 'device',
      targetId: deviceId,
      details: {
        reason: input.reason,
        protocol: input.protocol,
        requestedSerial: input.serial,
        serials: revoked.map((c) => c.serial),
        crlNumber: crl.crlNumber,
        ...(retire ? { previousState: who.device.state } : {}),
      },
    });
    return revoked;
  });
  deps.revocation.revoked(outcome.map((c) => c.serial));
  return { revoked: outcome, deviceRetired: retire };
}
