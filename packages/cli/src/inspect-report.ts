/**
 * What `provisio inspect` reports, as plain JSON-ready objects. `--json` prints these as they
 * are and the text view is rendered from the same objects, so both always say the same thing.
 * The fields are documented in docs/cli.md; they may be added to, never renamed or removed.
 */

import { createHash } from 'node:crypto';
import {
  describePublicKey,
  extKeyUsageName,
  formatGeneralName,
  formatName,
  type ParsedCertificate,
  type ParsedCrl,
  type ParsedCsr,
  type ParsedOcspResponse,
  type PublicKeyInfo,
  publicKeyFingerprint,
} from '@provisio/pki';
import { rfc3339, type ValidityStatus, validityStatus } from './format-text.js';

export interface Verification {
  /** `verified`; `not_verified` when nothing to verify against was given; `failed`. */
  readonly status: 'verified' | 'not_verified' | 'failed';
  /** The trust anchor or signer the check ended at (formatted subject), when verified. */
  readonly against: string | null;
  /** Subjects from the inspected object up to the trust anchor, when a chain was verified. */
  readonly path: readonly string[];
  /** The error code when failed. */
  readonly code: string | null;
  readonly message: string;
}

export interface PublicKeyReport {
  /** `ECDSA P-256`, `ECDSA P-384`, `RSA 3072`. */
  readonly algorithm: string;
  readonly bits: number;
  /** SHA-256 over the SubjectPublicKeyInfo DER, lowercase hex: the same in a CSR and its certificate. */
  readonly sha256: string;
}

export interface CertificateReport {
  readonly type: 'certificate';
  readonly serial: string;
  readonly subject: string;
  readonly subjectAltNames: readonly string[];
  readonly issuer: string;
  readonly selfIssued: boolean;
  readonly notBefore: string;
  readonly notAfter: string;
  readonly validity: ValidityStatus;
  readonly publicKey: PublicKeyReport;
  readonly signatureAlgorithm: string;
  readonly keyUsage: readonly string[];
  readonly extKeyUsage: readonly string[];
  readonly ca: boolean;
  readonly pathLength: number | null;
  readonly crlUrls: readonly string[];
  readonly ocspUrls: readonly string[];
  readonly caIssuersUrls: readonly string[];
  readonly subjectKeyId: string | null;
  readonly authorityKeyId: string | null;
  /** SHA-256 over the certificate DER, lowercase hex (`openssl x509 -outform DER | sha256sum`). */
  readonly sha256: string;
  readonly verification: Verification;
}

export interface CsrReport {
  readonly type: 'csr';
  readonly subject: string;
  readonly publicKey: PublicKeyReport;
  readonly signatureAlgorithm: string;
  /** Extensions the requester asked for. Shown only: Provisio never copies them into a certificate. */
  readonly requested: {
    readonly subjectAltNames: readonly string[];
    readonly keyUsage: readonly string[];
    readonly extKeyUsage: readonly string[];
    readonly ca: boolean | null;
  };
  readonly sha256: string;
  readonly verification: Verification;
}

export function publicKeyReport(info: PublicKeyInfo): PublicKeyReport {
  return { algorithm: describePublicKey(info), bits: info.bits, sha256: publicKeyFingerprint(info) };
}

export function certificateReport(cert: ParsedCertificate, now: Date, verification: Verification): CertificateReport {
  const d = cert.decoded;
  return {
    type: 'certificate',
    serial: cert.serial,
    subject: formatName(cert.subject),
    subjectAltNames: (d.subjectAltName ?? []).map(formatGeneralName),
    issuer: formatName(cert.issuer),
    selfIssued: cert.issuer.der.equals(cert.subject.der),
    notBefore: rfc3339(cert.notBefore),
    notAfter: rfc3339(cert.notAfter),
    validity: validityStatus(cert.notBefore, cert.notAfter, now),
    publicKey: publicKeyReport(cert.publicKey),
    signatureAlgorithm: cert.signatureAlgorithm.name,
    keyUsage: d.keyUsage ? [...d.keyUsage] : [],
    extKeyUsage: (d.extKeyUsage ?? []).map(extKeyUsageName),
    ca: d.basicConstraints?.ca === true,
    pathLength: d.basicConstraints?.pathLength ?? null,
    crlUrls: d.crlDistributionPoints ?? [],
    ocspUrls: d.ocspUrls ?? [],
    caIssuersUrls: d.caIssuersUrls ?? [],
    subjectKeyId: d.subjectKeyId?.toString('hex') ?? null,
    authorityKeyId: d.authorityKeyId?.toString('hex') ?? null,
    sha256: cert.fingerprint,
    verification,
  };
}

export function csrReport(csr: ParsedCsr, verification: Verification): CsrReport {
  const r = csr.requestedExtensions;
  return {
    type: 'csr',
    subject: formatName(csr.subject),
    publicKey: publicKeyReport(csr.publicKey),
    signatureAlgorithm: csr.signatureAlgorithm.name,
    requested: {
      subjectAltNames: (r.subjectAltName ?? []).map(formatGeneralName),
      keyUsage: r.keyUsage ? [...r.keyUsage] : [],
      extKeyUsage: (r.extKeyUsage ?? []).map(extKeyUsageName),
      ca: r.basicConstraints ? r.basicConstraints.ca : null,
    },
    sha256: createHash('sha256').update(csr.der).digest('hex'),
    verification,
  };
}

export interface CrlEntryReport {
  readonly serial: string;
  readonly revokedAt: string;
  readonly reason: string;
}

export interface CrlReport {
  readonly type: 'crl';
  readonly issuer: string;
  /** Decimal string: CRL numbers go up to 2^159 (RFC 5280 §5.2.3), past JSON's safe integers. */
  readonly crlNumber: string | null;
  readonly thisUpdate: string;
  readonly nextUpdate: string | null;
  /** `current`, `stale` (nextUpdate has passed) or `not_yet_valid` (thisUpdate is in the future). */
  readonly freshness: 'current' | 'stale' | 'not_yet_valid';
  readonly signatureAlgorithm: string;
  readonly authorityKeyId: string | null;
  readonly revokedCount: number;
  readonly entries: readonly CrlEntryReport[];
  readonly sha256: string;
  readonly verification: Verification;
}

export function crlReport(crl: ParsedCrl, now: Date, verification: Verification): CrlReport {
  const freshness =
    now < crl.thisUpdate ? 'not_yet_valid' : crl.nextUpdate && now > crl.nextUpdate ? 'stale' : 'current';
  return {
    type: 'crl',
    issuer: formatName(crl.issuer),
    crlNumber: crl.crlNumber === null ? null : crl.crlNumber.toString(10),
    thisUpdate: rfc3339(crl.thisUpdate),
    nextUpdate: crl.nextUpdate ? rfc3339(crl.nextUpdate) : null,
    freshness,
    signatureAlgorithm: crl.signatureAlgorithm.name,
    authorityKeyId: crl.authorityKeyId?.toString('hex') ?? null,
    revokedCount: crl.entries.length,
    entries: crl.entries.map((e) => ({ serial: e.serial, revokedAt: rfc3339(e.revokedAt), reason: e.reason })),
    sha256: createHash('sha256').update(crl.der).digest('hex'),
    verification,
  };
}

export interface OcspSingleReport {
  readonly serial: string;
  /** `good`, `revoked` or `unknown`. */
  readonly status: string;
  readonly revokedAt: string | null;
  readonly reason: string | null;
  readonly thisUpdate: string;
  readonly nextUpdate: string | null;
  readonly hashAlgorithm: string;
  readonly issuerNameHash: string;
  readonly issuerKeyHash: string;
}

export interface OcspReport {
  readonly type: 'ocsp-response';
  /** RFC 6960 §4.2.1 responseStatus: `successful`, `malformedRequest`, `unauthorized`, ... */
  readonly status: string;
  readonly producedAt: string | null;
  /** `byName:<subject>` or `byKey:<SHA-1 of the responder key, hex>`; null when not successful. */
  readonly responderId: string | null;
  readonly responses: readonly OcspSingleReport[];
  readonly nonce: string | null;
  /** Subjects of the certificates sent with the response (a delegated responder). */
  readonly certs: readonly string[];
  readonly signatureAlgorithm: string | null;
  readonly sha256: string;
  readonly verification: Verification;
}

export function ocspReport(resp: ParsedOcspResponse, verification: Verification): OcspReport {
  const b = resp.basic;
  return {
    type: 'ocsp-response',
    status: resp.status,
    producedAt: b ? rfc3339(b.producedAt) : null,
    responderId: !b
      ? null
      : b.responderName
        ? `byName:${formatName(b.responderName)}`
        : `byKey:${b.responderKeyHash?.toString('hex') ?? ''}`,
    responses: (b?.responses ?? []).map((r) => ({
      serial: r.certId.serial,
      status: r.status.status,
      revokedAt: r.status.status === 'revoked' ? rfc3339(r.status.revokedAt) : null,
      reason: r.status.status === 'revoked' ? r.status.reason : null,
      thisUpdate: rfc3339(r.thisUpdate),
      nextUpdate: r.nextUpdate ? rfc3339(r.nextUpdate) : null,
      hashAlgorithm: r.certId.hashAlgorithm,
      issuerNameHash: r.certId.issuerNameHash.toString('hex'),
      issuerKeyHash: r.certId.issuerKeyHash.toString('hex'),
    })),
    nonce: b?.nonce?.toString('hex') ?? null,
    certs: (b?.certs ?? []).map((c) => formatName(c.subject)),
    signatureAlgorithm: b?.signatureAlgorithm.name ?? null,
    sha256: createHash('sha256').update(resp.der).digest('hex'),
    verification,
  };
}
