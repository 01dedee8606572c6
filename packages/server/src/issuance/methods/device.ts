/**
 * The device enrollment methods: a bootstrap package's provisioning request once approved
 * (sign), a renewal with the current certificate (renew), and a reprovisioning once approved
 * (renew). The flows authenticate their caller before their transaction (the package and device
 * signatures at intake, an approver's session, the device certificate over mutual TLS:
 * requests.ts, lifecycle.ts); the method checks, inside it, that the request is one of its own
 * and answers the device certificate with its certified profile.
 */
import { type DeviceId, describePublicKey, keyTypeOf, type PublicKeyInfo } from '@provisio/pki';
import { createCertifiedProfile } from '@provisio/protocol';
import type { ServiceDeps } from '../../domain/deps.js';
import { ServiceError } from '../../domain/errors.js';
import type { AuditEvent, CertificateRecord, ComponentRecord, RequestRecord, SystemRecord } from '../../domain/model.js';
import { type DeviceKeyOwner, type EnrollmentMethod, type MethodName, type SignOptions, refusingMethod } from '../method.js';
import { RENEWAL_SCHEDULE } from '../validity.js';

export interface DeviceIssuanceInput {
  readonly deps: Pick<ServiceDeps, 'authority' | 'urls'>;
  readonly request: RequestRecord;
  readonly system: SystemRecord;
  readonly component: ComponentRecord;
  readonly publicKey: PublicKeyInfo;
  readonly now: Date;
  /** The entry of the flow's step (request.approve, certificate.renew), naming the new certificate. */
  readonly audit: (certificate: CertificateRecord) => AuditEvent;
}

function requireKind(method: MethodName, request: RequestRecord, kind: RequestRecord['kind']): void {
  // A request a token or pairing code made is its own method's (methods/enrollment-secret.ts).
  if (request.kind !== kind || request.enrollment !== undefined) {
    throw new ServiceError('method_operation_refused', `enrollment method "${method}" does not answer request ${request.id} (${request.kind ?? 'provision'})`);
  }
}

/** The device certificate and certified profile every device method answers with. */
export function deviceSignOptions(input: DeviceIssuanceInput, refuseOwnKeys: DeviceKeyOwner['refuseOwnKeys']): SignOptions {
  const { request, system, component, deps, now } = input;
  const { authority, urls } = deps;
  return {
    template: {
      kind: 'device',
      identity: { deviceId: request.deviceId as string as DeviceId, deviceLabel: request.deviceLabel, system: system.name, component: component.name, mock: request.mock },
    },
    publicKey: input.publicKey,
    lifetimeDays: component.validityDays,
    owner: { kind: 'device', deviceId: request.deviceId, refuseOwnKeys },
    requestId: request.id,
    certifiedProfile: (issued) =>
      createCertifiedProfile({
        payload: {
          requestId: request.id,
          deviceId: request.deviceId,
          deviceLabel: request.deviceLabel,
          system: system.name,
          component: component.name,
          publicKeySha256: request.publicKeyFingerprint,
          certificateChain: [issued.der.toString('base64'), authority.intermediate.der.toString('base64')],
          rootOfTrust: authority.root.der.toString('base64'),
          config: { serviceUrl: urls.serviceUrl, ocspUrl: urls.ocspUrl, crlUrl: urls.crlUrl, renewal: { ...RENEWAL_SCHEDULE } },
          issuedAt: now.toISOString(),
          mock: request.mock,
        },
        signer: authority.profileSigner,
        signerChain: authority.profileSignerChain,
      }),
    audit: (certificate) => input.audit(certificate),
  };
}

/** An approved provisioning request: a device returning after a revocation brings a new key. */
export const bootstrapPackageMethod: EnrollmentMethod<DeviceIssuanceInput> = {
  ...refusingMethod('bootstrap-package'),
  async authorizeSign(_tx, input) {
    requireKind('bootstrap-package', input.request, undefined);
    return deviceSignOptions(input, 'all');
  },
};

/** A renewal, approved when made: the component's template must allow the key it brings. */
export const renewalMethod: EnrollmentMethod<DeviceIssuanceInput> = {
  ...refusingMethod('renewal'),
  async authorizeRenew(_tx, input) {
    requireKind('renewal', input.request, 'renewal');
    const { component, publicKey } = input;
    const keyType = keyTypeOf(publicKey);
    if (!keyType || !component.keyTypes.includes(keyType)) {
      throw new ServiceError('key_type_not_allowed', `component "${component.name}" allows ${component.keyTypes.join(', ')} keys; the renewal carries ${describePublicKey(publicKey)}`);
    }
    return deviceSignOptions(input, 'revoked');
  },
};

/** An approved reprovisioning: a fresh certificate and profile for the current identity. */
export const reprovisioningMethod: EnrollmentMethod<DeviceIssuanceInput> = {
  ...refusingMethod('reprovisioning'),
  async authorizeRenew(_tx, input) {
    requireKind('reprovisioning', input.request, 'reprovision');
    return deviceSignOptions(input, 'revoked');
  },
};
