/** The provisioning service's error codes (docs/errors.md). Only src/http maps them to statuses. */
import { type Catalog, ProvisioError } from '@provisio/pki';

export const serverErrors = {
  validation_failed: { category: 'invalid', when: 'a request body, query or path parameter does not match the API schema' },
  body_too_large: { category: 'invalid', when: 'an uploaded body is larger than the route accepts' },
  unauthenticated: { category: 'unauthorized', when: 'no valid API token or session was presented' },
  sign_in_throttled: { category: 'unavailable', when: 'too many failed sign-ins for this username or from this address; HTTP 429, retry after the Retry-After delay (it grows with each failure)' },
  sign_in_failed: { category: 'unauthorized', when: 'a sign-in named an unknown user, a disabled or password-less user, or a wrong password (one answer for all)' },
  session_expired: { category: 'unauthorized', when: 'the browser session cookie is unknown, signed out or past its idle or absolute lifetime; sign in again' },
  csrf_token_invalid: { category: 'forbidden', when: 'a cookie-authenticated POST or DELETE came without the session\'s X-CSRF-Token header, or with another one' },
  role_forbidden: { category: 'forbidden', when: 'the caller\'s role may not use this route, or an approval\'s approver is no longer an enabled admin or approver when the approval is written' },
  approver_is_submitter: { category: 'forbidden', when: 'a person tried to approve a request they submitted (or confirm a device whose pairing code they created) while the system keeps separation of duties on; another approver must decide' },
  route_not_found: { category: 'not_found', when: 'no API route has this method and path' },
  user_exists: { category: 'conflict', when: 'a user with this name already exists' },
  user_not_found: { category: 'not_found', when: 'no user has this name' },
  system_exists: { category: 'conflict', when: 'a system with this name already exists' },
  system_not_found: { category: 'not_found', when: 'no system has this name' },
  component_exists: { category: 'conflict', when: 'the system already has a component with this name' },
  component_not_found: { category: 'not_found', when: 'the system has no component with this name' },
  key_type_not_allowed: { category: 'invalid', when: 'the device key type is not allowed by its component\'s template (at intake, or at approval when the template changed while the request waited)' },
  package_not_found: { category: 'not_found', when: 'no provisioning package has this id' },
  package_revoked: { category: 'unauthorized', when: 'the request was made with a provisioning package that has been revoked (at intake, or at approval when it was revoked while the request waited)' },
  package_mismatch: { category: 'unauthorized', when: 'the request names a package, system or component its bootstrap credential does not belong to' },
  request_lifetime_exceeded: { category: 'invalid', when: 'a request\'s signed lifetime (expiresAt − createdAt) is longer than its package\'s request lifetime' },
  request_replayed: { category: 'conflict', when: 'a different request reuses the nonce of an earlier one (replay)' },
  request_not_found: { category: 'not_found', when: 'no provisioning request has this id' },
  request_not_pending: { category: 'conflict', when: 'the request was already approved or rejected' },
  request_rejected: { category: 'conflict', when: 'a device asked for the profile of a request that an approver rejected' },
  request_expired: { category: 'conflict', when: 'approval was attempted after the request expired (checked at the time of the approving transaction); it stays pending and can only be rejected' },
  device_exists: { category: 'conflict', when: 'a device with this id already exists and reprovisioning it is not allowed' },
  device_not_found: { category: 'not_found', when: 'no device has this id' },
  certificate_not_found: { category: 'not_found', when: 'the device has no certificate with this serial' },
  device_not_revocable: { category: 'conflict', when: 'a device that is pending or rejected (it holds no certificate) was asked to be revoked' },
  device_key_revoked: { category: 'conflict', when: 'a device provisioned again after a revocation brought the key of a certificate it had, or a renewal or reprovisioning the key of one of its revoked certificates; it must make a new key' },
  key_is_ca_key: { category: 'conflict', when: 'a key to be certified (a device\'s, a gateway\'s) is the root CA\'s or the issuing CA\'s key' },
  key_in_use: { category: 'conflict', when: 'a key to be certified is already certified for another identity: another device, a gateway, a package\'s bootstrap credential or one of the service\'s own certificates (one key, one identity)' },
  key_blocked: { category: 'conflict', when: 'a key to be certified had a certificate revoked for keyCompromise (for any device or identity): it is never certified again' },
  device_not_approved: { category: 'conflict', when: 'complete provisioning was attempted for a device whose profile was not issued' },
  client_certificate_required: { category: 'unauthorized', when: 'a device confirmation came without a TLS client certificate (it needs mutual TLS with the device certificate)' },
  client_certificate_unknown: { category: 'unauthorized', when: 'the TLS client certificate chains to the root but is not the active, current certificate of any device' },
  certificate_revoked: { category: 'unauthorized', when: 'a renewal or reprovisioning was asked for with a revoked certificate, or by a revoked device: it never renews' },
  device_not_provisioned: { category: 'conflict', when: 'a renewal or reprovisioning was asked for by a device, or a reprovisioning by an admin, while the device is not provisioned (its install is not confirmed, or it was revoked), or a reprovisioning request was approved after its device stopped being provisioned (revoked meanwhile: reject it)' },
  renewal_grace_expired: { category: 'unauthorized', when: 'a renewal was asked for with a certificate that expired longer ago than its component\'s renewal grace period' },
  mock_not_allowed: { category: 'forbidden', when: 'the system does not accept mock device files (at intake, or at approval when the system stopped accepting them while a mock request waited)' },
  profile_not_found: { category: 'not_found', when: 'the request has no certified profile (not approved)' },
  database_unavailable: { category: 'unavailable', when: 'the database could not be reached or dropped the connection during the call (PostgreSQL restarting, failing over, a terminated backend); the call\'s transaction was rolled back, retry after the Retry-After delay' },
  port_in_use: { category: 'conflict', when: 'provisio serve could not start: a port it was to listen on (service, publication or station listener) is taken by another process; nothing was created. The message names the port and the flag that picks another (CLI exit code 7)' },
  listen_failed: { category: 'unavailable', when: 'provisio serve could not start: a listener could not bind for another reason (a privileged port, an address not of this machine); nothing was created (CLI exit code 8)' },
  key_file_exposed: { category: 'forbidden', when: 'provisio serve refused to start: a CA or service private key file (intermediate.key, tls.key, ocsp-responder.key, profile-signer.key) is readable by group or others; run chmod 600 on the file the message names (CLI exit code 5)' },
  ca_incomplete: { category: 'invalid', when: 'provisio serve refused to start: the CA directory (--ca DIR, or DATA/ca) lacks some of intermediate.key, intermediate.crt and root.crt, and is not a development CA interrupted while being made (CLI exit code 3)' },
  ca_key_mismatch: { category: 'invalid', when: 'provisio serve refused to start: the CA directory\'s intermediate.key does not belong to its intermediate.crt (CLI exit code 3)' },
  service_unavailable: { category: 'unavailable', when: 'the service cannot serve the request right now; retry after the Retry-After delay' },
  gateway_exists: { category: 'conflict', when: 'a gateway with this name already exists' },
  gateway_not_found: { category: 'not_found', when: 'no gateway has this name' },
  gateway_unknown: { category: 'unauthorized', when: 'the TLS client certificate on a gateway route is not the certificate of a registered gateway (e.g. a device certificate)' },
  gateway_revoked: { category: 'unauthorized', when: 'the gateway presenting this certificate was revoked' },
  audit_chain_broken: { category: 'conflict', when: 'a checkpoint was asked for while audit_head does not match the audit entry at its seq (the tail was removed, or the head or the entry rewritten); nothing is signed: run provisio audit verify' },
  rate_limited: { category: 'unavailable', when: 'this client (API token, or IP address on the public device routes) made more calls than its rate allows; HTTP 429, retry after the Retry-After delay' },
  device_certificate_revoked: { category: 'forbidden', when: 'a device checked in at the central station with a certificate that OCSP or the CRL reports revoked' },
  revocation_status_unavailable: { category: 'unavailable', when: 'the central station could get no fresh, verified revocation status (OCSP and CRL both failed) and refuses the check-in (fail closed)' },
  method_operation_refused: { category: 'forbidden', when: 'an enrollment method was asked for an operation it does not implement (every method refuses what it does not say it does), or to answer a request of another method' },
  protocol_not_enabled: { category: 'forbidden', when: 'an EST, CMP or SCEP request came for a component that does not accept that protocol (off by default; "provisio protocol enable")' },
  csr_identity_mismatch: { category: 'forbidden', when: 'a CSR sent over EST or CMP names another identity (subject CN or subjectAltName) than the device that authenticated' },
  est_request_invalid: { category: 'invalid', when: 'an EST request body is not base64 of a DER PKCS#10 CSR (RFC 7030 §4.2.1), or names an unknown label' },
  scep_message_invalid: { category: 'invalid', when: 'a SCEP pkiMessage (RFC 8894 §3) is not a DER CMS SignedData with SCEP\'s attributes and an EnvelopedData for the RA, its content does not decrypt with the RA key, or its messageType is not PKCSReq, RenewalReq or CertPoll; answered pkiStatus FAILURE, failInfo badMessageCheck (badRequest for the messageType)' },
  scep_algorithm_refused: { category: 'invalid', when: 'a SCEP request uses DES, 3DES, RC2, MD5, SHA-1 or another algorithm not in GetCACaps; answered pkiStatus FAILURE, failInfo badAlg' },
  scep_signature_invalid: { category: 'invalid', when: 'a SCEP pkiMessage\'s signature or messageDigest does not verify with its signer certificate; answered pkiStatus FAILURE, failInfo badMessageCheck' },
  scep_request_unknown: { category: 'not_found', when: 'a SCEP CertPoll (GetCertInitial) names no SCEP enrollment: no request of the subject\'s CN with the signer certificate\'s key; answered pkiStatus FAILURE, failInfo badCertId' },
  scep_challenge_missing: { category: 'unauthorized', when: 'a SCEP PKCSReq\'s CSR has no challengePassword; put a one-time enrollment token there; answered pkiStatus FAILURE, failInfo badRequest' },
  cmp_message_invalid: { category: 'invalid', when: 'a CMP request is not a DER PKIMessage (RFC 4210 §5.1), or carries a body, algorithm or field this service does not take' },
  cmp_protection_invalid: { category: 'unauthorized', when: 'a CMP request\'s protection (MAC or signature) is missing, wrong, or made with a key or certificate that does not authenticate the sender' },
  cmp_transaction_replayed: { category: 'conflict', when: 'a CMP request reuses the transactionID or senderNonce of an earlier transaction (a replay); start a new transaction' },
  cmp_transaction_unknown: { category: 'conflict', when: 'a CMP certConf, pollReq or error names no transaction this service has open, or echoes another recipNonce than the one the service sent' },
  token_invalid: { category: 'unauthorized', when: 'an enrollment token is malformed, unknown or its secret is wrong (one answer for all three)' },
  token_expired: { category: 'unauthorized', when: 'an enrollment token is past its expiry' },
  token_used: { category: 'unauthorized', when: 'an enrollment token has no uses left (single-use by default)' },
  token_revoked: { category: 'unauthorized', when: 'an enrollment token was revoked by an administrator' },
  token_device_mismatch: { category: 'forbidden', when: 'an enrollment token is bound to another device id, or to a pattern the device id does not match' },
  token_not_found: { category: 'not_found', when: 'no enrollment token has this id (token revoke)' },
  token_binding_invalid: { category: 'invalid', when: 'a token to create names neither or both of a device id and a pattern, an unanchored or bad pattern, or uses or a lifetime out of range' },
  pairing_code_invalid: { category: 'unauthorized', when: 'a pairing named a device id and code that match no open pairing: a wrong code, an unknown device or a locked record (one answer, the same time, for all three)' },
  pairing_code_used: { category: 'unauthorized', when: 'the right pairing code was already used (a code pairs once)' },
  pairing_code_expired: { category: 'unauthorized', when: 'the right pairing code is past its expiry' },
  pairing_code_revoked: { category: 'unauthorized', when: 'the right pairing code was revoked by an administrator' },
  pairing_exists: { category: 'conflict', when: 'a pairing code was created for a device that already has an open one (revoke it first)' },
  pairing_not_asked: { category: 'conflict', when: 'a technician confirmed a pairing (the Onboard page) before its device asked with the code; start "provisio device pair" on the device first' },
  pairing_not_found: { category: 'not_found', when: 'no pairing code is registered for this device id (pairing revoke or reset)' },
  central_key_not_allowed: { category: 'forbidden', when: 'a pairing or an EST serverkeygen asked the service to generate the device key, and the system does not allow central key generation (or does not take the code or token as the approval)' },
  policy_invalid: { category: 'invalid', when: 'an approval policy\'s rules are not valid (unanchored or bad pattern, empty list, unknown transport, automatic without rules)' },
  pkcs11_uri_invalid: { category: 'invalid', when: 'a --ca-pkcs11 or --pkcs11 value is not a PKCS#11 URI (RFC 7512) naming a token and an object, or it carries the PIN (pin-value, pin-source)' },
  pkcs11_module_not_found: { category: 'not_found', when: 'the PKCS#11 module (--pkcs11-module, or SoftHSM2\'s default path) does not exist or does not load' },
  pkcs11_token_not_found: { category: 'not_found', when: 'no token with the URI\'s token label (and serial) is present in the PKCS#11 module' },
  pkcs11_login_failed: { category: 'unauthorized', when: 'the token refused the PIN from the PIN file (wrong, locked or expired); the PIN is never shown' },
  pkcs11_key_not_found: { category: 'not_found', when: 'the token holds no private key with the URI\'s object label (and id), several without an id to choose, or the private key without its public key' },
  pkcs11_key_exists: { category: 'conflict', when: '"ca new-intermediate --pkcs11" named an object label the token already holds a key under; a key is never replaced' },
  pkcs11_key_unsupported: { category: 'invalid', when: 'the key in the token is not P-256, P-384 or RSA' },
  pkcs11_key_mismatch: { category: 'invalid', when: 'the key the --ca-pkcs11 URI names is not the key of the intermediate certificate in --ca DIR' },
  pkcs11_operation_failed: { category: 'unavailable', when: 'the token failed to sign or to generate a key (the PKCS#11 return code is in the message)' },
  pin_file_invalid: { category: 'invalid', when: 'the --pin-file does not exist, cannot be read or does not hold the PIN on one line' },
  pin_file_exposed: { category: 'forbidden', when: 'the --pin-file is readable or writable by its group or others (it must be mode 0600 or stricter)' },
} as const satisfies Catalog;

export type ServerErrorCode = keyof typeof serverErrors;

export class ServiceError extends ProvisioError<ServerErrorCode> {
  constructor(code: ServerErrorCode, message: string) {
    super(code, serverErrors[code].category, message);
  }
}

/** Seconds a caller is asked to wait: the pool opens a fresh connection on the next call. */
export const DATABASE_RETRY_AFTER_S = 2;

/** The store lost its database (store/pg-unavailable.ts); `reason` is for the log only. */
export class DatabaseUnavailable extends ServiceError {
  readonly retryAfterSeconds = DATABASE_RETRY_AFTER_S;
  constructor(readonly reason: string) {
    super('database_unavailable', `the database is unreachable or dropped the connection; retry after ${DATABASE_RETRY_AFTER_S} s`);
  }
}
