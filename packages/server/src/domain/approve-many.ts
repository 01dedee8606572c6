/**
 * Approving many requests at once (the Devices page's bulk approval): each one goes through the
 * single-request approval with its own transaction and audit entry, so a refusal (already
 * decided, expired) costs only that request and the others still pass. One verdict per id.
 */
import { isProvisioError } from '@provisio/pki';
import type { Actor, ServiceDeps } from './deps.js';
import type { CertificateRecord, RequestId, RequestRecord } from './model.js';
import { approveRequest } from './requests.js';

/** At most this many per call: each approval signs a certificate and a profile. */
export const MAX_APPROVE_MANY = 500;

export type ApproveVerdict =
  | { readonly requestId: RequestId; readonly ok: true; readonly request: RequestRecord; readonly certificate: CertificateRecord }
  | { readonly requestId: RequestId; readonly ok: false; readonly code: string; readonly message: string };

export async function approveMany(
  deps: Pick<ServiceDeps, 'store' | 'clock' | 'random' | 'authority' | 'urls'>,
  actor: Actor,
  ids: readonly RequestId[],
): Promise<ApproveVerdict[]> {
  const verdicts: ApproveVerdict[] = [];
  // One after the other: approvals of one component share its rate counters and policy checks.
  for (const requestId of ids) {
    try {
      const { request, certificate } = await approveRequest(deps, actor, requestId);
      verdicts.push({ requestId, ok: true, request, certificate });
    } catch (e) {
      if (!isProvisioError(e) || e.category === 'internal' || e.category === 'unavailable') throw e;
      verdicts.push({ requestId, ok: false, code: e.code, message: e.message });
    }
  }
  return verdicts;
}
