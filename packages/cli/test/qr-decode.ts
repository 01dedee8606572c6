/**
 * Reads the QR code of a PNG file the way a phone would see it: pngjs (a dependency of qrcode)
 * decodes the pixels, jsQR finds and decodes the code.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';

interface DecodedPng { width: number; height: number; data: Buffer }
// pngjs ships no types: only its synchronous reader is used.
const require = createRequire(import.meta.url);
const { PNG } = require('pngjs') as { PNG: { sync: { read(png: Buffer): DecodedPng } } };
type JsQr = (data: Uint8ClampedArray, width: number, height: number) => { data: string } | null;
// jsQR is a UMD bundle: its function is the module itself or its default export.
const loaded = require('jsqr') as JsQr | { default: JsQr };
const jsQR: JsQr = typeof loaded === 'function' ? loaded : loaded.default;

export function decodeQrPng(file: string): string {
  return decodeQrPngBytes(readFileSync(file), file);
}

export function decodeQrPngBytes(bytes: Buffer, what = 'the PNG'): string {
  const png = PNG.sync.read(bytes);
  const found = jsQR(new Uint8ClampedArray(png.data.buffer, png.data.byteOffset, png.data.length), png.width, png.height);
  assert.ok(found, `no QR code found in ${what}`);
  return found.data;
}
