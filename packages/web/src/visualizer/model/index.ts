/** Every method's model, in the order the views list them, and Provisio's lifecycle flows. */
import { jitp } from './jitp.js';
import { manufacturerCert } from './manufacturer-cert.js';
import { provisioConnected } from './provisio-connected.js';
import { provisioDisconnected } from './provisio-disconnected.js';
import { provisioPairing } from './provisio-pairing.js';
import { protocolCmp } from './protocol-cmp.js';
import { protocolEst } from './protocol-est.js';
import { protocolScep } from './protocol-scep.js';
import { provisioProxy } from './provisio-proxy.js';
import { provisioRenewal } from './provisio-renewal.js';
import { provisioReprovision } from './provisio-reprovision.js';
import { qrApp } from './qr-app.js';
import { tokenPsk } from './token-psk.js';
import type { Flow, LifecycleFlow, Method } from './types.js';
import { x509Csr } from './x509-csr.js';
import { zeroTouch } from './zero-touch.js';

export const METHODS: readonly Method[] = [
  provisioConnected,
  provisioDisconnected,
  provisioProxy,
  provisioPairing,
  zeroTouch,
  qrApp,
  x509Csr,
  tokenPsk,
  manufacturerCert,
  jitp,
];

/**
 * What a provisioned device does later. Not provisioning methods: the comparison, the decision
 * guide and the assessment (which compare ways to provision) leave them out; every view that
 * draws one flow shows them.
 */
export const LIFECYCLE_FLOWS: readonly LifecycleFlow[] = [provisioRenewal, provisioReprovision];

/**
 * A first enrollment by a standard protocol from an unmodified client (docs/protocols.md): EST,
 * CMP and SCEP, each with a one-time token. Front-ends over the token's method of the one
 * pipeline, not methods of their own: like the lifecycle flows, not compared or scored.
 */
export const PROTOCOL_FLOWS: readonly Flow[] = [protocolEst, protocolCmp, protocolScep];

/** Every flow a view can draw: the methods, the lifecycle flows, the standard protocols. */
export const FLOWS: readonly Flow[] = [...METHODS, ...LIFECYCLE_FLOWS, ...PROTOCOL_FLOWS];

/** A provisioning method (for the views that compare methods). */
export function findMethod(id: string): Method | undefined {
  return METHODS.find((m) => m.id === id);
}

/** Any flow, method or lifecycle (for the views that draw one flow). */
export function findFlow(id: string): Flow | undefined {
  return FLOWS.find((m) => m.id === id);
}

export type * from './types.js';
export { STANDARDS, CLAIM_LEVELS, type StandardId } from './standards.js';
export { toMermaid } from './mermaid.js';
export { CHECKLIST, CREDENTIALS, type CredentialType } from './credentials.js';
export { answersFromQuery, answersToQuery, DEFAULT_ANSWERS, QUESTIONS, recommend, USE_CASES, type Answers, type Question, type Recommendation } from './decide.js';
