/**
 * `provisionConnected`: connected delivery (docs/device.md, "Connected delivery"), as a step
 * machine over the keystore — initialized → submitted → installed → confirmed — that persists each
 * step before the next, so a process killed anywhere resumes at the right step (`connectedState`
 * says which). `device provision` and the long-running agent (`runAgent`, `device run`) both run
 * exactly this.
 *
 * The device submits the request that `initDevice` left in its keystore (request.ppr) to the
 * service over HTTPS, trusting only the keystore's root.crt, and records the service's request id
 * in submission.json. It then waits for its certified profile — a long-poll (`?wait=N`: the
 * service holds the answer until the request is decided), or plain polling against a service that
 * answers at once — and installs it with `installProfile` (which verifies it against the same
 * root). Submitting the same bytes again returns the same request, so a lost submission.json or
 * a service that forgot the request only costs a resubmission.
 *
 * Then it proves the install (seed 000 step 9): one call to POST /api/v1/device/confirm over
 * mutual TLS, presenting the new certificate (and its issuing CA) with the device key, with a
 * proof signed by the device key in the body (protocol confirm-proof.ts) so that a proxy gateway
 * in between can carry the confirmation without being able to make one (docs/proxy.md). The
 * service marks the device Provisioned; install.json records `confirmedAt`. A keystore installed but not
 * yet confirmed (a restart in between) confirms on the next run; a confirmed one sends nothing.
 *
 * Waiting: the service answers 202 with Retry-After while the request is pending (honoured, up
 * to `maxPollIntervalMs`); network errors, 429 and 5xx are retried with exponential backoff and
 * full jitter (or the server's Retry-After when it sends one). Nothing waits past `maxWaitMs`.
 */
import { createHash } from 'node:crypto';
import { request as httpsRequest, Agent } from 'node:https';
import type { Clock, Random } from '@provisio/pki';
import { createConfirmProof } from '@provisio/protocol';
import { appendDeviceAudit, auditCodeOf, auditOrigin, appendDeviceAuditQuietly } from './device-audit-log.js';
import { DeviceError } from './errors.js';
import { type InstallProfileResult, installProfile } from './install-profile.js';
import { fileState, readKeystoreFile, readPrivateKeyFile, removeKeystoreFiles, replaceKeystoreFiles } from './keystore.js';
import { loadDevice } from './load-device.js';
import { type InstallRecord, parseSubmissionRecord, type SubmissionRecord, serializeRecord } from './records.js';

const REQUEST_MEDIA = 'application/vnd.provisio.request+json';
/** Profiles and error bodies are a few KiB; anything much larger is not the service talking. */
const MAX_RESPONSE_BYTES = 1024 * 1024;

export interface HttpReply {
  readonly status: number;
  /** Lower-case header names. */
  readonly headers: Readonly<Record<string, string | undefined>>;
  readonly body: Buffer;
}

/** What provisionConnected needs from HTTP: one call, resolved with any status, rejected on network errors. */
export interface HttpTransport {
  request(method: 'GET' | 'POST', url: string, body?: { readonly bytes: Uint8Array; readonly contentType: string }): Promise<HttpReply>;
}

/**
 * HTTPS trusting exactly `rootPem` (node:https `ca` replaces the system store): the device talks
 * only to a service whose TLS certificate chains to the root from its package.
 */
export function httpsTransport(
  rootPem: string | Buffer,
  options: {
    readonly timeoutMs?: number;
    /** Mutual TLS: the client key (PEM) and certificate chain (PEM, leaf first) to present. */
    readonly clientKey?: string | Buffer;
    readonly clientCertificate?: string | Buffer;
    /** Extra request headers (e.g. an API token for the simulator's technician calls). */
    readonly headers?: Readonly<Record<string, string>>;
  } = {},
): HttpTransport & { close(): void } {
  const agent = new Agent({
    ca: rootPem,
    keepAlive: true,
    maxSockets: 2,
    ...(options.clientKey && options.clientCertificate ? { key: options.clientKey, cert: options.clientCertificate } : {}),
  });
  const timeoutMs = options.timeoutMs ?? 30_000;
  return {
    close: () => agent.destroy(),
    request: (method, url, body) =>
      new Promise((resolve, reject) => {
        const req = httpsRequest(
          url,
          {
            method,
            agent,
            headers: {
              accept: 'application/json, application/vnd.provisio.profile+json',
              ...options.headers,
              ...(body ? { 'content-type': body.contentType, 'content-length': String(body.bytes.length) } : {}),
            },
            timeout: timeoutMs,
          },
          (res) => {
            const chunks: Buffer[] = [];
            let size = 0;
            res.on('data', (c: Buffer) => {
              size += c.length;
              if (size > MAX_RESPONSE_BYTES) {
                req.destroy(new Error(`the response from ${url} is larger than ${MAX_RESPONSE_BYTES} bytes`));
                return;
              }
              chunks.push(c);
            });
            res.on('error', reject);
            res.on('end', () => {
              const headers: Record<string, string | undefined> = {};
              for (const [k, v] of Object.entries(res.headers)) headers[k] = Array.isArray(v) ? v.join(', ') : v;
              resolve({ status: res.statusCode ?? 0, headers, body: Buffer.concat(chunks) });
            });
          },
        );
        req.on('timeout', () => req.destroy(new Error(`no answer from ${url} within ${timeoutMs} ms`)));
        req.on('error', reject);
        if (body) req.write(body.bytes);
        req.end();
      }),
  };
}

/** Where connected provisioning stands in a keystore: the step a (re)started process continues from. */
export type ConnectedStep = 'initialized' | 'submitted' | 'installed' | 'confirmed';

export interface ConnectedState {
  readonly step: ConnectedStep;
  /** The service's request id once submitted (from submission.json or install.json). */
  readonly requestId: string | null;
}

export type ProvisionProgress =
  | { readonly step: 'resumed'; readonly from: ConnectedStep; readonly requestId: string | null }
  | { readonly step: 'submitted'; readonly requestId: string; readonly created: boolean }
  /** Before the first poll of a pending request (retryInMs 0), then after each 202 answer. */
  | { readonly step: 'waiting'; readonly requestId: string; readonly state: 'pending'; readonly retryInMs: number; readonly longPoll: boolean }
  | { readonly step: 'retrying'; readonly reason: string; readonly retryInMs: number }
  | { readonly step: 'fetched'; readonly requestId: string }
  | { readonly step: 'installed'; readonly requestId: string; readonly changed: boolean; readonly serial: string }
  | { readonly step: 'confirmed'; readonly deviceId: string; readonly state: string; readonly changed: boolean };

export interface ProvisionConnectedDeps {
  readonly clock: Clock;
  readonly random: Random;
  /** Defaults to HTTPS trusting only the keystore's root.crt. */
  readonly transport?: HttpTransport;
  /** For the confirmation; defaults to HTTPS trusting only root.crt, presenting the device key and certificate.pem. */
  readonly confirmTransport?: HttpTransport;
  /** Defaults to setTimeout. */
  readonly sleep?: (ms: number) => Promise<void>;
  /** Elapsed-time source for the wait limit (default performance.now; the clock may be fixed in tests). */
  readonly monotonicMs?: () => number;
}

export interface ProvisionConnectedInput {
  /** The keystore made by initDevice. */
  readonly dir: string;
  /** The service's base URL, e.g. the package's serviceUrl (https://host:8443). */
  readonly serviceUrl: string;
  /** Give up with `provision_timeout` after this long without a profile (Infinity: never). */
  readonly maxWaitMs: number;
  /** Upper bound on one wait between polls, whatever Retry-After says (default 60 s). */
  readonly maxPollIntervalMs?: number;
  /**
   * Long-poll: ask the service to hold each poll up to this many seconds (default 25, at most 30;
   * 0 polls plainly). A service that ignores it answers at once with its Retry-After.
   */
  readonly longPollSeconds?: number;
  /** Stops the work between or during steps: the promise rejects with the signal's reason. */
  readonly signal?: AbortSignal;
  readonly onProgress?: (event: ProvisionProgress) => void;
}

export interface ProvisionConnectedResult extends InstallProfileResult {
  readonly requestId: string;
  /** The service confirmed the install over mutual TLS and holds the device as Provisioned. */
  readonly confirmed: true;
  /** The device state the service answered (provisioned), or null when confirmed on an earlier run. */
  readonly serviceState: string | null;
}

const BACKOFF_BASE_MS = 500;
const BACKOFF_MAX_MS = 30_000;
const DEFAULT_LONG_POLL_SECONDS = 25;
/** The service holds a poll at most 30 s; the socket waits this much longer for the answer. */
const LONG_POLL_GRACE_MS = 15_000;

const defaultSleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** Retry-After in delta-seconds (the only form the service sends); null when absent or not a number. */
function retryAfterMs(reply: HttpReply): number | null {
  const v = reply.headers['retry-after'];
  if (v === undefined || !/^\s*\d{1,6}\s*$/.test(v)) return null;
  return Number(v) * 1000;
}

/** The service's `{error: {code, message}}`, or the HTTP status when the body is not that. */
export function errorOf(reply: HttpReply): { code: string; message: string } {
  try {
    const e = (JSON.parse(reply.body.toString('utf8')) as { error?: { code?: unknown; message?: unknown } }).error;
    if (e && typeof e.code === 'string') return { code: e.code, message: typeof e.message === 'string' ? e.message : '' };
  } catch {
    // not JSON: described by the status below
  }
  return { code: `http_${reply.status}`, message: `HTTP ${reply.status}` };
}

/** Worth trying again after a wait: overload, a gateway between, or a passing fault. */
export function isTransient(status: number): boolean {
  return status === 429 || status === 503 || status === 502 || status === 504 || status === 500;
}

function sha256Hex(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex');
}

function normalizeUrl(url: string): string {
  return url.replace(/\/+$/, '');
}

/** submission.json when it belongs to this request.ppr and this service; null otherwise (stale or absent). */
function currentSubmission(dir: string, serviceUrl: string): SubmissionRecord | null {
  if (!fileState(dir, 'submission').present) return null;
  const record = parseSubmissionRecord(readKeystoreFile(dir, 'submission').toString('utf8'));
  if (!fileState(dir, 'request').present) return null;
  if (record.requestSha256 !== sha256Hex(readKeystoreFile(dir, 'request'))) return null;
  if (normalizeUrl(record.serviceUrl) !== normalizeUrl(serviceUrl)) return null;
  return record;
}

/**
 * The step this keystore is at for connected delivery to `serviceUrl`: confirmed, installed (not
 * yet confirmed), submitted (submission.json names the request) or initialized.
 */
export function connectedState(dir: string, serviceUrl: string): ConnectedState {
  const device = loadDevice(dir);
  if (device.identity.state === 'installed' && device.install) {
    return { step: device.install.confirmedAt ? 'confirmed' : 'installed', requestId: device.install.requestId };
  }
  const submission = currentSubmission(dir, serviceUrl);
  return submission ? { step: 'submitted', requestId: submission.requestId } : { step: 'initialized', requestId: null };
}

export async function provisionConnected(deps: ProvisionConnectedDeps, input: ProvisionConnectedInput): Promise<ProvisionConnectedResult> {
  const { dir, signal } = input;
  signal?.throwIfAborted();
  const base = normalizeUrl(input.serviceUrl);
  const start = connectedState(dir, base);
  input.onProgress?.({ step: 'resumed', from: start.step, requestId: start.requestId });

  let installed: InstallProfileResult | null = null;
  if (start.step === 'installed' || start.step === 'confirmed') {
    // Installed before (a restart after install): installProfile re-verifies the profile on disk
    // and changes nothing. Confirmed too: nothing to send.
    installed = await installProfile({ clock: deps.clock }, { dir, profileText: readKeystoreFile(dir, 'profile') });
    input.onProgress?.({ step: 'installed', requestId: installed.install.requestId, changed: false, serial: installed.install.serial });
    if (installed.install.confirmedAt) return { ...installed, requestId: installed.install.requestId, confirmed: true, serviceState: null };
  }
  if (!installed && !fileState(dir, 'request').present) {
    throw new DeviceError('keystore_damaged', `${dir} has an identity but no request.ppr`, 'make a new request with "provisio device init --reset"');
  }
  if (!/^https:\/\//.test(base)) {
    throw new DeviceError('service_refused', `the service URL must be https://; got ${JSON.stringify(input.serviceUrl)}`, 'pass the service URL from the provisioning package');
  }
  const longPollSeconds = Math.max(0, Math.min(30, Math.floor(input.longPollSeconds ?? DEFAULT_LONG_POLL_SECONDS)));
  const ownTransport = deps.transport || installed
    ? null
    : httpsTransport(readKeystoreFile(dir, 'root'), { timeoutMs: longPollSeconds * 1000 + LONG_POLL_GRACE_MS });
  const transport = deps.transport ?? (ownTransport as HttpTransport);
  const sleep = deps.sleep ?? defaultSleep;
  const maxPoll = input.maxPollIntervalMs ?? 60_000;
  const monotonic = deps.monotonicMs ?? (() => performance.now());
  const deadline = monotonic() + input.maxWaitMs;
  let failures = 0;
  let lastProblem = 'no answer yet';
  let confirming = false;

  /** Settles with `work`, or rejects with the signal's reason as soon as it is aborted. */
  const abortable = <T>(work: Promise<T>): Promise<T> => {
    if (!signal) return work;
    signal.throwIfAborted();
    return new Promise<T>((resolve, reject) => {
      const onAbort = () => reject(signal.reason);
      signal.addEventListener('abort', onAbort, { once: true });
      work.then(
        (v) => {
          signal.removeEventListener('abort', onAbort);
          resolve(v);
        },
        (e: unknown) => {
          signal.removeEventListener('abort', onAbort);
          reject(e);
        },
      );
    });
  };
  const remaining = () => deadline - monotonic();
  /** Exponential backoff with full jitter: uniform in [0, min(max, base * 2^n)]. */
  const backoff = (): number => {
    const ceiling = Math.min(BACKOFF_MAX_MS, BACKOFF_BASE_MS * 2 ** Math.min(failures, 16));
    const r = Buffer.from(deps.random.bytes(4)).readUInt32BE(0) / 0x1_0000_0000;
    failures += 1;
    return Math.max(50, Math.floor(ceiling * r));
  };
  const waitOrGiveUp = async (ms: number, waitingFor: string): Promise<void> => {
    const left = remaining();
    if (left <= 0) {
      if (confirming) {
        throw new DeviceError(
          'provision_timeout',
          `the profile is installed, but the service did not confirm it within ${Math.round(input.maxWaitMs / 1000)} s (${waitingFor}; last: ${lastProblem})`,
          'run the same command again: it only repeats the confirmation',
        );
      }
      throw new DeviceError(
        'provision_timeout',
        `no certified profile after ${Math.round(input.maxWaitMs / 1000)} s (${waitingFor}; last: ${lastProblem})`,
        'run the same command again later: the request is kept and resubmitting it is safe',
      );
    }
    await abortable(sleep(Math.min(ms, left)));
  };
  /** One call; null when it failed transiently (already waited). */
  const call = async (method: 'GET' | 'POST', url: string, body?: { bytes: Uint8Array; contentType: string }, via: HttpTransport = transport): Promise<HttpReply | null> => {
    let reply: HttpReply;
    try {
      reply = await abortable(via.request(method, url, body));
    } catch (e) {
      if (signal?.aborted) throw signal.reason;
      lastProblem = `network: ${e instanceof Error ? e.message : String(e)}`;
      const delay = backoff();
      input.onProgress?.({ step: 'retrying', reason: lastProblem, retryInMs: delay });
      await waitOrGiveUp(delay, 'the service could not be reached');
      return null;
    }
    if (isTransient(reply.status)) {
      const e = errorOf(reply);
      lastProblem = `${reply.status} ${e.code}`;
      // The service's Retry-After is obeyed as given (429/503); backoff only when it sends none.
      const delay = Math.min(retryAfterMs(reply) ?? backoff(), maxPoll);
      input.onProgress?.({ step: 'retrying', reason: lastProblem, retryInMs: delay });
      await waitOrGiveUp(delay, 'the service is busy or unavailable');
      return null;
    }
    return reply;
  };

  /** initialized → submitted: submit (idempotent: identical bytes are the same request), record the id. */
  const submit = async (): Promise<{ requestId: string; pending: boolean }> => {
    const requestBytes = readKeystoreFile(dir, 'request');
    for (;;) {
      const reply = await call('POST', `${base}/api/v1/device/requests`, { bytes: requestBytes, contentType: REQUEST_MEDIA });
      if (!reply) continue;
      if (reply.status !== 200 && reply.status !== 201) {
        const e = errorOf(reply);
        throw new DeviceError('service_refused', `the service refused the request: ${e.code}: ${e.message}`, 'fix what the service names, then run "provisio device init --reset" for a new request if needed');
      }
      const answer = (JSON.parse(reply.body.toString('utf8')) as { request?: { id?: unknown; state?: unknown } }).request;
      const id = answer?.id;
      if (typeof id !== 'string' || !/^[A-Za-z0-9._:-]{1,80}$/.test(id)) {
        throw new DeviceError('service_refused', `the service accepted the request but sent no usable request id`, 'check the service URL points at a Provisio service');
      }
      const record: SubmissionRecord = {
        format: 'provisio.device-submission',
        v: 1,
        requestId: id,
        serviceUrl: base,
        requestSha256: sha256Hex(requestBytes),
        submittedAt: deps.clock.now().toISOString(),
      };
      replaceKeystoreFiles(dir, [{ file: 'submission', data: serializeRecord(record) }]);
      appendDeviceAudit(dir, {
        event: 'provision.requested',
        details: { requestId: id, service: auditOrigin(base), requestSha256: record.requestSha256, created: reply.status === 201 },
        at: deps.clock.now(),
      });
      failures = 0;
      input.onProgress?.({ step: 'submitted', requestId: id, created: reply.status === 201 });
      return { requestId: id, pending: answer?.state === 'pending' };
    }
  };

  /**
   * submitted → installed: wait for the decision, verify against root.crt and install (a refusal
   * writes nothing). Null when the service does not know the request (it lost it, or this is
   * another service): the caller submits again.
   */
  const fetchAndInstall = async ({ requestId, pending }: { requestId: string; pending: boolean }): Promise<InstallProfileResult | null> => {
    const profileUrl = `${base}/api/v1/device/requests/${encodeURIComponent(requestId)}/profile`;
    // Said before the first (possibly long-held) poll, so a person sees what the device waits for.
    if (pending) input.onProgress?.({ step: 'waiting', requestId, state: 'pending', retryInMs: 0, longPoll: longPollSeconds > 0 });
    for (;;) {
      const waitSeconds = Math.min(longPollSeconds, Math.floor(remaining() / 1000));
      const reply = await call('GET', waitSeconds > 0 ? `${profileUrl}?wait=${waitSeconds}` : profileUrl);
      if (!reply) continue;
      if (reply.status === 202) {
        failures = 0;
        lastProblem = 'pending approval';
        const delay = Math.min(retryAfterMs(reply) ?? 5_000, maxPoll);
        input.onProgress?.({ step: 'waiting', requestId, state: 'pending', retryInMs: delay, longPoll: waitSeconds > 0 });
        await waitOrGiveUp(delay, `request ${requestId} is waiting for approval`);
        continue;
      }
      if (reply.status === 200) {
        input.onProgress?.({ step: 'fetched', requestId });
        const result = await installProfile({ clock: deps.clock }, { dir, profileText: reply.body });
        input.onProgress?.({ step: 'installed', requestId, changed: result.changed, serial: result.install.serial });
        return result;
      }
      const e = errorOf(reply);
      if (e.code === 'request_rejected') {
        throw new DeviceError('provision_rejected', `the service rejected request ${requestId}: ${e.message}`, 'ask the approver why; a new attempt needs a new request ("provisio device init --reset")');
      }
      if (e.code === 'request_not_found') {
        removeKeystoreFiles(dir, ['submission']);
        return null;
      }
      throw new DeviceError('service_refused', `the service refused the profile of request ${requestId}: ${e.code}: ${e.message}`, 'check the service URL and that the request still exists on the service');
    }
  };

  /** installed → confirmed: mutual TLS with the new certificate; the service marks the device Provisioned. */
  const confirm = async (result: InstallProfileResult): Promise<ProvisionConnectedResult> => {
    confirming = true;
    failures = 0;
    const ownConfirm = deps.confirmTransport
      ? null
      : httpsTransport(readKeystoreFile(dir, 'root'), { clientKey: readPrivateKeyFile(dir), clientCertificate: readKeystoreFile(dir, 'certificate') });
    const via = deps.confirmTransport ?? (ownConfirm as HttpTransport);
    const { signer } = loadDevice(dir);
    try {
      for (;;) {
        // A fresh proof per attempt: it is checked against the service's clock (± 5 minutes).
        const proof = await createConfirmProof(signer, { deviceId: result.identity.deviceId, serial: result.install.serial, at: deps.clock.now() });
        const reply = await call('POST', `${base}/api/v1/device/confirm`, { bytes: Buffer.from(JSON.stringify({ proof })), contentType: 'application/json' }, via);
        if (!reply) continue;
        if (reply.status !== 200) {
          const e = errorOf(reply);
          throw new DeviceError('service_refused', `the service refused the install confirmation: ${e.code}: ${e.message}`, 'ask an operator to check the device on the service ("provisio device get"); "provisio device complete" marks it provisioned by hand');
        }
        const answer = JSON.parse(reply.body.toString('utf8')) as { deviceId?: unknown; state?: unknown };
        if (answer.deviceId !== result.identity.deviceId || answer.state !== 'provisioned') {
          throw new DeviceError('service_refused', `the service answered the confirmation with ${JSON.stringify(answer)}, not device ${result.identity.deviceId} provisioned`, 'check the service URL points at the Provisio service that issued this profile');
        }
        const record: InstallRecord = { ...result.install, confirmedAt: deps.clock.now().toISOString() };
        replaceKeystoreFiles(dir, [{ file: 'install', data: serializeRecord(record) }]);
        // The mutual-TLS test of the new certificate (seed 003 step 5) passed.
        appendDeviceAudit(dir, { event: 'install.confirmed', details: { serial: record.serial, service: auditOrigin(base), mutualTls: true }, at: deps.clock.now() });
        input.onProgress?.({ step: 'confirmed', deviceId: result.identity.deviceId, state: answer.state, changed: true });
        return { ...result, install: record, requestId: record.requestId, confirmed: true, serviceState: answer.state };
      }
    } catch (e) {
      if (!signal?.aborted) {
        appendDeviceAuditQuietly(dir, { event: 'install.confirm_failed', details: { code: auditCodeOf(e), serial: result.install.serial, service: auditOrigin(base) }, at: deps.clock.now() });
      }
      throw e;
    } finally {
      ownConfirm?.close();
    }
  };

  try {
    if (!installed) {
      // Resumed at "submitted": wait for the recorded request; otherwise (or when the service no
      // longer knows it) submit — the same bytes are the same request — then wait.
      installed = start.step === 'submitted' && start.requestId !== null ? await fetchAndInstall({ requestId: start.requestId, pending: true }) : null;
      for (let attempt = 0; !installed; attempt++) {
        if (attempt === 2) {
          throw new DeviceError('service_refused', 'the service accepted the request but then did not know it', 'check the service URL: the services behind it may not share one database');
        }
        installed = await fetchAndInstall(await submit());
      }
    }
    return await confirm(installed);
  } finally {
    ownTransport?.close();
  }
}
