/**
 * The composition root: the one place where concrete pieces are wired together — the clock, the
 * CSPRNG, the store, the issuing authority, HTTP, periodic jobs. Everything else receives them.
 */
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import type { FastifyListenOptions } from 'fastify';
import type { Clock, Random, SerialNumber } from '@provisio/pki';
import { systemClock } from '@provisio/pki';
import { CHECKPOINT_FILE_NAME, CheckpointFile } from './audit/checkpoint-file.js';
import { loadAuthority, type Pkcs11CaKey } from './ca/load-authority.js';
import type { ServiceDeps } from './domain/deps.js';
import { ensureAdmin } from './domain/users.js';
import { ensureDir, writeFileAtomic } from './files.js';
import type { AdmissionOptions } from './http/admission.js';
import { buildApp } from './http/build-app.js';
import type { ClientRateOptions } from './http/client-rate-limit.js';
import { DecisionWaiters, type LongPollOptions } from './http/decision-waiters.js';
import { findWebRoot } from './http/web-static.js';
import { startCheckpointJob } from './jobs/audit-checkpoints.js';
import { startCrlJob } from './jobs/crl-publisher.js';
import { OCSP_VALIDITY_MS, OcspResponderService } from './ca/ocsp-responder.js';
import { openStore, parseStoreUrl } from './store/open-store.js';
import { type DecisionFanOut, startPgDecisionFanOut } from './store/pg-decision-fan-out.js';
import { DEFAULT_EXPIRY_WINDOW_MS } from './domain/expiry.js';
import { buildPublicationApp } from './http/publication.js';
import { ROOT_CRL_PATH } from './http/revocation-routes.js';
import { startExpiryJob } from './jobs/expiry-sweep.js';
import { type RunningStation, startStation } from './station/station-server.js';
import { type BoundPort, type Listen, bindPort } from './http/bound-port.js';

export type { Listen };

/** 1 hour: a revocation reaches relying parties that only poll the CRL within about an hour. */
export const DEFAULT_CRL_INTERVAL_MS = 3_600_000;
/** Bounds of --crl-interval: a minute (tests, demos) to a week (RFC 5280 leaves it to policy). */
export const MIN_CRL_INTERVAL_MS = 60_000;
export const MAX_CRL_INTERVAL_MS = 7 * 24 * 3_600_000;

export interface ServeOptions {
  readonly dataDir: string;
  readonly host: string;
  /** 0 picks a free port (tests). */
  readonly port: number;
  /** SQLite file path or postgres:// URL; default: DATA/provisio.db. */
  readonly db?: string;
  /** PostgreSQL schema (tests isolate themselves with one). */
  readonly dbSchema?: string;
  readonly caDir?: string;
  readonly caPassphrase?: string;
  /** The issuing CA, OCSP responder and profile signer keys in a PKCS#11 token (D44); needs caDir. */
  readonly caPkcs11?: Pkcs11CaKey;
  /** The URL devices and the CLI use when it differs from https://host:port (behind a proxy). */
  readonly publicUrl?: string;
  readonly clock?: Clock;
  readonly random?: Random;
  readonly log?: (line: string) => void;
  /** A fresh CRL at least this often (ms); default 1 hour (docs/service.md "CRL"). */
  readonly crlIntervalMs?: number;
  /** Burst limits of the expensive routes; default 64 in flight, 256 queued (docs/service.md). */
  readonly admission?: Partial<AdmissionOptions>;
  /** Per-client rate limit: default 50 calls/s with bursts of 100 per client; ratePerSecond 0 turns it off. */
  readonly clientRate?: Partial<ClientRateOptions>;
  /** Device long-polls held at once; default 1024 (docs/service.md, "Connected delivery"). */
  readonly longPoll?: Partial<LongPollOptions>;
  /**
   * The plain-HTTP publication listener (root, issuing CA, CRL, OCSP; docs/service.md
   * "Publication listener"); new certificates name its URLs. null: none, and the URLs are https.
   * Default: a free port on the service's host when `port` is 0 (tests), else none — a fixed
   * port (DEFAULT_PUBLISH_PORT) is taken only when asked for (the CLI asks when --port is not
   * given; D33), so a service started on another port never competes for 8080.
   */
  readonly publishListen?: Listen | null;
  /** The publication base URL written into certificates when it differs from http://host:port. */
  readonly publishUrl?: string;
  /** The central station's mutual-TLS listener (docs/station.md); default: none. */
  readonly stationListen?: Listen | null;
  /** The station's cut-off: how long a revocation status is reused (default 60 s). */
  readonly stationStatusCacheMs?: number;
  /** Where the station asks; default the OCSP and CRL URLs the certificates name. */
  readonly stationOcspUrl?: string | null;
  readonly stationCrlUrl?: string | null;
  /** The window of the certificate.expiring audit notices (default 30 days). */
  readonly expiryWindowMs?: number;
  /** The admin web UI's built files, null for none; default: the @provisio/web build when present. */
  readonly webRoot?: string | null;
  /** The append-only copy of every audit checkpoint (docs/audit.md); default DATA/audit-checkpoints.jsonl. */
  readonly auditCheckpointFile?: string;
  /** How often a checkpoint is signed when the chain grew; default 1 minute (D30). */
  readonly auditCheckpointIntervalMs?: number;
}

/** 8080: the usual unprivileged stand-in for port 80, where CRL and OCSP URLs normally point. */
export const DEFAULT_PUBLISH_PORT = 8080;

export interface RunningService {
  readonly url: string;
  readonly port: number;
  readonly rootPath: string;
  readonly rootFingerprint: string;
  readonly isDevelopmentRoot: boolean;
  readonly createdDevelopmentCa: boolean;
  readonly adminTokenPath: string;
  /** Set only on the first start, when the admin user was created: shown once. */
  readonly adminPassword: string | null;
  /** The publication listener's base URL (plain http), or null when it is off. */
  readonly publishUrl: string | null;
  /** The central station's URL (https, mutual TLS), or null when it is off. */
  readonly stationUrl: string | null;
  /** The directory of the admin web UI served at `/`, or null when there is none (not built). */
  readonly webRoot: string | null;
  readonly deps: ServiceDeps;
  close(): Promise<void>;
}

export async function startService(options: ServeOptions): Promise<RunningService> {
  const clock = options.clock ?? systemClock;
  const random = options.random ?? { bytes: (n: number) => randomBytes(n) };
  const log = options.log ?? (() => {});
  const crlIntervalMs = options.crlIntervalMs ?? DEFAULT_CRL_INTERVAL_MS;
  if (!Number.isSafeInteger(crlIntervalMs) || crlIntervalMs < MIN_CRL_INTERVAL_MS || crlIntervalMs > MAX_CRL_INTERVAL_MS) {
    throw new RangeError(`the CRL interval must be ${MIN_CRL_INTERVAL_MS / 1000} s to ${MAX_CRL_INTERVAL_MS / 3_600_000} h; got ${crlIntervalMs} ms`);
  }
  // Bind first, then initialise, then serve (D33): a port in use fails the start before anything
  // is written — no data directory, database, CA, admin or token. Binding also fixes the ports
  // that certificates and profiles name (port 0, in tests, is the one the OS picked).
  const publishListen = options.publishListen === undefined ? (options.port === 0 ? { host: options.host, port: 0 } : null) : options.publishListen;
  const ports = await bindListeners([
    { listen: { host: options.host, port: options.port }, hint: '--port N (or --host HOST)' },
    publishListen ? { listen: publishListen, hint: '--publish-listen HOST:PORT or off' } : null,
    options.stationListen ? { listen: options.stationListen, hint: '--station-listen HOST:PORT' } : null,
  ]);
  const [mainPort, publishPort, stationPort] = ports;
  if (!mainPort) throw new Error('the service listener was not bound');
  const releasePorts = () => Promise.all(ports.map((p) => p?.release()));
  let store: Awaited<ReturnType<typeof openStore>> | null = null;
  let fanOut: DecisionFanOut | null = null;
  try {
    ensureDir(options.dataDir);
    const dbUrl = options.db ?? join(options.dataDir, 'provisio.db');
    store = await openStore({ url: dbUrl, ...(options.dbSchema ? { schema: options.dbSchema } : {}) });
    const port = mainPort.port;
    const serviceUrl = options.publicUrl ?? `https://${hostInUrl(options.host)}:${port}`;
    const publishUrl = publishListen && publishPort ? (options.publishUrl ?? `http://${hostInUrl(publishListen.host)}:${publishPort.port}`) : null;
    const revocationBase = publishUrl ?? serviceUrl;
    const urls = { serviceUrl, ocspUrl: `${revocationBase}/ocsp`, crlUrl: `${revocationBase}/crl/issuing.crl` };
    const tlsNames = [...new Set([new URL(serviceUrl).hostname.replace(/^\[|\]$/g, ''), 'localhost', '127.0.0.1'])];
    const loaded = await loadAuthority({
      dataDir: options.dataDir,
      ...(options.caDir ? { caDir: options.caDir } : {}),
      ...(options.caPassphrase ? { caPassphrase: options.caPassphrase } : {}),
      ...(options.caPkcs11 ? { caPkcs11: options.caPkcs11 } : {}),
      clock,
      random,
      store,
      urls: { crl: urls.crlUrl, ocsp: urls.ocspUrl, caIssuers: `${revocationBase}/ca/intermediate.cer` },
      tlsNames,
      rootCrlUrl: `${revocationBase}${ROOT_CRL_PATH}`,
      log,
    });
    // The OCSP responder's cache is told of revocations once they commit (domain/revocation.ts).
    let ocsp: OcspResponderService | null = null;
    const revocation = { crlIntervalMs, revoked: (serials: readonly SerialNumber[]) => ocsp?.invalidate(serials) };
    const decisionWaiters = new DecisionWaiters(options.longPoll);
    // With PostgreSQL, several nodes may serve one fleet: a decision wakes the polls held on all.
    if (parseStoreUrl(dbUrl).kind === 'postgres') {
      fanOut = await startPgDecisionFanOut({ url: dbUrl, ...(options.dbSchema ? { schema: options.dbSchema } : {}), onRemote: (id) => decisionWaiters.decided(id), log });
    }
    const decisions = {
      decided: (id: string) => {
        decisionWaiters.decided(id);
        fanOut?.decided(id);
      },
    };
    const auditCheckpointFile = new CheckpointFile(options.auditCheckpointFile ?? join(options.dataDir, CHECKPOINT_FILE_NAME));
    const deps: ServiceDeps = { clock, random, store, authority: loaded.authority, urls, revocation, decisions, auditCheckpointFile };
    ocsp = new OcspResponderService(deps, OCSP_VALIDITY_MS, log);
    // The token file is written inside the admin's creating transaction, before it commits: no
    // interrupted first start leaves an admin whose token nobody has.
    const adminTokenPath = join(options.dataDir, 'admin.token');
    const admin = await ensureAdmin(deps, (token) => writeFileAtomic(adminTokenPath, `${token}\n`));

    const crlJob = await startCrlJob(deps, ocsp, log);
    const expiryJob = await startExpiryJob(deps, log, { windowMs: options.expiryWindowMs ?? DEFAULT_EXPIRY_WINDOW_MS });
    const webRoot = options.webRoot === undefined ? findWebRoot() : options.webRoot;
    const app = await buildApp(deps, {
      tls: loaded.tls,
      log,
      ocsp,
      decisionWaiters,
      ...(options.admission ? { admission: options.admission } : {}),
      ...(options.clientRate ? { clientRate: options.clientRate } : {}),
      webRoot,
    });
    const publication = publishPort ? await buildPublicationApp(deps, ocsp, log) : null;
    let station: RunningStation | null = null;
    try {
      await app.listen(mainPort.adopt() as FastifyListenOptions);
      if (publication && publishPort) await publication.listen(publishPort.adopt() as FastifyListenOptions);
      if (options.stationListen && stationPort) {
        station = await startStation({
          ...options.stationListen,
          bound: stationPort,
          tls: loaded.tls,
          root: loaded.authority.root,
          issuer: loaded.authority.intermediate,
          ocspUrl: options.stationOcspUrl === undefined ? urls.ocspUrl : options.stationOcspUrl,
          crlUrl: options.stationCrlUrl === undefined ? urls.crlUrl : options.stationCrlUrl,
          ...(options.stationStatusCacheMs !== undefined ? { statusCacheMs: options.stationStatusCacheMs } : {}),
          clock,
          store,
          log,
        });
      }
    } catch (e) {
      await app.close();
      await publication?.close();
      await expiryJob.stop();
      await crlJob.stop();
      await loaded.close();
      throw e;
    }
    const checkpoints = startCheckpointJob(deps, log, options.auditCheckpointIntervalMs);
    const openedStore = store;
    return {
      url: serviceUrl,
      port,
      rootPath: loaded.rootPath,
      rootFingerprint: loaded.rootFingerprint,
      isDevelopmentRoot: loaded.isDevelopmentRoot,
      createdDevelopmentCa: loaded.createdDevelopmentCa,
      adminTokenPath,
      adminPassword: admin?.password ?? null,
      publishUrl,
      stationUrl: station?.url ?? null,
      webRoot,
      deps,
      async close() {
        await station?.close();
        // Held long-polls answer 202 now instead of delaying shutdown by up to 30 s.
        decisionWaiters.close();
        await app.close();
        await publication?.close();
        await expiryJob.stop();
        await checkpoints.stop();
        await crlJob.stop();
        await fanOut?.close();
        await openedStore.close();
        await loaded.close();
      },
    };
  } catch (e) {
    await releasePorts();
    await fanOut?.close();
    await store?.close();
    throw e;
  }
}

/** Binds each listener in turn; on a failure the ones already bound are closed again. */
async function bindListeners(wanted: readonly ({ listen: Listen; hint: string } | null)[]): Promise<(BoundPort | null)[]> {
  const bound: (BoundPort | null)[] = [];
  try {
    for (const w of wanted) bound.push(w ? await bindPort(w.listen, w.hint) : null);
    return bound;
  } catch (e) {
    await Promise.all(bound.map((b) => b?.release()));
    throw e;
  }
}

function hostInUrl(host: string): string {
  return host.includes(':') ? `[${host}]` : host;
}
