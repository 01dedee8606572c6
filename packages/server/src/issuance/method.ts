/**
 * Enrollment methods, in the spirit of step-ca's provisioners: a method is how a caller comes to
 * be certified (a bootstrap package's request, a renewal, a gateway an administrator registers,
 * ...). It authenticates the caller and checks its own preconditions, then answers with typed
 * sign options; the issuing pipeline (issue-certificate.ts) does the rest, the same way for all.
 * A method starts from `refusingMethod`: every operation it does not implement is refused.
 */
import type { IssuedCertificate, CertificateRequest, DeviceIdentity, PublicKeyInfo } from '@provisio/pki';
import { ServiceError } from '../domain/errors.js';
import type { AuditEvent, CertificateRecord, DeviceIdText, PackageId, RequestId } from '../domain/model.js';
import type { StoreTx } from '../domain/store.js';
import type { IssuedKind } from './validity.js';

/** What a caller may ask of a method. Revocation is no method's: administrators revoke (revocation.ts). */
export type Operation = 'sign' | 'renew';

export type MethodName = 'bootstrap-package' | 'enrollment-token' | 'pairing-code' | 'renewal' | 'reprovisioning' | 'gateway' | 'package-credential' | 'service';

/** What the certificate says, per profile; the template step turns it into a certificate request. */
export type CertificateTemplate =
  | { readonly kind: 'device'; readonly identity: DeviceIdentity }
  | { readonly kind: 'gateway'; readonly name: string; readonly hosts: readonly string[] }
  | { readonly kind: 'bootstrap'; readonly packageId: PackageId; readonly system: string }
  | { readonly kind: 'tls-server'; readonly names: readonly string[] }
  | { readonly kind: 'ocsp-responder' }
  | { readonly kind: 'profile-signer' }
  | { readonly kind: 'scep-ra' };

/** A device's key: it may keep its own key across renewals, within `refuseOwnKeys`. */
export interface DeviceKeyOwner {
  readonly kind: 'device';
  readonly deviceId: DeviceIdText;
  /**
   * 'all': a provisioning request: a device provisioned again after a revocation brings a new
   * key. 'revoked': a renewal or reprovisioning keeps its current key, never a revoked one's.
   */
  readonly refuseOwnKeys: 'all' | 'revoked';
}

/** Whose key is being certified, for key policy (key-policy.ts: one key, one identity). */
export type KeyOwner = DeviceKeyOwner | { readonly kind: Exclude<IssuedKind, 'device'> };

export interface SignOptions {
  readonly template: CertificateTemplate;
  readonly publicKey: PublicKeyInfo;
  /** From now (backdated per kind, validity.ts); the validators cap it per kind. */
  readonly lifetimeDays: number;
  readonly owner: KeyOwner;
  /** The request the certificate answers (device certificates). */
  readonly requestId?: RequestId;
  /** The certified profile to record with the certificate (device certificates). */
  readonly certifiedProfile?: (issued: IssuedCertificate) => Promise<string>;
  /** The audit entry that records the issuance (with the caller's state change it belongs to). */
  readonly audit: (certificate: CertificateRecord, request: CertificateRequest) => AuditEvent;
}

export interface EnrollmentMethod<Input> {
  readonly name: MethodName;
  /** A first certificate for an identity. */
  authorizeSign(tx: StoreTx, input: Input): Promise<SignOptions>;
  /** A further certificate for an identity that holds a current one. */
  authorizeRenew(tx: StoreTx, input: Input): Promise<SignOptions>;
}

/** The base every method extends: refuses each operation with a stable code until a method says otherwise. */
export function refusingMethod<Input>(name: MethodName): EnrollmentMethod<Input> {
  const refuse = (operation: Operation) => (): Promise<SignOptions> =>
    Promise.reject(new ServiceError('method_operation_refused', `enrollment method "${name}" does not ${operation} certificates`));
  return { name, authorizeSign: refuse('sign'), authorizeRenew: refuse('renew') };
}
