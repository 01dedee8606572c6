/**
 * Lint before signing (Boulder's rule): the plan of every certificate is checked against its
 * profile before a byte is signed. A failure here means the request or the caller is wrong; no
 * signature is made.
 */
import { isCaProfile } from './certificate-profile.js';
import { PkiError } from './errors.js';
import type { CertificatePlan } from './issue-certificate.js';
import { checkNameAttribute } from './name.js';

function fail(message: string): never {
  throw new PkiError('profile_violation', message);
}

export function lintCertificatePlan(plan: CertificatePlan): void {
  const { profile } = plan;
  const isCa = isCaProfile(profile);

  // RFC 5280 §4.1.2.2: positive, non-zero, ≤ 20 octets. Our serials are 128-bit random.
  if (plan.serial.length === 0 || plan.serial.length > 40 || /^0*$/.test(plan.serial)) {
    fail(`serial "${plan.serial}" must be 1 to 20 non-zero octets`);
  }
  if (plan.serial.length < 16) fail('serial has fewer than 64 bits; CA/B BR §7.1 requires at least 64 random bits');

  if (!(plan.notBefore < plan.notAfter)) {
    fail(
      `validity is empty: notBefore ${plan.notBefore.toISOString()} is not before notAfter ${plan.notAfter.toISOString()}`,
    );
  }
  if (plan.issuerNotAfter && plan.notAfter > plan.issuerNotAfter) fail('certificate would outlive its issuer');
  if (plan.issuerNotBefore && plan.notBefore < plan.issuerNotBefore) fail('certificate would start before its issuer');

  if (!plan.issuerIsCa) fail('the issuer certificate is not a CA');
  if (plan.issuerPathLength === 0 && isCa) fail('the issuer has pathLenConstraint 0 and cannot issue CA certificates');

  for (const attr of plan.subject) checkNameAttribute(attr);
  if (plan.subject.length === 0 && plan.subjectAltName.length === 0) {
    fail('a certificate needs a subject or a subjectAltName (RFC 5280 §4.1.2.6)');
  }

  const ku = new Set(plan.keyUsage);
  if (isCa) {
    if (!ku.has('keyCertSign') || !ku.has('cRLSign')) fail('a CA certificate needs keyCertSign and cRLSign');
    if (plan.subject.length === 0) fail('a CA certificate needs a non-empty subject (RFC 5280 §4.1.2.6)');
    if (plan.extKeyUsage.length > 0) fail('CA certificates carry no extended key usage in this profile');
  } else {
    if (ku.has('keyCertSign') || ku.has('cRLSign'))
      fail(`a ${profile.kind} certificate must not have keyCertSign or cRLSign`);
    if (plan.extKeyUsage.length === 0) fail(`a ${profile.kind} certificate needs an extended key usage`);
  }
  if (plan.publicKey.algorithm === 'ec' && (ku.has('keyEncipherment') || ku.has('dataEncipherment'))) {
    fail('an EC key cannot encipher: keyEncipherment is invalid on an EC certificate (RFC 5480 §3)');
  }
  if (plan.subjectKeyId.length === 0) fail('subjectKeyIdentifier is missing');
  if (plan.authorityKeyId.length === 0) fail('authorityKeyIdentifier is missing (RFC 5280 §4.2.1.1)');
  if (profile.kind === 'device' && plan.subjectAltName.length === 0) {
    fail('a device certificate carries the deviceId and deviceLabel in its subjectAltName');
  }
  if (profile.kind === 'gateway' && !plan.subjectAltName.some((n) => n.type === 'dns' || n.type === 'ip')) {
    // RFC 6125 §6.4.4 / CA/B BR §7.1.2.7.12: TLS clients match the host against DNS and IP SANs only.
    fail('a gateway certificate needs at least one DNS name or IP address in its subjectAltName');
  }
}
