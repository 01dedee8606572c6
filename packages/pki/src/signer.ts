/**
 * Signing, abstracted so a CA key can live in a file today and in an HSM (PKCS#11) later: the
 * issuing code sees only `Signer`, never key material.
 */
import { sign as cryptoSign, verify as cryptoVerify, type KeyObject } from 'node:crypto';
import { NULL, oid, seq } from './der.js';
import { PkiError } from './errors.js';
import { describeKeyObject, describePublicKey, type PublicKeyInfo, toPublicKeyObject } from './keys.js';
import { OID } from './oids.js';

export interface SignatureAlgorithm {
  readonly oid: string;
  readonly hash: 'sha256' | 'sha384' | 'sha512';
  readonly keyAlgorithm: 'ec' | 'rsa';
  /** The AlgorithmIdentifier DER, ready to embed. */
  readonly der: Buffer;
  readonly name: string;
}

function algorithm(
  oidText: string,
  hash: SignatureAlgorithm['hash'],
  keyAlgorithm: SignatureAlgorithm['keyAlgorithm'],
  name: string,
): SignatureAlgorithm {
  // RFC 5758 §3.2: ECDSA parameters absent. RFC 4055 §5: PKCS#1 v1.5 parameters NULL.
  const der = keyAlgorithm === 'ec' ? seq(oid(oidText)) : seq(oid(oidText), NULL);
  return { oid: oidText, hash, keyAlgorithm, der, name };
}

export const SIGNATURE_ALGORITHMS: ReadonlyMap<string, SignatureAlgorithm> = new Map(
  [
    algorithm(OID.ecdsaWithSha256, 'sha256', 'ec', 'ecdsa-with-SHA256'),
    algorithm(OID.ecdsaWithSha384, 'sha384', 'ec', 'ecdsa-with-SHA384'),
    algorithm(OID.sha256WithRsa, 'sha256', 'rsa', 'sha256WithRSAEncryption'),
    algorithm(OID.sha384WithRsa, 'sha384', 'rsa', 'sha384WithRSAEncryption'),
    algorithm(OID.sha512WithRsa, 'sha512', 'rsa', 'sha512WithRSAEncryption'),
  ].map((a) => [a.oid, a]),
);

export function signatureAlgorithmByOid(oidText: string): SignatureAlgorithm {
  const alg = SIGNATURE_ALGORITHMS.get(oidText);
  if (!alg) {
    throw new PkiError(
      'signature_algorithm_unsupported',
      `signature algorithm ${oidText} is not supported; use ECDSA with SHA-256/384 or RSA PKCS#1 v1.5 with SHA-256/384/512`,
    );
  }
  return alg;
}

/** The algorithm a key of this kind signs with: hash strength matched to key strength. */
export function signatureAlgorithmFor(key: PublicKeyInfo): SignatureAlgorithm {
  const oidText =
    key.curve === 'P-384' ? OID.ecdsaWithSha384 : key.algorithm === 'ec' ? OID.ecdsaWithSha256 : OID.sha256WithRsa;
  return signatureAlgorithmByOid(oidText);
}

export interface Signer {
  readonly publicKey: PublicKeyInfo;
  readonly algorithm: SignatureAlgorithm;
  /** Signs `data` (the DER to be signed); ECDSA signatures are DER Ecdsa-Sig-Value. */
  sign(data: Uint8Array): Promise<Buffer>;
}

/** A signer over a private key held in this process (a file-backed key). */
export function createKeySigner(privateKey: KeyObject): Signer {
  if (privateKey.type !== 'private') throw new TypeError('createKeySigner needs a private key');
  const publicKey = describeKeyObject(privateKey);
  const alg = signatureAlgorithmFor(publicKey);
  return {
    publicKey,
    algorithm: alg,
    sign: async (data) => cryptoSign(alg.hash, data, privateKey),
  };
}

/**
 * Verifies `signature` over `data`. The algorithm must match the key's kind, so an RSA
 * algorithm can never be paired with an EC key (or the reverse) by a crafted input.
 */
export function verifySignature(
  alg: SignatureAlgorithm,
  key: PublicKeyInfo | KeyObject,
  data: Uint8Array,
  signature: Uint8Array,
): boolean {
  const info = 'spki' in key ? key : describeKeyObject(key);
  if (alg.keyAlgorithm !== info.algorithm) {
    throw new PkiError(
      'signature_algorithm_unsupported',
      `${alg.name} cannot be used with a ${describePublicKey(info)} key`,
    );
  }
  const keyObject = 'spki' in key ? toPublicKeyObject(key) : key;
  try {
    return cryptoVerify(alg.hash, data, keyObject, signature);
  } catch {
    // A signature that is not even a valid Ecdsa-Sig-Value is simply not valid.
    return false;
  }
}
