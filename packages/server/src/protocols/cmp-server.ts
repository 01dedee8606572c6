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
import { type ParsedCertificate, PkiError, type SerialNumber, explicit, isProvisioError, parseCertificate, seq, signatureAlgorithmByOid, verifySignature } from '@provisio/pki';
import type { ServiceDeps } from '../domain/deps.js';
import { revokeOwnCertificate, reasonFromCode } from '../domain/device-self-revocation.js';
import { ServiceError } from '../domain/errors.js';
import { findPendingRenewal, installRenewal } from '../domain/lifecycle.js';
import type { CmpTransaction, DeviceIdText, RequestId } from '../domain/model.js';
import { authenticateReenrollingDevice, checkCsrNames, renewOverProtocol } from '../domain/protocol-renewal.js';
import { requireProtocol } from '../domain/protocols.js';
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
  revRepContent,
  statusInfo,
} from './cmp-message.js';
import { isMacProtected, verifySignatureProtection } from './cmp-protection.js';

type Deps = Pick<ServiceDeps, 'store' | 'clock' | 'random' | 'authority' | 'urls' | 'revocation'>;

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
    if (isMacProtected(message)) {
      // MAC protection is the first enrollment's (ir/cr/p10cr with a one-time token).
      throw new ServiceError('cmp_protection_invalid', `is a MAC for reference ${JSON.stringify(hex(header.senderKid).slice(0, 64))}, which names no enrollment token this service knows`);
    }
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
  private async certConf(message: CmpMessage, signer: ParsedCertificate, statuses: ReadonlyArray<{ certHash: Buffer; certReqId: number; status: number | null }>): Promise<Answer> {
    const transaction = await this.requireOpenTransaction(message, ['issued']);
    const record = transaction.serial ? await this.deps.store.findCertificate(this.deps.authority.issuerFingerprint, transaction.serial) : null;
    if (!record || record.deviceId !== transaction.deviceId) throw new ServiceError('cmp_transaction_unknown', `transaction ${transaction.transactionId} issued no certificate`);
    await this.requireSignerOf(signer, transaction.deviceId);
    const [status] = statuses;
    if (!status || statuses.length !== 1) throw new ServiceError('cmp_message_invalid', 'certConf confirms other than exactly one certificate (RFC 9483 §4.1.1)');
    // RFC 4210 §5.3.18: certHash with the hash of the certificate's own signature algorithm.
    const hash = createHash(parseCertificate(record.der).signatureAlgorithm.hash).update(record.der).digest();
    if (!hash.equals(status.certHash)) throw new ServiceError('cmp_message_invalid', 'certConf\'s certHash is not the hash of the certificate this transaction issued');
    const accepted = status.status === null || status.status === STATUS.accepted || status.status === STATUS.grantedWithMods;
    if (accepted) {
      const pending = await findPendingRenewal(this.deps, [record.der]);
      if (pending) await installRenewal(this.deps, pending);
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
    const header = encodeHeader({
      sender: explicit(4, signerCert.subject.der),
      recipient: request?.header.sender ?? explicit(4, Buffer.from([0x30, 0x00])),
      messageTime: this.deps.clock.now(),
      protectionAlg: signer.algorithm.der,
      senderKid: signerCert.decoded.subjectKeyId ?? null,
      transactionId: request?.header.transactionId ?? Buffer.from(this.deps.random.bytes(16)),
      senderNonce: request ? this.nonceFor(request) : Buffer.from(this.deps.random.bytes(16)),
      recipNonce: request?.header.senderNonce ?? null,
      implicitConfirm: answer.implicitConfirm ?? false,
      pvno: request?.header.pvno ?? 2,
    });
    const body = encodeBody(answer.type, answer.content);
    const protectedPart = seq(header, body);
    const signature = await signer.sign(protectedPart);
    return encodeMessage(header, body, signature, [...authority.profileSignerChain]);
  }
}
