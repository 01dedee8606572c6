/** The record of a certificate this CA has just issued: active, not revoked, fingerprinted. */
import { fingerprint, type IssuedCertificate } from '@provisio/pki';
import type { CertificateRecord, DeviceIdText, RequestId } from './model.js';

export function newCertificateRecord(
  issued: IssuedCertificate,
  who: { issuerFingerprint: string; kind: CertificateRecord['kind']; publicKeySha256: string; now: Date; deviceId?: DeviceIdText; requestId?: RequestId },
): CertificateRecord {
  return {
    serial: issued.serial,
    issuerFingerprint: who.issuerFingerprint,
    deviceId: who.deviceId ?? null,
    requestId: who.requestId ?? null,
    kind: who.kind,
    der: issued.der,
    fingerprint: fingerprint(issued.der),
    notBefore: issued.notBefore,
    notAfter: issued.notAfter,
    status: 'active',
    revokedAt: null,
    revocationReason: null,
    createdAt: who.now,
    publicKeySha256: who.publicKeySha256,
  };
}
