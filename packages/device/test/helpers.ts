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

/** Every file in `dir` with its SHA-256 and mode: compared before and after a refusal. */
export function snapshot(dir: string): Record<string, string> {
  if (!existsSync(dir)) return {};
  const out: Record<string, string> = {};
  for (const name of readdirSync(dir).sort()) {
    const path = join(dir, name);
    out[name] = `${mode(path).toString(8)} ${createHash('sha256').update(readFileSync(path)).digest('hex')}`;
  }
  return out;
}

/** The base64 body of a PEM block, without armour or line breaks: how a key would leak. */
export function pemBody(pem: string): string {
  return pem.replace(/-----[A-Z ]+-----/g, '').replace(/\s+/g, '');
}
