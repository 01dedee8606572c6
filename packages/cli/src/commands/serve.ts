/** `provisio serve` and the offline `provisio audit verify --data|--db`. */
import { join } from 'node:path';
import { existsSync, readFileSync } from 'node:fs';
import { parseCertificate } from '@provisio/pki';
import {
  AuditExportInvalid,
  CHECKPOINT_FILE_NAME,
  CheckpointFile,
  DEFAULT_PUBLISH_PORT,
  type Listen,
  MAX_CRL_INTERVAL_MS,
  MIN_CRL_INTERVAL_MS,
  openStore,
  type Pkcs11CaKey,
  parsePkcs11Uri,
  readPinFile,
  startService,
  trustedCheckpointVerifier,
  verifyCheckpointSignature,
  verifyAuditExport,
  verifyStoreAudit,
} from '@provisio/server';
import { type ParsedArgs, optionalString } from '../args.js';
import { COMMON_OPTIONS, type CommandSpec } from '../command.js';
import { warn } from '../diagnostics.js';
import { CliError, EXIT, usageError } from '../errors.js';
import { readInputFile } from '../files.js';
import { AUDIT_VERIFY, SERVE } from '../help-service.js';
import type { CliDeps } from '../io.js';
import { CONNECTION_OPTIONS, connect } from '../api-client.js';
import { type AuditReport, reportAudit } from './service.js';

const UNIT_MS: Readonly<Record<string, number>> = { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/** "30m", "6h", "1d" (or plain seconds) in milliseconds, within the service's bounds. */
function durationFlag(text: string, flag: string): number {
  const match = /^(\d+)([smhd]?)$/.exec(text);
  const ms = match ? Number(match[1]) * (UNIT_MS[match[2] || 's'] ?? 1000) : Number.NaN;
  if (!Number.isSafeInteger(ms) || ms < MIN_CRL_INTERVAL_MS || ms > MAX_CRL_INTERVAL_MS) {
    throw usageError(`--${flag} must be a duration from 1m to 7d, like 30m or 6h; got "${text}"`);
  }
  return ms;
}

/** A non-negative integer limit from --FLAG or its environment variable (the flag wins). */
function limitFlag(deps: CliDeps, args: ParsedArgs, flag: string, envName: string, min: number, max: number): number | undefined {
  const text = optionalString(args, flag) ?? deps.env[envName];
  if (text === undefined || text === '') return undefined;
  if (!/^\d+$/.test(text) || Number(text) < min || Number(text) > max) {
    throw usageError(`--${flag} (or ${envName}) must be an integer ${min}-${max}; got "${text}"`);
  }
  return Number(text);
}

/** Burst and long-poll limits (docs/service.md, "Burst handling"). */
function limitOptions(deps: CliDeps, args: ParsedArgs) {
  const maxInFlight = limitFlag(deps, args, 'max-in-flight', 'PROVISIO_MAX_IN_FLIGHT', 1, 100_000);
  const maxQueued = limitFlag(deps, args, 'max-queued', 'PROVISIO_MAX_QUEUED', 0, 1_000_000);
  const ratePerSecond = limitFlag(deps, args, 'rate-per-client', 'PROVISIO_RATE_PER_CLIENT', 0, 1_000_000);
  const burst = limitFlag(deps, args, 'rate-burst', 'PROVISIO_RATE_BURST', 1, 1_000_000);
  const maxHeld = limitFlag(deps, args, 'max-held-polls', 'PROVISIO_MAX_HELD_POLLS', 0, 1_000_000);
  return {
    ...(maxInFlight !== undefined || maxQueued !== undefined
      ? { admission: { ...(maxInFlight !== undefined ? { maxInFlight } : {}), ...(maxQueued !== undefined ? { maxQueued } : {}) } }
      : {}),
    ...(ratePerSecond !== undefined || burst !== undefined
      ? { clientRate: { ...(ratePerSecond !== undefined ? { ratePerSecond } : {}), ...(burst !== undefined ? { burst } : {}) } }
      : {}),
    ...(maxHeld !== undefined ? { longPoll: { maxHeld } } : {}),
  };
}

/** HOST:PORT (IPv6 in brackets), or null for "off" when allowed. */
function listenFlag(text: string, flag: string, allowOff: boolean): Listen | null {
  if (allowOff && text === 'off') return null;
  const match = /^(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]+):(\d{1,5})$/.exec(text);
  const port = match ? Number(match[2]) : Number.NaN;
  if (!match || port > 65535) throw usageError(`--${flag} must be HOST:PORT${allowOff ? ' or off' : ''}, like 127.0.0.1:9443; got "${text.slice(0, 80)}"`);
  return { host: (match[1] as string).replace(/^\[|\]$/g, ''), port };
}

/** A duration ("60s", "5m", "30d") in milliseconds within [min, max]. */
function boundedDuration(text: string, flag: string, minMs: number, maxMs: number, example: string): number {
  const match = /^(\d+)([smhd]?)$/.exec(text);
  const ms = match ? Number(match[1]) * (UNIT_MS[match[2] || 's'] ?? 1000) : Number.NaN;
  if (!Number.isSafeInteger(ms) || ms < minMs || ms > maxMs) throw usageError(`--${flag} must be a duration like ${example}; got "${text.slice(0, 40)}"`);
  return ms;
}

/** --ca-pkcs11 URI --pin-file F [--pkcs11-module PATH]: the CA keys in an HSM (decision D44). */
function pkcs11CaKey(args: ParsedArgs, caDir: string | undefined): Pkcs11CaKey | undefined {
  const uriText = optionalString(args, 'ca-pkcs11');
  const pinFile = optionalString(args, 'pin-file');
  const modulePath = optionalString(args, 'pkcs11-module');
  if (uriText === undefined) {
    if (pinFile !== undefined || modulePath !== undefined) throw usageError('--pin-file and --pkcs11-module go with --ca-pkcs11 URI');
    return undefined;
  }
  if (!caDir) throw usageError('--ca-pkcs11 needs --ca DIR: the directory with intermediate.crt and root.crt from the ceremony');
  if (pinFile === undefined) throw usageError('--ca-pkcs11 needs --pin-file FILE: the token PIN, in a file of mode 0600');
  const uri = parsePkcs11Uri(uriText);
  return { uri, pin: readPinFile(pinFile), ...(modulePath !== undefined ? { modulePath } : {}) };
}

async function serve(deps: CliDeps, args: ParsedArgs): Promise<number> {
  const dataDir = optionalString(args, 'data') ?? './data';
  const portGiven = optionalString(args, 'port');
  const portText = portGiven ?? '8443';
  if (!/^\d+$/.test(portText) || Number(portText) > 65535) throw usageError(`--port must be 0-65535; got "${portText}"`);
  const db = optionalString(args, 'db') ?? deps.env.PROVISIO_DB;
  const caDir = optionalString(args, 'ca');
  const crlIntervalMs = durationFlag(optionalString(args, 'crl-interval') ?? '1h', 'crl-interval');
  const limits = limitOptions(deps, args);
  const host = optionalString(args, 'host') ?? '127.0.0.1';
  const publishText = optionalString(args, 'publish-listen');
  // The fixed publication port only goes with the default service port (D33): with --port N
  // and no --publish-listen the publication listener is off (--port 0, for tests: a free port),
  // so a second service started on another port never reaches for 8080.
  const publishListen = publishText !== undefined ? listenFlag(publishText, 'publish-listen', true) : portGiven === undefined ? { host, port: DEFAULT_PUBLISH_PORT } : undefined;
  const publishUrl = optionalString(args, 'publish-url');
  if (publishUrl !== undefined && !/^https?:\/\/[^/]+$/.test(publishUrl)) throw usageError(`--publish-url must be http://HOST[:PORT] without a path; got "${publishUrl.slice(0, 80)}"`);
  if (publishUrl !== undefined && publishListen === null) throw usageError('--publish-url needs the publication listener; drop --publish-listen off');
  if (publishUrl !== undefined && publishListen === undefined && Number(portText) !== 0) throw usageError('--publish-url needs the publication listener: with --port, pass --publish-listen HOST:PORT too');
  const stationText = optionalString(args, 'station-listen');
  const stationListen = stationText === undefined ? null : listenFlag(stationText, 'station-listen', false);
  const cutOffText = optionalString(args, 'station-cut-off');
  const stationStatusCacheMs = cutOffText === undefined ? undefined : boundedDuration(cutOffText, 'station-cut-off', 1000, 3_600_000, '60s or 5m (1s to 1h)');
  const expiryText = optionalString(args, 'expiry-window');
  const expiryWindowMs = expiryText === undefined ? undefined : boundedDuration(expiryText, 'expiry-window', 3_600_000, 3650 * 86_400_000, '30d (1h to 3650d)');
  const checkpointText = optionalString(args, 'audit-checkpoint-interval');
  const auditCheckpointIntervalMs = checkpointText === undefined ? undefined : boundedDuration(checkpointText, 'audit-checkpoint-interval', 10_000, 3_600_000, '1m (10s to 1h)');
  const caPkcs11 = pkcs11CaKey(args, caDir);
  const auditCheckpointFile = optionalString(args, 'audit-checkpoints');
  if (auditCheckpointFile === '') throw usageError('--audit-checkpoints must name a file, like /var/lib/provisio/audit-checkpoints.jsonl');
  const service = await startService({
    ...limits,
    dataDir,
    host,
    port: Number(portText),
    ...(publishListen !== undefined ? { publishListen } : {}),
    ...(publishUrl ? { publishUrl } : {}),
    stationListen,
    ...(stationStatusCacheMs !== undefined ? { stationStatusCacheMs } : {}),
    ...(expiryWindowMs !== undefined ? { expiryWindowMs } : {}),
    ...(auditCheckpointFile !== undefined ? { auditCheckpointFile } : {}),
    ...(auditCheckpointIntervalMs !== undefined ? { auditCheckpointIntervalMs } : {}),
    ...(db ? { db } : {}),
    ...(caDir ? { caDir } : {}),
    ...(caPkcs11 ? { caPkcs11 } : {}),
    ...(deps.env.PROVISIO_CA_PASSPHRASE ? { caPassphrase: deps.env.PROVISIO_CA_PASSPHRASE } : {}),
    ...(optionalString(args, 'public-url') ? { publicUrl: optionalString(args, 'public-url') as string } : {}),
    crlIntervalMs,
    clock: deps.clock,
    random: deps.random,
    log: (line) => deps.stderr.write(`provisio: ${line}\n`),
  });
  if (service.isDevelopmentRoot) {
    warn(deps, `${service.createdDevelopmentCa ? 'created a DEVELOPMENT' : 'using the DEVELOPMENT'} root CA in ${join(dataDir, 'ca')}: fine for trying Provisio, not for devices in the field (its key signed the issuing CA and the root CRL, valid until the root expires, then was discarded). Use "provisio serve --ca DIR" with a CA from the ceremony (docs/ceremony.md).`);
  }
  const lines = [
    `✔ Provisio is serving ${service.url}`,
    `  root of trust  ${service.rootPath}`,
    `  root SHA-256   ${service.rootFingerprint}`,
    service.webRoot ? `  web UI         ${service.url}/ (sign in with a user's password)` : '  web UI         not built (npm run build)',
    service.publishUrl
      ? `  CRL and OCSP   ${service.publishUrl}/crl/issuing.crl, ${service.publishUrl}/crl/root.crl, ${service.publishUrl}/ocsp (plain http)`
      : `  CRL and OCSP   ${service.url}/crl/issuing.crl, ${service.url}/crl/root.crl, ${service.url}/ocsp (no plain-http publication listener${publishText === undefined ? ': --port was given without --publish-listen HOST:PORT' : ''})`,
    ...(service.stationUrl ? [`✔ Central station ${service.stationUrl} (mutual TLS; devices: provisio device check-in --station ${service.stationUrl})`] : []),
  ];
  if (service.adminPassword) {
    lines.push(
      `✔ Admin API token: ${service.adminTokenPath} (mode 0600)`,
      `  admin password (shown once, for the web UI): ${service.adminPassword}`,
    );
  } else {
    lines.push(`  admin token    ${service.adminTokenPath}`);
  }
  lines.push('', 'Use it from another shell:', `  export PROVISIO_URL=${service.url} PROVISIO_CA_FILE=${service.rootPath}`, `  export PROVISIO_TOKEN=$(cat ${service.adminTokenPath})`, '  provisio system create ZMonitor', '');
  deps.stdout.write(`${lines.join('\n')}\n`);
  await new Promise<void>((resolve) => {
    const stop = () => resolve();
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
  });
  await service.close();
  deps.stderr.write('provisio: stopped\n');
  return EXIT.ok;
}

async function auditVerify(deps: CliDeps, args: ParsedArgs): Promise<number> {
  const data = optionalString(args, 'data');
  const exportPath = optionalString(args, 'export');
  const checkpointsPath = optionalString(args, 'checkpoints');
  const db = optionalString(args, 'db') ?? (data ? join(data, 'provisio.db') : undefined);
  if (exportPath !== undefined && db !== undefined) throw usageError('audit verify checks one log: --export FILE, or the database (--data DIR or --db URL), not both');
  if (!db && exportPath === undefined) {
    if (checkpointsPath !== undefined) throw usageError('--checkpoints FILE is for offline verification: pass --export FILE, --data DIR or --db URL with it (online, the service reads its own checkpoint file)');
    const result = await connect(deps, args).json<AuditReport>('GET', '/api/v1/audit/verify');
    return reportAudit(deps, args, result);
  }
  // Checkpoints must be signed by this service's profile signer: trust comes from the CA files
  // (--ca DIR, or DATA/ca); without them only the signatures themselves can be checked.
  const caDir = optionalString(args, 'ca') ?? (data ? join(data, 'ca') : undefined);
  let verifier = verifyCheckpointSignature;
  if (caDir && existsSync(join(caDir, 'root.crt')) && existsSync(join(caDir, 'intermediate.crt'))) {
    verifier = trustedCheckpointVerifier(parseCertificate(readFileSync(join(caDir, 'root.crt'), 'utf8')), [parseCertificate(readFileSync(join(caDir, 'intermediate.crt'), 'utf8'))]);
  } else {
    warn(deps, 'no CA files (pass --ca DIR): checkpoint signatures are checked, but not who made them');
  }
  if (exportPath !== undefined) {
    if (checkpointsPath === undefined) throw usageError('audit verify --export FILE needs --checkpoints FILE (from "audit export --checkpoints FILE"): without signed checkpoints an export proves nothing about its end');
    const exported = readInputFile(exportPath, MAX_AUDIT_FILE_BYTES).toString('utf8');
    const checkpoints = readInputFile(checkpointsPath, MAX_AUDIT_FILE_BYTES).toString('utf8');
    try {
      return reportAudit(deps, args, await verifyAuditExport(exported, checkpoints, verifier));
    } catch (e) {
      if (e instanceof AuditExportInvalid) throw new CliError('audit_file_invalid', `${exportPath}: ${e.message}`, 'export the whole log again with provisio audit export --out FILE --limit N');
      throw e;
    }
  }
  // The checkpoint file the service keeps beside its database, unless another is named.
  // A file named must be there (file_not_found); the default one may not exist yet.
  if (checkpointsPath !== undefined) readInputFile(checkpointsPath, MAX_AUDIT_FILE_BYTES);
  const keptPath = checkpointsPath ?? (data ? join(data, CHECKPOINT_FILE_NAME) : undefined);
  const kept = keptPath !== undefined && existsSync(keptPath) ? new CheckpointFile(keptPath) : undefined;
  if (!kept) warn(deps, `${keptPath ? `no checkpoint file at ${keptPath} yet` : 'no checkpoint file (pass --checkpoints FILE)'}: checkpoint rows deleted from the database cannot be seen`);
  const store = await openStore({ url: db as string });
  try {
    return reportAudit(deps, args, await verifyStoreAudit(store, verifier, kept));
  } finally {
    await store.close();
  }
}

/** An export holds at most 100,000 entries of a few hundred bytes each. */
const MAX_AUDIT_FILE_BYTES = 512 * 1024 * 1024;

const str = { type: 'string' } as const;

export const SERVE_COMMANDS: readonly CommandSpec[] = [
  {
    path: 'serve',
    help: SERVE,
    options: {
      ...COMMON_OPTIONS, 'data': str, 'port': str, 'host': str, 'db': str, 'ca': str, 'public-url': str, 'crl-interval': str,
      'publish-listen': str, 'publish-url': str, 'station-listen': str, 'station-cut-off': str, 'expiry-window': str,
      'max-in-flight': str, 'max-queued': str, 'rate-per-client': str, 'rate-burst': str, 'max-held-polls': str,
      'audit-checkpoints': str, 'audit-checkpoint-interval': str, 'ca-pkcs11': str, 'pin-file': str, 'pkcs11-module': str,
    },
    maxPositionals: 0,
    run: serve,
  },
  { path: 'audit verify', help: AUDIT_VERIFY, options: { ...COMMON_OPTIONS, ...CONNECTION_OPTIONS, data: str, db: str, ca: str, export: str, checkpoints: str }, maxPositionals: 0, run: auditVerify },
];
