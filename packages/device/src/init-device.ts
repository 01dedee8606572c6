/**
 * `initDevice`: what a device does with a provisioning package (docs/device.md). It makes its key
 * here, on the device, and leaves with only a provisioning request (PR): a CSR plus identity,
 * signed by the new device key (proof of possession) and by the package's bootstrap credential
 * (proof that the device was given this package). The bootstrap private key is used in memory and
 * never written to the keystore.
 */
import {
  checkNameAttribute,
  type Clock,
  createCsr,
  createKeySigner,
  encodePem,
  exportPrivateKeyPem,
  generateKey,
  type KeyType,
  parseDeviceId,
  PkiError,
  publicKeyFingerprint,
  type Random,
} from '@provisio/pki';
import { createProvisioningRequest, NONCE_BYTES, openPackage, parsePackage } from '@provisio/protocol';
import { appendDeviceAudit } from './device-audit-log.js';
import { DeviceError } from './errors.js';
import {
  checkKeystoreDirectory,
  directoryMode,
  ensureKeystoreDirectory,
  fileState,
  type KeystoreFile,
  createKeystoreFiles,
  keystorePath,
  removeKeystoreFiles,
  removeStrayTempFiles,
} from './keystore.js';
import { type IdentityRecord, serializeRecord } from './records.js';
import { rfc3339 } from './time.js';

export interface InitDeviceInput {
  /** The provisioning package file's text. */
  readonly packageText: string;
  readonly component: string;
  readonly deviceId: string;
  readonly deviceLabel: string;
  readonly hardwareSerial?: string;
  readonly firmwareVersion?: string;
  /** Defaults to the package template's default when the component allows it, else its first type. */
  readonly keyType?: KeyType;
  /** The keystore directory. */
  readonly dir: string;
  readonly mock?: boolean;
  /**
   * Destroys an existing identity in `dir` (its key, request and profile) and makes a new one.
   * Without it, an existing identity is `keystore_exists`.
   */
  readonly reset?: boolean;
}

export interface InitDeviceResult {
  readonly requestText: string;
  readonly requestPath: string;
  readonly keyPath: string;
  readonly identity: IdentityRecord;
  readonly requestExpiresAt: Date;
  /** True when an earlier identity was destroyed (reset). */
  readonly replaced: boolean;
}

/**
 * Keystore files in the order a reset removes them: identity first, key last. device.db goes
 * too: its key is derived from the key being destroyed. The security audit log stays: it records
 * the reset and whatever came before.
 */
const RESET_ORDER: readonly KeystoreFile[] = ['identity', 'submission', 'install', 'profile', 'certificate', 'request', 'root', 'renewalKey', 'database', 'key'];

const PRINTABLE_ASCII = /^[\x20-\x7e]{1,128}$/;

function checkPrintable(value: string | undefined, what: string): string | null {
  if (value === undefined) return null;
  if (!PRINTABLE_ASCII.test(value)) {
    throw new PkiError('identity_invalid', `${what} must be 1-128 printable ASCII characters; got ${JSON.stringify(value.slice(0, 40))}`);
  }
  return value;
}

/** True when `dir` holds any part of a device identity. */
function hasIdentity(dir: string): boolean {
  if (directoryMode(dir) === null) return false;
  return (['identity', 'key', 'request', 'profile'] as const).some((f) => fileState(dir, f).present);
}

export async function initDevice(
  deps: { readonly clock: Clock; readonly random: Random },
  input: InitDeviceInput,
): Promise<InitDeviceResult> {
  const now = deps.clock.now();
  const { dir } = input;

  // Cheap refusals first: nothing is generated for input that will be refused.
  const deviceId = parseDeviceId(input.deviceId);
  checkNameAttribute({ type: 'description', value: input.deviceLabel });
  const hardwareSerial = checkPrintable(input.hardwareSerial, 'hardware serial');
  const firmwareVersion = checkPrintable(input.firmwareVersion, 'firmware version');
  checkKeystoreDirectory(dir);
  const replaced = hasIdentity(dir);
  if (replaced && input.reset !== true) {
    throw new DeviceError(
      'keystore_exists',
      `${dir} already holds a device identity; init never replaces one by accident`,
      'use another --dir, or --reset to destroy this identity (then revoke its certificate on the server)',
    );
  }

  // The package: parsed strictly, its bootstrap chained to its own root and valid now.
  const pkg = parsePackage(input.packageText);
  const opened = openPackage(pkg, now);
  const component = pkg.components.find((c) => c.name === input.component);
  if (!component) {
    throw new DeviceError(
      'package_component_unknown',
      `the package for system "${pkg.system}" has no component "${input.component}"`,
      `use one of: ${pkg.components.map((c) => JSON.stringify(c.name)).join(', ')}`,
    );
  }
  const allowed: readonly KeyType[] = component.keyTypes;
  const keyType = input.keyType ?? (allowed.includes(pkg.keyTemplate.defaultKeyType) ? pkg.keyTemplate.defaultKeyType : allowed[0]);
  if (keyType === undefined || !allowed.includes(keyType)) {
    throw new DeviceError(
      'package_key_type_not_allowed',
      `component "${component.name}" does not allow ${String(keyType)} keys; its template allows ${allowed.join(', ')}`,
      `use --key-type ${allowed[0] ?? 'p256'}`,
    );
  }

  // The key is generated here and its private half is written only to device.key.
  const key = await generateKey(keyType);
  const signer = createKeySigner(key.privateKey);
  // CN = deviceId only: the service takes every certificate name from approved data, never from
  // the CSR (security.md), so the CSR carries just enough for a person reading it.
  const csr = await createCsr(signer, { subject: [{ type: 'CN', value: deviceId }] });

  // The request lives no longer than the package allows, nor than the bootstrap certificate that
  // signs it (a signature by an expired credential proves nothing).
  const bootstrapLeaf = opened.bootstrapChain[0];
  const limits = [now.getTime() + pkg.requestLifetimeSeconds * 1000, opened.expiresAt.getTime()];
  if (bootstrapLeaf) limits.push(bootstrapLeaf.notAfter.getTime());
  const requestExpiresAt = new Date(Math.floor(Math.min(...limits) / 1000) * 1000);
  // 16 random bytes (protocol NONCE_BYTES): the service records the nonce, so a request is
  // accepted once only.
  const nonce = Buffer.from(deps.random.bytes(NONCE_BYTES)).toString('base64url');
  const createdAt = rfc3339(now);
  const mock = input.mock === true;

  const requestText = await createProvisioningRequest({
    payload: {
      packageId: pkg.packageId,
      system: pkg.system,
      component: component.name,
      deviceId,
      deviceLabel: input.deviceLabel,
      hardwareSerial,
      firmwareVersion,
      nonce,
      createdAt,
      expiresAt: rfc3339(requestExpiresAt),
      csr: csr.toString('base64'),
      mock,
    },
    device: signer,
    bootstrap: opened.bootstrapSigner,
    bootstrapChain: opened.bootstrapChain.map((c) => c.der),
  });

  const identity: IdentityRecord = {
    format: 'provisio.device-identity',
    v: 1,
    deviceId,
    deviceLabel: input.deviceLabel,
    system: pkg.system,
    component: component.name,
    packageId: pkg.packageId,
    hardwareSerial,
    firmwareVersion,
    keyType,
    publicKeySha256: publicKeyFingerprint(signer.publicKey),
    rootSha256: opened.root.fingerprint,
    requestExpiresAt: rfc3339(requestExpiresAt),
    state: 'requested',
    createdAt,
    mock,
    serviceUrl: pkg.serviceUrl,
  };

  ensureKeystoreDirectory(dir);
  if (replaced) removeKeystoreFiles(dir, RESET_ORDER);
  removeStrayTempFiles(dir);
  // identity.json last: it marks a complete init. A crash before it leaves a key without an
  // identity, which loadIdentity reports as an incomplete init.
  createKeystoreFiles(dir, [
    { file: 'key', data: exportPrivateKeyPem(key.privateKey) },
    { file: 'root', data: encodePem('CERTIFICATE', opened.root.der) },
    { file: 'request', data: requestText },
    { file: 'identity', data: serializeRecord(identity) },
  ]);
  // Provisioning starts here (seed 003): the device's own log says with which key and root.
  appendDeviceAudit(dir, {
    event: 'device.initialized',
    details: {
      deviceId,
      system: pkg.system,
      component: component.name,
      packageId: pkg.packageId,
      keyType,
      publicKeySha256: identity.publicKeySha256,
      rootSha256: identity.rootSha256,
      requestExpiresAt: identity.requestExpiresAt,
      replaced,
      mock,
    },
    at: now,
  });

  return {
    requestText,
    requestPath: keystorePath(dir, 'request'),
    keyPath: keystorePath(dir, 'key'),
    identity,
    requestExpiresAt,
    replaced,
  };
}
