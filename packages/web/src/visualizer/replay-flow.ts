/**
 * Which flow a replayed request followed (replay-page.tsx): by its kind, the standard protocol it
 * came by, the one-time secret it enrolled with, or its transport. Plain data and functions, so
 * the model test checks the choice without a browser.
 */
import { findFlow, type Flow } from './model/index.js';

interface Entry { action: string; targetId: string; details: unknown }

const METHOD_OF_TRANSPORT: Record<string, string> = { connected: 'provisio-connected', upload: 'provisio-disconnected', proxy: 'provisio-proxy' };
/** A renewal or a reprovisioning is its lifecycle flow, whatever its transport. */
const FLOW_OF_KIND: Record<string, string> = { renewal: 'provisio-renewal', reprovision: 'provisio-reprovision' };
/** A request enrolled with a one-time secret follows that secret's flow (a pairing confirmed on the Onboard page is the QR flow: confirmedInPerson). */
const FLOW_OF_ENROLLMENT: Record<string, string> = { 'pairing-code': 'provisio-pairing', 'token': 'token-psk' };
/** A first enrollment by a standard protocol (requests.protocol) is that protocol's flow. */
const FLOW_OF_PROTOCOL: Record<string, string> = { est: 'protocol-est', cmp: 'protocol-cmp', scep: 'protocol-scep' };

/**
 * Whether the request's approval was a confirmation in person on the Onboard page (D46): its
 * request.approve entry says confirmedInPerson (server domain/onboarding.ts).
 */
export function confirmedInPerson(request: { id: string }, events: readonly Entry[]): boolean {
  return events.some((e) => e.action === 'request.approve' && e.targetId === request.id && (e.details as { confirmedInPerson?: unknown } | null)?.confirmedInPerson === true);
}

/**
 * Which flow a request followed: by its kind, else the one-time secret it enrolled with (a
 * pairing confirmed in person is the QR flow), else how it travelled.
 */
interface Requested { id: string; kind?: string | null; transport: string; enrollment?: { kind: string }; protocol?: string }

export function flowOf(request: Requested, events: readonly Entry[]): Flow | undefined {
  const byKind = request.kind ? FLOW_OF_KIND[request.kind] : undefined;
  // A renewal keeps its lifecycle flow whatever protocol carried it; a first enrollment by a protocol is that protocol's flow.
  const byProtocol = !request.kind && request.protocol ? FLOW_OF_PROTOCOL[request.protocol] : undefined;
  const onboarded = request.enrollment?.kind === 'pairing-code' && confirmedInPerson(request, events);
  const bySecret = request.enrollment ? (onboarded ? 'qr-app' : FLOW_OF_ENROLLMENT[request.enrollment.kind]) : undefined;
  return findFlow(byKind ?? byProtocol ?? bySecret ?? METHOD_OF_TRANSPORT[request.transport] ?? '');
}
