/**
 * `showDevice`: what the keystore says about this device, for a person or a script. It reads
 * identity.json and install.json and the files' modes; it never reads out the private key, and it
 * lists problems (a key readable by others, a profile that does not match its install record,
 * temp files a crash left behind) instead of failing on them.
 */
import { createHash } from 'node:crypto';
import type { Clock, KeyType } from '@provisio/pki';
import {
  DIR_MODE,
  directoryMode,
  FILE_MODE,
  type FileState,
  fileState,
  KEYSTORE_FILES,
  type KeystoreFile,
  readKeystoreFile,
  strayTempFiles,
} from './keystore.js';
import { loadIdentity } from './load-device.js';
import { type DeviceState, type InstallRecord, parseInstallRecord } from './records.js';

export type Validity = 'valid' | 'expired' | 'not_yet_valid';

export interface KeystoreFileReport extends FileState {
  /** The mode this file should have (0600 for all). */
  readonly expectedMode: number;
}

export interface DeviceReport {
  readonly dir: string;
  readonly dirMode: number | null;
  readonly state: DeviceState;
  readonly deviceId: string;
  readonly deviceLabel: string;
  readonly system: string;
  readonly component: string;
  readonly packageId: string;
  readonly hardwareSerial: string | null;
  readonly firmwareVersion: string | null;
  readonly keyType: KeyType;
  readonly publicKeySha256: string;
  readonly rootSha256: string;
  readonly createdAt: string;
  readonly mock: boolean;
  readonly request: { readonly expiresAt: string; readonly expired: boolean };
  /** The installed certificate, or null before install. */
  readonly certificate: (InstallRecord & { readonly validity: Validity }) | null;
  readonly files: readonly KeystoreFileReport[];
  /** Things a person should fix; empty when the keystore is healthy. */
  readonly problems: readonly string[];
}

function validity(notBefore: string, notAfter: string, now: Date): Validity {
  if (now.getTime() < Date.parse(notBefore)) return 'not_yet_valid';
  if (now.getTime() > Date.parse(notAfter)) return 'expired';
  return 'valid';
}

function octal(mode: number): string {
  return `0${mode.toString(8).padStart(3, '0')}`;
}

export function showDevice(deps: { readonly clock: Clock }, input: { readonly dir: string }): DeviceReport {
  const { dir } = input;
  const now = deps.clock.now();
  const identity = loadIdentity(dir);
  const problems: string[] = [];

  const files = (Object.keys(KEYSTORE_FILES) as KeystoreFile[]).map((f) => ({ ...fileState(dir, f), expectedMode: FILE_MODE }));
  const dirMode = directoryMode(dir);
  if (dirMode !== null && (dirMode & 0o077) !== 0) {
    problems.push(`${dir} has mode ${octal(dirMode)}; it should be ${octal(DIR_MODE)}`);
  }
  for (const f of files) {
    if (f.present && f.mode !== null && (f.mode & 0o077) !== 0) {
      problems.push(`${f.path} has mode ${octal(f.mode)}; it should be ${octal(f.expectedMode)}`);
    }
  }
  const present = (f: KeystoreFile) => files.find((x) => x.name === KEYSTORE_FILES[f])?.present === true;
  for (const f of ['key', 'root', 'request'] as const) {
    if (!present(f)) problems.push(`${KEYSTORE_FILES[f]} is missing`);
  }

  let install: InstallRecord | null = null;
  if (present('install')) {
    install = parseInstallRecord(readKeystoreFile(dir, 'install').toString('utf8'));
    if (!present('profile') || !present('certificate')) {
      problems.push('install.json exists but profile.pcp or certificate.pem is missing; install the profile again');
    } else {
      const sha = createHash('sha256').update(readKeystoreFile(dir, 'profile')).digest('hex');
      if (sha !== install.profileSha256) {
        problems.push('profile.pcp does not match install.json (an install was interrupted?); install the profile again');
      }
    }
  }
  if (identity.state === 'installed' && install === null) {
    problems.push('identity.json says installed but install.json is missing; install the profile again');
  }
  const stray = strayTempFiles(dir);
  if (stray.length > 0) problems.push(`temp files left by an interrupted write: ${stray.join(', ')}`);

  return {
    dir,
    dirMode,
    state: identity.state,
    deviceId: identity.deviceId,
    deviceLabel: identity.deviceLabel,
    system: identity.system,
    component: identity.component,
    packageId: identity.packageId,
    hardwareSerial: identity.hardwareSerial,
    firmwareVersion: identity.firmwareVersion,
    keyType: identity.keyType,
    publicKeySha256: identity.publicKeySha256,
    rootSha256: identity.rootSha256,
    createdAt: identity.createdAt,
    mock: identity.mock,
    request: { expiresAt: identity.requestExpiresAt, expired: now.getTime() > Date.parse(identity.requestExpiresAt) },
    certificate: install ? { ...install, validity: validity(install.notBefore, install.notAfter, now) } : null,
    files,
    problems,
  };
}
