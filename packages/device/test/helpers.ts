/** Small helpers shared by the device tests. */
import { createHash } from 'node:crypto';
import { existsSync, lstatSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { isProvisioError } from '@provisio/pki';

/** For assert.rejects / assert.throws: a ProvisioError with this code. */
export const withCode = (code: string) => (e: unknown): boolean => {
  if (isProvisioError(e) && e.code === code) return true;
  throw new Error(`expected error code ${code}; got ${isProvisioError(e) ? `${e.code}: ${e.message}` : String(e)}`);
};

export function mode(path: string): number {
  return lstatSync(path).mode & 0o777;
}

/** The device's security audit log and its head: the one thing a refusal adds to (see `auditEvents`). */
export const AUDIT_FILES: readonly string[] = ['security_audit_log.jsonl', 'security_audit_head.json'];

/**
 * Every file in `dir` with its SHA-256 and mode, but the security audit log: compared before and
 * after a refusal, which must change nothing else.
 */
export function snapshot(dir: string): Record<string, string> {
  if (!existsSync(dir)) return {};
  const out: Record<string, string> = {};
  for (const name of readdirSync(dir).sort()) {
    if (AUDIT_FILES.includes(name)) continue;
    const path = join(dir, name);
    out[name] = `${mode(path).toString(8)} ${createHash('sha256').update(readFileSync(path)).digest('hex')}`;
  }
  return out;
}

/** The base64 body of a PEM block, without armour or line breaks: how a key would leak. */
export function pemBody(pem: string): string {
  return pem.replace(/-----[A-Z ]+-----/g, '').replace(/\s+/g, '');
}

/** The entries of the keystore's security audit log, as `event code?` strings, in order. */
export function auditEvents(dir: string): string[] {
  const path = join(dir, 'security_audit_log.jsonl');
  if (!existsSync(path)) return [];
  return readFileSync(path, 'utf8')
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => JSON.parse(l) as { event: string; details: { code?: string } })
    .map((e) => (e.details.code ? `${e.event} ${e.details.code}` : e.event));
}
