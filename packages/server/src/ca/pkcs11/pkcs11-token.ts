/**
 * A CA key in a PKCS#11 token (an HSM; SoftHSM2 in tests), behind the same `Signer` the
 * file-backed keys use (decisions D44, D45). The key never leaves the token: the service hashes
 * what it signs (ECDSA) or lets the token hash it (RSA PKCS#1 v1.5), and the token signs.
 */
import { createHash, createPublicKey, randomBytes, timingSafeEqual } from 'node:crypto';
import { existsSync } from 'node:fs';
import pkcs11js from 'pkcs11js';
import {
  type KeyType,
  type PublicKeyInfo,
  type Signer,
  OID,
  describeKeyObject,
  oid,
  seq,
  signatureAlgorithmFor,
  unsignedInteger,
} from '@provisio/pki';
import { ServiceError } from '../../domain/errors.js';
import { formatPkcs11Uri } from './pkcs11-uri.js';

/** Where Debian and others put SoftHSM2's module; the first that exists is the default. */
export const SOFTHSM2_MODULE_PATHS: readonly string[] = [
  '/usr/lib/softhsm/libsofthsm2.so',
  '/usr/lib/x86_64-linux-gnu/softhsm/libsofthsm2.so',
  '/usr/lib/aarch64-linux-gnu/softhsm/libsofthsm2.so',
  '/usr/local/lib/softhsm/libsofthsm2.so',
];

export function defaultModulePath(): string | undefined {
  return SOFTHSM2_MODULE_PATHS.find((p) => existsSync(p));
}

type Handle = Buffer;

export interface TokenKey {
  /** The key's URI (token and label), for logs and messages. */
  readonly uri: string;
  readonly label: string;
  readonly id: Buffer;
  readonly publicKey: PublicKeyInfo;
  readonly signer: Signer;
  /** CKA_EXTRACTABLE and CKA_SENSITIVE of the private key, as the token reports them. */
  readonly extractable: boolean;
  readonly sensitive: boolean;
}

export interface OpenTokenOptions {
  readonly modulePath?: string;
  /** The token label. */
  readonly token: string;
  readonly serial?: string;
  readonly pin: string;
}

/** One loaded module per path: C_Initialize may run once per process. */
const modules = new Map<string, { lib: pkcs11js.PKCS11; users: number }>();
/** Tokens this process is logged in to (module and slot), with a hash of the PIN that did it. */
const logins = new Map<string, { pinHash: Buffer; users: number }>();

function pkcs11Code(e: unknown): string {
  return e instanceof Error ? e.message.split(/[\s:]/)[0] ?? 'error' : 'error';
}

function loadModule(path: string): pkcs11js.PKCS11 {
  const loaded = modules.get(path);
  if (loaded) {
    loaded.users++;
    return loaded.lib;
  }
  if (!existsSync(path)) {
    throw new ServiceError('pkcs11_module_not_found', `no PKCS#11 module at ${path}; install the HSM's library (SoftHSM2: apt install softhsm2) or pass --pkcs11-module PATH`);
  }
  const lib = new pkcs11js.PKCS11();
  try {
    lib.load(path);
    lib.C_Initialize({ flags: pkcs11js.CKF_OS_LOCKING_OK });
  } catch (e) {
    throw new ServiceError('pkcs11_module_not_found', `${path} could not be loaded as a PKCS#11 module (${pkcs11Code(e)})`);
  }
  modules.set(path, { lib, users: 1 });
  return lib;
}

function releaseModule(path: string): void {
  const loaded = modules.get(path);
  if (!loaded || --loaded.users > 0) return;
  modules.delete(path);
  try {
    loaded.lib.C_Finalize();
  } finally {
    loaded.lib.close();
  }
}

const CURVES: Readonly<Record<string, { name: 'P-256' | 'P-384'; size: number }>> = {
  [OID.p256]: { name: 'P-256', size: 32 },
  [OID.p384]: { name: 'P-384', size: 48 },
};

const b64url = (b: Buffer) => b.toString('base64url');

/** CKA_EC_POINT: the uncompressed point, DER OCTET STRING wrapped (as PKCS#11 says) or raw. */
function ecPoint(value: Buffer, size: number): Buffer {
  const raw = value.length === 2 * size + 1 ? value : value.subarray(value.length - (2 * size + 1));
  if (raw[0] !== 0x04 || raw.length !== 2 * size + 1) throw new ServiceError('pkcs11_key_unsupported', 'the token\'s EC public key is not an uncompressed point');
  return raw;
}

/** Raw r||s (what CKM_ECDSA returns) as the DER Ecdsa-Sig-Value X.509 carries. */
export function ecdsaRawToDer(raw: Buffer): Buffer {
  const half = raw.length / 2;
  return seq(unsignedInteger(raw.subarray(0, half)), unsignedInteger(raw.subarray(half)));
}

const RSA_MECHANISM = { sha256: pkcs11js.CKM_SHA256_RSA_PKCS, sha384: pkcs11js.CKM_SHA384_RSA_PKCS, sha512: pkcs11js.CKM_SHA512_RSA_PKCS } as const;

export class Pkcs11Token {
  /** Operations on one session run one at a time (PKCS#11 allows one active operation per session). */
  private queue: Promise<unknown> = Promise.resolve();
  private closed = false;

  private constructor(
    private readonly lib: pkcs11js.PKCS11,
    private readonly modulePath: string,
    private readonly session: Handle,
    readonly label: string,
    private readonly loginKey: string,
  ) {}

  static open(options: OpenTokenOptions): Pkcs11Token {
    const modulePath = options.modulePath ?? defaultModulePath();
    if (!modulePath) {
      throw new ServiceError('pkcs11_module_not_found', `no PKCS#11 module given and SoftHSM2 is not installed (looked in ${SOFTHSM2_MODULE_PATHS.join(', ')}); pass --pkcs11-module PATH`);
    }
    const lib = loadModule(modulePath);
    try {
      const slot = lib.C_GetSlotList(true).find((s) => {
        const info = lib.C_GetTokenInfo(s);
        return info.label.trimEnd() === options.token && (options.serial === undefined || info.serialNumber.trimEnd() === options.serial);
      });
      if (!slot) {
        throw new ServiceError('pkcs11_token_not_found', `no token labelled "${options.token}"${options.serial ? ` with serial ${options.serial}` : ''} in ${modulePath}`);
      }
      const session = lib.C_OpenSession(slot, pkcs11js.CKF_SERIAL_SESSION | pkcs11js.CKF_RW_SESSION);
      // A login is per token and process: a second open of a token this process is logged in to
      // must still prove the PIN, so it is compared with the one that logged in.
      const key = `${modulePath}\0${slot.toString('hex')}`;
      const pinHash = createHash('sha256').update(options.pin).digest();
      const loggedIn = logins.get(key);
      try {
        if (loggedIn) {
          if (!timingSafeEqual(loggedIn.pinHash, pinHash)) throw new Error('CKR_PIN_INCORRECT');
          loggedIn.users++;
        } else {
          lib.C_Login(session, pkcs11js.CKU_USER, options.pin);
          logins.set(key, { pinHash, users: 1 });
        }
      } catch (e) {
        lib.C_CloseSession(session);
        // The PIN is not in the message; the token's answer says wrong, locked or expired.
        throw new ServiceError('pkcs11_login_failed', `the token "${options.token}" refused the PIN from the PIN file (${pkcs11Code(e)})`);
      }
      return new Pkcs11Token(lib, modulePath, session, options.token, key);
    } catch (e) {
      releaseModule(modulePath);
      throw e;
    }
  }

  private run<T>(op: () => Promise<T> | T): Promise<T> {
    const next = this.queue.then(op, op);
    this.queue = next.catch(() => undefined);
    return next;
  }

  private find(template: pkcs11js.Template): Handle[] {
    this.lib.C_FindObjectsInit(this.session, template);
    try {
      return this.lib.C_FindObjects(this.session, 64);
    } finally {
      this.lib.C_FindObjectsFinal(this.session);
    }
  }

  private attribute(handle: Handle, type: number): Buffer {
    return this.lib.C_GetAttributeValue(this.session, handle, [{ type }])[0]?.value as Buffer;
  }

  private privateKeys(label: string, id?: Buffer): Handle[] {
    const byId = id ? [{ type: pkcs11js.CKA_ID, value: id }] : [];
    return this.find([{ type: pkcs11js.CKA_CLASS, value: pkcs11js.CKO_PRIVATE_KEY }, { type: pkcs11js.CKA_LABEL, value: label }, ...byId]);
  }

  /** The public half: from the public-key object with the same CKA_ID, or the private object (RSA). */
  private publicKeyOf(handle: Handle, label: string, id: Buffer): PublicKeyInfo {
    const typeBytes = this.attribute(handle, pkcs11js.CKA_KEY_TYPE);
    // CK_ULONG in the machine's byte order; every platform Provisio runs on is little-endian.
    const keyType = typeBytes.readUIntLE(0, Math.min(typeBytes.length, 6));
    const same = id.length > 0 ? { type: pkcs11js.CKA_ID, value: id } : { type: pkcs11js.CKA_LABEL, value: label };
    const [pub] = this.find([{ type: pkcs11js.CKA_CLASS, value: pkcs11js.CKO_PUBLIC_KEY }, same]);
    if (keyType === pkcs11js.CKK_EC) {
      if (!pub) throw new ServiceError('pkcs11_key_not_found', `the token holds the private key "${label}" but not its public key (a public-key object with the same CKA_ID)`);
      const params = this.attribute(pub, pkcs11js.CKA_EC_PARAMS);
      const curveOid = Object.keys(CURVES).find((o) => oid(o).equals(params));
      const curve = curveOid ? CURVES[curveOid] : undefined;
      if (!curve) throw new ServiceError('pkcs11_key_unsupported', `the key "${label}" is on a curve Provisio does not use; use P-256 or P-384`);
      const point = ecPoint(this.attribute(pub, pkcs11js.CKA_EC_POINT), curve.size);
      return describeKeyObject(createPublicKey({ format: 'jwk', key: { kty: 'EC', crv: curve.name, x: b64url(point.subarray(1, 1 + curve.size)), y: b64url(point.subarray(1 + curve.size)) } }));
    }
    if (keyType === pkcs11js.CKK_RSA) {
      const from = pub ?? handle;
      const n = this.attribute(from, pkcs11js.CKA_MODULUS);
      const e = this.attribute(from, pkcs11js.CKA_PUBLIC_EXPONENT);
      return describeKeyObject(createPublicKey({ format: 'jwk', key: { kty: 'RSA', n: b64url(n), e: b64url(e) } }));
    }
    throw new ServiceError('pkcs11_key_unsupported', `the key "${label}" is neither EC nor RSA; use P-256, P-384 or RSA`);
  }

  private keyFromHandle(handle: Handle, label: string): TokenKey {
    const id = this.attribute(handle, pkcs11js.CKA_ID) ?? Buffer.alloc(0);
    const publicKey = this.publicKeyOf(handle, label, id);
    const flag = (type: number) => (this.attribute(handle, type)?.[0] ?? 0) !== 0;
    const alg = signatureAlgorithmFor(publicKey);
    const signer: Signer = {
      publicKey,
      algorithm: alg,
      sign: (data) =>
        this.run(async () => {
          if (this.closed) throw new ServiceError('pkcs11_operation_failed', `the token "${this.label}" was closed`);
          try {
            if (alg.keyAlgorithm === 'ec') {
              // CKM_ECDSA signs a hash we compute: not every token offers CKM_ECDSA_SHA384.
              this.lib.C_SignInit(this.session, { mechanism: pkcs11js.CKM_ECDSA }, handle);
              const digest = createHash(alg.hash).update(data).digest();
              return ecdsaRawToDer(await this.lib.C_SignAsync(this.session, digest, Buffer.alloc(2 * 66)));
            }
            this.lib.C_SignInit(this.session, { mechanism: RSA_MECHANISM[alg.hash] }, handle);
            return await this.lib.C_SignAsync(this.session, Buffer.from(data), Buffer.alloc(1024));
          } catch (e) {
            if (e instanceof ServiceError) throw e;
            throw new ServiceError('pkcs11_operation_failed', `the token "${this.label}" did not sign with "${label}" (${pkcs11Code(e)})`);
          }
        }),
    };
    const uri = formatPkcs11Uri({ token: this.label, object: label });
    return { uri, label, id, publicKey, signer, extractable: flag(pkcs11js.CKA_EXTRACTABLE), sensitive: flag(pkcs11js.CKA_SENSITIVE) };
  }

  /** The private key labelled `label` (and with CKA_ID `id`, when given). */
  findKey(label: string, id?: Buffer): TokenKey {
    const handles = this.privateKeys(label, id);
    if (handles.length === 0) {
      throw new ServiceError('pkcs11_key_not_found', `the token "${this.label}" holds no private key labelled "${label}"${id ? ` with id ${id.toString('hex')}` : ''}`);
    }
    if (handles.length > 1) {
      throw new ServiceError('pkcs11_key_not_found', `the token "${this.label}" holds ${handles.length} private keys labelled "${label}"; name one with id=… in the URI`);
    }
    return this.keyFromHandle(handles[0] as Handle, label);
  }

  /** Every private key labelled `label` (the service's own keys: an old one until it is replaced). */
  keysLabelled(label: string): TokenKey[] {
    return this.privateKeys(label).map((h) => this.keyFromHandle(h, label));
  }

  /**
   * A new key pair made inside the token: the private half sensitive and never extractable,
   * so no PKCS#11 call (C_GetAttributeValue, C_WrapKey) can take it out.
   */
  async generateKey(label: string, keyType: KeyType, options: { unique?: boolean } = {}): Promise<TokenKey> {
    if (options.unique !== false && this.privateKeys(label).length > 0) {
      throw new ServiceError('pkcs11_key_exists', `the token "${this.label}" already holds a key labelled "${label}"; a ceremony never replaces a key — choose another object name`);
    }
    const id = randomBytes(8);
    const common = [{ type: pkcs11js.CKA_TOKEN, value: true }, { type: pkcs11js.CKA_LABEL, value: label }, { type: pkcs11js.CKA_ID, value: id }];
    const privateTemplate = [
      ...common,
      { type: pkcs11js.CKA_CLASS, value: pkcs11js.CKO_PRIVATE_KEY },
      { type: pkcs11js.CKA_PRIVATE, value: true },
      { type: pkcs11js.CKA_SIGN, value: true },
      { type: pkcs11js.CKA_SENSITIVE, value: true },
      { type: pkcs11js.CKA_EXTRACTABLE, value: false },
    ];
    const publicTemplate = [...common, { type: pkcs11js.CKA_CLASS, value: pkcs11js.CKO_PUBLIC_KEY }, { type: pkcs11js.CKA_VERIFY, value: true }];
    const pair = await this.run(() =>
      keyType === 'rsa3072'
        ? this.lib.C_GenerateKeyPairAsync(
            this.session,
            { mechanism: pkcs11js.CKM_RSA_PKCS_KEY_PAIR_GEN },
            [...publicTemplate, { type: pkcs11js.CKA_MODULUS_BITS, value: 3072 }, { type: pkcs11js.CKA_PUBLIC_EXPONENT, value: Buffer.from([1, 0, 1]) }],
            privateTemplate,
          )
        : this.lib.C_GenerateKeyPairAsync(
            this.session,
            { mechanism: pkcs11js.CKM_EC_KEY_PAIR_GEN },
            [...publicTemplate, { type: pkcs11js.CKA_EC_PARAMS, value: oid(keyType === 'p384' ? OID.p384 : OID.p256) }],
            privateTemplate,
          ),
    ).catch((e: unknown) => {
      throw new ServiceError('pkcs11_operation_failed', `the token "${this.label}" did not generate a ${keyType} key (${pkcs11Code(e)})`);
    });
    return this.keyFromHandle(pair.privateKey, label);
  }

  /** Destroys a key pair (the service's replaced keys only; CA keys are never destroyed here). */
  async destroyKey(key: TokenKey): Promise<void> {
    await this.run(() => {
      for (const h of this.find([{ type: pkcs11js.CKA_LABEL, value: key.label }, { type: pkcs11js.CKA_ID, value: key.id }])) this.lib.C_DestroyObject(this.session, h);
    });
  }

  async close(): Promise<void> {
    if (this.closed) return;
    await this.run(() => {
      this.closed = true;
      const login = logins.get(this.loginKey);
      if (login && --login.users === 0) logins.delete(this.loginKey);
      try {
        this.lib.C_CloseSession(this.session);
      } finally {
        releaseModule(this.modulePath);
      }
    });
  }
}
