/**
 * CMP messages (RFC 4210 §5, RFC 9483 the Lightweight CMP Profile; CRMF RFC 4211): the parts of
 * PKIMessage this service reads and writes, read with the pki package's strict DER reader and
 * written with its encoder. Kept in this one module. The bytes of header and body are kept as
 * they arrived: protection is checked over them (ProtectedPart, RFC 4210 §5.1.3), never over a
 * re-encoding.
 *
 * The PKIXCMP module has EXPLICIT tags (so [n] wraps the whole value); CRMF has IMPLICIT tags,
 * except where the tagged type is a CHOICE (Name), which X.680 §31.2.7 makes explicit.
 */
import {
  DEFAULT_MAX_DEPTH,
  type DecodedExtensions,
  decodeExtensions,
  parseExtensionList,
  type ParsedCsr,
  type ParsedName,
  type PublicKeyInfo,
  type SerialNumber,
  type Tlv,
  Tag,
  bitString,
  children,
  decodeBitString,
  decodeOid,
  decodeSmallInteger,
  decodeString,
  decodeUnsignedInteger,
  explicit,
  generalizedTime,
  namedBitString,
  oid,
  octetString,
  parseCsr,
  parseName,
  parsePublicKeyDer,
  readRoot,
  readTlv,
  seq,
  serialFromBytes,
  smallInteger,
  tlv,
  utf8String,
  whole,
} from '@provisio/pki';
import { ServiceError } from '../domain/errors.js';

/** A PKIMessage with a certificate or two in extraCerts stays far below this. */
export const MAX_CMP_MESSAGE_BYTES = 64 * 1024;

export const CMP_OID = {
  /** RFC 4211 §4.4, RFC 4210 §5.1.3.1: password-based MAC. */
  passwordBasedMac: '1.2.840.113533.7.66.13',
  hmacSha1: '1.3.6.1.5.5.8.1.2',
  hmacSha256: '1.2.840.113549.2.9',
  sha256: '2.16.840.1.101.3.4.2.1',
  /** RFC 4210 §5.1.1.1: the sender asks for implicit confirmation. */
  implicitConfirm: '1.3.6.1.5.5.7.4.13',
  /** RFC 4210 §5.3.19.10, RFC 9483 §4.3.1: the CA certificates. */
  caCerts: '1.3.6.1.5.5.7.4.17',
  /** RFC 5280 §5.3.1 */
  reasonCode: '2.5.29.21',
} as const;

/** PKIBody CHOICE tags (RFC 4210 §5.1.2). */
export const BODY = {
  ir: 0, ip: 1, cr: 2, cp: 3, p10cr: 4, kur: 7, kup: 8, rr: 11, rp: 12,
  pkiconf: 19, genm: 21, genp: 22, error: 23, certConf: 24, pollReq: 25, pollRep: 26,
} as const;
export type BodyType = keyof typeof BODY;
const BODY_NAMES = new Map<number, BodyType>(Object.entries(BODY).map(([k, v]) => [v, k as BodyType]));

/** PKIStatus (RFC 4210 §5.2.3). */
export const STATUS = { accepted: 0, grantedWithMods: 1, rejection: 2, waiting: 3 } as const;

/** PKIFailureInfo bits (RFC 4210 §5.2.3). */
export const FAIL = {
  badAlg: 0, badMessageCheck: 1, badRequest: 2, badTime: 3, badCertId: 4, badDataFormat: 5, wrongAuthority: 6,
  incorrectData: 7, badPOP: 9, certRevoked: 10, certConfirmed: 11, badRecipientNonce: 13, badSenderNonce: 18,
  badCertTemplate: 19, signerNotTrusted: 20, transactionIdInUse: 21, unsupportedVersion: 22, notAuthorized: 23,
  systemUnavail: 24, systemFailure: 25, duplicateCertReq: 26,
} as const;
export type FailInfo = keyof typeof FAIL;

function invalid(what: string): ServiceError {
  return new ServiceError('cmp_message_invalid', `the PKIMessage ${what} (RFC 4210 §5.1)`);
}

function optionalFields(buf: Buffer, list: readonly Tlv[]): Map<number, Tlv> {
  const out = new Map<number, Tlv>();
  for (const t of list) {
    if (out.has(t.tag)) throw invalid(`repeats the field tagged 0x${t.tag.toString(16)}`);
    out.set(t.tag, t);
  }
  void buf;
  return out;
}

/** The only value inside an EXPLICIT [n] wrapper. */
function inner(buf: Buffer, wrapper: Tlv, what: string): Tlv {
  const [value, extra] = children(buf, wrapper);
  if (!value || extra) throw invalid(`has a malformed ${what}`);
  return value;
}

function octets(buf: Buffer, t: Tlv, what: string): Buffer {
  if (t.tag !== Tag.OCTET_STRING) throw invalid(`has a ${what} that is not an OCTET STRING`);
  return Buffer.from(buf.subarray(t.contentStart, t.end));
}

export interface AlgorithmId {
  readonly oid: string;
  /** The parameters' TLV, when present. */
  readonly params: Tlv | null;
}

function algorithmId(buf: Buffer, t: Tlv): AlgorithmId {
  if (t.tag !== Tag.SEQUENCE) throw invalid('has an AlgorithmIdentifier that is not a SEQUENCE');
  const [algOid, params, extra] = children(buf, t);
  if (!algOid || algOid.tag !== Tag.OID || extra) throw invalid('has a malformed AlgorithmIdentifier');
  return { oid: decodeOid(buf, algOid), params: params ?? null };
}

export interface CmpHeader {
  readonly pvno: number;
  /** The sender GeneralName as received; `senderName` when it is a directoryName. */
  readonly sender: Buffer;
  readonly senderName: ParsedName | null;
  readonly recipient: Buffer;
  readonly protectionAlg: AlgorithmId | null;
  readonly senderKid: Buffer | null;
  readonly transactionId: Buffer | null;
  readonly senderNonce: Buffer | null;
  readonly recipNonce: Buffer | null;
  readonly implicitConfirm: boolean;
}

/** CRMF CertReqMsg (RFC 4211 §3), the one a request carries (RFC 9483 §4.1.1: exactly one). */
export interface CertRequestMessage {
  readonly certReqId: number;
  /** The CertReqMsg as received (stored with the request). */
  readonly raw: Buffer;
  /** The CertRequest bytes a POPO signature without poposkInput covers (RFC 4211 §4.1). */
  readonly certRequest: Buffer;
  readonly subject: ParsedName | null;
  readonly publicKey: PublicKeyInfo | null;
  /** The extensions the template asks for (shown and checked, never copied). */
  readonly extensions: DecodedExtensions;
  readonly popo: { readonly kind: 'signature'; readonly algorithm: AlgorithmId; readonly signature: Buffer; readonly hasInput: boolean } | { readonly kind: 'other' } | null;
}

export type CmpBody =
  | { readonly type: 'ir' | 'cr' | 'kur'; readonly request: CertRequestMessage }
  | { readonly type: 'p10cr'; readonly csr: ParsedCsr }
  | { readonly type: 'rr'; readonly serial: SerialNumber | null; readonly issuer: ParsedName | null; readonly reason: number | null }
  | { readonly type: 'certConf'; readonly statuses: ReadonlyArray<{ readonly certHash: Buffer; readonly certReqId: number; readonly status: number | null }> }
  | { readonly type: 'pollReq'; readonly certReqIds: readonly number[] }
  | { readonly type: 'genm'; readonly infoTypes: readonly string[] }
  | { readonly type: 'error' };

export interface CmpMessage {
  readonly der: Buffer;
  /** DER of ProtectedPart ::= SEQUENCE { header, body }, from the received bytes. */
  readonly protectedPart: Buffer;
  readonly header: CmpHeader;
  readonly body: CmpBody;
  readonly protection: Buffer | null;
  /** DER certificates, as received; the first is the signer's when signature-protected (RFC 9483 §3.3). */
  readonly extraCerts: readonly Buffer[];
}

function parseHeader(buf: Buffer, t: Tlv): CmpHeader {
  if (t.tag !== Tag.SEQUENCE) throw invalid('header is not a SEQUENCE');
  const [pvnoTlv, senderTlv, recipientTlv, ...rest] = children(buf, t);
  if (!pvnoTlv || pvnoTlv.tag !== Tag.INTEGER || !senderTlv || !recipientTlv) throw invalid('header lacks pvno, sender or recipient');
  const pvno = decodeSmallInteger(buf, pvnoTlv, 'pvno');
  // RFC 9483 §3.1: cmp2000 (2), or cmp2021 (3) when the client uses its features.
  if (pvno !== 2 && pvno !== 3) throw invalid(`has pvno ${pvno}; this service speaks cmp2000 (2) and cmp2021 (3)`);
  const f = optionalFields(buf, rest);
  for (const tag of f.keys()) if (tag < 0xa0 || tag > 0xa8) throw invalid(`header has an unknown field 0x${tag.toString(16)}`);
  const get = (n: number, what: string) => {
    const w = f.get(0xa0 | n);
    return w ? inner(buf, w, what) : null;
  };
  const protectionAlg = get(1, 'protectionAlg');
  const kid = get(2, 'senderKID');
  const tid = get(4, 'transactionID');
  const sn = get(5, 'senderNonce');
  const rn = get(6, 'recipNonce');
  const generalInfo = get(8, 'generalInfo');
  let implicitConfirm = false;
  if (generalInfo) {
    for (const itav of children(buf, generalInfo)) {
      const [typeTlv] = children(buf, itav);
      if (typeTlv?.tag === Tag.OID && decodeOid(buf, typeTlv) === CMP_OID.implicitConfirm) implicitConfirm = true;
    }
  }
  const senderName = senderTlv.tag === 0xa4 ? parseName(buf, inner(buf, senderTlv, 'sender')) : null;
  return {
    pvno,
    sender: Buffer.from(whole(buf, senderTlv)),
    senderName,
    recipient: Buffer.from(whole(buf, recipientTlv)),
    protectionAlg: protectionAlg ? algorithmId(buf, protectionAlg) : null,
    senderKid: kid ? octets(buf, kid, 'senderKID') : null,
    transactionId: tid ? octets(buf, tid, 'transactionID') : null,
    senderNonce: sn ? octets(buf, sn, 'senderNonce') : null,
    recipNonce: rn ? octets(buf, rn, 'recipNonce') : null,
    implicitConfirm,
  };
}

/** An IMPLICIT-tagged SEQUENCE read as the SEQUENCE it replaces (CRMF publicKey [6]). */
function retagged(buf: Buffer, t: Tlv, tag: number): Buffer {
  const bytes = Buffer.from(whole(buf, t));
  bytes[0] = tag;
  return bytes;
}

/** The CertTemplate fields this service reads (RFC 4211 §5). */
interface CertTemplate {
  readonly subject: ParsedName | null;
  readonly publicKey: PublicKeyInfo | null;
  readonly serial: SerialNumber | null;
  readonly issuer: ParsedName | null;
  readonly extensions: DecodedExtensions;
}

function parseCertTemplate(buf: Buffer, t: Tlv): CertTemplate {
  if (t.tag !== Tag.SEQUENCE) throw invalid('has a CertTemplate that is not a SEQUENCE');
  const f = optionalFields(buf, children(buf, t));
  const subjectTlv = f.get(0xa5);
  const issuerTlv = f.get(0xa3);
  const keyTlv = f.get(0xa6);
  const serialTlv = f.get(0x81);
  const extensionsTlv = f.get(0xa9);
  let extensions: DecodedExtensions = {};
  if (extensionsTlv) {
    const list = retagged(buf, extensionsTlv, Tag.SEQUENCE);
    extensions = decodeExtensions(parseExtensionList(list, readTlv(list, 0, list.length)));
  }
  return {
    extensions,
    subject: subjectTlv ? parseName(buf, inner(buf, subjectTlv, 'subject')) : null,
    issuer: issuerTlv ? parseName(buf, inner(buf, issuerTlv, 'issuer')) : null,
    publicKey: keyTlv ? parsePublicKeyDer(retagged(buf, keyTlv, Tag.SEQUENCE)) : null,
    serial: serialTlv ? serialFromBytes(decodeUnsignedInteger(buf, { ...serialTlv, tag: Tag.INTEGER }, 'serialNumber')) : null,
  };
}

function parseCertReqMessages(buf: Buffer, t: Tlv): CertRequestMessage {
  const messages = children(buf, t);
  if (messages.length !== 1 || messages[0]?.tag !== Tag.SEQUENCE) throw invalid('carries other than exactly one CertReqMsg (RFC 9483 §4.1.1)');
  return parseOneCertReqMsg(buf, messages[0]);
}

/**
 * Whether a stored CMP request is a p10cr's PKCS#10 CSR rather than an ir/cr/kur CertReqMsg: a
 * CertificationRequest ends in its signature (a BIT STRING), a CertReqMsg never does (RFC 4211 §3).
 */
export function isPkcs10Request(der: Buffer): boolean {
  const root = readRoot(der, { maxBytes: MAX_CMP_MESSAGE_BYTES, maxDepth: DEFAULT_MAX_DEPTH });
  return children(der, root).at(-1)?.tag === Tag.BIT_STRING;
}

/** A CertReqMsg stored with its request (a protocol request's raw bytes), read again. */
export function parseCertReqMsg(der: Buffer): CertRequestMessage {
  return parseOneCertReqMsg(der, readRoot(der, { maxBytes: MAX_CMP_MESSAGE_BYTES, maxDepth: DEFAULT_MAX_DEPTH }));
}

function parseOneCertReqMsg(buf: Buffer, msg: Tlv): CertRequestMessage {
  const [certReq, popoTlv, ...restMsg] = children(buf, msg);
  if (!certReq || certReq.tag !== Tag.SEQUENCE || restMsg.length > 1) throw invalid('has a malformed CertReqMsg');
  const [idTlv, templateTlv] = children(buf, certReq);
  if (!idTlv || idTlv.tag !== Tag.INTEGER || !templateTlv) throw invalid('has a CertRequest without certReqId or certTemplate');
  const template = parseCertTemplate(buf, templateTlv);
  let popo: CertRequestMessage['popo'] = null;
  if (popoTlv && popoTlv.tag === 0xa1) {
    const parts = children(buf, popoTlv);
    const hasInput = parts[0]?.tag === 0xa0;
    const [algTlv, sigTlv] = hasInput ? parts.slice(1) : parts;
    if (!algTlv || !sigTlv || sigTlv.tag !== Tag.BIT_STRING) throw invalid('has a malformed POPOSigningKey');
    popo = { kind: 'signature', algorithm: algorithmId(buf, algTlv), signature: Buffer.from(decodeBitString(buf, sigTlv).bytes), hasInput };
  } else if (popoTlv && popoTlv.tag !== Tag.SEQUENCE) {
    popo = { kind: 'other' };
  }
  return {
    certReqId: decodeSmallInteger(buf, idTlv, 'certReqId'),
    raw: Buffer.from(whole(buf, msg)),
    certRequest: Buffer.from(whole(buf, certReq)),
    subject: template.subject,
    publicKey: template.publicKey,
    extensions: template.extensions,
    popo,
  };
}

function parseBody(buf: Buffer, t: Tlv): CmpBody {
  const type = (t.tag & 0xe0) === 0xa0 ? BODY_NAMES.get(t.tag & 0x1f) : undefined;
  if (!type) throw invalid(`has a body this service does not take (tag 0x${t.tag.toString(16)})`);
  const content = inner(buf, t, type);
  switch (type) {
    case 'ir':
    case 'cr':
    case 'kur':
      return { type, request: parseCertReqMessages(buf, content) };
    case 'p10cr':
      return { type, csr: parseCsr(Buffer.from(whole(buf, content))) };
    case 'rr': {
      const details = children(buf, content);
      if (details.length !== 1 || details[0]?.tag !== Tag.SEQUENCE) throw invalid('asks to revoke other than exactly one certificate (RFC 9483 §4.2)');
      const [templateTlv, entryTlv] = children(buf, details[0]);
      if (!templateTlv) throw invalid('has RevDetails without certDetails');
      const template = parseCertTemplate(buf, templateTlv);
      let reason: number | null = null;
      if (entryTlv) {
        for (const ext of children(buf, entryTlv)) {
          const [extOid, ...restExt] = children(buf, ext);
          const value = restExt.at(-1);
          if (extOid?.tag === Tag.OID && decodeOid(buf, extOid) === CMP_OID.reasonCode && value?.tag === Tag.OCTET_STRING) {
            const enumTlv = readTlv(buf, value.contentStart, value.end);
            if (enumTlv.tag !== Tag.ENUMERATED || enumTlv.end - enumTlv.contentStart !== 1) throw invalid('has a malformed reasonCode');
            reason = buf[enumTlv.contentStart] ?? null;
          }
        }
      }
      return { type, serial: template.serial, issuer: template.issuer, reason };
    }
    case 'certConf':
      return {
        type,
        statuses: children(buf, content).map((s) => {
          const [hash, id, info] = children(buf, s);
          if (!hash || !id || id.tag !== Tag.INTEGER) throw invalid('has a malformed CertStatus');
          const statusTlv = info && info.tag === Tag.SEQUENCE ? children(buf, info)[0] : undefined;
          return { certHash: octets(buf, hash, 'certHash'), certReqId: decodeSmallInteger(buf, id, 'certReqId'), status: statusTlv ? decodeSmallInteger(buf, statusTlv, 'status') : null };
        }),
      };
    case 'pollReq':
      return { type, certReqIds: children(buf, content).map((p) => decodeSmallInteger(buf, children(buf, p)[0] as Tlv, 'certReqId')) };
    case 'genm':
      return {
        type,
        infoTypes: children(buf, content).map((itav) => {
          const [typeTlv] = children(buf, itav);
          if (!typeTlv || typeTlv.tag !== Tag.OID) throw invalid('has a malformed InfoTypeAndValue');
          return decodeOid(buf, typeTlv);
        }),
      };
    case 'error':
      return { type };
    default:
      throw invalid(`carries a ${type} body, which a client does not send`);
  }
}

/** Reads a PKIMessage strictly (DER, one message, nothing after it). */
export function parseCmpMessage(der: Buffer): CmpMessage {
  const root = readRoot(der, { maxBytes: MAX_CMP_MESSAGE_BYTES, maxDepth: DEFAULT_MAX_DEPTH });
  if (root.tag !== Tag.SEQUENCE) throw invalid('is not a SEQUENCE');
  const [headerTlv, bodyTlv, ...rest] = children(der, root);
  if (!headerTlv || !bodyTlv) throw invalid('lacks a header or a body');
  const f = optionalFields(der, rest);
  for (const tag of f.keys()) if (tag !== 0xa0 && tag !== 0xa1) throw invalid(`has an unknown field 0x${tag.toString(16)}`);
  const protectionTlv = f.get(0xa0);
  const extraTlv = f.get(0xa1);
  const protection = protectionTlv ? inner(der, protectionTlv, 'protection') : null;
  if (protection && protection.tag !== Tag.BIT_STRING) throw invalid('has a protection that is not a BIT STRING');
  return {
    der,
    protectedPart: seq(whole(der, headerTlv), whole(der, bodyTlv)),
    header: parseHeader(der, headerTlv),
    body: parseBody(der, bodyTlv),
    protection: protection ? Buffer.from(decodeBitString(der, protection).bytes) : null,
    extraCerts: extraTlv ? children(der, inner(der, extraTlv, 'extraCerts')).map((c) => Buffer.from(whole(der, c))) : [],
  };
}

// -- writing ----------------------------------------------------------------------------------

/** PKIStatusInfo (RFC 4210 §5.2.3): status, a text, and failInfo bits. */
export function statusInfo(status: number, text?: string, fail?: readonly FailInfo[]): Buffer {
  return seq(
    smallInteger(status),
    ...(text !== undefined ? [seq(utf8String(text))] : []),
    ...(fail && fail.length > 0 ? [namedBitString(fail.map((f) => FAIL[f]))] : []),
  );
}

export interface HeaderFields {
  /** GeneralName DER of the service (a directoryName of its signer, RFC 9483 §3.1). */
  readonly sender: Buffer;
  readonly recipient: Buffer;
  readonly messageTime: Date;
  readonly protectionAlg: Buffer | null;
  readonly senderKid: Buffer | null;
  readonly transactionId: Buffer | null;
  readonly senderNonce: Buffer;
  readonly recipNonce: Buffer | null;
  readonly implicitConfirm?: boolean;
  readonly pvno?: number;
}

export function encodeHeader(h: HeaderFields): Buffer {
  return seq(
    smallInteger(h.pvno ?? 2),
    h.sender,
    h.recipient,
    explicit(0, generalizedTime(h.messageTime)),
    ...(h.protectionAlg ? [explicit(1, h.protectionAlg)] : []),
    ...(h.senderKid ? [explicit(2, octetString(h.senderKid))] : []),
    ...(h.transactionId ? [explicit(4, octetString(h.transactionId))] : []),
    explicit(5, octetString(h.senderNonce)),
    ...(h.recipNonce ? [explicit(6, octetString(h.recipNonce))] : []),
    // RFC 4210 §5.1.1.1: granting implicit confirmation is said with the same InfoTypeAndValue.
    ...(h.implicitConfirm ? [explicit(8, seq(seq(oid(CMP_OID.implicitConfirm), tlv(Tag.NULL))))] : []),
  );
}

export function encodeBody(type: BodyType, content: Buffer): Buffer {
  return explicit(BODY[type], content);
}

/** CertRepMessage (RFC 4210 §5.3.4) with one CertResponse: a certificate, or a status without one. */
export function certRepMessage(certReqId: number, status: Buffer, certificate: Buffer | null, caPubs: readonly Buffer[] = []): Buffer {
  return seq(
    ...(caPubs.length > 0 ? [explicit(1, seq(...caPubs))] : []),
    seq(seq(smallInteger(certReqId), status, ...(certificate ? [seq(explicit(0, certificate))] : []))),
  );
}

/** RevRepContent (RFC 4210 §5.3.10) for one certificate. */
export function revRepContent(status: Buffer): Buffer {
  return seq(seq(status));
}

/** GenRepContent with the CA certificates (RFC 9483 §4.3.1). */
export function caCertsGenRep(certificates: readonly Buffer[]): Buffer {
  return seq(seq(oid(CMP_OID.caCerts), seq(...certificates)));
}

/** ErrorMsgContent (RFC 4210 §5.3.21). */
export function errorContent(status: Buffer, details?: string): Buffer {
  return seq(status, ...(details !== undefined ? [seq(utf8String(details))] : []));
}

/** PollRepContent (RFC 4210 §5.3.22): check again after `seconds`. */
export function pollRepContent(certReqId: number, seconds: number, reason: string): Buffer {
  return seq(seq(smallInteger(certReqId), smallInteger(seconds), seq(utf8String(reason))));
}

export const PKI_CONF = tlv(Tag.NULL);

export function encodeMessage(header: Buffer, body: Buffer, protection: Buffer | null, extraCerts: readonly Buffer[]): Buffer {
  return seq(header, body, ...(protection ? [explicit(0, bitString(protection))] : []), ...(extraCerts.length > 0 ? [explicit(1, seq(...extraCerts))] : []));
}

/** The text of a PKIFreeText, for messages (first string only). */
export function freeText(buf: Buffer, t: Tlv): string {
  const [first] = children(buf, t);
  return first ? decodeString(buf, first) : '';
}
