/**
 * The gateway enrollment method: an administrator registers a proxy gateway with its CSR (its
 * proof of possession checked by the caller) and the hosts devices reach it by. Names come from
 * the administrator, the CSR gives only its key. Gateways do not renew: a new one is registered.
 */
import type { CertificateRequest, PublicKeyInfo } from '@provisio/pki';
import type { AuditEvent, CertificateRecord } from '../../domain/model.js';
import { type EnrollmentMethod, refusingMethod } from '../method.js';
import { GATEWAY_VALIDITY_DAYS } from '../validity.js';

export interface GatewayIssuanceInput {
  readonly name: string;
  readonly hosts: readonly string[];
  readonly publicKey: PublicKeyInfo;
  readonly audit: (certificate: CertificateRecord, request: CertificateRequest) => AuditEvent;
}

export const gatewayMethod: EnrollmentMethod<GatewayIssuanceInput> = {
  ...refusingMethod('gateway'),
  async authorizeSign(_tx, input) {
    return {
      template: { kind: 'gateway', name: input.name, hosts: input.hosts },
      publicKey: input.publicKey,
      lifetimeDays: GATEWAY_VALIDITY_DAYS,
      owner: { kind: 'gateway' },
      audit: input.audit,
    };
  },
};
