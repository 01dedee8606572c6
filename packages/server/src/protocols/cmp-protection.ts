/**
 * CMP message protection (RFC 4210 §5.1.3): a signature by the sender's certificate (RFC 9483
 * §3.2: the signer's certificate first in extraCerts), or a MAC from a shared secret with the
 * password-based MAC of RFC 4211 §4.4. Both are computed over ProtectedPart as received.
 */
import { createHash, createHmac, timingSafeEqual } from 'node:crypto';
import { type ParsedCertificate, Tag, children, decodeOid, decodeSmallInteger, oid, octetString, parseCertificate, seq, signatureAlgorithmByOid, smallInteger, verifySignature } from '@provisio/pki';
import { ServiceError } from '../domain/errors.js';
import { type AlgorithmId, CMP_OID, type CmpMessage } from './cmp-message.js';

/**
 * Iterations of the PBM one-way function a request may ask for: at least 100 (RFC 4211 §4.4
 * wants a count that makes guessing slow; OpenSSL uses 500), at most 100,000 so one message
 * cannot buy seconds of hashing.
 */
const MIN_PBM_ITERATIONS = 100;
const MAX_PBM_ITERATIONS = 100_000;

function refused(why: string): ServiceError {
  return new ServiceError('cmp_protection_invalid', `the PKIMessage's protection ${why}`);
}

export function isMacProtected(message: CmpMessage): boolean {
  return message.header.protectionAlg?.oid === CMP_OID.passwordBasedMac;
}

/** The signer's certificate when the signature over ProtectedPart verifies with its key; refused otherwise. */
export function verifySignatureProtection(message: CmpMessage): ParsedCertificate {
  const alg = message.header.protectionAlg;
  if (!alg || !message.protection) throw refused('is missing: this service takes signed or MAC-protected messages only (RFC 9483 §3.2)');
  const [first] = message.extraCerts;
  if (!first) throw refused('is a signature, but extraCerts does not carry the signer\'s certificate first (RFC 9483 §3.3)');
  const signer = parseCertificate(first);
  const algorithm = signatureAlgorithmByOid(alg.oid);
  if (!verifySignature(algorithm, signer.publicKey, message.protectedPart, message.protection)) {
    throw refused(`does not verify with the key of certificate ${signer.serial} (wrong signature)`);
  }
  return signer;
}

export interface PbmParameters {
  readonly salt: Buffer;
  readonly owf: 'sha256';
  readonly iterations: number;
  readonly mac: 'sha1' | 'sha256';
  /** The PBMParameter DER as received, to protect the answer with the same parameters. */
  readonly der: Buffer;
}

/** PBMParameter (RFC 4211 §4.4): salt, owf SHA-256, iterationCount, mac HMAC-SHA1 or HMAC-SHA256. */
export function parsePbmParameters(message: CmpMessage): PbmParameters {
  const alg = message.header.protectionAlg as AlgorithmId;
  const buf = message.der;
  const params = alg.params;
  if (!params || params.tag !== Tag.SEQUENCE) throw refused('is a password-based MAC without PBMParameter');
  const [saltTlv, owfTlv, countTlv, macTlv, extra] = children(buf, params);
  if (!saltTlv || saltTlv.tag !== Tag.OCTET_STRING || !owfTlv || !countTlv || !macTlv || extra) throw refused('has a malformed PBMParameter');
  const oidOf = (t: typeof owfTlv) => {
    const [o] = children(buf, t);
    if (!o || o.tag !== Tag.OID) throw refused('has a malformed PBMParameter algorithm');
    return decodeOid(buf, o);
  };
  if (oidOf(owfTlv) !== CMP_OID.sha256) throw refused('uses a one-way function other than SHA-256 (RFC 9481 §6.1.1)');
  const macOid = oidOf(macTlv);
  if (macOid !== CMP_OID.hmacSha256 && macOid !== CMP_OID.hmacSha1) throw refused('uses a MAC other than HMAC-SHA256 or HMAC-SHA1');
  const iterations = decodeSmallInteger(buf, countTlv, 'iterationCount');
  if (iterations < MIN_PBM_ITERATIONS || iterations > MAX_PBM_ITERATIONS) throw refused(`asks for ${iterations} iterations; ${MIN_PBM_ITERATIONS} to ${MAX_PBM_ITERATIONS} are accepted`);
  const salt = Buffer.from(buf.subarray(saltTlv.contentStart, saltTlv.end));
  if (salt.length < 8 || salt.length > 64) throw refused('has a salt of other than 8 to 64 bytes');
  return { salt, owf: 'sha256', iterations, mac: macOid === CMP_OID.hmacSha1 ? 'sha1' : 'sha256', der: Buffer.from(buf.subarray(params.start, params.end)) };
}

/** RFC 4210 §5.1.3.1: the owf applied iterationCount times to secret || salt gives the MAC key. */
function pbmKey(secret: Buffer, p: PbmParameters): Buffer {
  let key = createHash(p.owf).update(secret).update(p.salt).digest();
  for (let i = 1; i < p.iterations; i++) key = createHash(p.owf).update(key).digest();
  return key;
}

export function pbmMac(secret: Buffer, p: PbmParameters, data: Buffer): Buffer {
  return createHmac(p.mac, pbmKey(secret, p)).update(data).digest();
}

/** Refuses unless the MAC over ProtectedPart is the one `secret` makes (compared in constant time). */
export function verifyMacProtection(message: CmpMessage, secret: Buffer): PbmParameters {
  const p = parsePbmParameters(message);
  const expected = pbmMac(secret, p, message.protectedPart);
  const got = message.protection ?? Buffer.alloc(0);
  if (got.length !== expected.length || !timingSafeEqual(got, expected)) throw refused('is a MAC that the shared secret does not make (wrong MAC or secret)');
  return p;
}

/** The protectionAlg AlgorithmIdentifier for an answer MAC-protected with `p`. */
export function pbmAlgorithm(p: PbmParameters): Buffer {
  return seq(oid(CMP_OID.passwordBasedMac), p.der);
}

/** A PBMParameter of our own, should an answer need one (same owf and MAC as the request's). */
export function encodePbmParameters(salt: Buffer, iterations: number, mac: 'sha1' | 'sha256'): Buffer {
  return seq(octetString(salt), seq(oid(CMP_OID.sha256)), smallInteger(iterations), seq(oid(mac === 'sha1' ? CMP_OID.hmacSha1 : CMP_OID.hmacSha256)));
}
