/**
 * Devices: the Devices page's data, "Complete provisioning" (seed 000 step 9, disconnected) and
 * the device's own install confirmation over mutual TLS (step 9, connected).
 */
import { OID, type SerialNumber, fingerprint, parseCertificate, verifyChain } from '@provisio/pki';
import { verifyConfirmProof } from '@provisio/protocol';
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

/**
 * Identifies a device by the client certificate it presented over mutual TLS (connected delivery,
 * seed 000 step 9): the leaf (DER, then any intermediates it sent) must chain to the service's root
 * through its issuing CA, be valid now for TLS client authentication, be held by the store as an
 * active certificate, and be its device's current certificate (byte-equal DER). Returns the
 * device id and the certificate's serial.
 */
export async function authenticateDeviceCertificate(
  deps: Pick<ServiceDeps, 'store' | 'clock' | 'authority'>,
  presented: readonly Buffer[],
): Promise<{ readonly deviceId: DeviceIdText; readonly serial: SerialNumber }> {
  const [leafDer] = presented;
  if (!leafDer || leafDer.length === 0) {
    throw new ServiceError('client_certificate_required', 'this route needs the device certificate as a TLS client certificate (mutual TLS)');
  }
  const leaf = parseCertificate(leafDer);
  // Only the service's own issuing CA may sit between the leaf and the root: anything else the
  // client sent is ignored.
  const path = verifyChain({
    leaf,
    intermediates: [deps.authority.intermediate],
    roots: [deps.authority.root],
    at: deps.clock.now(),
    requiredExtKeyUsage: OID.kpClientAuth,
  });
  const issuer = path[1];
  const unknown = () => new ServiceError('client_certificate_unknown', `certificate ${leaf.serial} is not the current certificate of any device`);
  if (!issuer) throw unknown();
  const record = await deps.store.findCertificate(fingerprint(issuer.der), leaf.serial);
  if (!record || record.kind !== 'device' || record.status !== 'active' || !record.deviceId || !record.der.equals(leaf.der)) throw unknown();
  const device = await deps.store.findDevice(record.deviceId);
  const current = device ? await deps.store.findCertificateByRequest(device.currentRequestId) : null;
  if (!device || !current || !current.der.equals(leaf.der)) throw unknown();
  return { deviceId: device.deviceId, serial: record.serial };
}

/**
 * Checks the install confirmation proof (protocol confirm-proof.ts): signed by the key of the
 * device certificate `leafDer`, naming this device and certificate, made within minutes of now.
 */
export function verifyInstallProof(deps: Pick<ServiceDeps, 'clock'>, leafDer: Buffer, expected: { deviceId: DeviceIdText; serial: SerialNumber }, proof: unknown): void {
  verifyConfirmProof(proof, parseCertificate(leafDer).publicKey, { deviceId: expected.deviceId, serial: expected.serial, at: deps.clock.now() });
}

/**
 * The device proved its install with a first mutual-TLS call using its new certificate (or, via
 * a gateway, with a proof signed by its key): an approved device becomes Provisioned (audit
 * `device.confirm`, naming the gateway when one carried it). Idempotent: a provisioned device
 * stays as it is and nothing is written.
 */
export async function confirmInstall(
  deps: Pick<ServiceDeps, 'store' | 'clock'>,
  deviceId: DeviceIdText,
  serial: SerialNumber,
  via: { readonly transport: 'connected' | 'proxy'; readonly gateway?: string } = { transport: 'connected' },
): Promise<DeviceView> {
  const now = deps.clock.now();
  const { device } = await getDevice(deps, deviceId);
  if (device.state === 'provisioned') return getDevice(deps, deviceId);
  if (device.state !== 'approved') {
    throw new ServiceError('device_not_approved', `device "${deviceId}" is ${device.state}; only an approved device can confirm its install`);
  }
  await deps.store.transaction(async (tx) => {
    if (!(await tx.transitionDevice(deviceId, ['approved'], 'provisioned', now))) {
      throw new ServiceError('device_not_approved', `device "${deviceId}" changed state concurrently`);
    }
    await tx.appendAudit({ at: now, actor: `device:${deviceId}`, action: 'device.confirm', targetType: 'device', targetId: deviceId, details: { requestId: device.currentRequestId, serial, transport: via.transport, ...(via.gateway ? { gateway: via.gateway } : {}) } });
  });
  return getDevice(deps, deviceId);
}
