/**
 * `npm run bench:station`: the central station's revocation cut-off as achieved, and what a
 * check-in costs. It starts the real service (development CA, SQLite, loopback) with its
 * publication and station listeners, provisions devices through the device SDK (init, approve,
 * install), and then:
 *  - check-in latency over a fresh mutual-TLS connection each time (as `curl` makes it), with the
 *    revocation status cached and with the cache expired (one OCSP round trip);
 *  - the cut-off: each device checks in (its "good" status is cached), is revoked at a random
 *    moment within the cut-off, and checks in every 250 ms until refused; the time from the
 *    revocation's commit to the first refusal is the cut-off that device saw.
 * Prints figures; asserts nothing. BENCH_CUT_OFF_S (default 60) sets the station's cut-off,
 * BENCH_DEVICES (default 4) the number of devices revoked.
 */
import { randomBytes, randomInt } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { request as httpsRequest } from 'node:https';
import { join } from 'node:path';
import { cpus } from 'node:os';
import { checkInAtStation, initDevice, installProfile } from '@provisio/device';
import { systemClock } from '@provisio/pki';
import { startService } from '@provisio/server';
import { tempDir } from '@provisio/testkit';

const CUT_OFF_MS = Number(process.env.BENCH_CUT_OFF_S ?? 60) * 1000;
const DEVICES = Number(process.env.BENCH_DEVICES ?? 4);
const POLL_MS = 250;
const random = { bytes: (n: number) => randomBytes(n) };
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

const dataDir = tempDir('provisio-bench-station-');
const service = await startService({
  dataDir,
  host: '127.0.0.1',
  port: 0,
  stationListen: { host: '127.0.0.1', port: 0 },
  stationStatusCacheMs: CUT_OFF_MS,
});
const token = readFileSync(service.adminTokenPath, 'utf8').trim();
const rootPem = readFileSync(service.rootPath, 'utf8');

function api(method: 'GET' | 'POST', path: string, body?: { bytes: Buffer; type: string }): Promise<{ status: number; body: Buffer }> {
  return new Promise((resolve, reject) => {
    const req = httpsRequest(`${service.url}${path}`, {
      method,
      ca: rootPem,
      agent: false,
      headers: { authorization: `Bearer ${token}`, ...(body ? { 'content-type': body.type, 'content-length': String(body.bytes.length) } : {}) },
    }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks) }));
    });
    req.on('error', reject);
    if (body) req.write(body.bytes);
    req.end();
  });
}
const json = (o: unknown) => ({ bytes: Buffer.from(JSON.stringify(o)), type: 'application/json' });

try {
  // One admin token uploads and approves: separation of duties (D28) is off for the bench's system.
  await api('POST', '/api/v1/systems', json({ name: 'Bench', separationOfDuties: false }));
  await api('POST', '/api/v1/systems/Bench/components', json({ name: 'monitor' }));
  const packageText = (await api('POST', '/api/v1/packages', json({ system: 'Bench' }))).body.toString();

  async function provision(deviceId: string): Promise<string> {
    const dir = join(dataDir, 'devices', deviceId);
    const init = await initDevice({ clock: systemClock, random }, { packageText, component: 'monitor', deviceId, deviceLabel: deviceId, dir });
    const submitted = await api('POST', '/api/v1/requests', { bytes: Buffer.from(init.requestText), type: 'application/vnd.provisio.request+json' });
    const id = (JSON.parse(submitted.body.toString()) as { request: { id: string } }).request.id;
    await api('POST', `/api/v1/requests/${id}/approve`);
    const profile = await api('GET', `/api/v1/requests/${id}/profile`);
    await installProfile({ clock: systemClock }, { dir, profileText: profile.body });
    return dir;
  }

  const stationUrl = service.stationUrl as string;
  const percentile = (xs: number[], p: number) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(xs.length * p))] ?? NaN;

  // Latency: 200 check-ins with the status cached; then 20 each after a cache-busting device.
  const probe = await provision('BENCH-LAT');
  await checkInAtStation({}, { dir: probe, stationUrl });
  const cached: number[] = [];
  for (let i = 0; i < 200; i++) {
    const t0 = performance.now();
    await checkInAtStation({}, { dir: probe, stationUrl });
    cached.push(performance.now() - t0);
  }
  const fresh: number[] = [];
  for (let i = 0; i < 20; i++) {
    const dir = await provision(`BENCH-NEW-${i}`);
    const t0 = performance.now();
    await checkInAtStation({}, { dir, stationUrl });
    fresh.push(performance.now() - t0);
  }

  // The cut-off, per device, revoked at a random moment within its cached status's life.
  const dirs = await Promise.all(Array.from({ length: DEVICES }, (_, i) => provision(`BENCH-REV-${i}`)));
  const seen = await Promise.all(dirs.map(async (dir, i) => {
    await checkInAtStation({}, { dir, stationUrl });
    await sleep(randomInt(CUT_OFF_MS));
    const revoked = await api('POST', `/api/v1/devices/BENCH-REV-${i}/revoke`, json({ reason: 'keyCompromise' }));
    const committed = performance.now();
    if (revoked.status !== 200) throw new Error(`revoke: ${revoked.status} ${revoked.body.toString()}`);
    for (let attempts = 1; ; attempts++) {
      try {
        await checkInAtStation({}, { dir, stationUrl });
      } catch {
        return { ms: performance.now() - committed, attempts };
      }
      if (performance.now() - committed > CUT_OFF_MS * 2 + 10_000) return { ms: Number.NaN, attempts };
      await sleep(POLL_MS);
    }
  }));

  const f = (ms: number) => `${ms.toFixed(1)} ms`;
  console.log(`machine: ${cpus()[0]?.model ?? '?'} (${cpus().length} cores), Node.js ${process.version}`);
  console.log(`station cut-off setting: ${CUT_OFF_MS / 1000} s; polling every ${POLL_MS} ms`);
  console.log(`check-in, status cached:        p50 ${f(percentile(cached, 0.5))}  p99 ${f(percentile(cached, 0.99))}  (n=${cached.length}, new TLS connection each)`);
  console.log(`check-in, status asked of OCSP: p50 ${f(percentile(fresh, 0.5))}  p99 ${f(percentile(fresh, 0.99))}  (n=${fresh.length})`);
  for (const [i, s] of seen.entries()) console.log(`revoked device ${i}: refused ${(s.ms / 1000).toFixed(2)} s after the revocation committed (${s.attempts} attempts)`);
  const worst = Math.max(...seen.map((s) => s.ms));
  console.log(`worst cut-off achieved: ${(worst / 1000).toFixed(2)} s (setting ${CUT_OFF_MS / 1000} s + one poll interval + one check-in)`);
} finally {
  await service.close();
}
