/**
 * A first enrollment over a standard protocol (EST simpleenroll, RFC 7030 §4.2.1) with a
 * one-time enrollment token (docs/protocols.md): the token's own method of the one pipeline
 * (secret-enrollment.ts), the protocol switch checked inside its transaction once the token
 * named the component, and the request marked with its protocol. RFC 7030 §4.2.3: while an
 * approver decides, the client repeats the same request; the same CSR with the same token then
 * answers the request it made, without spending the token again.
 */
import { createHash } from 'node:crypto';
import { type ParsedCsr, type PublicKeyInfo, createCsr, createKeySigner, generateKey, parseCsr, parseDeviceId, publicKeyFingerprint, verifyCsr } from '@provisio/pki';
import type { ServiceDeps } from './deps.js';
import { findTokenBySecret, redeemEnrollmentToken } from './enrollment-tokens.js';
import { ServiceError } from './errors.js';
import type { CertificateRecord, ComponentId, DeviceIdText, EnrollmentProtocol, RequestRecord, SystemId } from './model.js';
import { requireProtocol } from './protocols.js';
import { enrollWithSecret } from './secret-enrollment.js';

/**
 * EST serverkeygen (RFC 7030 §4.4) for a device that cannot make keys: the service makes the key,
 * certifies it through the same token enrollment, and hands it out once; it is never stored.
 * Only where the system allows central key generation and takes the token as the approval (the
 * pairing code's rule, D39): a key that waited for an approver would have to be kept.
 */
export async function enrollWithServerKey(
  deps: Pick<ServiceDeps, 'store' | 'clock' | 'random' | 'authority' | 'urls' | 'decisions'>,
  input: { readonly token: string; readonly deviceId: string | null; readonly csr: ParsedCsr; readonly within?: ProtocolScopeIds | null },
): Promise<{ readonly certificate: CertificateRecord; readonly privateKeyDer: Buffer }> {
  verifyCsr(input.csr);
  const token = await findTokenBySecret(deps.store, input.token);
  const [system, component] = await Promise.all([deps.store.findSystemById(token.systemId), deps.store.findComponentById(token.componentId)]);
  if (!system?.centralKeyGeneration || !system.enrollmentSecretApproves || !component) {
    throw new ServiceError('central_key_not_allowed', `system "${system?.name ?? '?'}" does not generate device keys: send the CSR to simpleenroll (the device makes its key), or an admin turns on central key generation together with the token as the approval`);
  }
  const deviceId = deviceIdOf(input.csr, input.deviceId);
  const key = await generateKey(component.keyTypes[0] ?? 'p256');
  const csr = parseCsr(await createCsr(createKeySigner(key.privateKey), { subject: [{ type: 'CN', value: deviceId }] }));
  const outcome = await enrollOverProtocol(deps, { protocol: 'est', token: input.token, deviceId, csr, within: input.within ?? null, centralKey: true });
  if (outcome.state !== 'issued') throw new ServiceError('central_key_not_allowed', `request ${outcome.request.id} waits for an approver; a generated key is never kept, so serverkeygen answers only what is approved at once`);
  return { certificate: outcome.certificate, privateKeyDer: key.privateKey.export({ type: 'pkcs8', format: 'der' }) };
}

type ProtocolScopeIds = { readonly systemId: SystemId; readonly componentId: ComponentId | null };

/** The device a CSR enrolls: the HTTP basic username, else its CN; both when given must agree. */
function deviceIdOf(csr: ParsedCsr, username: string | null): DeviceIdText {
  const cn = csr.subject.attributes.find((a) => a.type === 'CN')?.value ?? null;
  const named = username ?? cn;
  if (!named) throw new ServiceError('csr_identity_mismatch', 'the CSR names no device (no subject CN) and the HTTP basic username is empty; send the device id as the username');
  const deviceId = parseDeviceId(named) as string as DeviceIdText;
  if (cn !== null && cn !== deviceId) throw new ServiceError('csr_identity_mismatch', `the CSR names CN ${JSON.stringify(cn.slice(0, 80))}, but enrolls device "${deviceId}"`);
  return deviceId;
}

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
    readonly within?: ProtocolScopeIds | null;
    /** The key was made here (serverkeygen): its CSR is new, never a retry. */
    readonly centralKey?: boolean;
  },
): Promise<ProtocolEnrollment> {
  const { csr, protocol } = input;
  const deviceId = deviceIdOf(csr, input.deviceId);

  const existing = input.centralKey ? null : await deps.store.findRequestByContentHash(createHash('sha256').update(csr.der).digest('hex'));
  if (existing) return answerRetry(deps, existing, input.token, deviceId, protocol);

  const result = await enrollWithSecret(deps, {
    kind: 'token',
    deviceId,
    csr,
    protocol,
    ...(input.centralKey ? { centralKeyGeneration: true } : {}),
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

/**
 * A poll for an earlier token enrollment the client names by its key and device, not by the CSR
 * (SCEP CertPoll, RFC 8894 §3.3.3): the newest request of this protocol for the device with this
 * public key answers as a repeat of the same request would. Reads only.
 */
export async function pollProtocolEnrollment(
  deps: Pick<ServiceDeps, 'store'>,
  input: { readonly protocol: EnrollmentProtocol; readonly deviceId: string; readonly publicKey: PublicKeyInfo },
): Promise<ProtocolEnrollment> {
  const deviceId = parseDeviceId(input.deviceId) as string as DeviceIdText;
  const key = publicKeyFingerprint(input.publicKey);
  const page = await deps.store.listRequests({ deviceId, limit: 50, offset: 0 });
  const request = page.items.find((r) => r.protocol === input.protocol && r.publicKeyFingerprint === key && r.enrollment?.kind === 'token');
  if (!request) throw new ServiceError('scep_request_unknown', `no ${input.protocol} enrollment of device "${deviceId}" with this key is known; send the PKCSReq first`);
  if (request.state === 'rejected') throw new ServiceError('request_rejected', `request ${request.id} was rejected: ${request.decisionReason ?? ''}`);
  if (request.state !== 'approved') return { state: 'pending', request };
  const certificate = await deps.store.findCertificateByRequest(request.id);
  if (!certificate) throw new ServiceError('profile_not_found', `request ${request.id} has no certificate`);
  return { state: 'issued', request, certificate };
}
