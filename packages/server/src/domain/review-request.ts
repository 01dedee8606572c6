/**
 * What an approver looks at before approving (docs/web.md "Devices"): the request's signatures
 * verified again over the bytes that arrived, its age and expiry, the package it came with, the
 * component's certificate template and the approval policy's verdict. Reads only.
 */
import { isProvisioError } from '@provisio/pki';
import { parseProvisioningRequest, verifyProvisioningRequest } from '@provisio/protocol';
import type { ServiceDeps } from './deps.js';
import type { ComponentRecord, PackageRecord, RequestId, RequestRecord } from './model.js';
import { requireRequest } from './requests.js';

export interface RequestReview {
  readonly request: RequestRecord;
  /**
   * The device and bootstrap signatures, the CSR's proof of possession and the bootstrap chain,
   * checked now against the stored bytes as of the request's creation time: 'verified', or the
   * error code that refused them (a stored request passed at intake, so anything else means the
   * stored copy or the trust anchors changed).
   */
  readonly signatures: { readonly status: 'verified' } | { readonly status: 'failed'; readonly code: string; readonly message: string };
  readonly ageSeconds: number;
  readonly isExpired: boolean;
  readonly package: PackageRecord | null;
  readonly component: ComponentRecord | null;
}

export async function reviewRequest(deps: Pick<ServiceDeps, 'store' | 'clock' | 'authority'>, id: RequestId): Promise<RequestReview> {
  const request = await requireRequest(deps, id);
  const now = deps.clock.now();
  let signatures: RequestReview['signatures'] = { status: 'verified' };
  try {
    const pr = parseProvisioningRequest(request.raw);
    verifyProvisioningRequest(pr, { at: pr.createdAt, roots: [deps.authority.root], intermediates: [deps.authority.intermediate] });
  } catch (e) {
    if (!isProvisioError(e)) throw e;
    signatures = { status: 'failed', code: e.code, message: e.message };
  }
  return {
    request,
    signatures,
    ageSeconds: Math.max(0, Math.round((now.getTime() - request.createdAt.getTime()) / 1000)),
    isExpired: now.getTime() >= request.expiresAt.getTime(),
    package: await deps.store.findPackage(request.packageId),
    component: await deps.store.findComponentById(request.componentId),
  };
}
