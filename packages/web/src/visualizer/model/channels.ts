/** Channels shared by several methods (each method may define its own too). */
import type { Channel } from './types.js';

export const MUTUAL_TLS: Channel = { kind: 'mtls', secure: true, label: 'mutual TLS' };
export const SERVER_TLS: Channel = { kind: 'tls', secure: true, label: 'TLS, server authenticated' };
export const SESSION_TLS: Channel = { kind: 'tls', secure: true, label: 'HTTPS, signed-in session' };
export const ON_DEVICE: Channel = { kind: 'local', secure: true, label: 'inside the device' };
export const SIGNED_FILE: Channel = { kind: 'file', secure: true, label: 'offline signed file' };
export const SECRET_FILE: Channel = { kind: 'usb', secure: false, label: 'unsigned file holding a private key' };
export const FACTORY_LINE: Channel = { kind: 'factory', secure: false, label: 'factory line injection' };
export const PLAIN_BLE: Channel = { kind: 'ble', secure: false, label: 'plaintext BLE' };
export const PRINTED_QR: Channel = { kind: 'optical', secure: false, label: 'printed QR code' };
