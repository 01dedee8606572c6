/** The service's file writes: atomic (temp file, fsync, rename, fsync dir) with explicit modes. */
import { randomBytes } from 'node:crypto';
import { closeSync, fsyncSync, mkdirSync, openSync, renameSync, rmSync, writeSync } from 'node:fs';
import { dirname, join } from 'node:path';

export const SECRET_MODE = 0o600;

export function ensureDir(path: string): void {
  mkdirSync(path, { recursive: true, mode: 0o700 });
}

/** Writes `data` to `path` so that readers see the old file or the new one, never a part. */
export function writeFileAtomic(path: string, data: string | Uint8Array, mode = SECRET_MODE): void {
  const dir = dirname(path);
  ensureDir(dir);
  const temp = join(dir, `.${randomBytes(6).toString('hex')}.tmp`);
  const fd = openSync(temp, 'wx', mode);
  try {
    const bytes = typeof data === 'string' ? Buffer.from(data, 'utf8') : data;
    let offset = 0;
    while (offset < bytes.length) offset += writeSync(fd, bytes, offset);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  renameSync(temp, path);
  syncDir(dir);
}

/** Removes `path` (if present) so that the removal survives a power loss. */
export function removeFileDurably(path: string): void {
  rmSync(path, { force: true });
  syncDir(dirname(path));
}

function syncDir(dir: string): void {
  const dirFd = openSync(dir, 'r');
  try {
    fsyncSync(dirFd);
  } finally {
    closeSync(dirFd);
  }
}
