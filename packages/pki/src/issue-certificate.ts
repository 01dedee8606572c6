/**
 * Certificate issuance: the hot path (CSR → certificate → signature).
 *
 * The shape follows Boulder: build a typed plan of the TBSCertificate, lint it against its
 * profile, encode exactly that plan, sign the bytes. Everything that depends only on the issuer
 * (its name, key id, URLs, algorithm) is encoded once per issuer, so a certificate costs a few
 * buffer concatenations plus one signature (bench/RESULTS.md).
 */
import { createHash } from 'node:crypto';
import type { ParsedCertificate } from './certificate.js';
import { type CertificateProfile, extKeyUsageFor, isCaProfile, keyUsageFor } from './certificate-profile.js';
import { bitString, explicit, seq, smallInteger, time, unsignedInteger } from './der.js';
import {
  authorityInfoAccessExtension,
  authorityKeyIdentifierExtension,
  basicConstraintsExtension,
  crlDistributionPointsExtension,
  extKeyUsageExtension,
  type KeyUsage,
  keyUsageExtension,
  ocspNoCheckExtension,
  subjectAltNameExtension,
  subjectKeyIdentifierExtension,
} from './extensions.js';
import type { GeneralName } from './general-name.js';
import { keyIdentifier, type PublicKeyInfo } from './keys.js';
import { lintCertificatePlan } from './lint-certificate.js';
import { type DistinguishedName, encodeName } from './name.js';
import { type SerialNumber, serialToBytes } from './serial.js';
import type { SignatureAlgorithm, Signer } from './signer.js';

export interface CertificateRequest {
  readonly profile: CertificateProfile;
  readonly serial: SerialNumber;
  readonly subject: DistinguishedName;
  readonly subjectAltName?: readonly GeneralName[];
  readonly publicKey: PublicKeyInfo;
  readonly notBefore: Date;
  readonly notAfter: Date;
}

export interface DistributionUrls {
  /** CRL distribution point (RFC 5280 §4.2.1.13). */
  readonly crl?: string;
  /** OCSP responder (AIA id-ad-ocsp). */
  readonly ocsp?: string;
  /** Where the issuer's certificate can be fetched (AIA id-ad-caIssuers). */
  readonly caIssuers?: string;
}

/** The typed TBSCertificate that lint checks and the encoder writes, field for field. */
export interface CertificatePlan {
  readonly profile: CertificateProfile;
  readonly serial: SerialNumber;
  readonly signatureAlgorithm: SignatureAlgorithm;
  readonly issuerName: Buffer;
  readonly issuerNotBefore: Date | null;
  readonly issuerNotAfter: Date | null;
  readonly issuerIsCa: boolean;
  readonly issuerPathLength: number | undefined;
  readonly subject: DistinguishedName;
  readonly subjectAltName: readonly GeneralName[];
  readonly publicKey: PublicKeyInfo;
  readonly notBefore: Date;
  readonly notAfter: Date;
  readonly keyUsage: readonly KeyUsage[];
  readonly extKeyUsage: readonly string[];
  readonly subjectKeyId: Buffer;
  readonly authorityKeyId: Buffer;
  readonly urls: DistributionUrls;
}

export interface IssuedCertificate {
  readonly der: Buffer;
  readonly serial: SerialNumber;
  readonly notBefore: Date;
  readonly notAfter: Date;
}

export interface Issuer {
  readonly certificate: ParsedCertificate;
  readonly signer: Signer;
  readonly urls: DistributionUrls;
  plan(request: CertificateRequest): CertificatePlan;
  issue(request: CertificateRequest): Promise<IssuedCertificate>;
}

const VERSION_3 = explicit(0, smallInteger(2));

/** Per-issuer constants, encoded once. */
interface IssuerConstants {
  readonly algorithm: Buffer;
  readonly issuerName: Buffer;
  readonly authorityKeyId: Buffer;
  readonly aki: Buffer;
  readonly cdp: Buffer | null;
  readonly aia: Buffer | null;
}

function issuerConstants(
  signer: Signer,
  issuerName: Buffer,
  authorityKeyId: Buffer,
  urls: DistributionUrls,
): IssuerConstants {
  return {
    algorithm: signer.algorithm.der,
    issuerName,
    authorityKeyId,
    aki: authorityKeyIdentifierExtension(authorityKeyId),
    cdp: urls.crl ? crlDistributionPointsExtension(urls.crl) : null,
    aia: urls.ocsp || urls.caIssuers ? authorityInfoAccessExtension(urls) : null,
  };
}

const noCheck = ocspNoCheckExtension();
const profileExtensionCache = new Map<string, Buffer[]>();

/** basicConstraints, keyUsage, extKeyUsage: fixed per (profile, key algorithm). */
function profileExtensions(plan: CertificatePlan): Buffer[] {
  const p = plan.profile;
  const pathLength = isCaProfile(p) ? p.pathLength : undefined;
  const key = `${p.kind}/${pathLength ?? '-'}/${plan.publicKey.algorithm}`;
  let exts = profileExtensionCache.get(key);
  if (!exts) {
    exts = [basicConstraintsExtension(isCaProfile(p), pathLength), keyUsageExtension(plan.keyUsage)];
    if (plan.extKeyUsage.length > 0) exts.push(extKeyUsageExtension(plan.extKeyUsage));
    if (p.kind === 'ocsp-responder') exts.push(noCheck);
    profileExtensionCache.set(key, exts);
  }
  return exts;
}

function encodeTbs(plan: CertificatePlan, constants: IssuerConstants): Buffer {
  const extensions = [...profileExtensions(plan), subjectKeyIdentifierExtension(plan.subjectKeyId), constants.aki];
  if (plan.subjectAltName.length > 0) {
    extensions.push(subjectAltNameExtension(plan.subjectAltName, plan.subject.length === 0));
  }
  if (constants.cdp) extensions.push(constants.cdp);
  if (constants.aia) extensions.push(constants.aia);
  return seq(
    VERSION_3,
    unsignedInteger(serialToBytes(plan.serial)),
    constants.algorithm,
    constants.issuerName,
    seq(time(plan.notBefore), time(plan.notAfter)),
    encodeName(plan.subject),
    plan.publicKey.spki,
    explicit(3, seq(...extensions)),
  );
}

function makePlan(
  request: CertificateRequest,
  signer: Signer,
  constants: IssuerConstants,
  issuer: ParsedCertificate | null,
  urls: DistributionUrls,
): CertificatePlan {
  // Validity is clipped to the issuer's: a certificate must not outlive the key that vouches for it.
  const notBefore = issuer && request.notBefore < issuer.notBefore ? issuer.notBefore : request.notBefore;
  const notAfter = issuer && request.notAfter > issuer.notAfter ? issuer.notAfter : request.notAfter;
  return {
    profile: request.profile,
    serial: request.serial,
    signatureAlgorithm: signer.algorithm,
    issuerName: constants.issuerName,
    issuerNotBefore: issuer?.notBefore ?? null,
    issuerNotAfter: issuer?.notAfter ?? null,
    issuerIsCa: issuer ? issuer.decoded.basicConstraints?.ca === true : true,
    issuerPathLength: issuer?.decoded.basicConstraints?.pathLength,
    subject: request.subject,
    subjectAltName: request.subjectAltName ?? [],
    publicKey: request.publicKey,
    notBefore,
    notAfter,
    keyUsage: keyUsageFor(request.profile, request.publicKey),
    extKeyUsage: extKeyUsageFor(request.profile),
    subjectKeyId: keyIdentifier(request.publicKey),
    authorityKeyId: constants.authorityKeyId,
    urls,
  };
}

async function signPlan(plan: CertificatePlan, constants: IssuerConstants, signer: Signer): Promise<IssuedCertificate> {
  lintCertificatePlan(plan);
  const tbs = encodeTbs(plan, constants);
  const signature = await signer.sign(tbs);
  return {
    der: seq(tbs, constants.algorithm, bitString(signature)),
    serial: plan.serial,
    notBefore: plan.notBefore,
    notAfter: plan.notAfter,
  };
}

/** An issuer backed by a CA certificate and the signer holding its key. */
export function createIssuer(certificate: ParsedCertificate, signer: Signer, urls: DistributionUrls = {}): Issuer {
  if (!certificate.publicKey.spki.equals(signer.publicKey.spki)) {
    throw new TypeError('the signer key does not match the issuer certificate');
  }
  const keyId = certificate.decoded.subjectKeyId ?? keyIdentifier(certificate.publicKey);
  const constants = issuerConstants(signer, certificate.subject.der, keyId, urls);
  return {
    certificate,
    signer,
    urls,
    plan: (request) => makePlan(request, signer, constants, certificate, urls),
    issue: (request) => signPlan(makePlan(request, signer, constants, certificate, urls), constants, signer),
  };
}

/** A self-signed root CA certificate (the offline root ceremony). */
export async function issueSelfSigned(
  signer: Signer,
  request: Omit<CertificateRequest, 'publicKey' | 'profile'> & { readonly pathLength?: number },
): Promise<IssuedCertificate> {
  const subjectName = encodeName(request.subject);
  const keyId = keyIdentifier(signer.publicKey);
  const constants = issuerConstants(signer, subjectName, keyId, {});
  const profile: CertificateProfile =
    request.pathLength === undefined ? { kind: 'root-ca' } : { kind: 'root-ca', pathLength: request.pathLength };
  const plan = makePlan({ ...request, profile, publicKey: signer.publicKey }, signer, constants, null, {});
  return signPlan(plan, constants, signer);
}

/** SHA-256 fingerprint of DER bytes, lowercase hex. */
export function fingerprint(der: Uint8Array): string {
  return createHash('sha256').update(der).digest('hex');
}
