/** Devices: the Devices page's data and "Complete provisioning" (seed 000 step 9, disconnected). */
import { type Actor, type ServiceDeps, actorName } from './deps.js';
import { ServiceError } from './errors.js';
import type { CertificateRecord, DeviceIdText, DeviceRecord } from './model.js';

export interface DeviceView {
  readonly device: DeviceRecord;
  readonly certificates: readonly CertificateRecord[];
}

export async function getDevice(deps: Pick<ServiceDeps, 'store'>, deviceId: DeviceIdText): Promise<DeviceView> {
  const device = await deps.store.findDevice(deviceId);
  if (!device) throw new ServiceError('device_not_found', `no device has id "${deviceId}"`);
  return { device, certificates: await deps.store.listCertificatesForDevice(deviceId) };
}

/**
 * Marks a device Provisioned once its certified profile was installed by a technician. Idempotent:
 * completing a provisioned device again changes nothing.
 */
export async function completeProvisioning(deps: Pick<ServiceDeps, 'store' | 'clock'>, actor: Actor, deviceId: DeviceIdText): Promise<DeviceView> {
  const now = deps.clock.now();
  const { device } = await getDevice(deps, deviceId);
  if (device.state === 'provisioned') return getDevice(deps, deviceId);
  if (device.state !== 'approved') {
    throw new ServiceError('device_not_approved', `device "${deviceId}" is ${device.state}; its request must be approved and its profile installed before provisioning is complete`);
  }
  await deps.store.transaction(async (tx) => {
    if (!(await tx.transitionDevice(deviceId, ['approved'], 'provisioned', now))) {
      throw new ServiceError('device_not_approved', `device "${deviceId}" changed state concurrently`);
    }
    await tx.appendAudit({ at: now, actor: actorName(actor), action: 'device.complete', targetType: 'device', targetId: deviceId, details: { requestId: device.currentRequestId } });
  });
  return getDevice(deps, deviceId);
}
