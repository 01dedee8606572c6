/**
 * `--qr FILE.png` and `--qr-terminal` of `pairing create` and `token create`: the setup payload
 * the service answered (docs/formats.md "Setup payload") as a QR code. It holds the code or
 * token, so the PNG is written 0600 (never over an existing file) and both say it is a secret.
 */
import QRCode from 'qrcode';
import { type ParsedArgs, optionalString } from './args.js';
import { usageError } from './errors.js';
import { SECRET_MODE, assertAbsent, writeFileAtomic } from './files.js';
import type { CliDeps } from './io.js';

export const QR_OPTIONS = { 'qr': { type: 'string' }, 'qr-terminal': { type: 'boolean' } } as const;

/** Checks the flags before anything is created on the service; returns the PNG path, if any. */
export function qrTarget(args: ParsedArgs, command: string): string | undefined {
  const file = optionalString(args, 'qr');
  if (file !== undefined) {
    if (!file.toLowerCase().endsWith('.png')) throw usageError(`--qr writes a PNG file: give a name ending in .png; got "${file}"`, `provisio ${command} ... --qr setup.png`);
    assertAbsent(file);
  }
  return file;
}

export async function renderSetupQr(deps: CliDeps, args: ParsedArgs, setup: string): Promise<void> {
  const file = optionalString(args, 'qr');
  if (file !== undefined) {
    // Error correction M: readable from a slightly damaged or badly lit label.
    const png = await QRCode.toBuffer(setup, { type: 'png', errorCorrectionLevel: 'M', margin: 4, scale: 8 });
    writeFileAtomic(file, png, SECRET_MODE);
    deps.stderr.write(`  QR code of the setup payload written to ${file} (mode 0600): it holds the secret — print it for the device, then delete the file\n`);
  }
  if (args.values['qr-terminal'] === true) {
    const art = await QRCode.toString(setup, { type: 'terminal', small: true, errorCorrectionLevel: 'M' });
    deps.stderr.write(`${art}  this QR code holds the secret: clear the screen once it is scanned\n`);
  }
}
