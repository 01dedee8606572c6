/**
 * The service's own certificates (load-authority.ts): its TLS server certificate, the delegated
 * OCSP responder and the profile signer, each for a key the service has just generated at start
 * (or when the OCSP responder nears expiry). The caller is the service itself; nothing outside
 * can ask for one. Recorded in the certificates table like everything the CA issues, so they are
 * listed, revocable and their keys known to key policy.
 */
import type { PublicKeyInfo } from '@provisio/pki';
import { type CertificateTemplate, type EnrollmentMethod, refusingMethod } from '../method.js';
import { OCSP_RESPONDER_VALIDITY_DAYS, PROFILE_SIGNER_VALIDITY_DAYS, SCEP_RA_VALIDITY_DAYS, TLS_VALIDITY_DAYS } from '../validity.js';

export type ServiceTemplate = Extract<CertificateTemplate, { kind: 'tls-server' | 'ocsp-responder' | 'profile-signer' | 'scep-ra' }>;

export interface ServiceIssuanceInput {
  readonly template: ServiceTemplate;
  readonly publicKey: PublicKeyInfo;
  readonly now: Date;
}

const LIFETIME_DAYS: Readonly<Record<ServiceTemplate['kind'], number>> = {
  'tls-server': TLS_VALIDITY_DAYS,
  'ocsp-responder': OCSP_RESPONDER_VALIDITY_DAYS,
  'profile-signer': PROFILE_SIGNER_VALIDITY_DAYS,
  'scep-ra': SCEP_RA_VALIDITY_DAYS,
};

export const serviceMethod: EnrollmentMethod<ServiceIssuanceInput> = {
  ...refusingMethod('service'),
  async authorizeSign(_tx, input) {
    const kind = input.template.kind;
    return {
      template: input.template,
      publicKey: input.publicKey,
      lifetimeDays: LIFETIME_DAYS[kind],
      owner: { kind },
      audit: (certificate) => ({
        at: input.now,
        actor: 'system',
        action: 'certificate.issue',
        targetType: 'certificate',
        targetId: certificate.serial,
        details: { kind, sha256: certificate.fingerprint, notAfter: certificate.notAfter.toISOString() },
      }),
    };
  },
};
