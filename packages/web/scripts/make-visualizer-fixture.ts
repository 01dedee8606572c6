/**
 * Makes the visualizer's example bytes (docs/visualizer.md "Real example bytes"): a real
 * provisioning through Provisio's own code — the service on a loopback port with a fresh
 * development CA, a device made and provisioned by the device SDK (connected delivery), approved
 * through the API — then saves the public artifacts the service's trace route returns: the signed
 * request, its CSR, the certificate, the certified profile, and the root to verify them against.
 * Then a real pairing (seed 003's hospital workflow: `provisio pairing create` through the API, the
 * device SDK's pairDevice, the code as the approval) and a real enrollment with a one-time token
 * (`provisio token create` through the API, enrollWithToken), each device's calls recorded on
 * their way through a transport wrapper: the messages as sent and answered, the signed
 * provisioning payload, the device's own security audit log. The pairing code and the token are
 * secrets: they are saved masked, as the payload echoes the code.
 *
 *   npm run fixture:visualizer -w @provisio/web
 *
 * Names, ids, labels and the flow are fixed; keys, nonces, serials and signatures are fresh on
 * each run (node:crypto keys cannot be seeded), so a regenerated file differs in those bytes only.
 * No private key is written: the device's keystore and the service's data stay in a temporary
 * directory that is removed.
 */
import { randomBytes } from 'node:crypto';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { decodePem, systemClock } from '@provisio/pki';
import { type HttpTransport, enrollWithToken, httpsTransport, initDevice, pairDevice, provisionConnected } from '@provisio/device';
import { maskPairingCode } from '@provisio/protocol';
import { tempDir } from '@provisio/testkit';
import { setUpSystem, startTestService } from '../../server/test/service-harness.js';

const OUT = fileURLToPath(new URL('../src/visualizer/bytes/example-fixture.json', import.meta.url));
const DEVICE_ID = 'DEV-001';
const PAIRED_ID = 'DEV-002';
const TOKEN_ID = 'DEV-003';

/** One call a device made: what it sent (secrets masked) and what the service answered. */
interface Exchange { method: string; path: string; request: Record<string, unknown> | null; status: number; answer: unknown }

/** HTTPS trusting the root, recording each call with `mask` applied to what was sent. */
function recordingTransport(rootPem: string, mask: (body: Record<string, unknown>) => Record<string, unknown>): { transport: HttpTransport; calls: Exchange[]; close: () => void } {
  const inner = httpsTransport(rootPem, { timeoutMs: 40_000 });
  const calls: Exchange[] = [];
  const transport: HttpTransport = {
    async request(method, url, body) {
      const reply = await inner.request(method, url, body);
      const sent = body ? JSON.parse(Buffer.from(body.bytes).toString('utf8')) as Record<string, unknown> : null;
      const text = reply.body.toString('utf8');
      calls.push({ method, path: new URL(url).pathname, request: sent ? mask(sent) : null, status: reply.status, answer: text ? JSON.parse(text) as unknown : null });
      return reply;
    },
  };
  return { transport, calls, close: () => inner.close() };
}

/** The device's own security audit log, one parsed entry per line. */
function deviceAuditLog(dir: string): unknown[] {
  return readFileSync(join(dir, 'security_audit_log.jsonl'), 'utf8').trim().split('\n').map((line) => JSON.parse(line) as unknown);
}

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

  // The pairing code: the system takes a valid code as the approval (enrollmentSecretApproves).
  const patched = await t.call('PATCH', '/api/v1/systems/ZMonitor', { json: { enrollmentSecretApproves: true } });
  if (patched.status !== 200) throw new Error(`system: ${patched.status} ${patched.body.toString()}`);
  const registered = await t.call('POST', '/api/v1/pairings', { json: { system: 'ZMonitor', component: 'bedside monitor', deviceId: PAIRED_ID, deviceLabel: 'Bed 12' } });
  if (registered.status !== 201) throw new Error(`pairing: ${registered.status} ${registered.body.toString()}`);
  const code = registered.json().code as string;
  const pairingDir = join(work, 'pairing-keystore');
  const pairing = recordingTransport(t.rootPem, (b) => ({ ...b, ...(typeof b.code === 'string' ? { code: maskPairingCode(b.code) } : {}) }));
  try {
    await pairDevice({ ...deps, transport: pairing.transport }, { dir: pairingDir, serviceUrl: t.service.url, rootPem: t.rootPem, deviceId: PAIRED_ID, code, maxWaitMs: 30_000 });
  } finally {
    pairing.close();
  }
  const pairingTrace = (await t.call('GET', `/api/v1/devices/${PAIRED_ID}/trace`)).json();

  // The one-time token, bound to its device id; the system still takes it as the approval.
  const made = await t.call('POST', '/api/v1/tokens', { json: { system: 'ZMonitor', component: 'bedside monitor', deviceId: TOKEN_ID } });
  if (made.status !== 201) throw new Error(`token: ${made.status} ${made.body.toString()}`);
  const token = made.json().token as string;
  const tokenDir = join(work, 'token-keystore');
  const enrolling = recordingTransport(t.rootPem, (b) => ({ ...b, ...(typeof b.token === 'string' ? { token: `${b.token.split('_').slice(0, 2).join('_')}_****` } : {}) }));
  try {
    await enrollWithToken({ ...deps, transport: enrolling.transport }, { dir: tokenDir, serviceUrl: t.service.url, rootPem: t.rootPem, deviceId: TOKEN_ID, deviceLabel: 'Bed 14', token, maxWaitMs: 30_000 });
  } finally {
    enrolling.close();
  }
  const tokenTrace = (await t.call('GET', `/api/v1/devices/${TOKEN_ID}/trace`)).json();
  const only = (calls: Exchange[], path: string) => {
    const found = calls.filter((c) => c.path === path && c.status < 300);
    if (found.length !== 1) throw new Error(`expected one answered call to ${path}, got ${found.length}`);
    return found[0] as Exchange;
  };
  const fixture = {
    about: 'A real provisioning made by packages/web/scripts/make-visualizer-fixture.ts with Provisio\'s own service and device SDK; public bytes only.',
    generatedAt: new Date().toISOString(),
    root: decodePem(t.rootPem, 'CERTIFICATE').der.toString('base64'),
    request: trace.request.file as string,
    csr: trace.csr as string,
    certificate: trace.certificates[0].der as string,
    profile: trace.profile.file as string,
    pairing: {
      deviceId: PAIRED_ID,
      hello: only(pairing.calls, '/api/v1/device/pairing/hello'),
      pair: only(pairing.calls, '/api/v1/device/pairing/pair'),
      certificate: pairingTrace.certificates[0].der as string,
      events: (pairingTrace.events as { action: string }[]).map((e) => e.action),
      deviceAudit: deviceAuditLog(pairingDir),
    },
    token: {
      deviceId: TOKEN_ID,
      enroll: only(enrolling.calls, '/api/v1/device/enroll'),
      certificate: tokenTrace.certificates[0].der as string,
      events: (tokenTrace.events as { action: string }[]).map((e) => e.action),
    },
  };
  const text = JSON.stringify(fixture, null, 2);
  if (text.includes(code) || text.includes(token.split('_')[2] as string)) throw new Error('a secret would be written to the fixture');
  writeFileSync(OUT, `${text}\n`);
  process.stdout.write(`wrote ${OUT}\n`);
} finally {
  await t.close();
  rmSync(work, { recursive: true, force: true });
}
