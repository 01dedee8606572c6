/**
 * The provisioning service through its real HTTPS API, on SQLite and on PostgreSQL: uploads of
 * request files and approvals (certificate + certified profile signed and stored), at a fixed
 * concurrency over keep-alive connections. The service runs in this same process as the load
 * generator. Request files are made before the clock starts. Prints figures; asserts nothing
 * (but stops on a reply that is not a success, since its figure would mean nothing).
 */
import { randomBytes } from 'node:crypto';
import { Agent, request as httpsRequest } from 'node:https';
import { cpus } from 'node:os';
import { makeRequest, REQUEST_MEDIA, setUpSystem, startTestService, type TestService } from '../packages/server/test/service-harness.js';
import { withPostgres } from './scratch-postgres.js';

const N = Number(process.env.BENCH_REQUESTS ?? 2000);
const C = 16;
const WARM_UP = 2 * C;

interface Phase {
  readonly perSecond: number;
  readonly p50: number;
  readonly p99: number;
}

function post(t: TestService, agent: Agent, path: string, body: Buffer | null, expected: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const req = httpsRequest(`${t.service.url}${path}`, {
      method: 'POST',
      agent,
      ca: t.rootPem,
      headers: {
        authorization: `Bearer ${t.adminToken}`,
        ...(body ? { 'content-type': REQUEST_MEDIA, 'content-length': String(body.length) } : {}),
      },
    }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        if (res.statusCode === expected) resolve(text);
        else reject(new Error(`POST ${path}: ${res.statusCode} ${text}`));
      });
    });
    req.on('error', reject);
    req.end(body ?? undefined);
  });
}

/** Runs `fn` over every item with C in flight; returns the rate and latency percentiles. */
async function phase<T, R>(items: readonly T[], fn: (item: T) => Promise<R>): Promise<{ results: R[]; figures: Phase }> {
  const results: R[] = new Array(items.length);
  const latencies: number[] = new Array(items.length);
  let next = 0;
  const start = performance.now();
  await Promise.all(Array.from({ length: C }, async () => {
    while (next < items.length) {
      const i = next++;
      const t0 = performance.now();
      results[i] = await fn(items[i] as T);
      latencies[i] = performance.now() - t0;
    }
  }));
  const seconds = (performance.now() - start) / 1000;
  latencies.sort((a, b) => a - b);
  const at = (q: number) => latencies[Math.floor(q * (latencies.length - 1))] ?? NaN;
  return { results, figures: { perSecond: items.length / seconds, p50: at(0.5), p99: at(0.99) } };
}

async function benchOne(db?: string): Promise<{ uploads: Phase; approvals: Phase }> {
  const t = await startTestService(db ? { db } : {});
  const agent = new Agent({ keepAlive: true, maxSockets: C, ca: t.rootPem });
  try {
    const { packageText } = await setUpSystem(t, 'Bench', 'bedside monitor', ['p256']);
    const tag = randomBytes(3).toString('hex').toUpperCase();
    const files: Buffer[] = [];
    const made = performance.now();
    for (let i = 0; i < WARM_UP + N; i++) {
      files.push(Buffer.from((await makeRequest(packageText, `DEV-${tag}-${String(i).padStart(6, '0')}`)).text, 'utf8'));
    }
    console.log(`${db ? 'PostgreSQL' : 'SQLite'}: ${files.length} request files made in ${((performance.now() - made) / 1000).toFixed(1)} s (not timed)`);
    const upload = async (file: Buffer) => (JSON.parse(await post(t, agent, '/api/v1/requests', file, 201)) as { request: { id: string } }).request.id;
    const approve = (id: string) => post(t, agent, `/api/v1/requests/${encodeURIComponent(id)}/approve`, null, 200);
    // Warm-up: open the C connections and warm the JIT on both paths.
    await phase((await phase(files.slice(0, WARM_UP), upload)).results, approve);
    const up = await phase(files.slice(WARM_UP), upload);
    const ap = await phase(up.results, approve);
    return { uploads: up.figures, approvals: ap.figures };
  } finally {
    agent.destroy();
    await t.close();
  }
}

export async function benchService(): Promise<void> {
  console.log(`\nservice over HTTPS (keep-alive, ${C} in flight), ${N} requests per database after ${WARM_UP} warm-up; p256 device keys`);
  console.log(`service and load generator share this one process (${cpus().length} cores on the machine); request files made before the clock`);
  const rows: [string, { uploads: Phase; approvals: Phase } | null][] = [
    ['SQLite', await benchOne()],
    ['PostgreSQL', await withPostgres((url) => benchOne(url))],
  ];
  const ms = (x: number) => `${x.toFixed(1)} ms`.padStart(9);
  console.log(`${'database / phase'.padEnd(56)} ${'per second'.padStart(11)} ${'p50'.padStart(9)} ${'p99'.padStart(9)}`);
  for (const [db, r] of rows) {
    if (!r) {
      console.log(`${db.padEnd(56)} skipped`);
      continue;
    }
    for (const [what, f] of [['requests accepted (upload)', r.uploads], ['approvals (certificate + certified profile)', r.approvals]] as const) {
      console.log(`${`${db}: ${what}`.padEnd(56)} ${f.perSecond.toFixed(0).padStart(8)} /s ${ms(f.p50)} ${ms(f.p99)}`);
    }
  }
}
