/**
 * Re-enrollment over a standard protocol (docs/protocols.md): EST simplereenroll (RFC 7030
 * §4.2.2) authenticated by the current certificate over mutual TLS, and CMP kur (RFC 4210
 * §5.3.5) signed with it. Both are a renewal (lifecycle.ts): the same authentication of the
 * current certificate, the same renewal method of the one issuing pipeline, the same audit
 * entry (`certificate.renew`, with `protocol`), only the request is a bare PKCS#10 CSR (or CRMF
 * certificate template) instead of a renewal JWS.
 */
import { createHash } from 'node:crypto';
import { OID, type ParsedCsr, PkiError, parseCertificate, verifyChain, checkRequestedSubjectAltNames, parseAndVerifyCsr, parsePublicKeyDer, signatureAlgorithmByOid, verifySignature, deviceSubjectAltName, type PublicKeyInfo } from '@provisio/pki';
import { RENEWAL_WINDOW_MS } from '@provisio/protocol';
import type { ServiceDeps } from './deps.js';
import { confirmInstall } from './devices.js';
import { ServiceError } from './errors.js';
import { type RenewalResult, type RenewingDevice, authenticateRenewingDevice, findPendingRenewal, installRenewal, issueRenewal } from './lifecycle.js';
import type { DeviceRecord, EnrollmentProtocol, RequestRecord } from './model.js';
import { requireProtocol } from './protocols.js';
import { isPkcs10Request, parseCertReqMsg } from '../protocols/cmp-message.js';

type Deps = Pick<ServiceDeps, 'store' | 'clock' | 'random' | 'authority' | 'urls' | 'revocation'>;

/**
 * The names a device may ask for in a CSR: a subject whose CNs are all its device id (or none),
 * and subjectAltNames its certificate carries. The certificate takes names from the template
 * only; a request naming someone else is refused rather than silently answered for the device.
 */
export function checkCsrNames(names: { readonly subject: ParsedCsr['subject']; readonly csr?: ParsedCsr }, device: Pick<DeviceRecord, 'deviceId' | 'label'>): void {
  const cns = names.subject.attributes.filter((a) => a.type === 'CN').map((a) => a.value);
  const other = cns.find((cn) => cn !== device.deviceId);
  if (other !== undefined) {
    throw new ServiceError('csr_identity_mismatch', `the CSR names CN ${JSON.stringify(other.slice(0, 80))}, but the caller is device "${device.deviceId}"; make the CSR with CN=${device.deviceId} or no CN`);
  }
  if (names.csr) checkRequestedSubjectAltNames(names.csr, deviceSubjectAltName({ deviceId: device.deviceId, deviceLabel: device.label }));
}

/**
 * Who is re-enrolling: the presented certificate must be the device's current one (lifecycle.ts).
 * A certificate of a renewal the device has not confirmed yet is first installed: a client of a
 * standard protocol has no Provisio confirmation step, and using the new certificate for mutual
 * TLS or a signature proves it holds and installed it, which is what the confirmation proves.
 */
export async function authenticateReenrollingDevice(deps: Deps, presented: readonly Buffer[]): Promise<RenewingDevice> {
  const pending = await findPendingRenewal(deps, presented);
  if (pending) await installRenewal(deps, pending);
  await confirmFirstUse(deps, presented);
  return authenticateRenewingDevice(deps, presented);
}

/**
 * A device enrolled over a standard protocol (EST simpleenroll) is approved with its first
 * certificate, and such a client never calls the Provisio confirmation: its first use of that
 * certificate (mutual TLS, or a CMP signature) confirms the install, as POST /api/v1/device/confirm
 * over mutual TLS would. Only for the current, active certificate of an approved device that
 * chains to our root for client authentication; anything else is left to the usual checks.
 */
async function confirmFirstUse(deps: Deps, presented: readonly Buffer[]): Promise<void> {
  const [der] = presented;
  if (!der || der.length === 0) return;
  const leaf = parseCertificate(der);
  const record = await deps.store.findCertificate(deps.authority.issuerFingerprint, leaf.serial);
  if (!record || record.kind !== 'device' || record.status !== 'active' || !record.deviceId || !record.der.equals(leaf.der)) return;
  const device = await deps.store.findDevice(record.deviceId);
  if (device?.state !== 'approved' || device.currentRequestId !== record.requestId) return;
  verifyChain({ leaf, intermediates: [deps.authority.intermediate], roots: [deps.authority.root], at: deps.clock.now(), requiredExtKeyUsage: OID.kpClientAuth });
  await confirmInstall(deps, device.deviceId, record.serial);
}

export interface ProtocolRenewalInput {
  readonly protocol: EnrollmentProtocol;
  readonly who: RenewingDevice;
  /** The request's bytes as received (the CSR, or the CMP certificate request message). */
  readonly raw: Buffer;
  readonly publicKey: PublicKeyInfo;
  /**
   * 'now': the new certificate becomes current at once (EST: the answer ends the exchange).
   * 'on-confirm': when the client confirms it (CMP certConf; lifecycle.ts installRenewal).
   */
  readonly install: 'now' | 'on-confirm';
}

/**
 * Issues the renewal for an authenticated device whose request's names were checked. The same
 * request bytes again answer the same certificate (an EST client retrying), for this device only.
 */
export async function renewOverProtocol(deps: Deps, input: ProtocolRenewalInput): Promise<RenewalResult> {
  const { who, protocol } = input;
  await requireProtocol(deps, protocol, who.component);
  const contentHash = createHash('sha256').update(input.raw).digest('hex');
  const existing = await deps.store.findRequestByContentHash(contentHash);
  let result: RenewalResult;
  if (existing) {
    if (existing.kind !== 'renewal' || existing.deviceId !== who.device.deviceId || existing.protocol !== protocol) {
      throw new ServiceError('request_replayed', `this ${protocol.toUpperCase()} request was already answered for another device or as another kind of request`);
    }
    const [certificate, profile] = await Promise.all([deps.store.findCertificateByRequest(existing.id), deps.store.findProfile(existing.id)]);
    if (!certificate || !profile) throw new ServiceError('profile_not_found', `renewal ${existing.id} has no certificate or profile`);
    result = { request: existing, certificate, profile: profile.content, created: false };
  } else {
    const now = deps.clock.now();
    result = await issueRenewal(deps, who, {
      // The CSR's hash: unique per request as a renewal JWS's nonce is.
      nonce: contentHash,
      contentHash,
      raw: input.raw,
      publicKey: input.publicKey,
      expiresAt: new Date(now.getTime() + RENEWAL_WINDOW_MS),
      protocol,
    });
  }
  if (input.install === 'now') {
    const pending = await findPendingRenewal(deps, [result.certificate.der]);
    if (pending) await installRenewal(deps, pending);
  }
  return result;
}

/**
 * A stored protocol request's proof of possession, checked again (the review page): the PKCS#10
 * signature (EST, CMP p10cr), or the CRMF POPO signature over the CertRequest (CMP, RFC 4211 §4.1).
 */
export function verifyProtocolRequest(request: RequestRecord): void {
  if (request.protocol !== 'cmp' || isPkcs10Request(request.raw)) {
    parseAndVerifyCsr(request.raw);
    return;
  }
  const message = parseCertReqMsg(request.raw);
  const key = message.publicKey ?? parsePublicKeyDer(Buffer.alloc(0));
  const popo = message.popo;
  if (popo?.kind !== 'signature' || !verifySignature(signatureAlgorithmByOid(popo.algorithm.oid), key, message.certRequest, popo.signature)) {
    throw new PkiError('csr_signature_invalid', 'the CMP request\'s proof of possession does not verify with the key it certifies');
  }
}
