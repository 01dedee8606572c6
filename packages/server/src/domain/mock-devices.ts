/**
 * Mock device files (seed 000): ready-to-use identities for experimentation, with keys generated
 * by the service rather than on a device. They go through the same intake and approval as real
 * requests (a real package, a real request marked `mock`, a real approval), so they exercise the
 * real paths; the request, the device record and the certificate subject all say "mock", and a
 * system created with mock devices turned off refuses them at intake.
 */
import { createCsr, createKeySigner, encodePem, exportPrivateKeyPem, generateKey } from '@provisio/pki';
import { createProvisioningRequest, openPackage, parsePackage } from '@provisio/protocol';
import type { Actor, ServiceDeps } from './deps.js';
import { ServiceError } from './errors.js';
import type { RequestId } from './model.js';
import { createPackage } from './packages.js';
import { approveRequest, getProfile, submitRequest } from './requests.js';
import { requireComponent, requireSystem } from './systems.js';

export const MAX_MOCK_DEVICES = 100;

export interface MockDeviceFiles {
  readonly deviceId: string;
  readonly requestId: string;
  /** PKCS#8 PEM, unencrypted: mock files are not device-locked by definition. */
  readonly privateKey: string;
  /** Device certificate, then the issuing CA (PEM). */
  readonly certificateChain: string;
  readonly profile: string;
}

export async function createMockDevices(
  deps: Pick<ServiceDeps, 'store' | 'clock' | 'random' | 'authority' | 'urls'>,
  actor: Actor,
  input: { system: string; component: string; count: number },
): Promise<MockDeviceFiles[]> {
  if (!Number.isInteger(input.count) || input.count < 1 || input.count > MAX_MOCK_DEVICES) {
    throw new ServiceError('validation_failed', `count must be 1 to ${MAX_MOCK_DEVICES}; got ${input.count}`);
  }
  const system = await requireSystem(deps, input.system);
  const component = await requireComponent(deps, system, input.component);
  if (!system.allowMock) throw new ServiceError('mock_not_allowed', `system "${system.name}" does not accept mock devices`);
  const keyType = component.keyTypes[0] ?? 'p256';

  const pkg = await createPackage(deps, actor, { system: system.name, days: 1, requestLifetimeSeconds: 3600 });
  const opened = openPackage(parsePackage(pkg.fileText), deps.clock.now());
  const batch = Buffer.from(deps.random.bytes(3)).toString('hex');
  const out: MockDeviceFiles[] = [];
  for (let i = 1; i <= input.count; i++) {
    const deviceId = `MOCK-${batch}-${String(i).padStart(4, '0')}`;
    const key = await generateKey(keyType);
    const signer = createKeySigner(key.privateKey);
    const now = deps.clock.now();
    const text = await createProvisioningRequest({
      payload: {
        packageId: pkg.record.id,
        system: system.name,
        component: component.name,
        deviceId,
        deviceLabel: `Mock device ${i} of ${input.count}`,
        hardwareSerial: null,
        firmwareVersion: null,
        nonce: Buffer.from(deps.random.bytes(16)).toString('base64url'),
        createdAt: now.toISOString(),
        expiresAt: new Date(now.getTime() + 3600_000).toISOString(),
        csr: (await createCsr(signer, { subject: [{ type: 'CN', value: deviceId }] })).toString('base64'),
        mock: true,
      },
      device: signer,
      bootstrap: opened.bootstrapSigner,
      bootstrapChain: opened.bootstrapChain.map((c) => c.der),
    });
    const { request } = await submitRequest(deps, actor, { raw: Buffer.from(text, 'utf8'), transport: 'upload', applyPolicy: false });
    const { certificate } = await approveRequest(deps, actor, request.id as RequestId);
    out.push({
      deviceId,
      requestId: request.id,
      privateKey: exportPrivateKeyPem(key.privateKey),
      certificateChain: encodePem('CERTIFICATE', certificate.der) + encodePem('CERTIFICATE', deps.authority.intermediate.der),
      profile: (await getProfile(deps, request.id)).toString('utf8'),
    });
  }
  return out;
}
