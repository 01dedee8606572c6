/**
 * The error contract (../../../docs/errors.md): every failure a caller can cause carries a stable
 * machine-readable code from a closed catalog, a category, and a message that says what was got,
 * what was expected and what to do. Only the HTTP layer maps categories to status codes, and only
 * the CLI maps them to exit codes.
 */
export type ErrorCategory =
  | 'invalid'
  | 'unauthorized'
  | 'forbidden'
  | 'not_found'
  | 'conflict'
  | 'unavailable'
  | 'internal';

export interface CatalogEntry {
  readonly category: ErrorCategory;
  /** One line for docs/errors.md: when the code is raised. */
  readonly when: string;
}

export type Catalog = Readonly<Record<string, CatalogEntry>>;

/** The PKI core's codes. Other packages keep their own catalogs; docs/errors.md lists them all. */
export const pkiErrors = {
  der_malformed: { category: 'invalid', when: 'input is not strict DER (truncated, BER, trailing bytes, too deep)' },
  input_too_large: { category: 'invalid', when: 'input exceeds the documented size limit for its kind' },
  pem_invalid: { category: 'invalid', when: 'PEM armour missing, mislabelled or not base64' },
  key_unsupported: { category: 'invalid', when: 'key algorithm or curve is not P-256, P-384 or RSA' },
  key_too_weak: { category: 'invalid', when: 'RSA modulus shorter than 2048 bits, exponent not 65537, or (when a key is to be certified) a modulus with a prime factor below 1000' },
  key_invalid: { category: 'invalid', when: 'public key bytes do not form a valid key (point not on curve)' },
  key_passphrase_required: {
    category: 'unauthorized',
    when: 'the private key is encrypted and no passphrase was given',
  },
  key_passphrase_wrong: { category: 'unauthorized', when: 'the passphrase does not decrypt the private key' },
  key_not_encrypted: { category: 'invalid', when: 'a passphrase was given but the key is stored unencrypted' },
  signature_algorithm_unsupported: {
    category: 'invalid',
    when: 'signature algorithm is not ECDSA-SHA256/384 or RSA-SHA256/384/512',
  },
  csr_invalid: { category: 'invalid', when: 'CSR structure is valid DER but not a version 1 PKCS#10 request, or it carries an extensionRequest or challengePassword attribute twice' },
  csr_san_not_allowed: {
    category: 'invalid',
    when: 'the CSR asks for a subjectAltName the certificate would not carry (names come from approved data, never from the CSR)',
  },
  csr_signature_invalid: {
    category: 'invalid',
    when: 'the CSR is not signed by the key it carries (no proof of possession)',
  },
  certificate_invalid: {
    category: 'invalid',
    when: 'certificate structure is valid DER but not an X.509 v3 certificate we accept',
  },
  identity_invalid: {
    category: 'invalid',
    when: 'deviceId, deviceLabel or a name is empty, too long or has forbidden characters',
  },
  text_invalid: {
    category: 'invalid',
    when: 'a label or name that would be written into a certificate contains a bidirectional control or zero-width character',
  },
  profile_violation: {
    category: 'invalid',
    when: 'the certificate, CRL or OCSP response to be signed breaks its profile (lint before signing)',
  },
  chain_untrusted: { category: 'unauthorized', when: 'no path from the certificate to a trusted root' },
  chain_signature_invalid: { category: 'unauthorized', when: 'a certificate in the path is not signed by its issuer' },
  certificate_expired: { category: 'unauthorized', when: 'a certificate in the path expired before the checked time' },
  certificate_not_yet_valid: {
    category: 'unauthorized',
    when: 'a certificate in the path is not valid yet at the checked time',
  },
  chain_issuer_not_ca: { category: 'unauthorized', when: 'an issuer lacks basicConstraints cA=TRUE or keyCertSign' },
  chain_path_length_exceeded: {
    category: 'unauthorized',
    when: 'the path is longer than an issuer\'s pathLenConstraint allows',
  },
  chain_unknown_critical_extension: {
    category: 'unauthorized',
    when: 'a certificate carries a critical extension we do not process',
  },
  chain_purpose_invalid: {
    category: 'unauthorized',
    when: 'the leaf lacks the extended key usage the caller requires',
  },
  crl_invalid: { category: 'invalid', when: 'CRL structure is valid DER but not an RFC 5280 v2 CRL' },
  crl_signature_invalid: { category: 'unauthorized', when: 'the CRL is not signed by the expected issuer' },
  ocsp_request_malformed: {
    category: 'invalid',
    when: 'OCSP request is not a valid RFC 6960 OCSPRequest (GET or POST form)',
  },
  ocsp_response_invalid: { category: 'invalid', when: 'OCSP response is not a valid RFC 6960 response' },
  ocsp_signature_invalid: {
    category: 'unauthorized',
    when: 'OCSP response is not signed by the CA or a responder it delegated',
  },
  ocsp_response_stale: {
    category: 'unauthorized',
    when: 'OCSP response thisUpdate is in the future or its nextUpdate has passed at the checked time',
  },
  revocation_reason_invalid: {
    category: 'invalid',
    when: 'revocation reason is not an RFC 5280 §5.3.1 CRLReason, or not one allowed where it is used',
  },
} as const satisfies Catalog;

export type PkiErrorCode = keyof typeof pkiErrors;

export class ProvisioError<Code extends string = string> extends Error {
  override readonly name = 'ProvisioError';
  constructor(
    readonly code: Code,
    readonly category: ErrorCategory,
    message: string,
  ) {
    super(message);
  }
}

export class PkiError extends ProvisioError<PkiErrorCode> {
  constructor(code: PkiErrorCode, message: string) {
    super(code, pkiErrors[code].category, message);
  }
}

export function isProvisioError(e: unknown): e is ProvisioError {
  return e instanceof ProvisioError;
}
