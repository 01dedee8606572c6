/**
 * SCEP's wire format (RFC 8894 §3): a pkiMessage is a CMS SignedData (RFC 5652 §5) whose content
 * is an EnvelopedData (§6) for the RA, with SCEP's authenticated attributes (messageType,
 * transactionID, nonces, pkiStatus, failInfo). Pure functions over bytes, read and written with
 * the pki package's strict DER helpers; the crypto is Node's.
 *
 * Only current algorithms are taken (D47): SHA-256/384/512 digests, AES-CBC content encryption,
 * RSA key transport to the RA. DES, 3DES, MD5 and SHA-1 are refused as badAlg.
 */
import { createCipheriv, createDecipheriv, createHash, privateDecrypt, publicEncrypt, randomBytes, sign as cryptoSign, verify as cryptoVerify, constants, type KeyObject, X509Certificate } from 'node:crypto';
import { type Tlv, DEFAULT_MAX_DEPTH, NULL, Tag, children, content, decodeOid, expectTag, explicit, octetString, oid, printableString, readRoot, readTlv, seq, setOf, tlv, whole } from '@provisio/pki';
import { ServiceError } from '../domain/errors.js';

const ID_DATA = '1.2.840.113549.1.7.1';
const ID_SIGNED_DATA = '1.2.840.113549.1.7.2';
const ID_ENVELOPED_DATA = '1.2.840.113549.1.7.3';
const ID_CONTENT_TYPE = '1.2.840.113549.1.9.3';
const ID_MESSAGE_DIGEST = '1.2.840.113549.1.9.4';
const ID_SIGNING_TIME = '1.2.840.113549.1.9.5';
const ID_CHALLENGE_PASSWORD = '1.2.840.113549.1.9.7';
const ID_COMMON_NAME = '2.5.4.3';
const RSA_ENCRYPTION = '1.2.840.113549.1.1.1';
/** RFC 8894 §3.2.1: the SCEP attributes, under the VeriSign arc 2.16.840.1.113733.1.9. */
const SCEP = {
  messageType: '2.16.840.1.113733.1.9.2',
  pkiStatus: '2.16.840.1.113733.1.9.3',
  failInfo: '2.16.840.1.113733.1.9.4',
  senderNonce: '2.16.840.1.113733.1.9.5',
  recipientNonce: '2.16.840.1.113733.1.9.6',
  transactionID: '2.16.840.1.113733.1.9.7',
} as const;

/** RFC 8894 §3.2.1.2. */
export const MESSAGE_TYPE = { CertRep: '3', RenewalReq: '17', PKCSReq: '19', CertPoll: '20' } as const;
/** RFC 8894 §3.2.1.3. */
export const PKI_STATUS = { SUCCESS: '0', FAILURE: '2', PENDING: '3' } as const;
/** RFC 8894 §3.2.1.4. */
export type FailInfo = 'badAlg' | 'badMessageCheck' | 'badRequest' | 'badTime' | 'badCertId';
const FAIL_INFO: Readonly<Record<FailInfo, string>> = { badAlg: '0', badMessageCheck: '1', badRequest: '2', badTime: '3', badCertId: '4' };

/** A pkiMessage is a few KiB; RSA-8192 CSRs and certificates stay far below this. */
export const MAX_SCEP_MESSAGE_BYTES = 64 * 1024;

const DIGESTS: Readonly<Record<string, string>> = {
  '2.16.840.1.101.3.4.2.1': 'sha256',
  '2.16.840.1.101.3.4.2.2': 'sha384',
  '2.16.840.1.101.3.4.2.3': 'sha512',
};
const LEGACY_DIGESTS: Readonly<Record<string, string>> = { '1.3.14.3.2.26': 'SHA-1', '1.2.840.113549.2.5': 'MD5', '2.16.840.1.101.3.4.2.4': 'SHA-224' };
/** Signature algorithm OIDs with their digest (rsaEncryption takes the digestAlgorithm's). */
const SIGNATURES: Readonly<Record<string, string | null>> = {
  [RSA_ENCRYPTION]: null,
  '1.2.840.113549.1.1.11': 'sha256',
  '1.2.840.113549.1.1.12': 'sha384',
  '1.2.840.113549.1.1.13': 'sha512',
  '1.2.840.10045.4.3.2': 'sha256',
  '1.2.840.10045.4.3.3': 'sha384',
  '1.2.840.10045.4.3.4': 'sha512',
};
const CIPHERS: Readonly<Record<string, string>> = {
  '2.16.840.1.101.3.4.1.2': 'aes-128-cbc',
  '2.16.840.1.101.3.4.1.22': 'aes-192-cbc',
  '2.16.840.1.101.3.4.1.42': 'aes-256-cbc',
};
const LEGACY_CIPHERS: Readonly<Record<string, string>> = { '1.3.14.3.2.7': 'DES-CBC', '1.2.840.113549.3.7': '3DES (des-ede3-cbc)', '1.2.840.113549.3.2': 'RC2-CBC' };

const invalid = (message: string) => new ServiceError('scep_message_invalid', message);
const badAlg = (message: string) => new ServiceError('scep_algorithm_refused', message);

function digestName(algorithmOid: string): string {
  const name = DIGESTS[algorithmOid];
  if (name) return name;
  if (LEGACY_DIGESTS[algorithmOid]) throw badAlg(`the ${LEGACY_DIGESTS[algorithmOid]} digest is refused; use SHA-256 (GetCACaps lists what is taken)`);
  throw badAlg(`digest algorithm ${algorithmOid} is not supported; use SHA-256`);
}

/** The OID of an AlgorithmIdentifier, and its parameters' TLV (if any). */
function algorithm(buf: Buffer, t: Tlv | undefined, what: string): { oid: string; params: Tlv | undefined } {
  const [id, params] = children(buf, expectTag(t, Tag.SEQUENCE, what));
  return { oid: decodeOid(buf, expectTag(id, Tag.OID, what)), params };
}

/** An OCTET STRING's bytes, primitive or (BER, as some clients send eContent) constructed of primitives. */
function octets(buf: Buffer, t: Tlv | undefined, what: string): Buffer {
  if (!t) throw invalid(`${what} is missing`);
  if (t.tag === Tag.OCTET_STRING || t.tag === 0x80) return Buffer.from(content(buf, t));
  if (t.tag === (Tag.OCTET_STRING | 0x20) || t.tag === 0xa0) return Buffer.concat(children(buf, t).map((c) => octets(buf, c, what)));
  throw invalid(`${what} is not an OCTET STRING`);
}

function readDer(der: Buffer, what: string): { buf: Buffer; root: Tlv } {
  try {
    return { buf: der, root: readRoot(der, { maxBytes: MAX_SCEP_MESSAGE_BYTES, maxDepth: DEFAULT_MAX_DEPTH }) };
  } catch {
    throw invalid(`${what} is not DER`);
  }
}

/** The ContentInfo's content of `type` (RFC 5652 §3). */
function contentInfo(der: Buffer, type: string, what: string): { buf: Buffer; body: Tlv } {
  const { buf, root } = readDer(der, what);
  const [ct, wrapped] = children(buf, expectTag(root, Tag.SEQUENCE, what));
  const found = decodeOid(buf, expectTag(ct, Tag.OID, what));
  if (found !== type) throw invalid(`${what} has content type ${found}, expected ${type}`);
  const [body] = children(buf, expectTag(wrapped, 0xa0, what));
  return { buf, body: expectTag(body, Tag.SEQUENCE, what) };
}

/** The parts of a certificate a CMS signer or recipient is named by (IssuerAndSerialNumber). */
export function issuerAndSerial(certificateDer: Buffer): Buffer {
  const buf = certificateDer;
  const [tbs] = children(buf, readTlv(buf, 0));
  const parts = children(buf, expectTag(tbs, Tag.SEQUENCE, 'TBSCertificate'));
  const offset = parts[0]?.tag === 0xa0 ? 1 : 0;
  const serial = parts[offset];
  const issuer = parts[offset + 2];
  if (!serial || !issuer) throw invalid('a certificate has no issuer or serial');
  return seq(whole(buf, issuer), whole(buf, serial));
}

export interface ScepRequest {
  readonly messageType: string;
  /** The transactionID attribute's whole TLV (echoed back as received) and its text. */
  readonly transactionIdTlv: Buffer;
  readonly transactionId: string;
  readonly senderNonce: Buffer;
  /** The signer's certificate (self-signed for PKCSReq, the current one for RenewalReq). */
  readonly signerCertificate: Buffer;
  /** Every certificate the SignedData carries. */
  readonly certificates: readonly Buffer[];
  /** The EnvelopedData's content, decrypted: a CSR (PKCSReq, RenewalReq) or IssuerAndSubject (CertPoll). */
  readonly content: Buffer;
}

/** The request's SCEP header (what a refusal answers to), read before anything is checked. */
export interface ScepHeader {
  readonly transactionIdTlv: Buffer;
  readonly senderNonce: Buffer;
  readonly signerCertificate: Buffer | null;
}

interface SignerPart {
  readonly buf: Buffer;
  readonly attrs: Map<string, Tlv[]>;
  readonly attrsTlv: Tlv;
  readonly digest: { oid: string };
  readonly signatureAlgorithm: { oid: string };
  readonly signature: Buffer;
  readonly certificates: Buffer[];
  readonly eContent: Buffer | null;
}

function readSignedData(der: Buffer): SignerPart {
  const { buf, body } = contentInfo(der, ID_SIGNED_DATA, 'the pkiMessage (a CMS SignedData)');
  const parts = children(buf, body);
  const encap = children(buf, expectTag(parts[2], Tag.SEQUENCE, 'encapContentInfo'));
  let i = 3;
  const certificates: Buffer[] = [];
  if (parts[i]?.tag === 0xa0) {
    for (const c of children(buf, parts[i] as Tlv)) if (c.tag === Tag.SEQUENCE) certificates.push(Buffer.from(whole(buf, c)));
    i++;
  }
  if (parts[i]?.tag === 0xa1) i++;
  const signerInfos = children(buf, expectTag(parts[i], Tag.SET, 'signerInfos'));
  if (signerInfos.length !== 1) throw invalid(`a pkiMessage has exactly one signer, this one has ${signerInfos.length}`);
  const si = children(buf, expectTag(signerInfos[0], Tag.SEQUENCE, 'SignerInfo'));
  const attrsTlv = expectTag(si[3], 0xa0, 'signedAttrs');
  const attrs = new Map<string, Tlv[]>();
  for (const a of children(buf, attrsTlv)) {
    const [type, values] = children(buf, expectTag(a, Tag.SEQUENCE, 'Attribute'));
    attrs.set(decodeOid(buf, expectTag(type, Tag.OID, 'Attribute')), children(buf, expectTag(values, Tag.SET, 'Attribute values')));
  }
  const eContentTlv = encap[1] ? children(buf, expectTag(encap[1], 0xa0, 'eContent'))[0] : undefined;
  return {
    buf,
    attrs,
    attrsTlv,
    digest: algorithm(buf, si[2], 'digestAlgorithm'),
    signatureAlgorithm: algorithm(buf, si[4], 'signatureAlgorithm'),
    signature: octets(buf, si[5], 'signature'),
    certificates,
    eContent: eContentTlv ? octets(buf, eContentTlv, 'eContent') : null,
  };
}

function attr(part: SignerPart, type: string, what: string): Tlv {
  const value = part.attrs.get(type)?.[0];
  if (!value) throw invalid(`the pkiMessage has no ${what} attribute`);
  return value;
}

/** The header only, or null when the bytes are not even a SignedData with SCEP attributes. */
export function readScepHeader(der: Buffer): ScepHeader | null {
  try {
    const part = readSignedData(der);
    const transaction = attr(part, SCEP.transactionID, 'transactionID');
    return {
      transactionIdTlv: Buffer.from(whole(part.buf, transaction)),
      senderNonce: octets(part.buf, attr(part, SCEP.senderNonce, 'senderNonce'), 'senderNonce'),
      signerCertificate: part.certificates[0] ?? null,
    };
  } catch {
    return null;
  }
}

/**
 * Reads and checks a pkiMessage: the signer's signature over the signed attributes, the
 * messageDigest over the content, then decrypts the EnvelopedData with the RA key.
 */
export function parseScepRequest(der: Buffer, ra: { readonly certificate: Buffer; readonly privateKey: KeyObject }): ScepRequest {
  const part = readSignedData(der);
  const { buf } = part;
  const hash = digestName(part.digest.oid);
  if (!(part.signatureAlgorithm.oid in SIGNATURES)) {
    throw badAlg(`signature algorithm ${part.signatureAlgorithm.oid} is refused; sign with SHA-256 and RSA or ECDSA`);
  }
  const signerCertificate = part.certificates[0];
  if (!signerCertificate) throw invalid('the pkiMessage carries no signer certificate');
  if (!part.eContent) throw invalid('the pkiMessage has no content');

  const signedAttrs = Buffer.from(whole(buf, part.attrsTlv));
  signedAttrs[0] = Tag.SET; // RFC 5652 §5.4: the signature covers the attributes as a SET OF
  const sigHash = SIGNATURES[part.signatureAlgorithm.oid] ?? hash;
  if (!cryptoVerify(sigHash, signedAttrs, certificatePublicKey(signerCertificate), part.signature)) throw new ServiceError('scep_signature_invalid', 'the pkiMessage signature does not verify with its signer certificate');
  const digest = octets(buf, attr(part, ID_MESSAGE_DIGEST, 'messageDigest'), 'messageDigest');
  if (!digest.equals(createHash(hash).update(part.eContent).digest())) throw new ServiceError('scep_signature_invalid', 'the pkiMessage messageDigest does not match its content');

  const messageType = printable(buf, attr(part, SCEP.messageType, 'messageType'));
  const transaction = attr(part, SCEP.transactionID, 'transactionID');
  return {
    messageType,
    transactionIdTlv: Buffer.from(whole(buf, transaction)),
    transactionId: printable(buf, transaction),
    senderNonce: octets(buf, attr(part, SCEP.senderNonce, 'senderNonce'), 'senderNonce'),
    signerCertificate,
    certificates: part.certificates,
    content: decryptEnveloped(part.eContent, ra.privateKey),
  };
}

function certificatePublicKey(certificateDer: Buffer): KeyObject {
  try {
    return new X509Certificate(certificateDer).publicKey;
  } catch {
    throw invalid('the signer certificate cannot be read');
  }
}

function printable(buf: Buffer, t: Tlv): string {
  if (t.tag !== Tag.PRINTABLE_STRING && t.tag !== Tag.UTF8_STRING && t.tag !== Tag.IA5_STRING) throw invalid('a SCEP attribute is not a string');
  return Buffer.from(content(buf, t)).toString('latin1');
}

function decryptEnveloped(der: Buffer, raKey: KeyObject): Buffer {
  const { buf, body } = contentInfo(der, ID_ENVELOPED_DATA, 'the pkiMessage content (a CMS EnvelopedData)');
  const parts = children(buf, body);
  const offset = parts[1]?.tag === 0xa0 ? 1 : 0; // originatorInfo
  const recipients = children(buf, expectTag(parts[1 + offset], Tag.SET, 'recipientInfos'));
  const eci = children(buf, expectTag(parts[2 + offset], Tag.SEQUENCE, 'encryptedContentInfo'));
  const cipherAlg = algorithm(buf, eci[1], 'contentEncryptionAlgorithm');
  const cipher = CIPHERS[cipherAlg.oid];
  if (!cipher) {
    const legacy = LEGACY_CIPHERS[cipherAlg.oid];
    throw badAlg(legacy ? `${legacy} content encryption is refused; use AES (GetCACaps lists what is taken)` : `content encryption ${cipherAlg.oid} is not supported; use AES-CBC`);
  }
  const iv = octets(buf, cipherAlg.params, 'the AES IV');
  const ktri = recipients.find((r) => r.tag === Tag.SEQUENCE);
  if (!ktri) throw invalid('the EnvelopedData has no key transport recipient (RSA) for the RA');
  const k = children(buf, ktri);
  const keyAlg = algorithm(buf, k[2], 'keyEncryptionAlgorithm');
  if (keyAlg.oid !== RSA_ENCRYPTION) throw badAlg(`key transport ${keyAlg.oid} is not supported; encrypt to the RA certificate with rsaEncryption`);
  // Implicit rejection (OpenSSL 3.2+): a wrong padding yields a random key, and AES then fails.
  const key = privateDecrypt({ key: raKey, padding: constants.RSA_PKCS1_PADDING }, octets(buf, k[3], 'encryptedKey'));
  const encrypted = eci[2] ? octets(buf, eci[2], 'encryptedContent') : Buffer.alloc(0);
  try {
    const d = createDecipheriv(cipher, key, iv);
    return Buffer.concat([d.update(encrypted), d.final()]);
  } catch {
    throw invalid('the EnvelopedData does not decrypt with the RA key (was it encrypted to the RA certificate from GetCACert?)');
  }
}

/**
 * The subject's CN of a CertPoll's IssuerAndSubject (RFC 8894 §3.3.3: the CA's name and the
 * subject the PKCSReq asked for), or null when the subject has no CN.
 */
export function pollSubjectCommonName(der: Buffer): string | null {
  const { buf, root } = readDer(der, 'the CertPoll content (IssuerAndSubject)');
  const [issuer, subject] = children(buf, expectTag(root, Tag.SEQUENCE, 'IssuerAndSubject'));
  expectTag(issuer, Tag.SEQUENCE, 'IssuerAndSubject issuer');
  for (const rdn of children(buf, expectTag(subject, Tag.SEQUENCE, 'IssuerAndSubject subject'))) {
    for (const atv of children(buf, expectTag(rdn, Tag.SET, 'a subject RDN'))) {
      const [type, value] = children(buf, expectTag(atv, Tag.SEQUENCE, 'a subject attribute'));
      if (decodeOid(buf, expectTag(type, Tag.OID, 'a subject attribute type')) === ID_COMMON_NAME && value) return printable(buf, value);
    }
  }
  return null;
}

/** The challengePassword attribute of a PKCS#10 CSR (RFC 2985 §5.4.1), or null. */
export function challengePassword(csrDer: Buffer): string | null {
  const { buf, root } = readDer(csrDer, 'the CSR');
  const [info] = children(buf, root);
  const parts = children(buf, expectTag(info, Tag.SEQUENCE, 'certificationRequestInfo'));
  const attributes = parts[3];
  if (attributes?.tag !== 0xa0) return null;
  for (const a of children(buf, attributes)) {
    const [type, values] = children(buf, a);
    if (decodeOid(buf, type as Tlv) !== ID_CHALLENGE_PASSWORD) continue;
    const [value] = children(buf, values as Tlv);
    return value ? Buffer.from(content(buf, value)).toString('utf8') : null;
  }
  return null;
}

/** EnvelopedData (RFC 5652 §6) of `plain` for the holder of `recipientCertificate`'s RSA key, AES-256-CBC. */
function envelope(plain: Buffer, recipientCertificate: Buffer): Buffer {
  const key = randomBytes(32);
  const iv = randomBytes(16);
  const c = createCipheriv('aes-256-cbc', key, iv);
  const encrypted = Buffer.concat([c.update(plain), c.final()]);
  const recipientKey = certificatePublicKey(recipientCertificate);
  if (recipientKey.asymmetricKeyType !== 'rsa') throw badAlg('the requester\'s certificate key is not RSA, so the answer cannot be encrypted to it (RFC 8894 §2.3)');
  const encryptedKey = publicEncrypt({ key: recipientKey, padding: constants.RSA_PKCS1_PADDING }, key);
  const ktri = seq(tlv(Tag.INTEGER, Buffer.from([0])), issuerAndSerial(recipientCertificate), seq(oid(RSA_ENCRYPTION), NULL), octetString(encryptedKey));
  const eci = seq(oid(ID_DATA), seq(oid('2.16.840.1.101.3.4.1.42'), octetString(iv)), tlv(0x80, encrypted));
  return seq(oid(ID_ENVELOPED_DATA), explicit(0, seq(tlv(Tag.INTEGER, Buffer.from([0])), setOf(ktri), eci)));
}

export interface CertRepInput {
  readonly request: ScepHeader;
  readonly status: keyof typeof PKI_STATUS;
  readonly failInfo?: FailInfo;
  /** SUCCESS: the degenerate certs-only SignedData to encrypt to the requester. */
  readonly certsOnly?: Buffer;
  readonly ra: { readonly certificate: Buffer; readonly privateKey: KeyObject };
}

const attribute = (type: string, value: Buffer) => seq(oid(type), setOf(value));

/** A CertRep (RFC 8894 §3.3.2): a SignedData signed by the RA with SHA-256. */
export function encodeCertRep(input: CertRepInput): Buffer {
  const content = input.status === 'SUCCESS' && input.certsOnly && input.request.signerCertificate ? envelope(input.certsOnly, input.request.signerCertificate) : null;
  const eContent = content ?? Buffer.alloc(0);
  const attrs = [
    attribute(ID_CONTENT_TYPE, oid(ID_DATA)),
    attribute(ID_SIGNING_TIME, tlv(Tag.UTC_TIME, Buffer.from(utcTime(new Date()), 'latin1'))),
    attribute(ID_MESSAGE_DIGEST, octetString(createHash('sha256').update(eContent).digest())),
    attribute(SCEP.messageType, printableString(MESSAGE_TYPE.CertRep)),
    attribute(SCEP.pkiStatus, printableString(PKI_STATUS[input.status])),
    attribute(SCEP.transactionID, input.request.transactionIdTlv),
    attribute(SCEP.senderNonce, octetString(randomBytes(16))),
    attribute(SCEP.recipientNonce, octetString(input.request.senderNonce)),
    ...(input.status === 'FAILURE' ? [attribute(SCEP.failInfo, printableString(FAIL_INFO[input.failInfo ?? 'badRequest']))] : []),
  ];
  const signedAttrs = setOf(...attrs);
  const signature = cryptoSign('sha256', signedAttrs, input.ra.privateKey);
  const sha256 = seq(oid('2.16.840.1.101.3.4.2.1'), NULL);
  const signerInfo = seq(
    tlv(Tag.INTEGER, Buffer.from([1])),
    issuerAndSerial(input.ra.certificate),
    sha256,
    Buffer.concat([Buffer.from([0xa0]), signedAttrs.subarray(1)]), // [0] IMPLICIT: the SET's bytes under tag A0
    seq(oid(RSA_ENCRYPTION), NULL),
    octetString(signature),
  );
  const encap = content ? seq(oid(ID_DATA), explicit(0, octetString(content))) : seq(oid(ID_DATA));
  const signedData = seq(tlv(Tag.INTEGER, Buffer.from([1])), setOf(sha256), encap, tlv(0xa0, input.ra.certificate), setOf(signerInfo));
  return seq(oid(ID_SIGNED_DATA), explicit(0, signedData));
}

function utcTime(d: Date): string {
  return d.toISOString().replace(/^\d\d(\d\d)-(\d\d)-(\d\d)T(\d\d):(\d\d):(\d\d).*$/, '$1$2$3$4$5$6Z');
}
