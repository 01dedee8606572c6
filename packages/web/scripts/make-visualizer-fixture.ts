/**
 * Makes the visualizer's example bytes (docs/visualizer.md "Real example bytes"): a real
 * provisioning through Provisio's own code — the service on a loopback port with a fresh
 * development CA, a device made and provisioned by the device SDK (connected delivery), approved
 * through the API — then saves the public artifacts the service's trace route returns: the signed
 * request, its CSR, the certificate, the certified profile, and the root to verify them against.
 *
 *   npm run fixture:visualizer -w @provisio/web
 *
 * Names, ids, labels and the flow are fixed; keys, nonces, serials and signatures are fresh on
 * each run (node:crypto keys cannot be seeded), so a regenerated file differs in those bytes only.
 * No private key is written: the device's keystore and the service's data stay in a temporary
 * directory that is removed.
 */
import { randomBytes } from 'node:crypto';
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { decodePem, systemClock } from '@provisio/pki';
import { initDevice, provisionConnected } from '@provisio/device';
import { tempDir } from '@provisio/testkit';
import { setUpSystem, startTestService } from '../../server/test/service-harness.js';

const OUT = fileURLToPath(new URL('../src/visualizer/bytes/example-fixture.json', import.meta.url));
const DEVICE_ID = 'DEV-001';

const work = tempDir('provisio-fixture-');
const t = await startTestService({ dataDir: join(work, 'service'), webRoot: null });
try {
  const { packageText } = await setUpSystem(t, 'ZMonitor', 'bedside monitor', ['p256']);
  const dir = join(work, 'keystore');
  const deps = { clock: systemClock, random: { bytes: (n: number) => randomBytes(n) } };
  await initDevice(deps, { packageText, component: 'bedside monitor', deviceId: DEVICE_ID, deviceLabel: 'Bedside monitor, ward 3, bed 12', hardwareSerial: 'SN-0042', firmwareVersion: '4.2.1', dir });
  const running = provisionConnected(deps, { dir, serviceUrl: t.service.url, maxWaitMs: 60_000, maxPollIntervalMs: 100 });
  let requestId: string | undefined;
  for (let i = 0; i < 400 && !requestId; i++) {
    requestId = ((await t.call('GET', `/api/v1/requests?state=pending&q=${DEVICE_ID}`)).json().items as { id: string }[])[0]?.id;
    if (!requestId) await new Promise((resolve) => setTimeout(resolve, 50));
  }
  if (!requestId) throw new Error('the device did not submit its request');
  const approved = await t.call('POST', `/api/v1/requests/${requestId}/approve`);
  if (approved.status !== 200) throw new Error(`approve: ${approved.status} ${approved.body.toString()}`);
  await running;
  const trace = (await t.call('GET', `/api/v1/devices/${DEVICE_ID}/trace`)).json();
  const fixture = {
    about: 'A real provisioning made by packages/web/scripts/make-visualizer-fixture.ts with Provisio\'s own service and device SDK; public bytes only.',
    generatedAt: new Date().toISOString(),
    root: decodePem(t.rootPem, 'CERTIFICATE').der.toString('base64'),
    request: trace.request.file as string,
    csr: trace.csr as string,
    certificate: trace.certificates[0].der as string,
    profile: trace.profile.file as string,
  };
  writeFileSync(OUT, `${JSON.stringify(fixture, null, 2)}\n`);
  process.stdout.write(`wrote ${OUT}\n`);
} finally {
  await t.close();
  rmSync(work, { recursive: true, force: true });
}
