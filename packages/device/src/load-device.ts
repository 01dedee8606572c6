/**
 * Opens a device keystore and checks that its files agree with each other: the key is the one
 * identity.json names, root.crt is the root recorded at init. Anything else is `keystore_damaged`
 * before the device uses a byte of it.
 */
import type { KeyObject } from 'node:crypto';
import {
  createKeySigner,
  importPrivateKeyPem,
  isProvisioError,
  type ParsedCertificate,
  parseCertificate,
  publicKeyFingerprint,
  type Signer,
} from '@provisio/pki';
import { DeviceError } from './errors.js';
import {
  directoryMode,
  fileState,
  keystorePath,
  readKeystoreFile,
  readPrivateKeyFile,
} from './keystore.js';
import { type IdentityRecord, type InstallRecord, parseIdentityRecord, parseInstallRecord } from './records.js';

export interface LoadedDevice {
  readonly dir: string;
  readonly identity: IdentityRecord;
  /** The device key, held in this process only to sign; never serialized anywhere but device.key. */
  readonly signer: Signer;
  /** The package's root of trust, as copied at init. */
  readonly root: ParsedCertificate;
  /** The last install, or null before the first one. */
  readonly install: InstallRecord | null;
}

/** The identity alone (what `show` needs before touching the key). */
export function loadIdentity(dir: string): IdentityRecord {
  if (directoryMode(dir) === null) {
    throw new DeviceError(
      'keystore_not_found',
      `${dir} does not exist; this device has not been initialized`,
      'run "provisio device init --package FILE --component C --id ID --label LABEL --dir DIR" first',
    );
  }
  if (!fileState(dir, 'identity').present) {
    if (fileState(dir, 'key').present) {
      throw new DeviceError(
        'keystore_damaged',
        `${dir} holds a device key but no identity.json: an earlier init did not complete`,
        'run "provisio device init" again with --reset',
      );
    }
    throw new DeviceError(
      'keystore_not_found',
      `${dir} holds no device identity (no identity.json)`,
      'run "provisio device init" first, or check --dir',
    );
  }
  return parseIdentityRecord(readKeystoreFile(dir, 'identity').toString('utf8'));
}

function damaged(message: string): DeviceError {
  return new DeviceError('keystore_damaged', message, 'restore the keystore from a backup, or reset the device and provision it again');
}

/** Wraps a parse failure of a keystore file as `keystore_damaged`, keeping the cause's code. */
function parseKeystoreFile<T>(path: string, parse: () => T): T {
  try {
    return parse();
  } catch (e) {
    if (e instanceof DeviceError) throw e;
    if (isProvisioError(e)) throw damaged(`${path} cannot be read: ${e.message} [${e.code}]`);
    throw e;
  }
}

export function loadDevice(dir: string): LoadedDevice {
  const identity = loadIdentity(dir);
  const keyPath = keystorePath(dir, 'key');
  const privateKey: KeyObject = parseKeystoreFile(keyPath, () =>
    importPrivateKeyPem(readPrivateKeyFile(dir).toString('utf8')),
  );
  const signer = createKeySigner(privateKey);
  if (publicKeyFingerprint(signer.publicKey) !== identity.publicKeySha256) {
    throw damaged(`${keyPath} is not the key identity.json names (public key SHA-256 differs)`);
  }
  const rootPath = keystorePath(dir, 'root');
  const root = parseKeystoreFile(rootPath, () => parseCertificate(readKeystoreFile(dir, 'root')));
  if (root.fingerprint !== identity.rootSha256) {
    throw damaged(`${rootPath} is not the root of trust recorded at init (SHA-256 differs)`);
  }
  const install = fileState(dir, 'install').present
    ? parseInstallRecord(readKeystoreFile(dir, 'install').toString('utf8'))
    : null;
  return { dir, identity, signer, root, install };
}
