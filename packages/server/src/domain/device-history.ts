/**
 * A device's history for the people who decide about it (docs/web.md "Device"): every request it
 * ever made, newest first, and the audit entries about the device or any of those requests,
 * oldest first. Approvers may read this though not the whole audit log: these entries are about
 * the device they are asked to judge.
 */
import type { ServiceDeps } from './deps.js';
import { ServiceError } from './errors.js';
import type { AuditEntry, DeviceIdText, RequestRecord } from './model.js';

/** More than any device makes in practice; the answer says when it was cut. */
export const MAX_HISTORY = 1000;

export interface DeviceHistory {
  readonly requests: readonly RequestRecord[];
  readonly events: readonly AuditEntry[];
  /** True when there were more requests or entries than MAX_HISTORY (the oldest are left out). */
  readonly truncated: boolean;
}

export async function readDeviceHistory(deps: Pick<ServiceDeps, 'store'>, deviceId: DeviceIdText): Promise<DeviceHistory> {
  if (!(await deps.store.findDevice(deviceId))) throw new ServiceError('device_not_found', `no device has id "${deviceId}"`);
  const requests = await deps.store.listRequests({ deviceId, limit: MAX_HISTORY, offset: 0 });
  const targetIds = [deviceId, ...requests.items.map((r) => r.id)];
  const events = await deps.store.listAudit({ targetIds, limit: MAX_HISTORY, offset: 0 });
  return {
    requests: requests.items,
    // listAudit is newest first; a history reads oldest first.
    events: [...events.items].reverse(),
    truncated: requests.total > requests.items.length || events.total > events.items.length,
  };
}
