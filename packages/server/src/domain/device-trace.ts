/**
 * The trace of a device's current provisioning, for the flow visualizer's replay
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
import type { AuditEntry, CertificateRecord, DeviceIdText, DeviceRecord, ProfileRecord, RequestRecord } from './model.js';

/** More entries than one provisioning makes; the trace says when it was cut. */
export const MAX_TRACE_EVENTS = 500;

/** The actions that decide a request, whose actor is "who approved" (or rejected). */
const DECISIONS = new Set(['request.approve', 'request.auto_approve', 'request.reject']);

export interface DeviceTrace {
  readonly device: DeviceRecord;
  /** The device's current request, its raw bytes exactly as received. */
  readonly request: RequestRecord;
  /** DER of the PKCS#10 CSR inside the request. */
  readonly csr: Buffer;
  /** Certificates issued for this request (normally one), oldest first. */
  readonly certificates: readonly CertificateRecord[];
  /** The certified profile exactly as signed and delivered, or null before approval. */
  readonly profile: ProfileRecord | null;
  /** The audit actor of the decision ("user:alma", "system"), or null while pending. */
  readonly decidedBy: string | null;
  /** Entries about the device, the request and its certificates from the request's first entry on, oldest first. */
  readonly events: readonly AuditEntry[];
  readonly truncated: boolean;
}

export async function readDeviceTrace(deps: Pick<ServiceDeps, 'store'>, deviceId: DeviceIdText): Promise<DeviceTrace> {
  const device = await deps.store.findDevice(deviceId);
  if (!device) throw new ServiceError('device_not_found', `no device has id "${deviceId}"`);
  const request = await deps.store.findRequest(device.currentRequestId);
  if (!request) throw new ServiceError('request_not_found', `the current request of device "${deviceId}" is missing`);
  const certificates = (await deps.store.listCertificatesForDevice(deviceId))
    .filter((c) => c.requestId === request.id)
    .sort((a, b) => a.createdAt.getTime() - b.createdAt.getTime());
  const profile = await deps.store.findProfile(request.id);
  const page = await deps.store.listAudit({ targetIds: [deviceId, request.id, ...certificates.map((c) => c.serial)], limit: MAX_TRACE_EVENTS, offset: 0 });
  // listAudit is newest first; a trace reads oldest first, from this request's first entry (a
  // device's earlier requests and their revocation belong to an earlier trace).
  const all = [...page.items].reverse();
  const first = all.find((e) => e.targetId === request.id)?.seq ?? 0;
  const events = all.filter((e) => e.seq >= first);
  return {
    device,
    request,
    csr: csrOf(request),
    certificates,
    profile,
    decidedBy: [...events].reverse().find((e) => e.targetId === request.id && DECISIONS.has(e.action))?.actor ?? null,
    events,
    truncated: page.total > page.items.length,
  };
}

/** The CSR inside a stored request: a provisioning request file, or a renewal's compact JWS. */
function csrOf(request: RequestRecord): Buffer {
  return request.kind ? parseRenewalRequest(request.raw.toString('utf8')).csr.der : parseProvisioningRequest(request.raw).csr.der;
}
