/**
 * `npm run bench:ui`: the Devices list API (GET /api/v1/devices, what the web UI's Devices page
 * calls) with 100,000 devices in a SQLite file — the first page, a deep page, filters, a text
 * search and column sorts, in ms per call. The devices, their requests and (for those approved or
 * provisioned) certificates are copies of one real request and certificate the service made,
 * written straight into the database before the clock starts. Prints figures; asserts nothing
 * (but stops on a reply that is not 200, since its figure would mean nothing).
 */
import { join } from 'node:path';
import { cpus, totalmem } from 'node:os';
import Database from 'better-sqlite3';
import { makeRequest, REQUEST_MEDIA, setUpSystem, startTestService, type TestService } from '../packages/server/test/service-harness.js';

const DEVICES = Number(process.env.BENCH_DEVICES ?? 100_000);
const CALLS = Number(process.env.BENCH_CALLS ?? 20);
const STATES = ['pending', 'approved', 'provisioned', 'rejected', 'revoked'] as const;

/** Copies the one real device (its request and certificate) DEVICES times, ids DEV-000000…. */
function seed(file: string, templateDevice: string): void {
  const db = new Database(file);
  try {
    const device = db.prepare('select * from devices where device_id = ?').get(templateDevice) as Record<string, unknown>;
    const request = db.prepare('select * from requests where id = ?').get(device.current_request_id) as Record<string, unknown>;
    const certificate = db.prepare('select * from certificates where device_id = ?').get(templateDevice) as Record<string, unknown>;
    const insert = (table: string, row: Record<string, unknown>) => {
      const columns = Object.keys(row);
      return db.prepare(`insert into ${table} (${columns.join(', ')}) values (${columns.map((c) => `@${c}`).join(', ')})`);
    };
    const insertRequest = insert('requests', request);
    const insertDevice = insert('devices', device);
    const insertCertificate = insert('certificates', certificate);
    const base = Number(device.created_at);
    db.transaction(() => {
      for (let i = 0; i < DEVICES; i++) {
        const n = String(i).padStart(6, '0');
        const id = `DEV-${n}`;
        const state = STATES[i % STATES.length] as string;
        const at = base - (DEVICES - i) * 1000;
        const hex = i.toString(16).padStart(16, '0');
        insertRequest.run({
          ...request, id: `req_bench${n}`, device_id: id, device_label: `Bed ${n}`, hardware_serial: `SN-${n}`, nonce: `bench${n}`,
          content_hash: `${hex}${'0'.repeat(48)}`, public_key_fingerprint: `${'a'.repeat(48)}${hex}`, created_at: at,
          state: state === 'pending' ? 'pending' : state === 'rejected' ? 'rejected' : 'approved',
        });
        // One provisioned device in 50 asks to be reprovisioned: it stays provisioned, with a pending request.
        const reprovision = state === 'provisioned' && i % 50 === 2;
        if (reprovision) {
          insertRequest.run({
            ...request, id: `req_rebench${n}`, device_id: id, device_label: `Bed ${n}`, hardware_serial: `SN-${n}`, nonce: `rebench${n}`, kind: 'reprovision',
            content_hash: `${hex}${'1'.repeat(48)}`, public_key_fingerprint: `${'c'.repeat(48)}${hex}`, created_at: at + 500, state: 'pending',
          });
        }
        // The pending request columns the store keeps (migration 8), as it would have set them.
        const pending = state === 'pending'
          ? { pending_request_id: `req_bench${n}`, pending_request_kind: 'provision', pending_request_expires_at: request.expires_at }
          : reprovision
            ? { pending_request_id: `req_rebench${n}`, pending_request_kind: 'reprovision', pending_request_expires_at: request.expires_at }
            : { pending_request_id: null, pending_request_kind: null, pending_request_expires_at: null };
        insertDevice.run({ ...device, ...pending, device_id: id, label: `Bed ${n}`, state, current_request_id: `req_bench${n}`, created_at: at, updated_at: at + (i % 997) * 1000 });
        if (state === 'approved' || state === 'provisioned' || state === 'revoked') {
          insertCertificate.run({
            ...certificate, serial: `7e${hex}`, device_id: id, request_id: `req_bench${n}`, fingerprint: `${'b'.repeat(48)}${hex}`,
            status: state === 'revoked' ? 'revoked' : 'active', created_at: at,
          });
        }
      }
    })();
    db.pragma('optimize');
  } finally {
    db.close();
  }
}

async function perCall(t: TestService, query: string): Promise<{ ms: number; total: number }> {
  const get = async () => {
    const r = await t.call('GET', `/api/v1/devices?${query}`);
    if (r.status !== 200) throw new Error(`GET /api/v1/devices?${query}: ${r.status} ${r.body.toString()}`);
    return r.json().total as number;
  };
  const total = await get(); // warm
  const start = performance.now();
  for (let i = 0; i < CALLS; i++) await get();
  return { ms: (performance.now() - start) / CALLS, total };
}

export async function benchDevicesList(): Promise<void> {
  const t = await startTestService({ webRoot: null });
  try {
    const { packageText } = await setUpSystem(t);
    const r = await t.call('POST', '/api/v1/requests', { raw: Buffer.from((await makeRequest(packageText, 'TEMPLATE')).text), contentType: REQUEST_MEDIA });
    if (r.status !== 201) throw new Error(`template request: ${r.status} ${r.body.toString()}`);
    if ((await t.call('POST', `/api/v1/requests/${r.json().request.id as string}/approve`)).status !== 200) throw new Error('template approval failed');
    const seeded = performance.now();
    seed(join(t.dataDir, 'provisio.db'), 'TEMPLATE');
    console.log(`\nDevices list API, SQLite, ${DEVICES} devices seeded in ${((performance.now() - seeded) / 1000).toFixed(1)} s (not timed); ${CALLS} calls each after one warm-up, over HTTPS (a new connection per call)`);
    console.log(`machine: ${cpus()[0]?.model ?? 'unknown'} (${cpus().length} cores), ${Math.round(totalmem() / 2 ** 30)} GiB, Node.js ${process.version}`);
    const deep = Math.max(0, DEVICES - 25);
    const cases: [string, string][] = [
      ['first page, pending first (the page\'s default)', 'sort=pending-first&limit=25&offset=0'],
      ['first page, default order (updated)', 'limit=25&offset=0'],
      [`deep page (offset ${deep}), pending first`, `sort=pending-first&limit=25&offset=${deep}`],
      [`deep page (offset ${deep}), by device id`, `sort=device-id&limit=25&offset=${deep}`],
      ['filter state=provisioned', 'state=provisioned&sort=pending-first&limit=25&offset=0'],
      ['filter needs approval (a pending request of any kind)', 'needsApproval=true&sort=pending-first&limit=25&offset=0'],
      ['filter needs approval + state=provisioned', 'needsApproval=true&state=provisioned&sort=pending-first&limit=25&offset=0'],
      ['filter system + component + state', 'system=ZMonitor&component=bedside%20monitor&state=approved&sort=pending-first&limit=25&offset=0'],
      ['filter transport=upload', 'transport=upload&sort=pending-first&limit=25&offset=0'],
      ['filter certificate expires within 30 days', 'expiresWithinDays=30&sort=pending-first&limit=25&offset=0'],
      ['filter certificate expires within 400 days', 'expiresWithinDays=400&sort=pending-first&limit=25&offset=0'],
      ['text search q=DEV-0999 (id prefix)', 'q=DEV-0999&sort=pending-first&limit=25&offset=0'],
      ['text search q=SN-04242 (hardware serial)', 'q=SN-04242&sort=pending-first&limit=25&offset=0'],
      ['text search q=nothing-matches', 'q=nothing-matches&sort=pending-first&limit=25&offset=0'],
      ['text search q=Bed (label, every device matches)', 'q=Bed&sort=pending-first&limit=25&offset=0'],
      ['text search, 20 hex characters of a key SHA-256', `q=${'a'.repeat(4)}${(4242).toString(16).padStart(16, '0')}&sort=pending-first&limit=25&offset=0`],
      ['text search q=42 (two characters: a scan)', 'q=42&sort=pending-first&limit=25&offset=0'],
      ['sort label desc, first page', 'sort=label&direction=desc&limit=25&offset=0'],
      ['sort created asc, first page', 'sort=created&direction=asc&limit=25&offset=0'],
      ['sort state, first page', 'sort=state&limit=25&offset=0'],
    ];
    console.log(`${'query'.padEnd(52)} ${'ms/call'.padStart(9)} ${'matches'.padStart(9)}`);
    for (const [name, query] of cases) {
      const { ms, total } = await perCall(t, query);
      console.log(`${name.padEnd(52)} ${ms.toFixed(1).padStart(9)} ${String(total).padStart(9)}`);
    }
  } finally {
    await t.close();
  }
}

if (import.meta.url === `file://${process.argv[1]}`) await benchDevicesList();
