/**
 * The trace of one request of a device (by default its current one), for the flow visualizer's replay
 * (docs/visualizer.md "Replay"): the messages exactly as they travelled — the signed request, its
 * CSR, the certificate, the certified profile — with the step times, who decided, how it
 * travelled, and the audit entries about it in chain order.
 *
 * Only public bytes are in a trace. The request file carries the device's public key, the CSR and
 * the bootstrap certificate (never the bootstrap private key: that stays in the package); the
 * profile carries certificates and URLs. Nothing here reads a key, a token or a package.
 */
import { parseProvisioningRequest, parseRenewalRequest } from '@provisio/protocol';
import type { ServiceDeps } from './deps.js';
import { ServiceError } from './errors.js';
import { MAX_HISTORY } from './device-history.js';
import type { AuditEntry, CertificateRecord, DeviceIdText, DeviceRecord, ProfileRecord, RequestRecord } from './model.js';

/** The actions that decide a request, whose actor is "who approved" (or rejected). */
const DECISIONS = new Set(['request.approve', 'request.auto_approve', 'request.reject']);

export interface DeviceTrace {
  readonly device: DeviceRecord;
  /** The request traced (the device's current one unless another was asked for), its raw bytes exactly as received. */
  readonly request: RequestRecord;
  /** DER of the PKCS#10 CSR inside the request. */
  readonly csr: Buffer;
  /** Certificates issued for this request (normally one), oldest first. */
  readonly certificates: readonly CertificateRecord[];
  /** The certified profile exactly as signed and delivered, or null before approval. */
  readonly profile: ProfileRecord | null;
  /** The audit actor of the decision ("user:alma", "system"), or null while pending. */
  readonly decidedBy: string | null;
  /**
   * Entries about the device, the request and its certificates from the request's first entry up
   * to (not including) the first entry of the device's next request, oldest first.
   */
  readonly events: readonly AuditEntry[];
  readonly truncated: boolean;
}

/**
 * The trace of the request `requestId` of the device (its current request when absent). A request
 * of another device, or none, answers request_not_found and says nothing more about it.
 */
export async function readDeviceTrace(deps: Pick<ServiceDeps, 'store'>, deviceId: DeviceIdText, requestId?: string): Promise<DeviceTrace> {
  const device = await deps.store.findDevice(deviceId);
  if (!device) throw new ServiceError('device_not_found', `no device has id "${deviceId}"`);
  const wanted = requestId ?? device.currentRequestId;
  const request = await deps.store.findRequest(wanted as RequestRecord['id']);
  if (!request || request.deviceId !== deviceId) throw new ServiceError('request_not_found', `device "${deviceId}" made no request with id "${wanted}"`);
  const requests = await deps.store.listRequests({ deviceId, limit: MAX_HISTORY, offset: 0 });
  const certificates = (await deps.store.listCertificatesForDevice(deviceId))
    .filter((c) => c.requestId === request.id)
    .sort((a, b) => a.createdAt.getTime() - b.createdAt.getTime());
  const profile = await deps.store.findProfile(request.id);
  // A token enrollment's token is audited under its own id (a pairing code's under the device id).
  const token = request.enrollment?.kind === 'token' ? [request.enrollment.id] : [];
  const targetIds = [deviceId, ...token, ...requests.items.map((r) => r.id), ...certificates.map((c) => c.serial)];
  const page = await deps.store.listAudit({ targetIds, limit: MAX_HISTORY, offset: 0 });
  // listAudit is newest first; a trace reads oldest first.
  const all = [...page.items].reverse();
  const { from, until } = windowOf(all, deviceId, request, requests.items);
  const mine = new Set<string>([deviceId, ...token, request.id, ...certificates.map((c) => c.serial)]);
  // An entry about the device that names another request (its confirmation, say) is that request's.
  const events = all.filter((e) => {
    const about = requestIdOf(e, deviceId);
    return e.seq >= from && e.seq < until && mine.has(e.targetId) && (about === null || about === request.id);
  });
  return {
    device,
    request,
    csr: csrOf(request),
    certificates,
    profile,
    decidedBy: [...events].reverse().find((e) => e.targetId === request.id && DECISIONS.has(e.action))?.actor ?? null,
    events,
    truncated: page.total > page.items.length || requests.total > requests.items.length,
  };
}

/**
 * Which request an entry is about: its target when that is a request, else the `requestId` its
 * details name on an entry about the device (a renewal's certificate.renew and certificate.install,
 * a confirmation); null when it names none.
 */
function requestIdOf(e: AuditEntry, deviceId: string): string | null {
  if (e.targetType === 'request') return e.targetId;
  if (e.targetId !== deviceId) return null;
  const named = (e.details as { requestId?: unknown } | null)?.requestId;
  return typeof named === 'string' ? named : null;
}

/**
 * The seq window of a request's story: from where it starts up to where the request that came
 * next starts (so earlier requests and later renewals each stay in their own trace). A request
 * starts at its first entry, or, enrolled with a one-time secret, at that secret's creation
 * (secretWindowStart): a revoked device's return with a pairing code leaves the new code's
 * entries out of the earlier request's story.
 */
function windowOf(entries: readonly AuditEntry[], deviceId: string, request: RequestRecord, requests: readonly RequestRecord[]): { from: number; until: number } {
  const firsts = new Map<string, number>();
  for (const e of entries) {
    const id = requestIdOf(e, deviceId);
    if (id !== null && !firsts.has(id)) firsts.set(id, e.seq);
  }
  const first = firsts.get(request.id) ?? 0;
  const from = secretWindowStart(entries, request, first);
  // A later request's story starts at its secret, but never before this request's first entry.
  const later = requests
    .filter((r) => r.id !== request.id && (firsts.get(r.id) ?? 0) > first)
    .map((r) => Math.max(first + 1, secretWindowStart(entries, r, firsts.get(r.id) as number)));
  return { from, until: later.length > 0 ? Math.min(...later) : Number.POSITIVE_INFINITY };
}

/** The audit actions that create and spend the one-time secret a request was enrolled with. */
const SECRET_ACTIONS = {
  'pairing-code': { create: 'pairing.create', use: 'pairing.use' },
  'token': { create: 'token.create', use: 'token.use' },
} as const;

/**
 * Where the story of a request enrolled with a one-time secret starts: the secret's creation (a
 * pairing code's pre-registration, a token's making), then its use, both before the request's
 * own first entry. The use is appended in the request's transaction just before request.submit;
 * the creation is the latest one before that use. Other requests start at their first entry.
 */
function secretWindowStart(entries: readonly AuditEntry[], request: RequestRecord, from: number): number {
  if (!request.enrollment) return from;
  const actions = SECRET_ACTIONS[request.enrollment.kind];
  const about = (e: AuditEntry) => e.targetId === request.enrollment?.id;
  const use = [...entries].reverse().find((e) => e.seq < from && e.action === actions.use && about(e));
  if (!use) return from;
  const created = [...entries].reverse().find((e) => e.seq < use.seq && e.action === actions.create && about(e));
  return created?.seq ?? use.seq;
}

/**
 * The CSR inside a stored request: a provisioning request file, a renewal's compact JWS, or the
 * certification request a standard protocol carried, as received (docs/protocols.md).
 */
function csrOf(request: RequestRecord): Buffer {
  if (request.protocol || request.enrollment) return request.raw;
  return request.kind ? parseRenewalRequest(request.raw.toString('utf8')).csr.der : parseProvisioningRequest(request.raw).csr.der;
}
