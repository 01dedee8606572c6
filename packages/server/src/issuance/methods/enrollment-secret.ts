/**
 * The enrollment methods of a device that holds a one-time secret instead of a bootstrap
 * package: an enrollment token (`enrollment-token`, domain/enrollment-tokens.ts) or a pairing
 * code (`pairing-code`, domain/pairing-codes.ts). The flow checks and spends the secret inside
 * the issuing transaction, before the pipeline runs (or at intake, when the request then waits
 * for an approver); the method checks that the request is one such a secret made, and answers
 * the same device certificate and certified profile as a package's request. Signs only: a device
 * enrolled this way renews like any other (method `renewal`).
 */
import type { EnrollmentSecretKind } from '../../domain/model.js';
import { ServiceError } from '../../domain/errors.js';
import { type EnrollmentMethod, type MethodName, refusingMethod } from '../method.js';
import { type DeviceIssuanceInput, deviceSignOptions } from './device.js';

function secretMethod(name: MethodName, kind: EnrollmentSecretKind): EnrollmentMethod<DeviceIssuanceInput> {
  return {
    ...refusingMethod(name),
    async authorizeSign(_tx, input) {
      const { request } = input;
      if (request.kind !== undefined || request.enrollment?.kind !== kind) {
        throw new ServiceError('method_operation_refused', `enrollment method "${name}" does not answer request ${request.id} (${request.enrollment?.kind ?? request.kind ?? 'provision'})`);
      }
      // A first certificate: a device returning after a revocation brings a new key.
      return deviceSignOptions(input, 'all');
    },
  };
}

export const enrollmentTokenMethod = secretMethod('enrollment-token', 'token');
export const pairingCodeMethod = secretMethod('pairing-code', 'pairing-code');

/** The method that answers a request made with a secret of this kind. */
export function methodForEnrollment(kind: EnrollmentSecretKind): EnrollmentMethod<DeviceIssuanceInput> {
  return kind === 'token' ? enrollmentTokenMethod : pairingCodeMethod;
}
