/**
 * The device keystore: one directory (mode 0700) holding everything a provisioned device keeps.
 * This is the only module of the device SDK that touches the file system (docs/device.md):
 *
 *   device.key       PKCS#8 PEM, the device's private key; generated here, never leaves     0600
 *   identity.json    who this device is and where its provisioning stands                    0600
 *   root.crt         the provisioning package's root of trust, copied at init; the ONLY
 *                    anchor a certified profile is verified against                          0600
 *   request.ppr      the provisioning request made at init                                   0600
 *   submission.json  connected delivery: the service's id for the submitted request          0600
 *   certificate.pem  after install: device certificate + issuing CA                          0600
 *   profile.pcp      after install: the certified profile exactly as received                0600
 *   install.json     after install: requestId, serial, validity, profile SHA-256             0600
 *   security_audit_log.jsonl  the device's own hash-chained security log (device-audit-log.ts)  0600
 *   security_audit_head.json  the last entry's seq and hash, to notice a cut log                 0600
 *   device.db        SQLCipher database, key derived from device.key (device-database.ts)    0600
 *   config.json      after a pairing or token enrollment: serverUrl and the paths of the
 *                    certificate, key and trust anchors, replaced as one file (atomically)   0600
 *
 * Every file is written atomically (temp file in the same directory, fsync, link or rename, fsync
 * the directory), so a crash leaves either the old file or the new one, never half of one; the
 * one exception is the security audit log, which is only ever appended to (appendKeystoreFile).
 */
import { randomBytes } from 'node:crypto';
import {
  closeSync,
  fchmodSync,
  fsyncSync,
  linkSync,
  lstatSync,
  mkdirSync,
  openSync,
  readFileSync,
  readdirSync,
  readSync,
  renameSync,
  unlinkSync,
  writeSync,
} from 'node:fs';
import { join } from 'node:path';
import { DeviceError } from './errors.js';

export const KEYSTORE_FILES = {
  key: 'device.key',
  identity: 'identity.json',
  root: 'root.crt',
  request: 'request.ppr',
  submission: 'submission.json',
  certificate: 'certificate.pem',
  profile: 'profile.pcp',
  install: 'install.json',
  /** A new key made by `renew --rekey`, until the profile certifying it is installed (docs/lifecycle.md). */
  renewalKey: 'renewal.key',
  /** Appended to, never rewritten (device-audit-log.ts); kept across `init --reset`. */
  auditLog: 'security_audit_log.jsonl',
  auditHead: 'security_audit_head.json',
  /** Opened by SQLite, never through this module's readers (device-database.ts). */
  database: 'device.db',
  /** The device's configuration after a pairing or token enrollment (enroll-with-secret.ts). */
  config: 'config.json',
} as const;

export type KeystoreFile = keyof typeof KEYSTORE_FILES;

/** Every keystore file: owner read/write only. The certificate is public, but the keystore is not. */
export const FILE_MODE = 0o600;
/** The keystore directory: owner only. */
export const DIR_MODE = 0o700;

/**
 * Size limits applied before reading (a keystore on a shared medium could be tampered with):
 * far above any legitimate file, far below what would hurt a small device.
 */
const MAX_BYTES: Readonly<Record<KeystoreFile, number>> = {
  key: 16 * 1024,
  identity: 64 * 1024,
  root: 64 * 1024,
  request: 256 * 1024,
  submission: 64 * 1024,
  certificate: 256 * 1024,
  profile: 1024 * 1024,
  install: 64 * 1024,
  renewalKey: 16 * 1024,
  // A check-in a minute for years is a few hundred MiB; verification reads it whole.
  auditLog: 256 * 1024 * 1024,
  auditHead: 4 * 1024,
  database: 1024 * 1024 * 1024,
  config: 64 * 1024,
};

/** POSIX modes mean nothing on Windows; everywhere else they are checked. */
const CHECK_MODES = process.platform !== 'win32';

export function keystorePath(dir: string, file: KeystoreFile): string {
  return join(dir, KEYSTORE_FILES[file]);
}

function errnoCode(e: unknown): string | undefined {
  return typeof e === 'object' && e !== null && 'code' in e ? String((e as { code: unknown }).code) : undefined;
}

function mapOsError(e: unknown, path: string, verb: 'read' | 'write'): Error {
  const code = errnoCode(e);
  if (code === 'EACCES' || code === 'EPERM') {
    return new DeviceError('keystore_access_denied', `permission denied: cannot ${verb} ${path}`);
  }
  return e instanceof Error ? e : new Error(String(e));
}

export interface FileState {
  readonly name: string;
  readonly path: string;
  readonly present: boolean;
  /** Permission bits, e.g. 0o600; null when absent. */
  readonly mode: number | null;
}

/** Presence and mode of one keystore file (never follows a symlink: lstat). */
export function fileState(dir: string, file: KeystoreFile): FileState {
  const path = keystorePath(dir, file);
  try {
    const st = lstatSync(path);
    return { name: KEYSTORE_FILES[file], path, present: true, mode: st.mode & 0o777 };
  } catch (e) {
    if (errnoCode(e) === 'ENOENT') return { name: KEYSTORE_FILES[file], path, present: false, mode: null };
    throw mapOsError(e, path, 'read');
  }
}

/** The directory's permission bits, or null when it does not exist. */
export function directoryMode(dir: string): number | null {
  try {
    const st = lstatSync(dir);
    if (!st.isDirectory()) {
      throw new DeviceError('keystore_damaged', `${dir} is not a directory`, 'choose a directory for --dir');
    }
    return st.mode & 0o777;
  } catch (e) {
    if (e instanceof DeviceError) throw e;
    if (errnoCode(e) === 'ENOENT') return null;
    throw mapOsError(e, dir, 'read');
  }
}

function formatMode(mode: number): string {
  return `0${mode.toString(8).padStart(3, '0')}`;
}

function assertPrivateDirectory(dir: string, mode: number): void {
  if (CHECK_MODES && (mode & 0o077) !== 0) {
    throw new DeviceError(
      'keystore_insecure',
      `${dir} has mode ${formatMode(mode)}; a keystore directory must be private (0700)`,
      `run "chmod 700 ${dir}" or choose another --dir`,
    );
  }
}

/** Refuses, before any work, a keystore directory that exists and is not private. */
export function checkKeystoreDirectory(dir: string): void {
  const mode = directoryMode(dir);
  if (mode !== null) assertPrivateDirectory(dir, mode);
}

/** Creates the keystore directory 0700 when missing; an existing one must already be private. */
export function ensureKeystoreDirectory(dir: string): void {
  const mode = directoryMode(dir);
  if (mode !== null) {
    assertPrivateDirectory(dir, mode);
    return;
  }
  try {
    // Parents are created as needed; only the keystore itself is promised 0700.
    mkdirSync(dir, { recursive: true, mode: DIR_MODE });
  } catch (e) {
    throw mapOsError(e, dir, 'write');
  }
  const created = directoryMode(dir);
  // mkdir applies the umask, which can only narrow 0700; checked anyway.
  if (created !== null) assertPrivateDirectory(dir, created);
}

/**
 * Reads a keystore file, refusing one larger than its limit and a symlink (a link planted in the
 * keystore could point the device at another file). A missing file is `keystore_damaged`: callers
 * check identity.json first to tell "not initialized" from "damaged".
 */
export function readKeystoreFile(dir: string, file: KeystoreFile): Buffer {
  const path = keystorePath(dir, file);
  try {
    const st = lstatSync(path);
    if (!st.isFile()) {
      throw new DeviceError('keystore_damaged', `${path} is not a regular file`, 'restore the keystore from a backup or reset it');
    }
    if (st.size > MAX_BYTES[file]) {
      throw new DeviceError('keystore_damaged', `${path} is ${st.size} bytes; at most ${MAX_BYTES[file]} are expected`);
    }
    return readFileSync(path);
  } catch (e) {
    if (e instanceof DeviceError) throw e;
    if (errnoCode(e) === 'ENOENT') {
      throw new DeviceError('keystore_damaged', `${path} is missing`, 'restore the keystore from a backup or reset it');
    }
    throw mapOsError(e, path, 'read');
  }
}

/** The private key file: refused when others can read it (as ssh refuses an unprotected key). */
export function readPrivateKeyFile(dir: string): Buffer {
  const state = fileState(dir, 'key');
  if (state.present && state.mode !== null && CHECK_MODES && (state.mode & 0o077) !== 0) {
    throw new DeviceError(
      'keystore_insecure',
      `${state.path} has mode ${formatMode(state.mode)}; the device key must be readable by its owner only (0600)`,
      `run "chmod 600 ${state.path}"; if others may have copied it, reset the device and revoke its certificate`,
    );
  }
  return readKeystoreFile(dir, 'key');
}

function fsyncDirectory(dir: string): void {
  let fd: number | undefined;
  try {
    fd = openSync(dir, 'r');
    fsyncSync(fd);
  } catch {
    // Some filesystems cannot fsync a directory; each file itself is already synced.
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}

function tempPathFor(dir: string, file: KeystoreFile): string {
  return join(dir, `.${KEYSTORE_FILES[file]}.${randomBytes(6).toString('hex')}.tmp`);
}

/** Writes `data` to a new temp file beside its target, mode 0600, synced to disk. */
function writeTemp(dir: string, file: KeystoreFile, data: string | Uint8Array): string {
  const path = keystorePath(dir, file);
  const tmp = tempPathFor(dir, file);
  let fd: number | undefined;
  try {
    fd = openSync(tmp, 'wx', FILE_MODE);
    // open(2) applies the umask; fchmod makes the mode exactly the one we promise.
    fchmodSync(fd, FILE_MODE);
    const bytes = typeof data === 'string' ? Buffer.from(data, 'utf8') : data;
    let offset = 0;
    while (offset < bytes.length) offset += writeSync(fd, bytes, offset, bytes.length - offset);
    fsyncSync(fd);
    closeSync(fd);
    fd = undefined;
    return tmp;
  } catch (e) {
    if (fd !== undefined) closeSync(fd);
    removeQuietly(tmp);
    throw mapOsError(e, path, 'write');
  }
}

function removeQuietly(path: string): void {
  try {
    unlinkSync(path);
  } catch {
    // already gone
  }
}

export interface KeystoreWrite {
  readonly file: KeystoreFile;
  readonly data: string | Uint8Array;
}

/**
 * Creates new keystore files, never replacing one: each goes to a temp file, then link(2) puts it
 * in place, which fails with EEXIST instead of replacing (rename would clobber silently). Either
 * all are created or none of those created here remains. On filesystems without hard links the
 * fallback is an existence check and rename.
 */
export function createKeystoreFiles(dir: string, files: readonly KeystoreWrite[]): void {
  const created: string[] = [];
  try {
    for (const f of files) {
      const path = keystorePath(dir, f.file);
      const tmp = writeTemp(dir, f.file, f.data);
      try {
        linkSync(tmp, path);
        unlinkSync(tmp);
      } catch (e) {
        const code = errnoCode(e);
        if (code === 'EPERM' || code === 'ENOTSUP' || code === 'EOPNOTSUPP' || code === 'ENOSYS') {
          if (fileState(dir, f.file).present) {
            removeQuietly(tmp);
            throw existing(path);
          }
          renameSync(tmp, path);
        } else {
          removeQuietly(tmp);
          throw code === 'EEXIST' ? existing(path) : mapOsError(e, path, 'write');
        }
      }
      created.push(path);
    }
    fsyncDirectory(dir);
  } catch (e) {
    for (const path of created) removeQuietly(path);
    throw e;
  }
}

function existing(path: string): DeviceError {
  return new DeviceError(
    'keystore_exists',
    `${path} already exists; a device identity is never replaced by accident`,
    'use another --dir, or reset this device explicitly (its key is destroyed and its certificate must be revoked)',
  );
}

/**
 * Replaces (or creates) several keystore files as one step as far as a file system allows: every
 * new file is written and synced to a temp file first, and only when all are on disk are they
 * renamed into place, in the order given. A failure before the renames changes nothing; a crash
 * during them leaves files that disagree, which `install.json`'s profile hash exposes and which
 * re-running the same install repairs.
 */
export function replaceKeystoreFiles(dir: string, files: readonly KeystoreWrite[]): void {
  const staged: Array<{ tmp: string; path: string }> = [];
  try {
    for (const f of files) staged.push({ tmp: writeTemp(dir, f.file, f.data), path: keystorePath(dir, f.file) });
  } catch (e) {
    for (const s of staged) removeQuietly(s.tmp);
    throw e;
  }
  for (const [i, s] of staged.entries()) {
    try {
      renameSync(s.tmp, s.path);
    } catch (e) {
      for (const rest of staged.slice(i)) removeQuietly(rest.tmp);
      throw mapOsError(e, s.path, 'write');
    }
  }
  fsyncDirectory(dir);
}

/** Removes keystore files (an explicit reset). Identity first, so a crash leaves "not initialized". */
export function removeKeystoreFiles(dir: string, files: readonly KeystoreFile[]): void {
  for (const file of files) {
    const path = keystorePath(dir, file);
    try {
      unlinkSync(path);
    } catch (e) {
      if (errnoCode(e) !== 'ENOENT') throw mapOsError(e, path, 'write');
    }
  }
  fsyncDirectory(dir);
}

/** Temp files left by a crash mid-write (names are ours: `.NAME.HEX.tmp`). */
export function strayTempFiles(dir: string): string[] {
  try {
    return readdirSync(dir).filter((n) => /^\.[a-z._]+\.[0-9a-f]{12}\.tmp$/.test(n));
  } catch {
    return [];
  }
}

/** Removes the temp files a crash left behind (one may hold a copy of a key). */
export function removeStrayTempFiles(dir: string): void {
  for (const name of strayTempFiles(dir)) removeQuietly(join(dir, name));
}

/**
 * Appends `data` to a keystore file (created 0600 when missing) with O_APPEND, in one write
 * call, then fsyncs it: a record either lands whole at the end or, after a power cut, as a torn
 * last line that the reader sees as such. Nothing before the end is ever rewritten.
 */
export function appendKeystoreFile(dir: string, file: KeystoreFile, data: string): void {
  const path = keystorePath(dir, file);
  const existed = fileState(dir, file).present;
  let fd: number | undefined;
  try {
    // 'a' = O_WRONLY | O_CREAT | O_APPEND; a symlink planted in its place is refused by lstat first.
    if (existed && !lstatSync(path).isFile()) {
      throw new DeviceError('keystore_damaged', `${path} is not a regular file`, 'restore the keystore from a backup or reset it');
    }
    fd = openSync(path, 'a', FILE_MODE);
    if (!existed) fchmodSync(fd, FILE_MODE);
    const bytes = Buffer.from(data, 'utf8');
    let offset = 0;
    while (offset < bytes.length) offset += writeSync(fd, bytes, offset, bytes.length - offset);
    fsyncSync(fd);
  } catch (e) {
    if (e instanceof DeviceError) throw e;
    throw mapOsError(e, path, 'write');
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
  if (!existed) fsyncDirectory(dir);
}

/** The last `maxBytes` bytes of a keystore file (all of it when shorter); empty when absent. */
export function readKeystoreTail(dir: string, file: KeystoreFile, maxBytes: number): Buffer {
  const state = fileState(dir, file);
  if (!state.present) return Buffer.alloc(0);
  let fd: number | undefined;
  try {
    const st = lstatSync(state.path);
    if (!st.isFile()) {
      throw new DeviceError('keystore_damaged', `${state.path} is not a regular file`, 'restore the keystore from a backup or reset it');
    }
    const length = Math.min(st.size, maxBytes);
    const buffer = Buffer.alloc(length);
    fd = openSync(state.path, 'r');
    let read = 0;
    while (read < length) {
      const n = readSync(fd, buffer, read, length - read, st.size - length + read);
      if (n === 0) break;
      read += n;
    }
    return buffer.subarray(0, read);
  } catch (e) {
    if (e instanceof DeviceError) throw e;
    throw mapOsError(e, state.path, 'read');
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}

/**
 * Creates an empty keystore file, 0600, when it does not exist yet: SQLite would create a new
 * database with the umask's mode (often 0644), so the file is made first and SQLite opens it.
 */
export function ensureKeystoreFile(dir: string, file: KeystoreFile): void {
  const path = keystorePath(dir, file);
  if (fileState(dir, file).present) return;
  let fd: number | undefined;
  try {
    fd = openSync(path, 'wx', FILE_MODE);
    fchmodSync(fd, FILE_MODE);
    fsyncSync(fd);
  } catch (e) {
    if (errnoCode(e) !== 'EEXIST') throw mapOsError(e, path, 'write');
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
  fsyncDirectory(dir);
}
