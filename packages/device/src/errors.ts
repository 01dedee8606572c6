/**
 * The device SDK's error codes (docs/errors.md, "Device SDK"). Codes raised by the protocol
 * (`package_expired`, `cp_signature_invalid`, ...) and the PKI core pass through unchanged; this
 * catalog holds only what the device itself refuses. Each error may carry a hint: one line saying
 * what to do next, which the CLI prints as `provisio: hint: ...`.
 */
import { type Catalog, ProvisioError } from '@provisio/pki';

export const deviceErrors = {
  keystore_not_found: {
    category: 'not_found',
    when: 'the keystore directory holds no device identity (run "provisio device init" first)',
  },
  keystore_exists: {
    category: 'conflict',
    when: 'the keystore directory already holds a device identity; init never replaces it unless reset',
  },
  keystore_damaged: {
    category: 'invalid',
    when: 'a keystore file is missing, malformed or inconsistent with the others (key, identity, root)',
  },
  keystore_access_denied: {
    category: 'forbidden',
    when: 'the operating system refused to read or write a keystore file',
  },
  keystore_insecure: {
    category: 'forbidden',
    when: 'device.key or the keystore directory can be read by other users (mode wider than 0600 / 0700)',
  },
  package_component_unknown: {
    category: 'invalid',
    when: 'the provisioning package has no component with the name given',
  },
  package_key_type_not_allowed: {
    category: 'invalid',
    when: 'the key type asked for is not allowed by the component\'s key template in the package',
  },
  profile_request_mismatch: {
    category: 'unauthorized',
    when: 'a verified profile does not answer this device\'s request (system, component, root or mock flag differ)',
  },
  profile_outdated: {
    category: 'conflict',
    when: 'the profile was issued before the one already installed; an older profile never replaces a newer one',
  },
  service_refused: {
    category: 'invalid',
    when: 'connected provisioning: the service refused the request or its profile (its own code is in the message)',
  },
  provision_rejected: {
    category: 'conflict',
    when: 'connected provisioning: an approver rejected the device\'s request',
  },
  provision_timeout: {
    category: 'unavailable',
    when: 'connected provisioning: no certified profile arrived within the wait (still pending, or the service unreachable)',
  },
  renewal_not_ready: {
    category: 'conflict',
    when: 'a renewal was asked for on a keystore that holds no installed and confirmed certificate (provision it first)',
  },
  gateway_not_configured: {
    category: 'not_found',
    when: 'the gateway directory lacks gateway.key, gateway.crt, chain.pem or root.crt (run "provisio gateway create" first)',
  },
  device_not_installed: {
    category: 'not_found',
    when: 'the keystore holds no installed certificate yet (install a certified profile first)',
  },
  station_refused: {
    category: 'forbidden',
    when: 'the central station answered the check-in with an error (revoked certificate, no revocation status, bad telemetry; its code is in the message)',
  },
  station_unreachable: {
    category: 'unavailable',
    when: 'the central station could not be reached, or closed the TLS handshake (it refuses a certificate that is expired or not under its root there)',
  },
  device_audit_broken: {
    category: 'unauthorized',
    when: 'the device\'s security_audit_log does not verify: an entry edited, deleted, reordered, torn or cut from the end (the finding is in the message)',
  },
  device_database_unreadable: {
    category: 'invalid',
    when: 'the device database (device.db) does not open with the key derived from device.key (another key, or the file is damaged)',
  },
  gateway_insecure: {
    category: 'forbidden',
    when: 'the gateway key can be read by other users (mode wider than 0600)',
  },
} as const satisfies Catalog;

export type DeviceErrorCode = keyof typeof deviceErrors;

export class DeviceError extends ProvisioError<DeviceErrorCode> {
  constructor(
    code: DeviceErrorCode,
    message: string,
    /** What to do next, in one line. */
    readonly hint?: string,
  ) {
    super(code, deviceErrors[code].category, message);
  }
}
