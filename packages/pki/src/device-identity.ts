/**
 * The device certificate profile of the certificate provisioning workflow (seed 003), documented
 * in docs/device-certificate-profile.md:
 *   subject  CN = deviceId, OU = system, role = component (X.520 id-at-role)
 *   SAN      directoryName { CN = deviceId, description = deviceLabel }
 *   EKU      clientAuth; key usage by key type; not a CA.
 */

import { PkiError } from './errors.js';
import type { GeneralName } from './general-name.js';
import type { CertificateRequest } from './issue-certificate.js';
import type { PublicKeyInfo } from './keys.js';
import type { SerialNumber } from './serial.js';

export type DeviceId = string & { readonly __brand: 'DeviceId' };

export interface DeviceIdentity {
  readonly deviceId: DeviceId;
  readonly deviceLabel: string;
  readonly system: string;
  readonly component: string;
  /** Mock device files (seed 000): pre-generated key, not device-locked; said in the subject. */
  readonly mock?: boolean;
}

/** The subject attribute that marks a mock device's certificate. */
export const MOCK_DEVICE_MARK = 'MOCK DEVICE: pre-generated key, not device-locked';

/**
 * 1–64 characters from a set safe in a CN, a file name, a URL path and a shell argument;
 * starts with a letter or digit.
 */
const DEVICE_ID = /^[A-Za-z0-9][A-Za-z0-9._:-]{0,63}$/;

export function parseDeviceId(text: string): DeviceId {
  if (!DEVICE_ID.test(text)) {
    throw new PkiError(
      'identity_invalid',
      `deviceId "${JSON.stringify(text).slice(1, -1).slice(0, 80)}" must be 1-64 characters of A-Z a-z 0-9 . _ : - starting with a letter or digit`,
    );
  }
  return text as DeviceId;
}

/** The device certificate's subjectAltName: a directoryName with the deviceId and the label. */
export function deviceSubjectAltName(identity: { readonly deviceId: string; readonly deviceLabel: string }): GeneralName[] {
  return [
    {
      type: 'directoryName',
      value: [
        { type: 'CN', value: identity.deviceId },
        { type: 'description', value: identity.deviceLabel },
      ],
    },
  ];
}

export function deviceCertificateRequest(
  identity: DeviceIdentity,
  publicKey: PublicKeyInfo,
  serial: SerialNumber,
  validity: { readonly notBefore: Date; readonly notAfter: Date },
): CertificateRequest {
  const deviceId = parseDeviceId(identity.deviceId);
  return {
    profile: { kind: 'device' },
    serial,
    subject: [
      { type: 'CN', value: deviceId },
      { type: 'OU', value: identity.system },
      { type: 'role', value: identity.component },
      ...(identity.mock ? [{ type: 'description' as const, value: MOCK_DEVICE_MARK }] : []),
    ],
    subjectAltName: deviceSubjectAltName({ deviceId, deviceLabel: identity.deviceLabel }),
    publicKey,
    notBefore: validity.notBefore,
    notAfter: validity.notAfter,
  };
}
