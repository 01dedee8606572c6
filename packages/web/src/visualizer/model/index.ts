/** Every method's model, in the order the views list them. */
import { jitp } from './jitp.js';
import { manufacturerCert } from './manufacturer-cert.js';
import { provisioConnected } from './provisio-connected.js';
import { provisioDisconnected } from './provisio-disconnected.js';
import { provisioProxy } from './provisio-proxy.js';
import { qrApp } from './qr-app.js';
import { tokenPsk } from './token-psk.js';
import type { Method } from './types.js';
import { x509Csr } from './x509-csr.js';
import { zeroTouch } from './zero-touch.js';

export const METHODS: readonly Method[] = [
  provisioConnected,
  provisioDisconnected,
  provisioProxy,
  zeroTouch,
  qrApp,
  x509Csr,
  tokenPsk,
  manufacturerCert,
  jitp,
];

export function findMethod(id: string): Method | undefined {
  return METHODS.find((m) => m.id === id);
}

export type * from './types.js';
export { STANDARDS, CLAIM_LEVELS, type StandardId } from './standards.js';
export { toMermaid } from './mermaid.js';
export { CHECKLIST, CREDENTIALS, type CredentialType } from './credentials.js';
export { answersFromQuery, answersToQuery, DEFAULT_ANSWERS, QUESTIONS, recommend, USE_CASES, type Answers, type Question, type Recommendation } from './decide.js';
