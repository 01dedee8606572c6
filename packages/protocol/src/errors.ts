/**
 * The wire formats' error codes (docs/errors.md "Wire formats"), in the shape of `pkiErrors`.
 * Parsers raise `*_malformed`, `*_too_large` and `*_version_unsupported` for what arrived;
 * verifiers raise the signature, trust, binding and time codes. Codes the PKI core raises for a
 * key or CSR (`key_too_weak`, `csr_signature_invalid`, ...) pass through unchanged.
 */
import { type Catalog, ProvisioError } from '@provisio/pki';

export const protocolErrors = {
  json_duplicate_key: {
    category: 'invalid',
    when: 'a signed structure (payload, JWS header or envelope, package, bundle, profile) or an API body names one member twice in an object',
  },
  jws_malformed: {
    category: 'invalid',
    when: 'a JWS is not General JSON Serialization with base64url parts and a JSON object header, or names an unknown critical header',
  },
  jws_algorithm_unsupported: {
    category: 'invalid',
    when: 'a JWS header alg is not ES256, ES384 or RS256, or does not match the kind of the verifying key',
  },
  jws_signature_invalid: { category: 'unauthorized', when: 'a JWS signature does not verify with the given key' },
  pr_malformed: {
    category: 'invalid',
    when: 'a provisioning request is not valid JSON of the documented shape, or a field breaks its limits',
  },
  pr_too_large: { category: 'invalid', when: 'a provisioning request is larger than 64 KiB' },
  pr_version_unsupported: { category: 'invalid', when: 'a provisioning request has a version (v) this software does not know' },
  pr_device_signature_invalid: {
    category: 'unauthorized',
    when: 'the request signature by the device key (its header jwk) does not verify',
  },
  pr_key_mismatch: { category: 'unauthorized', when: 'the device key in the request header is not the key in its CSR' },
  pr_bootstrap_signature_invalid: {
    category: 'unauthorized',
    when: 'the request signature by the package bootstrap credential does not verify with its certificate',
  },
  pr_bootstrap_untrusted: {
    category: 'unauthorized',
    when: 'the bootstrap certificate does not chain to a trusted root with the request-signing purpose at the checked time',
  },
  pr_not_yet_valid: { category: 'invalid', when: 'a provisioning request was created later than the checked time (beyond clock skew)' },
  pr_expired: { category: 'invalid', when: 'a provisioning request expired before the checked time' },
  pp_malformed: { category: 'invalid', when: 'a pairing payload is not a JSON object of the seed\'s string fields with a detached-JWS signature, or its certificates are not PEM' },
  pp_signature_invalid: { category: 'unauthorized', when: 'a pairing payload\'s signature (the profile signer\'s, chained to the device\'s root, or the HMAC under the key derived from its code) does not verify' },
  pp_expired: { category: 'unauthorized', when: 'a pairing payload is used outside its window (issuedAt, with 5 minutes of clock skew, to expiresAt)' },
  pp_wrong_device: { category: 'unauthorized', when: 'a pairing payload names another device id, or its certificate does not name this device or chain to its root for clientAuth' },
  setup_malformed: { category: 'invalid', when: 'a setup payload (the provisio-setup: URI a QR code carries) is not version 1 with an https url, a sha256 root and a device id with a code, or a token' },
  cp_malformed: {
    category: 'invalid',
    when: 'a certified profile is not valid JSON of the documented shape, is larger than 64 KiB, or a field breaks its limits',
  },
  cp_version_unsupported: { category: 'invalid', when: 'a certified profile has a version (v) this software does not know' },
  cp_signature_invalid: { category: 'unauthorized', when: 'the certified profile signature does not verify with its signer certificate' },
  cp_untrusted: {
    category: 'unauthorized',
    when: 'the profile signer or the device certificate does not chain to the package root with the right purpose',
  },
  cp_wrong_device: { category: 'unauthorized', when: 'the certified profile or its certificate names another deviceId' },
  cp_wrong_key: { category: 'unauthorized', when: 'the certified profile or its certificate is bound to another device key' },
  cp_expired: { category: 'invalid', when: 'the device certificate in the certified profile is not valid at the checked time' },
  package_malformed: {
    category: 'invalid',
    when: 'a provisioning package file is not valid JSON of the documented shape, or its key does not match its certificate',
  },
  package_version_unsupported: { category: 'invalid', when: 'a provisioning package has a format version (v) this software does not know' },
  package_expired: { category: 'invalid', when: 'the provisioning package or its bootstrap certificate expired' },
  package_untrusted: {
    category: 'unauthorized',
    when: 'the bootstrap certificate does not chain to the package root with the request-signing purpose',
  },
  bundle_malformed: {
    category: 'invalid',
    when: 'a bundle is not valid JSON of the documented shape, breaks a limit, or names an entry or holds a content twice',
  },
  bundle_too_large: { category: 'invalid', when: 'a bundle is larger than 64 MiB' },
  bundle_version_unsupported: { category: 'invalid', when: 'a bundle manifest has a version (v) this software does not know' },
  bundle_hash_mismatch: {
    category: 'unauthorized',
    when: 'the entries of a bundle are not those its signed manifest lists (an entry added, removed, renamed, reordered or changed)',
  },
  bundle_signature_invalid: { category: 'unauthorized', when: 'the bundle manifest signature does not verify with its signer certificate' },
  bundle_untrusted: {
    category: 'unauthorized',
    when: 'the bundle signer does not chain to the trusted root with the purpose of the bundle type, or is not the expected package or service',
  },
  bundle_wrong_type: { category: 'invalid', when: 'a request bundle was given where a profile bundle is needed, or the reverse' },
  confirm_proof_malformed: {
    category: 'invalid',
    when: 'an install confirmation proof is not a compact JWS of the documented shape (typ provisio-confirm+jws)',
  },
  confirm_proof_invalid: {
    category: 'unauthorized',
    when: 'an install confirmation proof is not signed by the certificate\'s key, names another device, certificate or audience, or is outside the 5-minute window',
  },
  renewal_malformed: {
    category: 'invalid',
    when: 'a renewal request is not a compact JWS of the documented shape (typ provisio-renewal+jws, a CSR, a nonce), or a field breaks its limits',
  },
  renewal_signature_invalid: {
    category: 'unauthorized',
    when: 'a renewal request is not signed by the key of the certificate the device presented over mutual TLS',
  },
  renewal_claims_invalid: {
    category: 'unauthorized',
    when: 'a renewal request names another device or certificate than the one presented, or was made outside the 5-minute window',
  },
} as const satisfies Catalog;

export type ProtocolErrorCode = keyof typeof protocolErrors;

export class ProtocolError extends ProvisioError<ProtocolErrorCode> {
  constructor(code: ProtocolErrorCode, message: string) {
    super(code, protocolErrors[code].category, message);
  }
}

export function isProtocolError(e: unknown, code?: ProtocolErrorCode): e is ProtocolError {
  return e instanceof ProtocolError && (code === undefined || e.code === code);
}
