/**
 * `installProfile`: the device accepts a certified profile (CP) only when it proves, against the
 * root of trust copied from the package at init (root.crt, never anything inside the profile),
 * that it was signed by the service for THIS device id and THIS device key, and that its
 * certificate is valid now. Only then are certificate.pem, profile.pcp and install.json written;
 * a refusal writes nothing.
 *
 * Binding to the request: the device does not know the service's requestId until a profile
 * arrives (the id is assigned when the PR is uploaded), so the profile is bound to the request
 * by what only this request carried: the device id and the device's public key (checked by
 * `verifyCertifiedProfile`), plus the system, component and mock flag recorded at init. The key
 * never left the device, so a profile for this key can only answer a request this device made.
 */
import { createHash } from 'node:crypto';
import { type Clock, encodePem, importPrivateKeyPem, parseCertificate, type ParsedCertificate, publicKeyFingerprint, type Signer } from '@provisio/pki';
import { type ParsedCertifiedProfile, parseCertifiedProfile, verifyCertifiedProfile } from '@provisio/protocol';
import { appendDeviceAudit, auditCodeOf, auditOrigin, appendDeviceAuditQuietly } from './device-audit-log.js';
import { openDeviceDatabase, rekeyDeviceDatabase, writeDeviceState } from './device-database.js';
import { DeviceError } from './errors.js';
import { fileState, keystorePath, readKeystoreFile, replaceKeystoreFiles } from './keystore.js';
import { type LoadedDevice, loadDevice } from './load-device.js';
import { type IdentityRecord, type InstallRecord, serializeRecord } from './records.js';
import { rfc3339 } from './time.js';

export interface InstallProfileInput {
  readonly dir: string;
  /** The .pcp file, exactly as received (text or bytes). */
  readonly profileText: string | Uint8Array;
  /**
   * A renewal with a new key (`renew --rekey`, docs/lifecycle.md): the profile certifies this key
   * instead of the one in device.key, and installing it replaces device.key with it (PEM).
   */
  readonly newKey?: { readonly pem: string; readonly signer: Signer };
}

export interface InstallProfileResult {
  /** False when this exact profile was already installed (nothing was written). */
  readonly changed: boolean;
  /** True when it replaced a different, older profile (a renewal). */
  readonly replaced: boolean;
  readonly identity: IdentityRecord;
  readonly install: InstallRecord;
  readonly certificate: ParsedCertificate;
  readonly profile: ParsedCertifiedProfile;
  readonly paths: { readonly certificate: string; readonly profile: string; readonly install: string; readonly root: string };
}

function sha256(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex');
}

function mismatch(what: string, got: string, expected: string): DeviceError {
  return new DeviceError(
    'profile_request_mismatch',
    `the profile is for ${what} ${JSON.stringify(got)}, but this device asked for ${JSON.stringify(expected)}`,
    'this profile answers another request; fetch the profile issued for this device\'s request',
  );
}

/**
 * Every outcome goes to the device's security audit log (device-audit-log.ts): the profile's
 * verification (`profile.verified`, or `profile.refused` with the code), then the install
 * (`install.completed`, `install.refused`, `install.rolled_back` when writing failed). Installing
 * the same profile again records nothing: nothing happened. The device database (device.db) is
 * created or updated with the installed configuration, and re-keyed first when the install
 * brings a new key.
 */
export async function installProfile(
  deps: { readonly clock: Clock },
  input: InstallProfileInput,
): Promise<InstallProfileResult> {
  const { dir } = input;
  const now = deps.clock.now();
  const received = typeof input.profileText === 'string' ? Buffer.from(input.profileText, 'utf8') : input.profileText;
  const rekey = input.newKey !== undefined;
  let verified = false;
  try {
    const device = loadDevice(dir);
    const result = await installVerified(deps, input, device, now, () => {
      verified = true;
    });
    return result;
  } catch (e) {
    const code = auditCodeOf(e);
    const receivedSha256 = sha256(received);
    if (!verified) appendDeviceAuditQuietly(dir, { event: 'profile.refused', details: { code, profileSha256: receivedSha256 }, at: now });
    if (!(e instanceof RolledBack)) appendDeviceAuditQuietly(dir, { event: 'install.refused', details: { code, profileSha256: receivedSha256, rekey }, at: now });
    throw e instanceof RolledBack ? e.cause : e;
  }
}

/** A write failed after the checks passed; already recorded as install.rolled_back. */
class RolledBack extends Error {
  constructor(override readonly cause: unknown) {
    super('rolled back');
  }
}

async function installVerified(
  deps: { readonly clock: Clock },
  input: InstallProfileInput,
  device: LoadedDevice,
  now: Date,
  onVerified: () => void,
): Promise<InstallProfileResult> {
  const { dir } = input;
  const { identity } = device;
  const profile = parseCertifiedProfile(input.profileText);
  // The trust anchor is root.crt from the keystore. A profile carrying its own root (even a
  // perfectly self-consistent one) can never make itself trusted.
  verifyCertifiedProfile(profile, {
    root: device.root,
    deviceId: identity.deviceId,
    devicePublicKey: input.newKey?.signer.publicKey ?? device.signer.publicKey,
    at: now,
  });

  const p = profile.payload;
  if (p.system !== identity.system) throw mismatch('system', p.system, identity.system);
  if (p.component !== identity.component) throw mismatch('component', p.component, identity.component);
  if (p.mock !== identity.mock) {
    throw mismatch('mock flag', String(p.mock), String(identity.mock));
  }
  // The root the profile announces must be the one the device trusts: a device never switches
  // roots because a profile says so (root rollover will be its own, explicitly signed step).
  const announcedRoot = parseCertificate(Buffer.from(p.rootOfTrust, 'base64'));
  if (announcedRoot.fingerprint !== device.root.fingerprint) {
    throw new DeviceError(
      'profile_request_mismatch',
      `the profile announces root of trust ${announcedRoot.fingerprint}, but this device trusts ${device.root.fingerprint} (root.crt from its package)`,
      'the profile was made for a different provisioning package or service; fetch the profile issued for this device\'s request',
    );
  }

  // SHA-256 over the file exactly as received: what install.json records and show re-checks.
  const profileSha256 = profile.contentHash;
  const alreadyInstalled = device.install !== null && identity.state === 'installed' && device.install.profileSha256 === profileSha256;
  onVerified();
  if (!alreadyInstalled) {
    appendDeviceAudit(dir, {
      event: 'profile.verified',
      details: { requestId: p.requestId, serial: profile.certificate.serial, profileSha256, issuedAt: rfc3339(profile.issuedAt), rootSha256: device.root.fingerprint },
      at: now,
    });
  }
  const issuedAt = rfc3339(profile.issuedAt);
  const previous = device.install;
  const paths = {
    certificate: keystorePath(dir, 'certificate'),
    profile: keystorePath(dir, 'profile'),
    install: keystorePath(dir, 'install'),
    root: keystorePath(dir, 'root'),
  };

  if (previous && identity.state === 'installed' && previous.profileSha256 === profileSha256 && isProfileOnDisk(dir, profileSha256)) {
    // The database too: a crash right after the files were switched left it behind.
    recordState(dir, identity, previous, paths, now);
    return { changed: false, replaced: false, identity, install: previous, certificate: profile.certificate, profile, paths };
  }
  if (previous && Date.parse(issuedAt) < Date.parse(previous.issuedAt)) {
    throw new DeviceError(
      'profile_outdated',
      `the profile was issued at ${issuedAt}, before the installed one (${previous.issuedAt}); an older profile never replaces a newer one`,
      'install the newest profile issued for this device',
    );
  }

  const chainPem = p.certificateChain.map((b64) => encodePem('CERTIFICATE', Buffer.from(b64, 'base64'))).join('');
  const install: InstallRecord = {
    format: 'provisio.device-install',
    v: 1,
    requestId: p.requestId,
    serial: profile.certificate.serial,
    notBefore: rfc3339(profile.certificate.notBefore),
    notAfter: rfc3339(profile.certificate.notAfter),
    issuedAt,
    installedAt: rfc3339(now),
    profileSha256,
  };
  const installed: IdentityRecord = {
    ...identity,
    state: 'installed',
    ...(input.newKey ? { publicKeySha256: publicKeyFingerprint(input.newKey.signer.publicKey) } : {}),
  };
  // Order matters for a crash between renames: install.json (which names the profile's hash)
  // only after the files it describes, identity.json last. A new key goes in just before
  // identity.json, which names it; renewal.key stays until the caller removes it, so a crash in
  // between can be repaired by installing the same profile with the same key again.
  // A new key: device.db goes under it first, while renewal.key still holds it, so a crash
  // before device.key is replaced leaves a database that openDeviceDatabase can still open.
  const newKeyObject = input.newKey ? importPrivateKeyPem(input.newKey.pem) : null;
  try {
    if (newKeyObject && rekeyDeviceDatabase(dir, newKeyObject, now) === 'unreadable') {
      appendDeviceAudit(dir, { event: 'database.failed', details: { code: 'device_database_unreadable', during: 'key_rotation' }, at: now });
    }
    replaceKeystoreFiles(dir, [
      { file: 'certificate', data: chainPem },
      { file: 'profile', data: profile.raw },
      { file: 'install', data: serializeRecord(install) },
      ...(input.newKey ? [{ file: 'key' as const, data: input.newKey.pem }] : []),
      { file: 'identity', data: serializeRecord(installed) },
    ]);
  } catch (e) {
    // Back under device.key (openDeviceDatabase re-keys from renewal.key's key), so the next
    // `renew --rekey`, which replaces renewal.key, cannot strand the database.
    if (newKeyObject) {
      try {
        openDeviceDatabase(dir, { create: false, now }).close();
      } catch {
        // reported by the next open; the install error matters more
      }
    }
    appendDeviceAuditQuietly(dir, { event: 'install.rolled_back', details: { code: auditCodeOf(e), serial: install.serial, profileSha256, rekey: newKeyObject !== null }, at: now });
    throw new RolledBack(e);
  }
  appendDeviceAudit(dir, {
    event: 'install.completed',
    details: { requestId: install.requestId, serial: install.serial, notAfter: install.notAfter, profileSha256, replaced: previous !== null, rekey: newKeyObject !== null },
    at: now,
  });
  if (input.newKey) {
    appendDeviceAudit(dir, {
      event: 'key.rotated',
      details: { previousPublicKeySha256: identity.publicKeySha256, publicKeySha256: installed.publicKeySha256, serial: install.serial },
      at: now,
    });
  }
  recordState(dir, installed, install, paths, now);
  return {
    changed: true,
    replaced: previous !== null,
    identity: installed,
    install,
    certificate: profile.certificate,
    profile,
    paths,
  };
}

function isProfileOnDisk(dir: string, expectedSha256: string): boolean {
  if (!fileState(dir, 'profile').present || !fileState(dir, 'certificate').present) return false;
  return sha256(readKeystoreFile(dir, 'profile')) === expectedSha256;
}

/**
 * The installed configuration, in the device database (created here on the first install). A
 * database that does not open is recorded and does not fail the install: the certificate is
 * installed either way, and the application meets the error when it opens the database.
 */
function recordState(
  dir: string,
  identity: IdentityRecord,
  install: InstallRecord,
  paths: InstallProfileResult['paths'],
  now: Date,
): void {
  let db;
  try {
    db = openDeviceDatabase(dir, { now });
  } catch (e) {
    appendDeviceAuditQuietly(dir, { event: 'database.failed', details: { code: auditCodeOf(e), during: 'install' }, at: now });
    return;
  }
  try {
    writeDeviceState(
      db,
      {
        deviceId: identity.deviceId,
        system: identity.system,
        component: identity.component,
        ...(identity.serviceUrl ? { serviceUrl: identity.serviceUrl, serviceOrigin: auditOrigin(identity.serviceUrl) } : {}),
        certificatePath: paths.certificate,
        profilePath: paths.profile,
        rootPath: paths.root,
        keyPath: keystorePath(dir, 'key'),
        requestId: install.requestId,
        serial: install.serial,
        notBefore: install.notBefore,
        notAfter: install.notAfter,
        installedAt: install.installedAt,
      },
      now,
    );
  } finally {
    db.close();
  }
}
