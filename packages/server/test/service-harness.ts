/**
 * Test harness: the real service on a loopback port (HTTPS, a real SQLite file or PostgreSQL
 * database), an HTTPS client that trusts only its root, and request files made the way a device
 * makes them.
 */
import { request as httpsRequest } from 'node:https';
import { readFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { type Clock, createCsr, createKeySigner, encodePem, generateKey, type KeyType, type Signer } from '@provisio/pki';
import { createProvisioningRequest, openPackage, parsePackage, signJws } from '@provisio/protocol';
import { tempDir } from '@provisio/testkit';
import { type RunningService, type ServeOptions, startService } from '../src/app.js';

export interface Reply {
  readonly status: number;
  readonly body: Buffer;
  readonly headers: Record<string, string | string[] | undefined>;
  json<T = Record<string, any>>(): T; // eslint-disable-line @typescript-eslint/no-explicit-any -- test replies are read loosely
}

export interface TestService {
  readonly service: RunningService;
  readonly dataDir: string;
  readonly rootPem: string;
  readonly adminToken: string;
  call(method: 'GET' | 'POST' | 'PATCH' | 'DELETE', path: string, options?: { token?: string | null; json?: unknown; raw?: Buffer; contentType?: string; headers?: Record<string, string> }): Promise<Reply>;
  close(): Promise<void>;
}

export interface TestServiceOptions {
  readonly db?: string;
  readonly dbSchema?: string;
  readonly dataDir?: string;
  readonly port?: number;
  readonly admission?: { maxInFlight: number; maxQueued: number };
  readonly crlIntervalMs?: number;
  /** The issuing CA files of another service (a second node sharing its database). */
  readonly caDir?: string;
  readonly clock?: Clock;
  readonly clientRate?: { ratePerSecond: number; burst: number };
  readonly longPoll?: { maxHeld: number };
  /** Further service options (publication and station listeners, expiry window). */
  readonly serve?: Partial<ServeOptions>;
  /** The web UI directory served at `/` (default: the built @provisio/web, when built). */
  readonly webRoot?: string | null;
}

export async function startTestService(options: TestServiceOptions = {}): Promise<TestService> {
  const dataDir = options.dataDir ?? tempDir('provisio-svc-');
  const service = await startService({
    dataDir,
    host: '127.0.0.1',
    port: options.port ?? 0,
    ...(options.db ? { db: options.db } : {}),
    ...(options.dbSchema ? { dbSchema: options.dbSchema } : {}),
    ...(options.admission ? { admission: options.admission } : {}),
    ...(options.crlIntervalMs ? { crlIntervalMs: options.crlIntervalMs } : {}),
    ...(options.caDir ? { caDir: options.caDir } : {}),
    ...(options.clock ? { clock: options.clock } : {}),
    // Per-client limiting is off unless a test sets it: the tests' many quick calls share one token.
    clientRate: options.clientRate ?? { ratePerSecond: 0 },
    ...(options.longPoll ? { longPoll: options.longPoll } : {}),
    ...options.serve,
    ...(options.webRoot !== undefined ? { webRoot: options.webRoot } : {}),
  });
  const rootPem = readFileSync(service.rootPath, 'utf8');
  const adminToken = readFileSync(service.adminTokenPath, 'utf8').trim();
  const call: TestService['call'] = (method, path, o = {}) =>
    new Promise((resolve, reject) => {
      const token = o.token === undefined ? adminToken : o.token;
      const body = o.raw ?? (o.json !== undefined ? Buffer.from(JSON.stringify(o.json)) : undefined);
      const req = httpsRequest(
        `${service.url}${path}`,
        {
          method,
          ca: rootPem,
          agent: false,
          headers: {
            ...(token ? { authorization: `Bearer ${token}` } : {}),
            ...(body ? { 'content-type': o.contentType ?? 'application/json', 'content-length': String(body.length) } : {}),
            ...o.headers,
          },
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () => {
            const buf = Buffer.concat(chunks);
            resolve({ status: res.statusCode ?? 0, body: buf, headers: res.headers, json: () => JSON.parse(buf.toString('utf8')) });
          });
        },
      );
      req.on('error', reject);
      if (body) req.write(body);
      req.end();
    });
  return { service, dataDir, rootPem, adminToken, call, close: () => service.close() };
}

export const REQUEST_MEDIA = 'application/vnd.provisio.request+json';

/**
 * Creates system + component + package through the API; returns the package file text.
 * The system keeps separation of duties OFF unless `options.separationOfDuties` is true: most
 * tests upload and approve with the one admin token, which separation of duties (on by default
 * for a real system, D28) refuses. Tests of separation of duties itself pass true, or create
 * their system without the setting and check the default.
 */
export async function setUpSystem(
  t: TestService,
  system = 'ZMonitor',
  component = 'bedside monitor',
  keyTypes: KeyType[] = ['p256', 'rsa3072'],
  options: { separationOfDuties?: boolean } = {},
): Promise<{ packageText: string; packageId: string }> {
  let r = await t.call('POST', '/api/v1/systems', { json: { name: system, separationOfDuties: options.separationOfDuties ?? false } });
  if (r.status !== 201) throw new Error(`system: ${r.status} ${r.body}`);
  r = await t.call('POST', `/api/v1/systems/${encodeURIComponent(system)}/components`, { json: { name: component, keyTypes } });
  if (r.status !== 201) throw new Error(`component: ${r.status} ${r.body}`);
  r = await t.call('POST', '/api/v1/packages', { json: { system } });
  if (r.status !== 201) throw new Error(`package: ${r.status} ${r.body}`);
  return { packageText: r.body.toString('utf8'), packageId: String(r.headers['x-package-id']) };
}

export interface DeviceRequest {
  readonly text: string;
  readonly deviceKey: Signer;
}

/** A provisioning request made as a device makes it; `override` changes payload fields. */
export async function makeRequest(
  packageText: string,
  deviceId: string,
  override: {
    component?: string;
    system?: string;
    nonce?: string;
    createdAt?: Date;
    expiresAt?: Date;
    deviceKey?: Signer;
    mock?: boolean;
    keyType?: KeyType;
    /** What the CSR asks for (the certificate never takes it; a DNS name is refused at creation). */
    csrNames?: { cn: string; dns?: string };
  } = {},
): Promise<DeviceRequest> {
  const pkg = parsePackage(packageText);
  const now = new Date();
  const opened = openPackage(pkg, now);
  const deviceKey = override.deviceKey ?? createKeySigner((await generateKey(override.keyType ?? 'p256')).privateKey);
  const csr = await createCsr(deviceKey, {
    subject: [{ type: 'CN', value: override.csrNames?.cn ?? deviceId }],
    ...(override.csrNames?.dns ? { subjectAltName: [{ type: 'dns' as const, value: override.csrNames.dns }] } : {}),
  });
  const text = await createProvisioningRequest({
    payload: {
      packageId: pkg.packageId,
      system: override.system ?? pkg.system,
      component: override.component ?? pkg.components[0]?.name ?? 'x',
      deviceId,
      deviceLabel: `Bed ${deviceId}`,
      hardwareSerial: `SN-${deviceId}`,
      firmwareVersion: '1.0.0',
      nonce: override.nonce ?? randomBytes(16).toString('base64url'),
      createdAt: (override.createdAt ?? now).toISOString(),
      expiresAt: (override.expiresAt ?? new Date(now.getTime() + 3600_000)).toISOString(),
      csr: csr.toString('base64'),
      mock: override.mock ?? false,
    },
    device: deviceKey,
    bootstrap: opened.bootstrapSigner,
    bootstrapChain: opened.bootstrapChain.map((c) => c.der),
  });
  return { text, deviceKey };
}

export function pem(der: Buffer): string {
  return encodePem('CERTIFICATE', der);
}

/**
 * Re-signs a request's exact payload with another device key (header jwk = that key) and the
 * package's bootstrap credential: what an attacker holding someone else's CSR would send.
 */
export async function resignWithDeviceKey(text: string, packageText: string, device: Signer): Promise<string> {
  const jws = JSON.parse(text) as { payload: string };
  const opened = openPackage(parsePackage(packageText), new Date());
  const signed = await signJws(Buffer.from(jws.payload, 'base64url'), [
    { signer: device, header: { typ: 'provisio-request+jws', kid: 'device', jwk: device.publicKey.jwk } },
    { signer: opened.bootstrapSigner, header: { kid: 'bootstrap', x5c: opened.bootstrapChain.map((c) => c.der.toString('base64')) } },
  ]);
  return JSON.stringify(signed);
}

const STATE_TABLES = ['requests', 'devices', 'certificates', 'profiles', 'gateways', 'packages', 'blocked_keys', 'audit_log', 'enrollment_tokens', 'pairing_codes'] as const;

/**
 * Row counts of the tables issuance writes and the audit chain's head, read from the service's
 * SQLite file: equal before and after a refusal means it wrote nothing.
 */
export function databaseState(t: TestService): Record<string, unknown> {
  const db = new Database(join(t.dataDir, 'provisio.db'), { readonly: true });
  try {
    const counts = Object.fromEntries(STATE_TABLES.map((table) => [table, (db.prepare(`select count(*) as n from ${table}`).get() as { n: number }).n]));
    return {
      ...counts,
      // A one-time secret's use is an update, not a row: its count is part of the state.
      tokenUses: db.prepare('select coalesce(sum(uses), 0) as n, max(last_used_at) as last from enrollment_tokens').get(),
      pairings: db.prepare('select device_id, failed_attempts, locked_at, used_at, used_request_id from pairing_codes order by device_id').all(),
      auditHead: db.prepare('select last_seq, last_hash from audit_head').get(),
    };
  } finally {
    db.close();
  }
}
