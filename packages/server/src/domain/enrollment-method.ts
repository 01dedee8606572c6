/**
 * Which enrollment method made a request, read from what the request already records (its
 * package, its one-time secret's kind, its kind): the device page's "Enrolled with" (docs/web.md).
 * Nothing new is stored: every request names how it authenticated since migrations 6 and 13.
 */
import type { MethodName } from '../issuance/method.js';
import type { CertificateRecord, RequestRecord } from './model.js';
import type { Store } from './store.js';

export function enrollmentMethodOf(request: RequestRecord): MethodName {
  if (request.kind === 'renewal') return 'renewal';
  if (request.kind === 'reprovision') return 'reprovisioning';
  if (request.enrollment?.kind === 'token') return 'enrollment-token';
  if (request.enrollment?.kind === 'pairing-code') return 'pairing-code';
  return 'bootstrap-package';
}

export interface DeviceEnrollment {
  readonly method: MethodName;
  readonly transport: RequestRecord['transport'];
  readonly requestId: RequestRecord['id'];
}

/**
 * How the device's current life began: the newest first-provisioning request (one without a
 * kind) among its certificates' requests — a device that returned after a revocation enrolled
 * again — or its current request while it has no certificate yet. Null when none is known.
 */
export async function deviceEnrollment(
  store: Pick<Store, 'findRequest'>,
  device: { currentRequestId: RequestRecord['id'] },
  certificates: readonly CertificateRecord[],
): Promise<{ enrollment: DeviceEnrollment | null; methods: ReadonlyMap<string, MethodName> }> {
  const methods = new Map<string, MethodName>();
  let first: RequestRecord | null = null;
  for (const c of [...certificates].sort((a, b) => a.notBefore.getTime() - b.notBefore.getTime())) {
    if (!c.requestId) continue;
    const request = await store.findRequest(c.requestId);
    if (!request) continue;
    methods.set(c.serial, enrollmentMethodOf(request));
    if (request.kind === undefined) first = request;
  }
  first ??= await store.findRequest(device.currentRequestId as RequestRecord['id']);
  const enrollment = first && first.kind === undefined
    ? { method: enrollmentMethodOf(first), transport: first.transport, requestId: first.id }
    : null;
  return { enrollment, methods };
}
