/**
 * File I/O for the CLI: atomic, never-overwriting writes with explicit modes (security.md I7:
 * key files whole and 0600), and bounded reads that map OS errors to catalog codes.
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
  renameSync,
  statSync,
  unlinkSync,
  writeSync,
} from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { PkiError } from '@provisio/pki';
import { CliError } from './errors.js';

/** Secrets: owner read/write only. */
export const SECRET_MODE = 0o600;
/** Certificates and CSRs are public. */
export const PUBLIC_MODE = 0o644;

/**
 * 16 MiB: larger than any certificate, CSR or OCSP response and than a CRL with ~300,000 entries;
 * the parsers apply their own, tighter limits after this.
 */
export const MAX_INPUT_BYTES = 16 * 1024 * 1024;

function errnoCode(e: unknown): string | undefined {
  return typeof e === 'object' && e !== null && 'code' in e ? String((e as { code: unknown }).code) : undefined;
}

function mapOsError(e: unknown, path: string, verb: 'read' | 'write'): Error {
  switch (errnoCode(e)) {
    case 'ENOENT':
      return new CliError(
        'file_not_found',
        verb === 'read' ? `${path} does not exist` : `the directory for ${path} does not exist`,
      );
    case 'ENOTDIR':
      return new CliError('file_not_found', `a parent of ${path} is not a directory`);
    case 'EISDIR':
      return new CliError('file_not_found', `${path} is a directory; expected a file`);
    case 'EACCES':
    case 'EPERM':
      return new CliError('file_access_denied', `permission denied: cannot ${verb} ${path}`);
    case 'EEXIST':
      return fileExists(path);
    default:
      return e instanceof Error ? e : new Error(String(e));
  }
}

function fileExists(path: string): CliError {
  return new CliError(
    'file_exists',
    `${path} already exists; provisio never overwrites files`,
    'move the existing file away or choose another --out',
  );
}

/** Reads a whole file, refusing anything larger than `maxBytes` before reading it. */
export function readInputFile(path: string, maxBytes = MAX_INPUT_BYTES): Buffer {
  try {
    const st = statSync(path);
    if (st.isDirectory()) throw new CliError('file_not_found', `${path} is a directory; expected a file`);
    if (st.size > maxBytes) {
      throw new PkiError('input_too_large', `${path} is ${st.size} bytes; at most ${maxBytes} are read`);
    }
    return readFileSync(path);
  } catch (e) {
    if (e instanceof CliError || e instanceof PkiError) throw e;
    throw mapOsError(e, path, 'read');
  }
}

/** Refuses early (before any work or prompt) when an output path is taken. */
export function assertAbsent(path: string): void {
  try {
    lstatSync(path);
  } catch (e) {
    if (errnoCode(e) === 'ENOENT') return;
    throw mapOsError(e, path, 'write');
  }
  throw fileExists(path);
}

/** Refuses early when `path` exists or its directory does not: checked before any prompt. */
export function assertCanCreate(path: string): void {
  assertAbsent(path);
  const dir = dirname(path);
  try {
    if (!statSync(dir).isDirectory()) throw new CliError('file_not_found', `${dir} is not a directory`);
  } catch (e) {
    if (e instanceof CliError) throw e;
    throw mapOsError(e, path, 'write');
  }
}

/** Creates `dir` (and parents) when missing; new directories are private (0700). */
export function ensureDirectory(dir: string): void {
  try {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
  } catch (e) {
    if (errnoCode(e) === 'EEXIST') throw new CliError('file_exists', `${dir} exists and is not a directory`);
    throw mapOsError(e, dir, 'write');
  }
}

function fsyncDirectory(dir: string): void {
  let fd: number | undefined;
  try {
    fd = openSync(dir, 'r');
    fsyncSync(fd);
  } catch {
    // Some filesystems (and Windows) cannot fsync a directory; the file itself is already synced.
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}

/**
 * Writes `data` to `path` atomically and never over an existing file: the bytes go to a temp file
 * in the same directory (same filesystem, so the final step is atomic), created O_EXCL with
 * `mode`, fsynced, then hard-linked to `path`. link(2) fails with EEXIST instead of replacing, so
 * a file that appeared meanwhile is never clobbered (rename(2) would replace it silently). On
 * filesystems without hard links (FAT/exFAT USB sticks) we fall back to an existence check and
 * rename, which is still atomic for readers.
 */
export function writeFileAtomic(path: string, data: string | Uint8Array, mode: number): void {
  writeThroughTemp(path, data, mode, (tmp) => {
    try {
      linkSync(tmp, path);
      unlinkSync(tmp);
    } catch (e) {
      const code = errnoCode(e);
      if (code !== 'EPERM' && code !== 'ENOTSUP' && code !== 'EOPNOTSUPP' && code !== 'ENOSYS') throw e;
      assertAbsent(path);
      renameSync(tmp, path);
    }
  });
}

/**
 * Replaces `path` (or creates it) atomically: a temp file in the same directory, fsynced, then
 * renamed over it. Only for state that provisio itself keeps and must update (the root's CRL
 * counter); outputs a person names are never replaced (writeFileAtomic).
 */
export function replaceFileAtomic(path: string, data: string | Uint8Array, mode: number): void {
  writeThroughTemp(path, data, mode, (tmp) => renameSync(tmp, path));
}

/** A temp file beside `path`, created O_EXCL with `mode`, written and fsynced; `place` puts it at `path`. */
function writeThroughTemp(path: string, data: string | Uint8Array, mode: number, place: (tmp: string) => void): void {
  const dir = dirname(path);
  const tmp = join(dir, `.${basename(path)}.${randomBytes(6).toString('hex')}.tmp`);
  let fd: number | undefined;
  try {
    fd = openSync(tmp, 'wx', mode);
    // open(2) applies the umask; fchmod makes a secret's mode exactly what we promise to print.
    if (mode === SECRET_MODE) fchmodSync(fd, mode);
    const bytes = typeof data === 'string' ? Buffer.from(data, 'utf8') : data;
    let offset = 0;
    while (offset < bytes.length) offset += writeSync(fd, bytes, offset, bytes.length - offset);
    fsyncSync(fd);
    closeSync(fd);
    fd = undefined;
    place(tmp);
    fsyncDirectory(dir);
  } catch (e) {
    if (fd !== undefined) closeSync(fd);
    try {
      unlinkSync(tmp);
    } catch {
      // placed and removed already, or never created
    }
    if (e instanceof CliError) throw e;
    throw mapOsError(e, path, 'write');
  }
}

export interface PlannedFile {
  readonly path: string;
  readonly data: string | Uint8Array;
  readonly mode: number;
}

/**
 * Writes several files as one step: either all exist afterwards or none of those written here
 * does (a root certificate without its key, or the reverse, is useless and confusing).
 */
export function writeFilesAtomic(files: readonly PlannedFile[]): void {
  for (const f of files) assertAbsent(f.path);
  const written: string[] = [];
  try {
    for (const f of files) {
      writeFileAtomic(f.path, f.data, f.mode);
      written.push(f.path);
    }
  } catch (e) {
    removeFiles(written);
    throw e;
  }
}

/** Best-effort removal of files this command wrote; the original failure is what gets reported. */
export function removeFiles(paths: readonly string[]): void {
  for (const path of paths) {
    try {
      unlinkSync(path);
    } catch {
      // already gone
    }
  }
}

/** "0600" */
export function formatMode(mode: number): string {
  return `0${(mode & 0o777).toString(8)}`;
}
