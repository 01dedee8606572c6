/**
 * A first enrollment over a standard protocol (EST simpleenroll, RFC 7030 §4.2.1) with a
 * one-time enrollment token (docs/protocols.md): the token's own method of the one pipeline
 * (secret-enrollment.ts), the protocol switch checked inside its transaction once the token
 * named the component, and the request marked with its protocol. RFC 7030 §4.2.3: while an
 * approver decides, the client repeats the same request; the same CSR with the same token then
 * answers the request it made, without spending the token again.
 */
import { createHash } from 'node:crypto';
import { type ParsedCsr, parseDeviceId } from '@provisio/pki';
import type { ServiceDeps } from './deps.js';
import { findTokenBySecret, redeemEnrollmentToken } from './enrollment-tokens.js';
import { ServiceError } from './errors.js';
import type { CertificateRecord, ComponentId, DeviceIdText, EnrollmentProtocol, RequestRecord, SystemId } from './model.js';
import { requireProtocol } from './protocols.js';
import { enrollWithSecret } from './secret-enrollment.js';

export type ProtocolEnrollment =
  | { readonly state: 'issued'; readonly request: RequestRecord; readonly certificate: CertificateRecord }
  | { readonly state: 'pending'; readonly request: RequestRecord };

export async function enrollOverProtocol(
  deps: Pick<ServiceDeps, 'store' | 'clock' | 'random' | 'authority' | 'urls' | 'decisions'>,
  input: {
    readonly protocol: EnrollmentProtocol;
    readonly token: string;
    readonly deviceId: string | null;
    readonly csr: ParsedCsr;
    /** The scope the client addressed (an EST label): the token's component must be in it. */
    readonly within?: { readonly systemId: SystemId; readonly componentId: ComponentId | null } | null;
  },
): Promise<ProtocolEnrollment> {
  const { csr, protocol } = input;
  const cn = csr.subject.attributes.find((a) => a.type === 'CN')?.value ?? null;
  const named = input.deviceId ?? cn;
  if (!named) throw new ServiceError('csr_identity_mismatch', 'the CSR names no device (no subject CN) and the HTTP basic username is empty; send the device id as the username');
  const deviceId = parseDeviceId(named) as string as DeviceIdText;
  if (cn !== null && cn !== deviceId) throw new ServiceError('csr_identity_mismatch', `the CSR names CN ${JSON.stringify(cn.slice(0, 80))}, but enrolls device "${deviceId}"`);

  const existing = await deps.store.findRequestByContentHash(createHash('sha256').update(csr.der).digest('hex'));
  if (existing) return answerRetry(deps, existing, input.token, deviceId, protocol);

  const result = await enrollWithSecret(deps, {
    kind: 'token',
    deviceId,
    csr,
    protocol,
    redeem: async (tx, now) => {
      const { token, system, component } = await redeemEnrollmentToken(tx, { secret: input.token, deviceId, now });
      await requireProtocol({ store: tx }, protocol, component, system);
      const within = input.within;
      if (within && (within.systemId !== system.id || (within.componentId !== null && within.componentId !== component.id))) {
        throw new ServiceError('est_request_invalid', `enrollment token ${token.id} is for component "${system.name}/${component.name}", outside the label the request was sent to`);
      }
      return { id: token.id, system, component, deviceLabel: deviceId };
    },
  });
  if (result.issuance) return { state: 'issued', request: result.request, certificate: result.issuance.certificate };
  return { state: 'pending', request: result.request };
}

/** The same CSR again: only with the token that made its request (checked, not spent again). */
async function answerRetry(deps: Pick<ServiceDeps, 'store'>, request: RequestRecord, tokenText: string, deviceId: DeviceIdText, protocol: EnrollmentProtocol): Promise<ProtocolEnrollment> {
  const token = await findTokenBySecret(deps.store, tokenText);
  if (request.enrollment?.kind !== 'token' || request.enrollment.id !== token.id || request.deviceId !== deviceId || request.protocol !== protocol) {
    throw new ServiceError('request_replayed', `this CSR was already sent with another enrollment token, for another device or by another protocol; make a new CSR`);
  }
  if (request.state === 'rejected') throw new ServiceError('request_rejected', `request ${request.id} was rejected: ${request.decisionReason ?? ''}`);
  if (request.state !== 'approved') return { state: 'pending', request };
  const certificate = await deps.store.findCertificateByRequest(request.id);
  if (!certificate) throw new ServiceError('profile_not_found', `request ${request.id} has no certificate`);
  return { state: 'issued', request, certificate };
}
