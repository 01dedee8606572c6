/**
 * The checkpoint file (docs/audit.md "The checkpoint file"): every signed checkpoint is also
 * appended, one JSON line each, to a file outside the database. Deleting or replacing checkpoint
 * rows does not touch it, so a verifier holding the file can still prove how far the chain went.
 */
import { closeSync, constants, existsSync, fchmodSync, fsyncSync, openSync, readFileSync, writeSync } from 'node:fs';
import { dirname } from 'node:path';
import type { AuditCheckpoint } from '../domain/model.js';
import { ensureDir } from '../files.js';
import { CHECKPOINT_STATEMENT_TYPE } from './checkpoint.js';

/** The file's name in the data directory unless `provisio serve --audit-checkpoints FILE` says otherwise. */
export const CHECKPOINT_FILE_NAME = 'audit-checkpoints.jsonl';

/** A line that is not a checkpoint: the file was damaged or written by something else. */
export class CheckpointFileInvalid extends Error {
  constructor(readonly line: number, reason: string) {
    super(`line ${line} of the checkpoint file is not a checkpoint: ${reason}`);
  }
}

/** One checkpoint as one line: the signed statement's fields, the signature and the signer's certificate (base64 DER). */
export function checkpointLine(cp: AuditCheckpoint): string {
  return `${JSON.stringify({
    type: CHECKPOINT_STATEMENT_TYPE,
    seq: cp.seq,
    hash: cp.hash,
    at: cp.at.toISOString(),
    signature: cp.signature.toString('base64'),
    signerCertificate: cp.signerCertificate.toString('base64'),
  })}\n`;
}

const BASE64 = /^[A-Za-z0-9+/]+={0,2}$/;

/** Every checkpoint in the text, in file order. Throws CheckpointFileInvalid at the first line that is not one. */
export function parseCheckpointLines(text: string): AuditCheckpoint[] {
  const out: AuditCheckpoint[] = [];
  const lines = text.split('\n');
  // The file ends with a newline; anything after the last one is a line cut short.
  if (lines.at(-1) !== '') throw new CheckpointFileInvalid(lines.length, 'the last line does not end with a newline (cut short)');
  lines.pop();
  lines.forEach((line, i) => {
    let value: unknown;
    try {
      value = JSON.parse(line);
    } catch {
      throw new CheckpointFileInvalid(i + 1, 'not JSON');
    }
    if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new CheckpointFileInvalid(i + 1, 'not a JSON object');
    const v = value as Record<string, unknown>;
    if (v.type !== CHECKPOINT_STATEMENT_TYPE) throw new CheckpointFileInvalid(i + 1, `type is not ${CHECKPOINT_STATEMENT_TYPE}`);
    if (!Number.isSafeInteger(v.seq) || (v.seq as number) < 1) throw new CheckpointFileInvalid(i + 1, 'seq is not a positive integer');
    if (typeof v.hash !== 'string' || !/^[0-9a-f]{64}$/.test(v.hash)) throw new CheckpointFileInvalid(i + 1, 'hash is not 64 lowercase hex digits');
    const at = typeof v.at === 'string' ? new Date(v.at) : new Date(Number.NaN);
    if (Number.isNaN(at.getTime()) || at.toISOString() !== v.at) throw new CheckpointFileInvalid(i + 1, 'at is not an ISO 8601 UTC time');
    for (const field of ['signature', 'signerCertificate'] as const) {
      if (typeof v[field] !== 'string' || !BASE64.test(v[field])) throw new CheckpointFileInvalid(i + 1, `${field} is not base64`);
    }
    out.push({
      seq: v.seq as number,
      hash: v.hash,
      at,
      signature: Buffer.from(v.signature as string, 'base64'),
      signerCertificate: Buffer.from(v.signerCertificate as string, 'base64'),
    });
  });
  return out;
}

/** The service's checkpoint file: appended to, never rewritten. */
export class CheckpointFile {
  constructor(readonly path: string) {}

  /**
   * Appends one line with O_APPEND (one write, so lines never interleave) and fsyncs it before
   * returning; a new file is made 0600 and its directory entry fsynced too.
   */
  append(checkpoint: AuditCheckpoint): void {
    const created = !existsSync(this.path);
    if (created) ensureDir(dirname(this.path));
    const fd = openSync(this.path, constants.O_WRONLY | constants.O_APPEND | constants.O_CREAT, 0o600);
    try {
      // Who did what, and when, is for the people allowed to read the log; an existing file keeps 0600 too.
      fchmodSync(fd, 0o600);
      const bytes = Buffer.from(checkpointLine(checkpoint), 'utf8');
      let offset = 0;
      while (offset < bytes.length) offset += writeSync(fd, bytes, offset);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    if (created) {
      const dirFd = openSync(dirname(this.path), 'r');
      try {
        fsyncSync(dirFd);
      } finally {
        closeSync(dirFd);
      }
    }
  }

  /** The file's bytes as they are ('' when there is none yet). */
  readText(): string {
    return existsSync(this.path) ? readFileSync(this.path, 'utf8') : '';
  }

  read(): AuditCheckpoint[] {
    return parseCheckpointLines(this.readText());
  }
}
