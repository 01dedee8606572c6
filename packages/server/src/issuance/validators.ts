/**
 * The pipeline's validators: what every certificate request must satisfy whatever the method
 * asked, checked after the template and before lint (which checks the profile's encoding rules).
 */
import { type CertificateRequest, describePublicKey, keyTypeOf } from '@provisio/pki';
import { ServiceError } from '../domain/errors.js';
import type { SignOptions } from './method.js';
import { MAX_VALIDITY_DAYS } from './validity.js';

export function validateCertificateRequest(request: CertificateRequest, options: SignOptions): void {
  const kind = options.template.kind;
  if (options.owner.kind !== kind) throw new Error(`a ${kind} certificate cannot certify the key of a ${options.owner.kind}`);
  const max = MAX_VALIDITY_DAYS[kind];
  if (!Number.isInteger(options.lifetimeDays) || options.lifetimeDays < 1 || options.lifetimeDays > max) {
    throw new ServiceError('validation_failed', `a ${kind} certificate lives 1 to ${max} days; ${options.lifetimeDays} were asked for`);
  }
  // Only the key types Provisio generates are certified (P-256, P-384, RSA 3072).
  if (!keyTypeOf(request.publicKey)) {
    throw new ServiceError('key_type_not_allowed', `a ${kind} key must be P-256, P-384 or RSA 3072; got ${describePublicKey(request.publicKey)}`);
  }
}
