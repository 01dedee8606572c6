/**
 * `npm run bench:ui`: the Devices list API (GET /api/v1/devices, what the web UI's Devices page
 * calls) with 100,000 devices in a SQLite file and in a scratch PostgreSQL database — the first
 * page, a deep page, filters, text searches and column sorts, in ms per call. The devices, their
 * requests and (for those approved or provisioned) certificates are copies of one real request and
 * certificate the service made, written straight into the database before the clock starts.
 * BENCH_DB=sqlite or postgres runs one of them. Prints figures; asserts nothing (but stops on a
 * reply that is not 200, since its figure would mean nothing).
 */
import { join } from 'node:path';
import { cpus, totalmem } from 'node:os';
import Database from 'better-sqlite3';
import pg from 'pg';
import { makeRequest, REQUEST_MEDIA, setUpSystem, startTestService, type TestService, type TestServiceOptions } from '../packages/server/test/service-harness.js';
import { withPostgres } from './scratch-postgres.js';

const DEVICES = Number(process.env.BENCH_DEVICES ?? 100_000);
const CALLS = Number(process.env.BENCH_CALLS ?? 20);
const STATES = ['pending', 'approved', 'provisioned', 'rejected', 'revoked'] as const;

/** Copies the one real device (its request and certificate) DEVICES times, ids DEV-000000…. */
function seedSqlite(file: string, templateDevice: string): void {
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
        // The pending request columns the store keeps (migration 9), as it would have set them.
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

/**
 * The same rows as seedSqlite, copied by PostgreSQL itself from the template rows (every column
 * not named here is the template's).
 */
async function seedPostgres(url: string, templateDevice: string): Promise<void> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    await client.query('begin');
    const template = (await client.query<{ request: string; created_at: string }>('select current_request_id as request, created_at from devices where device_id = $1', [templateDevice])).rows[0];
    if (!template) throw new Error(`no template device ${templateDevice}`);
    const copy = async (table: string, overrides: Record<string, string>, where: string) => {
      const columns = (await client.query<{ c: string }>('select column_name as c from information_schema.columns where table_schema = current_schema() and table_name = $1 order by ordinal_position', [table])).rows.map((r) => r.c);
      await client.query(`insert into ${table} (${columns.join(', ')}) select ${columns.map((c) => overrides[c] ?? `t.${c}`).join(', ')}
        from ${table} t cross join generate_series(0, ${DEVICES - 1}) i where ${where}`, [template.request, templateDevice]);
    };
    const n = `lpad(i::text, 6, '0')`;
    const hex = `lpad(to_hex(i), 16, '0')`;
    const at = `${Number(template.created_at)} - (${DEVICES} - i) * 1000`;
    const reprovision = `i % 5 = 2 and i % 50 = 2`;
    await copy('requests', {
      id: `'req_bench' || ${n}`, device_id: `'DEV-' || ${n}`, device_label: `'Bed ' || ${n}`, hardware_serial: `'SN-' || ${n}`, nonce: `'bench' || ${n}`,
      content_hash: `${hex} || repeat('0', 48)`, public_key_fingerprint: `repeat('a', 48) || ${hex}`, created_at: at,
      state: `case i % 5 when 0 then 'pending' when 3 then 'rejected' else 'approved' end`,
    }, 't.id = $1 and $2::text is not null');
    await copy('requests', {
      id: `'req_rebench' || ${n}`, device_id: `'DEV-' || ${n}`, device_label: `'Bed ' || ${n}`, hardware_serial: `'SN-' || ${n}`, nonce: `'rebench' || ${n}`, kind: `'reprovision'`,
      content_hash: `${hex} || repeat('1', 48)`, public_key_fingerprint: `repeat('c', 48) || ${hex}`, created_at: `${at} + 500`, state: `'pending'`,
    }, `t.id = $1 and $2::text is not null and ${reprovision}`);
    await copy('devices', {
      device_id: `'DEV-' || ${n}`, label: `'Bed ' || ${n}`, state: `(array['pending', 'approved', 'provisioned', 'rejected', 'revoked'])[i % 5 + 1]`,
      current_request_id: `'req_bench' || ${n}`, created_at: at, updated_at: `${at} + (i % 997) * 1000`,
      pending_request_id: `case when i % 5 = 0 then 'req_bench' || ${n} when ${reprovision} then 'req_rebench' || ${n} end`,
      pending_request_kind: `case when i % 5 = 0 then 'provision' when ${reprovision} then 'reprovision' end`,
      pending_request_expires_at: `case when i % 5 = 0 or (${reprovision}) then (select r.expires_at from requests r where r.id = $1) end`,
    }, 't.device_id = $2');
    await copy('certificates', {
      serial: `'7e' || ${hex}`, device_id: `'DEV-' || ${n}`, request_id: `'req_bench' || ${n}`, fingerprint: `repeat('b', 48) || ${hex}`,
      status: `case when i % 5 = 4 then 'revoked' else 'active' end`, created_at: at,
    }, 't.device_id = $2 and t.request_id = $1 and i % 5 in (1, 2, 4)');
    await client.query('commit');
    // As autovacuum would: statistics, and the GIN indexes' pending lists merged (a bulk insert
    // leaves its entries there, where every search reads them one by one).
    await client.query('vacuum analyze');
  } finally {
    await client.end();
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

async function benchOne(name: string, options: TestServiceOptions, seed: (t: TestService) => Promise<void>): Promise<void> {
  const t = await startTestService({ ...options, webRoot: null });
  try {
    const { packageText } = await setUpSystem(t);
    const r = await t.call('POST', '/api/v1/requests', { raw: Buffer.from((await makeRequest(packageText, 'TEMPLATE')).text), contentType: REQUEST_MEDIA });
    if (r.status !== 201) throw new Error(`template request: ${r.status} ${r.body.toString()}`);
    if ((await t.call('POST', `/api/v1/requests/${r.json().request.id as string}/approve`)).status !== 200) throw new Error('template approval failed');
    const seeded = performance.now();
    await seed(t);
    console.log(`\nDevices list API, ${name}, ${DEVICES} devices seeded in ${((performance.now() - seeded) / 1000).toFixed(1)} s (not timed); ${CALLS} calls each after one warm-up, over HTTPS (a new connection per call)`);
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

export async function benchDevicesList(): Promise<void> {
  const wanted = (process.env.BENCH_DB ?? 'sqlite,postgres').split(',');
  if (wanted.includes('sqlite')) {
    await benchOne('SQLite', {}, async (t) => seedSqlite(join(t.dataDir, 'provisio.db'), 'TEMPLATE'));
  }
  if (wanted.includes('postgres')) {
    await withPostgres((url) => benchOne('PostgreSQL', { db: url }, () => seedPostgres(url, 'TEMPLATE')));
  }
}

if (import.meta.url === `file://${process.argv[1]}`) await benchDevicesList();
