/**
 * Certificate serial numbers. RFC 5280 §4.1.2.2: positive, at most 20 octets, unique per issuer.
 * CA/B BR §7.1: at least 64 bits from a CSPRNG; we use 128.
 */
import { PkiError } from './errors.js';
import type { Random } from './ports.js';

/** Canonical spelling: lowercase hex of the unsigned magnitude, two digits per octet, no sign pad. */
export type SerialNumber = string & { readonly __brand: 'SerialNumber' };

export const SERIAL_RANDOM_BYTES = 16;

export function randomSerial(random: Random): SerialNumber {
  for (;;) {
    const bytes = Buffer.from(random.bytes(SERIAL_RANDOM_BYTES));
    const serial = serialFromBytes(bytes);
    // All-zero (probability 2^-128) would be an invalid serial; draw again.
    if (serial !== '') return serial;
  }
}

/** Canonical serial from an INTEGER magnitude; strips leading zero octets. */
export function serialFromBytes(bytes: Uint8Array): SerialNumber {
  let start = 0;
  while (start < bytes.length && bytes[start] === 0) start++;
  return Buffer.from(bytes.subarray(start)).toString('hex') as SerialNumber;
}

/** Accepts any common spelling (colons, upper case, odd length, 0x) and returns the canonical one. */
export function parseSerial(text: string): SerialNumber {
  let hex = text.trim().toLowerCase().replace(/^0x/, '').replace(/:/g, '');
  if (!/^[0-9a-f]+$/.test(hex)) {
    throw new PkiError('identity_invalid', `serial "${text.slice(0, 64)}" is not hexadecimal`);
  }
  if (hex.length % 2 === 1) hex = `0${hex}`;
  const serial = serialFromBytes(Buffer.from(hex, 'hex'));
  if (serial === '' || serial.length > 40) {
    throw new PkiError('identity_invalid', `serial "${text.slice(0, 64)}" must be 1 to 20 non-zero octets`);
  }
  return serial;
}

export function serialToBytes(serial: SerialNumber): Buffer {
  return Buffer.from(serial, 'hex');
}
