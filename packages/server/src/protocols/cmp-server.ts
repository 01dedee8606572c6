/**
 * The CMP server (RFC 4210, RFC 9483 Lightweight CMP Profile; docs/protocols.md): one PKIMessage
 * in, one out. A thin front-end: the caller is authenticated by the message's protection, then
 * the domain does the work through the one issuing pipeline (renewal for kur, device
 * self-revocation for rr); transactions are remembered for replay protection and certConf.
 *
 * Every answer, errors too, is a PKIMessage signed by the service's profile signer (the key that
 * signs certified profiles, certified by the issuing CA; D43), with the signer's certificate and
 * the issuing CA in extraCerts, so a client that trusts the root verifies it. Refusals are an
 * `error` body with PKIStatusInfo (rejection, failInfo, "code: message") and nothing stored.
 */
import { createHash } from 'node:crypto';
import { type ParsedCertificate, type ParsedCsr, PkiError, type SerialNumber, explicit, isProvisioError, parseCertificate, parseDeviceId, seq, signatureAlgorithmByOid, verifyCsr, verifySignature } from '@provisio/pki';
import type { ServiceDeps } from '../domain/deps.js';
import { revokeOwnCertificate, reasonFromCode } from '../domain/device-self-revocation.js';
import { ServiceError } from '../domain/errors.js';
import { confirmInstall } from '../domain/devices.js';
import { spendEnrollmentToken } from '../domain/enrollment-tokens.js';
import { findPendingRenewal, installRenewal } from '../domain/lifecycle.js';
import type { CmpTransaction, DeviceIdText, EnrollmentTokenId, EnrollmentTokenRecord, RequestId } from '../domain/model.js';
import { authenticateReenrollingDevice, checkCsrNames, renewOverProtocol } from '../domain/protocol-renewal.js';
import { requireProtocol } from '../domain/protocols.js';
import { enrollWithSecret } from '../domain/secret-enrollment.js';
import { StoreConflict } from '../domain/store.js';
import {
  type BodyType,
  type CertRequestMessage,
  type CmpMessage,
  type FailInfo,
  PKI_CONF,
  STATUS,
  caCertsGenRep,
  certRepMessage,
  encodeBody,
  encodeHeader,
  encodeMessage,
  errorContent,
  parseCmpMessage,
  pollRepContent,
  revRepContent,
  statusInfo,
} from './cmp-message.js';
import { type PbmParameters, isMacProtected, pbmAlgorithm, pbmMac, verifyMacProtection, verifySignatureProtection } from './cmp-protection.js';

type Deps = Pick<ServiceDeps, 'store' | 'clock' | 'random' | 'authority' | 'urls' | 'revocation' | 'decisions'>;

/** How long a client polling for a request an approver has not decided waits between polls (RFC 4210 §5.3.22). */
export const CMP_POLL_SECONDS = 3;

/** The MAC key of a MAC-protected message: the token it names, and the parameters to answer with. */
interface MacKey {
  readonly token: EnrollmentTokenRecord;
  readonly secret: Buffer;
  readonly pbm: PbmParameters;
}

/**
 * The shared secret of a token for CMP's MAC (D43): the hex SHA-256 of its secret part, which is
 * what the service keeps. A MAC is checked with its key, so the key must be the stored value.
 */
export function cmpSecretOf(token: EnrollmentTokenRecord): Buffer {
  return Buffer.from(token.secretSha256.toString('hex'), 'utf8');
}

/** RFC 9483 §3.1: transactionID and senderNonce carry at least 128 random bits. */
const MIN_NONCE_BYTES = 16;

/** Which failInfo bit a refusal's code sets (RFC 4210 §5.2.3). */
const FAIL_INFO: Readonly<Record<string, FailInfo>> = {
  cmp_message_invalid: 'badDataFormat',
  der_malformed: 'badDataFormat',
  input_too_large: 'badDataFormat',
  cmp_protection_invalid: 'badMessageCheck',
  signature_algorithm_unsupported: 'badAlg',
  cmp_transaction_replayed: 'transactionIdInUse',
  cmp_transaction_unknown: 'badRecipientNonce',
  protocol_not_enabled: 'notAuthorized',
  method_operation_refused: 'notAuthorized',
  csr_identity_mismatch: 'badCertTemplate',
  csr_san_not_allowed: 'badCertTemplate',
  csr_signature_invalid: 'badPOP',
  key_type_not_allowed: 'badCertTemplate',
  key_in_use: 'badCertTemplate',
  key_blocked: 'badCertTemplate',
  key_is_ca_key: 'badCertTemplate',
  device_key_revoked: 'badCertTemplate',
  key_too_weak: 'badCertTemplate',
  key_unsupported: 'badCertTemplate',
  certificate_revoked: 'certRevoked',
  certificate_not_found: 'badCertId',
  client_certificate_unknown: 'notAuthorized',
  renewal_grace_expired: 'notAuthorized',
  device_not_provisioned: 'notAuthorized',
  revocation_reason_invalid: 'badRequest',
  token_used: 'notAuthorized',
  token_expired: 'notAuthorized',
  token_revoked: 'notAuthorized',
  token_device_mismatch: 'badCertTemplate',
  device_exists: 'badCertTemplate',
  request_rejected: 'notAuthorized',
};

function failInfoFor(code: string): FailInfo {
  if (FAIL_INFO[code]) return FAIL_INFO[code];
  if (code.startsWith('chain_') || code.startsWith('certificate_')) return 'signerNotTrusted';
  return 'badRequest';
}

interface Answer {
  readonly type: BodyType;
  readonly content: Buffer;
  readonly implicitConfirm?: boolean;
}

function hex(b: Buffer | null): string {
  return b ? b.toString('hex') : '';
}

export class CmpServer {
  constructor(private readonly deps: Deps, private readonly log?: (line: string) => void) {}

  /** Answers one DER PKIMessage with one DER PKIMessage (never throws for the client's input). */
  async answer(der: Buffer): Promise<Buffer> {
    let message: CmpMessage | null = null;
    try {
      message = parseCmpMessage(der);
      const answer = await this.dispatch(message);
      return await this.protect(message, answer);
    } catch (e) {
      if (!isProvisioError(e)) this.log?.(`error cmp: ${e instanceof Error ? e.stack : String(e)}`);
      const code = isProvisioError(e) ? e.code : 'internal';
      const text = isProvisioError(e) && e.category !== 'internal' ? `${code}: ${e.message}` : 'internal: the service failed; the cause is in the server log';
      const fail: FailInfo = isProvisioError(e) ? failInfoFor(code) : 'systemFailure';
      return this.protect(message, { type: 'error', content: errorContent(statusInfo(STATUS.rejection, text, [fail])) });
    }
  }

  private async dispatch(message: CmpMessage): Promise<Answer> {
    const { header, body } = message;
    if (!header.transactionId || header.transactionId.length < MIN_NONCE_BYTES || !header.senderNonce || header.senderNonce.length < MIN_NONCE_BYTES) {
      throw new ServiceError('cmp_message_invalid', `needs a transactionID and a senderNonce of at least ${MIN_NONCE_BYTES} bytes (RFC 9483 §3.1)`);
    }
    if (isMacProtected(message)) return this.macProtected(message);
    const signer = verifySignatureProtection(message);
    switch (body.type) {
      case 'genm':
        return this.generalMessage(signer, body.infoTypes);
      case 'kur':
        return this.keyUpdate(message, signer, body.request);
      case 'certConf':
        return this.certConf(message, signer, body.statuses);
      case 'rr':
        return this.revoke(message, signer, body.serial, body.reason);
      case 'error':
        // RFC 9483 §3.6.4: a client's error ends its transaction; acknowledged with pkiConf.
        return { type: 'pkiconf', content: PKI_CONF };
      case 'pollReq':
        throw new ServiceError('cmp_transaction_unknown', `transaction ${hex(header.transactionId)} has no request waiting for approval`);
      case 'ir':
      case 'cr':
      case 'p10cr':
        throw new ServiceError('method_operation_refused', `a first enrollment (${body.type}) is authenticated by an enrollment token (MAC protection, -ref/-secret); a signature by a device certificate renews with kur`);
    }
  }

  /**
   * A MAC-protected message (RFC 4210 §5.1.3.1): the first enrollment with a one-time token
   * (senderKID = the token id, the MAC's secret = the token's, D43), its certConf and polls.
   * An unknown reference and a wrong MAC get one answer.
   */
  private async macProtected(message: CmpMessage): Promise<Answer> {
    const reference = message.header.senderKid?.toString('utf8') ?? '';
    const token = /^[0-9a-f]{16}$/.test(reference) ? await this.deps.store.findEnrollmentToken(reference as EnrollmentTokenId) : null;
    // Checked against a throw-away secret when the token is unknown, so both cost the same.
    const secret = token ? cmpSecretOf(token) : Buffer.from(this.deps.random.bytes(32)).toString('hex');
    const pbm = verifyMacProtection(message, Buffer.from(secret));
    if (!token) throw new ServiceError('cmp_protection_invalid', 'the PKIMessage\'s protection is a MAC that the shared secret does not make (wrong MAC or secret)');
    this.macKeys.set(message, { token, secret: Buffer.from(secret), pbm });
    const { body } = message;
    switch (body.type) {
      case 'ir':
      case 'cr':
        return this.firstEnrollment(message, token, asCsr(body.request), body.request.certReqId);
      case 'p10cr':
        // RFC 9483 §4.1.4: a PKCS#10 request, its proof of possession its own signature; certReqId 0.
        return this.firstEnrollment(message, token, body.csr, 0);
      case 'certConf':
        return this.certConf(message, null, body.statuses);
      case 'pollReq':
        return this.poll(message, body.certReqIds[0] ?? 0);
      case 'genm':
        return { type: 'genp', content: caCertsGenRep([this.deps.authority.intermediate.der, this.deps.authority.root.der]) };
      case 'error':
        return { type: 'pkiconf', content: PKI_CONF };
      default:
        throw new ServiceError('method_operation_refused', `${body.type} is authenticated by a signature with the device's current certificate, not by a token's MAC`);
    }
  }

  /** ir/cr/p10cr (RFC 9483 §4.1.1, §4.1.2, §4.1.4) with a token: the token's enrollment method, as EST simpleenroll. */
  private async firstEnrollment(message: CmpMessage, token: EnrollmentTokenRecord, csr: ParsedCsr, certReqId: number): Promise<Answer> {
    await this.requireNewTransaction(message);
    const cn = csr.subject.attributes.find((a) => a.type === 'CN')?.value;
    if (!cn) throw new ServiceError('csr_identity_mismatch', 'the certificate template names no device: its subject needs CN=<device id>');
    const deviceId = parseDeviceId(cn) as string as DeviceIdText;
    verifyCsr(csr);
    const result = await enrollWithSecret(this.deps, {
      kind: 'token',
      deviceId,
      csr,
      protocol: 'cmp',
      redeem: async (tx, now) => {
        const { system, component } = await spendEnrollmentToken(tx, token, { deviceId, now });
        await requireProtocol({ store: tx }, 'cmp', component, system);
        return { id: token.id, system, component, deviceLabel: deviceId };
      },
    });
    const implicit = message.header.implicitConfirm && result.issuance !== null;
    await this.recordTransaction(message, {
      bodyType: message.body.type,
      state: result.issuance ? (implicit ? 'confirmed' : 'issued') : 'waiting',
      deviceId,
      requestId: result.request.id,
      serial: result.issuance?.certificate.serial ?? null,
    });
    const type = responseType(message.body.type);
    if (!result.issuance) return { type, content: certRepMessage(certReqId, statusInfo(STATUS.waiting, `request ${result.request.id} waits for an approver`), null) };
    if (implicit) await confirmInstall(this.deps, deviceId, result.issuance.certificate.serial);
    return { type, content: certRepMessage(certReqId, statusInfo(STATUS.accepted), result.issuance.certificate.der), implicitConfirm: implicit };
  }

  /** pollReq (RFC 4210 §5.3.22): pollRep while an approver decides, then the ip it was waiting for. */
  private async poll(message: CmpMessage, certReqId: number): Promise<Answer> {
    const transaction = await this.requireOpenTransaction(message, ['waiting']);
    const key = this.macKeys.get(message);
    const request = transaction.requestId ? await this.deps.store.findRequest(transaction.requestId) : null;
    if (!request || (key && request.enrollment?.id !== key.token.id)) throw new ServiceError('cmp_transaction_unknown', `transaction ${transaction.transactionId} is not this token's`);
    if (request.state === 'pending') {
      await this.advance(message, transaction, ['waiting'], 'waiting');
      return { type: 'pollRep', content: pollRepContent(certReqId, CMP_POLL_SECONDS, `request ${request.id} waits for an approver`) };
    }
    if (request.state === 'rejected') {
      await this.advance(message, transaction, ['waiting'], 'rejected');
      return { type: responseType(transaction.bodyType), content: certRepMessage(certReqId, statusInfo(STATUS.rejection, `request_rejected: request ${request.id} was rejected: ${request.decisionReason ?? ''}`, ['notAuthorized']), null) };
    }
    const certificate = await this.deps.store.findCertificateByRequest(request.id);
    if (!certificate) throw new ServiceError('cmp_transaction_unknown', `request ${request.id} has no certificate`);
    const moved = await this.deps.store.updateCmpTransaction(transaction.transactionId, ['waiting'], 'issued', { serverNonce: hex(this.nonceFor(message)), at: this.deps.clock.now(), serial: certificate.serial });
    if (!moved) throw new ServiceError('cmp_transaction_unknown', `transaction ${transaction.transactionId} was answered concurrently`);
    return { type: responseType(transaction.bodyType), content: certRepMessage(certReqId, statusInfo(STATUS.accepted), certificate.der) };
  }

  private readonly macKeys = new WeakMap<CmpMessage, MacKey>();

  /** genm (RFC 9483 §4.3.1): the CA certificates, to a caller whose signing certificate chains to our root. */
  private async generalMessage(signer: ParsedCertificate, infoTypes: readonly string[]): Promise<Answer> {
    await this.requireDeviceSigner(signer);
    void infoTypes;
    return { type: 'genp', content: caCertsGenRep([this.deps.authority.intermediate.der, this.deps.authority.root.der]) };
  }

  /** Any current certificate of a device chained to our root may ask for the CA certificates. */
  private async requireDeviceSigner(signer: ParsedCertificate) {
    return authenticateReenrollingDevice(this.deps, [signer.der]);
  }

  private async requireNewTransaction(message: CmpMessage): Promise<void> {
    const { transactionId, senderNonce } = message.header;
    if (await this.deps.store.findCmpTransaction(hex(transactionId))) {
      throw new ServiceError('cmp_transaction_replayed', `transactionID ${hex(transactionId)} was used by an earlier transaction; a new request needs a new transactionID`);
    }
    if (await this.deps.store.findCmpTransactionByNonce(hex(senderNonce))) {
      throw new ServiceError('cmp_transaction_replayed', `senderNonce ${hex(senderNonce)} was used by an earlier request (a replay); make a new request`);
    }
  }

  /** kur (RFC 4210 §5.3.5, RFC 9483 §4.1.3): a renewal signed with the current certificate. */
  private async keyUpdate(message: CmpMessage, signer: ParsedCertificate, request: CertRequestMessage): Promise<Answer> {
    await this.requireNewTransaction(message);
    const who = await authenticateReenrollingDevice(this.deps, [signer.der]);
    await requireProtocol(this.deps, 'cmp', who.component);
    const publicKey = request.publicKey ?? who.leaf.publicKey;
    if (request.subject) checkCsrNames({ subject: request.subject }, who.device);
    // RFC 4211 §4.1: the POPO signature, by the key to certify, over the CertRequest as received.
    if (request.popo?.kind !== 'signature' || request.popo.hasInput) {
      throw new PkiError('csr_signature_invalid', 'the CertReqMsg needs a signature proof of possession over its CertRequest (RFC 4211 §4.1)');
    }
    if (!verifySignature(signatureAlgorithmByOid(request.popo.algorithm.oid), publicKey, request.certRequest, request.popo.signature)) {
      throw new PkiError('csr_signature_invalid', 'the proof of possession does not verify with the key to certify; make the request with the new key');
    }
    const implicit = message.header.implicitConfirm;
    const result = await renewOverProtocol(this.deps, { protocol: 'cmp', who, raw: request.raw, publicKey, install: implicit ? 'now' : 'on-confirm' });
    await this.recordTransaction(message, {
      bodyType: 'kur',
      state: implicit ? 'confirmed' : 'issued',
      deviceId: who.device.deviceId,
      requestId: result.request.id,
      serial: result.certificate.serial,
    });
    return {
      type: 'kup',
      content: certRepMessage(request.certReqId, statusInfo(STATUS.accepted), result.certificate.der),
      implicitConfirm: implicit,
    };
  }

  /** certConf (RFC 4210 §5.3.18): the client accepted (or refused) the certificate; pkiConf ends it. */
  private async certConf(
    message: CmpMessage,
    signer: ParsedCertificate | null,
    statuses: ReadonlyArray<{ certHash: Buffer; certReqId: number; status: number | null }>,
  ): Promise<Answer> {
    const transaction = await this.requireOpenTransaction(message, ['issued']);
    const record = transaction.serial ? await this.deps.store.findCertificate(this.deps.authority.issuerFingerprint, transaction.serial) : null;
    if (!record || record.deviceId !== transaction.deviceId) throw new ServiceError('cmp_transaction_unknown', `transaction ${transaction.transactionId} issued no certificate`);
    if (signer) await this.requireSignerOf(signer, transaction.deviceId);
    else await this.requireTokenOf(message, transaction);
    const [status] = statuses;
    if (!status || statuses.length !== 1) throw new ServiceError('cmp_message_invalid', 'certConf confirms other than exactly one certificate (RFC 9483 §4.1.1)');
    // RFC 4210 §5.3.18: certHash with the hash of the certificate's own signature algorithm.
    const hash = createHash(parseCertificate(record.der).signatureAlgorithm.hash).update(record.der).digest();
    if (!hash.equals(status.certHash)) throw new ServiceError('cmp_message_invalid', 'certConf\'s certHash is not the hash of the certificate this transaction issued');
    const accepted = status.status === null || status.status === STATUS.accepted || status.status === STATUS.grantedWithMods;
    if (accepted && transaction.bodyType === 'kur') {
      const pending = await findPendingRenewal(this.deps, [record.der]);
      if (pending) await installRenewal(this.deps, pending);
    } else if (accepted && record.deviceId) {
      // A first enrollment's certConf is the install confirmation (as POST /api/v1/device/confirm).
      await confirmInstall(this.deps, record.deviceId, record.serial);
    }
    await this.advance(message, transaction, ['issued'], accepted ? 'confirmed' : 'rejected');
    return { type: 'pkiconf', content: PKI_CONF };
  }

  /** rr (RFC 4210 §5.3.9, RFC 9483 §4.2): the device revokes one of its certificates. */
  private async revoke(message: CmpMessage, signer: ParsedCertificate, serial: SerialNumber | null, reasonCode: number | null): Promise<Answer> {
    await this.requireNewTransaction(message);
    if (!serial) throw new ServiceError('cmp_message_invalid', 'rr names no serialNumber in its certDetails');
    const who = await authenticateReenrollingDevice(this.deps, [signer.der]);
    await requireProtocol(this.deps, 'cmp', who.component);
    const reason = reasonFromCode(reasonCode);
    await revokeOwnCertificate(this.deps, who, { serial, reason, protocol: 'cmp' });
    await this.recordTransaction(message, { bodyType: 'rr', state: 'done', deviceId: who.device.deviceId, requestId: null, serial });
    return { type: 'rp', content: revRepContent(statusInfo(STATUS.accepted)) };
  }

  private async requireOpenTransaction(message: CmpMessage, states: readonly CmpTransaction['state'][]): Promise<CmpTransaction> {
    const id = hex(message.header.transactionId);
    const transaction = await this.deps.store.findCmpTransaction(id);
    if (!transaction || !states.includes(transaction.state)) throw new ServiceError('cmp_transaction_unknown', `no open transaction has transactionID ${id}`);
    if (hex(message.header.recipNonce) !== transaction.serverNonce) {
      throw new ServiceError('cmp_transaction_unknown', `the recipNonce is not the senderNonce this service sent in transaction ${id} (RFC 4210 §5.1.1)`);
    }
    return transaction;
  }

  /** A MAC-protected certConf or poll must come with the token of the transaction's request. */
  private async requireTokenOf(message: CmpMessage, transaction: CmpTransaction): Promise<void> {
    const key = this.macKeys.get(message);
    const request = transaction.requestId ? await this.deps.store.findRequest(transaction.requestId) : null;
    if (!key || !request || request.enrollment?.id !== key.token.id) {
      throw new ServiceError('cmp_protection_invalid', `is a MAC of another token than the one transaction ${transaction.transactionId} was opened with`);
    }
  }

  /** The signer must hold a certificate of the transaction's device (its old one or the new). */
  private async requireSignerOf(signer: ParsedCertificate, deviceId: DeviceIdText | null): Promise<void> {
    const record = await this.deps.store.findCertificate(this.deps.authority.issuerFingerprint, signer.serial);
    if (!record || !record.der.equals(signer.der) || record.deviceId !== deviceId || record.status !== 'active') {
      throw new ServiceError('cmp_protection_invalid', `is a signature by certificate ${signer.serial}, which is not an active certificate of the transaction's device`);
    }
  }

  private readonly nonces = new WeakMap<CmpMessage, Buffer>();

  /** The senderNonce of the answer to `message`, made once (recorded with the transaction). */
  private nonceFor(message: CmpMessage): Buffer {
    let nonce = this.nonces.get(message);
    if (!nonce) {
      nonce = Buffer.from(this.deps.random.bytes(16));
      this.nonces.set(message, nonce);
    }
    return nonce;
  }

  private async recordTransaction(message: CmpMessage, t: Pick<CmpTransaction, 'bodyType' | 'state' | 'deviceId' | 'serial'> & { requestId: RequestId | null }): Promise<void> {
    const now = this.deps.clock.now();
    try {
      await this.deps.store.insertCmpTransaction({
        transactionId: hex(message.header.transactionId),
        senderNonce: hex(message.header.senderNonce),
        serverNonce: hex(this.nonceFor(message)),
        createdAt: now,
        updatedAt: now,
        ...t,
      });
    } catch (e) {
      if (e instanceof StoreConflict) throw new ServiceError('cmp_transaction_replayed', `transactionID ${hex(message.header.transactionId)} was used concurrently`);
      throw e;
    }
  }

  private async advance(message: CmpMessage, transaction: CmpTransaction, from: readonly CmpTransaction['state'][], to: CmpTransaction['state']): Promise<void> {
    const moved = await this.deps.store.updateCmpTransaction(transaction.transactionId, from, to, { serverNonce: hex(this.nonceFor(message)), at: this.deps.clock.now() });
    if (!moved) throw new ServiceError('cmp_transaction_unknown', `transaction ${transaction.transactionId} was answered concurrently`);
  }

  /** Header, body and the profile signer's signature (RFC 4210 §5.1.3.3), echoing the request's ids. */
  private async protect(request: CmpMessage | null, answer: Answer): Promise<Buffer> {
    const { authority } = this.deps;
    const signer = authority.profileSigner;
    const signerCert = parseCertificate(authority.profileSignerChain[0] as Buffer);
    // RFC 9483 §3.2: an answer to a MAC-protected request is MAC-protected with the same secret.
    const mac = request ? this.macKeys.get(request) : undefined;
    const header = encodeHeader({
      sender: explicit(4, signerCert.subject.der),
      recipient: request?.header.sender ?? explicit(4, Buffer.from([0x30, 0x00])),
      messageTime: this.deps.clock.now(),
      protectionAlg: mac ? pbmAlgorithm(mac.pbm) : signer.algorithm.der,
      senderKid: mac ? (request?.header.senderKid ?? null) : (signerCert.decoded.subjectKeyId ?? null),
      transactionId: request?.header.transactionId ?? Buffer.from(this.deps.random.bytes(16)),
      senderNonce: request ? this.nonceFor(request) : Buffer.from(this.deps.random.bytes(16)),
      recipNonce: request?.header.senderNonce ?? null,
      implicitConfirm: answer.implicitConfirm ?? false,
      pvno: request?.header.pvno ?? 2,
    });
    const body = encodeBody(answer.type, answer.content);
    const protectedPart = seq(header, body);
    if (mac) return encodeMessage(header, body, pbmMac(mac.secret, mac.pbm, protectedPart), [authority.intermediate.der]);
    const signature = await signer.sign(protectedPart);
    return encodeMessage(header, body, signature, [...authority.profileSignerChain]);
  }
}

/** The body that answers a first enrollment (RFC 4210 §5.3.2, §5.3.4): ip to ir, cp to cr and p10cr. */
function responseType(requestType: string): BodyType {
  return requestType === 'ir' ? 'ip' : 'cp';
}

/**
 * A CRMF CertReqMsg read as the PKCS#10 request it amounts to (RFC 4211 §4.1): the POPO signature
 * over the CertRequest is a signature by the key to certify over what it asks, as a CSR's is, so
 * the token's enrollment method (which takes a CSR) checks and stores it the same way.
 */
function asCsr(request: CertRequestMessage): ParsedCsr {
  if (!request.publicKey || !request.subject) throw new ServiceError('cmp_message_invalid', 'the certificate template needs a subject and a publicKey (RFC 9483 §4.1.1)');
  if (request.popo?.kind !== 'signature' || request.popo.hasInput) {
    throw new PkiError('csr_signature_invalid', 'the CertReqMsg needs a signature proof of possession over its CertRequest (RFC 4211 §4.1)');
  }
  return {
    der: request.raw,
    info: request.certRequest,
    subject: request.subject,
    publicKey: request.publicKey,
    signatureAlgorithm: signatureAlgorithmByOid(request.popo.algorithm.oid),
    signature: request.popo.signature,
    requestedExtensions: request.extensions,
  };
}
