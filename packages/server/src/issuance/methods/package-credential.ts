/**
 * The package credential method: the bootstrap certificate of a new provisioning package, for a
 * key the service has just generated (it leaves once, inside the package file). It lives as long
 * as the package; a package is never renewed, a new one is made.
 */
import type { PublicKeyInfo } from '@provisio/pki';
import type { AuditEvent, CertificateRecord, PackageId } from '../../domain/model.js';
import { type EnrollmentMethod, refusingMethod } from '../method.js';

export interface PackageCredentialInput {
  readonly packageId: PackageId;
  readonly system: string;
  readonly days: number;
  readonly publicKey: PublicKeyInfo;
  readonly audit: (certificate: CertificateRecord) => AuditEvent;
}

export const packageCredentialMethod: EnrollmentMethod<PackageCredentialInput> = {
  ...refusingMethod('package-credential'),
  async authorizeSign(_tx, input) {
    return {
      template: { kind: 'bootstrap', packageId: input.packageId, system: input.system },
      publicKey: input.publicKey,
      lifetimeDays: input.days,
      owner: { kind: 'bootstrap' },
      audit: (certificate) => input.audit(certificate),
    };
  },
};
