/**
 * The token PIN, from a file only its owner can read. A PIN never comes from a flag or an
 * environment variable (both are visible to other processes) and is never logged.
 */
import { readFileSync, statSync } from 'node:fs';
import { ServiceError } from '../../domain/errors.js';

export function readPinFile(path: string): string {
  let mode: number;
  try {
    mode = statSync(path).mode;
  } catch {
    throw new ServiceError('pin_file_invalid', `the PIN file ${path} cannot be read: it does not exist or is not accessible`);
  }
  if ((mode & 0o077) !== 0) {
    throw new ServiceError('pin_file_exposed', `the PIN file ${path} has mode ${(mode & 0o777).toString(8).padStart(4, '0')}: others can read it; run chmod 600 ${path}`);
  }
  const pin = readFileSync(path, 'utf8').replace(/\r?\n$/, '');
  if (pin === '' || pin.length > 256 || /[\r\n]/.test(pin)) {
    throw new ServiceError('pin_file_invalid', `the PIN file ${path} must hold the PIN on one line (1 to 256 characters)`);
  }
  return pin;
}
