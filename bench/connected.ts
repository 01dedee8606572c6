/**
 * Connected enrollments through the real HTTPS API: what a device does on the connected path,
 * many devices at a time. One enrollment is
 *   1. POST /api/v1/device/requests with its request file (the component's approval policy is
 *      automatic, so the certificate and the certified profile are issued at intake),
 *   2. GET its certified profile,
 *   3. the device's install check: parse the profile and verify it against the root the device
 *      got from its package (signature, certificate chain, device id and key) — the checks
 *      `installProfile` makes, without writing a keystore,
 *   4. POST /api/v1/device/confirm over mutual TLS with the new certificate (a new connection:
 *      the certificate did not exist before step 1).
 * Steps 1–2 use one keep-alive agent shared by the simulated devices. The devices' keys and
 * request files are made by `initDevice` before the clock starts (in a tmpfs directory when
 * there is one). Latency is one device's steps 1–4 at the client.
 *
 * The service runs either in its own process (forked, the built JavaScript as `provisio serve`
 * runs it: the load generator and the service each get a main thread) or in this process (they
 * share one). Besides rate and latency it prints the CPU time per enrollment of the service's
 * process and of this one, which stays comparable when other work shares the machine. Prints
 * figures; asserts nothing, but stops at the first reply that is not a success.
 *
 * Knobs: BENCH_CONNECTED, BENCH_LEVELS, BENCH_DEVICES, BENCH_C1_DEVICES (see benchConnected),
 * BENCH_SERVER_PROFILE=DIR (--cpu-prof of the service process), BENCH_SERVER_SOURCE=1 (the
 * service from its TypeScript sources), BENCH_SERVER_FLAGS (more node flags for it),
 * BENCH_THREADS=1 (its per-thread CPU at the end, Linux), BENCH_EST_DEVICES (EST simpleenroll at c=16
 * after the connected levels; 0 skips it).
 */
import { fork } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { Agent } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createCsr, createKeySigner, encodePem, generateKey, systemClock, type ParsedCertificate, type PublicKeyInfo } from '@provisio/pki';
import { parseCertifiedProfile, verifyCertifiedProfile } from '@provisio/protocol';
import { initDevice, keystorePath, loadDevice } from '@provisio/device';
import { startService } from '../packages/server/src/app.js';
import { closedLoop, type Figures, ms, send } from './load.js';
import { withPostgres } from './scratch-postgres.js';

const REQUEST_MEDIA = 'application/vnd.provisio.request+json';
const random = { bytes: (n: number) => randomBytes(n) };

export const CONCURRENCY = [1, 16, 64] as const;
/** The load generator is one client carrying a whole fleet: per-client limits off (docs/service.md). */
const UNLIMITED = { ratePerSecond: 0 };
/** Devices per concurrency level (c=1 is slow by nature: fewer). */
const COUNT: Record<number, number> = {
  1: Number(process.env.BENCH_C1_DEVICES ?? 100),
  16: Number(process.env.BENCH_DEVICES ?? 800),
  64: Number(process.env.BENCH_DEVICES ?? 800),
};
const WARM_UP = 64;

export type ServerPlacement = 'own process' | 'same process';

interface Server {
  readonly url: string;
  readonly rootPem: string;
  readonly adminToken: string;
  /** CPU time (µs) the service's process used so far; null when it shares this process. */
  cpuMicros(): Promise<number | null>;
  close(): Promise<void>;
}

interface Device {
  readonly deviceId: string;
  readonly request: Buffer;
  readonly keyPem: Buffer;
  readonly publicKey: PublicKeyInfo;
  readonly root: ParsedCertificate;
}

/** A directory in RAM when the machine has one: the devices' keystore writes are not what is measured. */
function scratchDir(prefix: string): string {
  const base = existsSync('/dev/shm') ? '/dev/shm' : tmpdir();
  return mkdtempSync(join(base, prefix));
}

async function startServer(placement: ServerPlacement, dataDir: string, db: string | undefined): Promise<Server> {
  if (placement === 'same process') {
    const service = await startService({ dataDir, host: '127.0.0.1', port: 0, clientRate: UNLIMITED, ...(db ? { db } : {}) });
    return {
      url: service.url,
      rootPem: readFileSync(service.rootPath, 'utf8'),
      adminToken: readFileSync(service.adminTokenPath, 'utf8').trim(),
      cpuMicros: async () => null,
      close: () => service.close(),
    };
  }
  const profile = process.env.BENCH_SERVER_PROFILE ? ['--cpu-prof', `--cpu-prof-dir=${process.env.BENCH_SERVER_PROFILE}`] : [];
  const child = fork(new URL('./serve-child.ts', import.meta.url).pathname, [dataDir, ...(db ? [db] : [])], {
    // The service as deployed (`provisio serve`): the built JavaScript (npm run bench builds first);
    // tsx only for this small TypeScript entry file. BENCH_SERVER_SOURCE=1 runs the sources instead.
    execArgv: [...(process.env.BENCH_SERVER_SOURCE ? ['--conditions=source'] : []), '--import', 'tsx', ...profile, ...(process.env.BENCH_SERVER_FLAGS?.split(' ').filter(Boolean) ?? [])],
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  const ready = await new Promise<{ url: string; rootPem: string; adminToken: string }>((resolve, reject) => {
    child.once('message', (m) => resolve(m as { url: string; rootPem: string; adminToken: string }));
    child.once('exit', (code) => reject(new Error(`the service process exited with ${code} before it listened`)));
  });
  return {
    ...ready,
    cpuMicros: () => new Promise((resolve) => {
      child.once('message', (m) => resolve((m as { cpuMicros: number }).cpuMicros));
      child.send('cpu');
    }),
    close: () => new Promise<void>((resolve) => {
      if (process.env.BENCH_THREADS) {
        for (const t of readdirSync(`/proc/${child.pid}/task`)) {
          const st = readFileSync(`/proc/${child.pid}/task/${t}/stat`, 'utf8');
          const f = st.slice(st.lastIndexOf(')') + 2).split(' ');
          console.log(`    thread ${t} ${st.slice(st.indexOf('(') + 1, st.lastIndexOf(')'))}: user ${f[11]} system ${f[12]} ticks`);
        }
      }
      child.once('exit', () => resolve());
      child.send('close');
    }),
  };
}

async function api(server: Server, agent: Agent, method: 'GET' | 'POST', path: string, json: unknown): Promise<Buffer> {
  const reply = await send(`${server.url}${path}`, {
    method,
    agent,
    headers: { 'authorization': `Bearer ${server.adminToken}`, 'content-type': 'application/json' },
  }, Buffer.from(JSON.stringify(json)));
  if (reply.status !== 200 && reply.status !== 201) throw new Error(`${method} ${path}: ${reply.status} ${reply.body.toString('utf8')}`);
  return reply.body;
}

/** System, component (P-256, automatic approval for connected devices) and package, through the API. */
async function setUp(server: Server, agent: Agent): Promise<string> {
  const system = 'Bench';
  const component = 'bedside monitor';
  await api(server, agent, 'POST', '/api/v1/systems', { name: system });
  await api(server, agent, 'POST', `/api/v1/systems/${system}/components`, { name: component, keyTypes: ['p256'] });
  await api(server, agent, 'POST', `/api/v1/systems/${system}/components/${encodeURIComponent(component)}/policy`, {
    mode: 'automatic',
    rules: { transports: ['connected'] },
  });
  return (await api(server, agent, 'POST', '/api/v1/packages', { system })).toString('utf8');
}

/** The devices' keys and request files, made by the device SDK before the clock starts. */
async function prepareDevices(packageText: string, dir: string, tag: string, count: number): Promise<Device[]> {
  const devices: Device[] = [];
  for (let i = 0; i < count; i++) {
    const deviceId = `DEV-${tag}-${String(i).padStart(6, '0')}`;
    const keystore = join(dir, deviceId);
    await initDevice({ clock: systemClock, random }, { packageText, component: 'bedside monitor', deviceId, deviceLabel: `Bench ${deviceId}`, dir: keystore });
    const loaded = loadDevice(keystore);
    devices.push({
      deviceId,
      request: readFileSync(keystorePath(keystore, 'request')),
      keyPem: readFileSync(keystorePath(keystore, 'key')),
      publicKey: loaded.signer.publicKey,
      root: loaded.root,
    });
  }
  return devices;
}

function enrollOne(server: Server, shared: Agent): (device: Device) => Promise<void> {
  const fail = (device: Device, step: string, status: number, body: Buffer) => {
    throw new Error(`${device.deviceId} ${step}: ${status} ${body.toString('utf8').slice(0, 300)}`);
  };
  return async (device) => {
    const submitted = await send(`${server.url}/api/v1/device/requests`, { method: 'POST', agent: shared, headers: { 'content-type': REQUEST_MEDIA } }, device.request);
    if (submitted.status !== 201) fail(device, 'submit', submitted.status, submitted.body);
    const { request } = JSON.parse(submitted.body.toString('utf8')) as { request: { id: string; state: string } };
    if (request.state !== 'approved') fail(device, 'submit (not approved at intake)', submitted.status, submitted.body);

    const fetched = await send(`${server.url}/api/v1/device/requests/${encodeURIComponent(request.id)}/profile`, { method: 'GET', agent: shared });
    if (fetched.status !== 200) fail(device, 'profile', fetched.status, fetched.body);
    const profile = parseCertifiedProfile(fetched.body);
    verifyCertifiedProfile(profile, { root: device.root, deviceId: device.deviceId, devicePublicKey: device.publicKey, at: new Date() });
    const chainPem = profile.payload.certificateChain.map((b64) => encodePem('CERTIFICATE', Buffer.from(b64, 'base64'))).join('');

    const confirmed = await send(`${server.url}/api/v1/device/confirm`, {
      method: 'POST',
      agent: false,
      ca: server.rootPem,
      key: device.keyPem,
      cert: chainPem,
      headers: { 'content-type': 'application/json', 'connection': 'close' },
    }, Buffer.from('{}'));
    if (confirmed.status !== 200 || !confirmed.body.includes('"provisioned"')) fail(device, 'confirm', confirmed.status, confirmed.body);
  };
}

const EST_COUNT = Number(process.env.BENCH_EST_DEVICES ?? 400);

/**
 * EST simpleenroll (RFC 7030 §4.2.1) at c=16 on the same service as the connected run: each device
 * POSTs its base64 CSR with a one-time token as the HTTP basic password over the shared keep-alive
 * agent. Tokens (made through the API) and CSRs are made before the clock starts.
 */
async function benchEst(server: Server, agent: Agent, tag: string, count: number): Promise<Figures> {
  await api(server, agent, 'POST', '/api/v1/systems/Bench/protocols', { protocol: 'est', enabled: true });
  const items: Array<{ deviceId: string; token: string; csr: Buffer }> = [];
  for (let i = 0; i < count; i++) {
    const deviceId = `EST-${tag}-${String(i).padStart(6, '0')}`;
    const made = JSON.parse((await api(server, agent, 'POST', '/api/v1/tokens', { system: 'Bench', component: 'bedside monitor', deviceId })).toString('utf8')) as { token: string };
    const signer = createKeySigner((await generateKey('p256')).privateKey);
    const csr = await createCsr(signer, { subject: [{ type: 'CN', value: deviceId }] });
    items.push({ deviceId, token: made.token, csr: Buffer.from(csr.toString('base64')) });
  }
  return closedLoop(items, 16, async (item) => {
    const reply = await send(`${server.url}/.well-known/est/simpleenroll`, {
      method: 'POST',
      agent,
      headers: { 'content-type': 'application/pkcs10', 'authorization': `Basic ${Buffer.from(`${item.deviceId}:${item.token}`).toString('base64')}` },
    }, item.csr);
    if (reply.status !== 200) throw new Error(`${item.deviceId} simpleenroll: ${reply.status} ${reply.body.toString('utf8').slice(0, 300)}`);
  });
}

export interface ConnectedRow {
  readonly database: 'SQLite' | 'PostgreSQL';
  readonly placement: ServerPlacement;
  readonly concurrency: number;
  readonly figures: Figures;
  /** CPU per enrollment (ms): the service's process (null when it shares this one) and this process. */
  readonly serverCpuMs: number | null;
  readonly clientCpuMs: number;
}

async function benchOne(database: 'SQLite' | 'PostgreSQL', placement: ServerPlacement, db: string | undefined, levels: readonly number[]): Promise<ConnectedRow[]> {
  const dataDir = mkdtempSync(join(tmpdir(), 'provisio-bench-'));
  const devicesDir = scratchDir('provisio-bench-devices-');
  const server = await startServer(placement, dataDir, db);
  const shared = new Agent({ keepAlive: true, maxSockets: 64, ca: server.rootPem });
  try {
    const packageText = await setUp(server, shared);
    const tag = randomBytes(3).toString('hex').toUpperCase();
    const made = performance.now();
    const warm = await prepareDevices(packageText, join(devicesDir, 'w'), `${tag}W`, WARM_UP);
    const sets = new Map<number, Device[]>();
    for (const c of levels) {
      mkdirSync(join(devicesDir, String(c)));
      sets.set(c, await prepareDevices(packageText, join(devicesDir, String(c)), `${tag}C${c}`, COUNT[c] ?? 800));
    }
    const total = WARM_UP + [...sets.values()].reduce((n, s) => n + s.length, 0);
    console.log(`  ${database}, service in ${placement}: ${total} devices prepared in ${((performance.now() - made) / 1000).toFixed(1)} s (not timed)`);
    const enroll = enrollOne(server, shared);
    // Warm-up: JIT, connections and the database's caches.
    await closedLoop(warm, 16, enroll);
    const rows: ConnectedRow[] = [];
    const cpu = () => process.cpuUsage().user + process.cpuUsage().system;
    for (const c of levels) {
      const [server0, client0] = [await server.cpuMicros(), cpu()];
      const figures = await closedLoop(sets.get(c) ?? [], c, enroll);
      const [server1, client1] = [await server.cpuMicros(), cpu()];
      const serverCpuMs = server0 === null || server1 === null ? null : (server1 - server0) / 1000 / figures.count;
      const clientCpuMs = (client1 - client0) / 1000 / figures.count;
      rows.push({ database, placement, concurrency: c, figures, serverCpuMs, clientCpuMs });
      const cpuText = serverCpuMs === null ? `${'-'.padStart(6)} ${clientCpuMs.toFixed(2).padStart(6)} (both)` : `${serverCpuMs.toFixed(2).padStart(6)} ${clientCpuMs.toFixed(2).padStart(6)}`;
      console.log(`  ${`${database}, service in ${placement}, c=${c}`.padEnd(44)} ${figures.perSecond.toFixed(0).padStart(6)} /s ${ms(figures.p50)} ${ms(figures.p99)} ${cpuText}`);
    }
    if (levels.includes(16) && EST_COUNT > 0) {
      const est = await benchEst(server, shared, tag, EST_COUNT);
      console.log(`  ${`${database}, EST simpleenroll (token), c=16`.padEnd(44)} ${est.perSecond.toFixed(0).padStart(6)} /s ${ms(est.p50)} ${ms(est.p99)}`);
    }
    return rows;
  } finally {
    shared.destroy();
    await server.close();
    rmSync(devicesDir, { recursive: true, force: true });
    rmSync(dataDir, { recursive: true, force: true });
  }
}

/**
 * Every database × placement × concurrency, each in a fresh service and database. BENCH_CONNECTED
 * narrows it, e.g. "sqlite:own" or "sqlite:own,pg:same"; BENCH_LEVELS e.g. "16".
 */
export async function benchConnected(): Promise<ConnectedRow[]> {
  const levels = (process.env.BENCH_LEVELS ?? CONCURRENCY.join(',')).split(',').map(Number);
  const wanted = (process.env.BENCH_CONNECTED ?? 'sqlite:own,sqlite:same,pg:own,pg:same').split(',');
  console.log(`\nconnected enrollments (submit → automatic approval → profile → device verifies → mutual-TLS confirm), HTTPS keep-alive, P-256`);
  console.log(`  devices per level: c=1 ${COUNT[1]}, c=16 ${COUNT[16]}, c=64 ${COUNT[64]}, after ${WARM_UP} warm-up; keys and request files made before the clock`);
  console.log(`  ${'database, placement, concurrency'.padEnd(44)} ${'enroll/s'.padStart(8)} ${'p50'.padStart(9)} ${'p99'.padStart(9)}  CPU ms per enrollment: service, load generator`);
  const rows: ConnectedRow[] = [];
  for (const w of wanted) {
    const [dbName, where] = w.split(':');
    const placement: ServerPlacement = where === 'same' ? 'same process' : 'own process';
    if (dbName === 'sqlite') rows.push(...(await benchOne('SQLite', placement, undefined, levels)));
    else rows.push(...((await withPostgres((url) => benchOne('PostgreSQL', placement, url, levels))) ?? []));
  }
  return rows;
}
