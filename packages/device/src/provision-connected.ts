/**
 * `provisionConnected`: connected delivery (docs/device.md, "Connected delivery"). The device
 * submits the request that `initDevice` left in its keystore (request.ppr) to the service over
 * HTTPS, trusting only the keystore's root.crt, then polls for its certified profile until an
 * approver has decided, and installs it with `installProfile` (which verifies it against the same
 * root). Submitting the same bytes again returns the same request, so a device that restarts
 * simply runs this again.
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
import { request as httpsRequest, Agent } from 'node:https';
import type { Clock, Random } from '@provisio/pki';
import { createConfirmProof } from '@provisio/protocol';
import { DeviceError } from './errors.js';
import { type InstallProfileResult, installProfile } from './install-profile.js';
import { fileState, readKeystoreFile, readPrivateKeyFile, replaceKeystoreFiles } from './keystore.js';
import { loadDevice } from './load-device.js';
import { type InstallRecord, serializeRecord } from './records.js';

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

export type ProvisionProgress =
  | { readonly step: 'submitted'; readonly requestId: string; readonly created: boolean }
  | { readonly step: 'waiting'; readonly requestId: string; readonly state: 'pending'; readonly retryInMs: number }
  | { readonly step: 'retrying'; readonly reason: string; readonly retryInMs: number }
  | { readonly step: 'installed'; readonly requestId: string; readonly changed: boolean }
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
  /** Give up with `provision_timeout` after this long without a profile. */
  readonly maxWaitMs: number;
  /** Upper bound on one wait between polls, whatever Retry-After says (default 60 s). */
  readonly maxPollIntervalMs?: number;
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

const defaultSleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** Retry-After in delta-seconds (the only form the service sends); null when absent or not a number. */
function retryAfterMs(reply: HttpReply): number | null {
  const v = reply.headers['retry-after'];
  if (v === undefined || !/^\s*\d{1,6}\s*$/.test(v)) return null;
  return Number(v) * 1000;
}

function errorOf(reply: HttpReply): { code: string; message: string } {
  try {
    const e = (JSON.parse(reply.body.toString('utf8')) as { error?: { code?: unknown; message?: unknown } }).error;
    if (e && typeof e.code === 'string') return { code: e.code, message: typeof e.message === 'string' ? e.message : '' };
  } catch {
    // not JSON: described by the status below
  }
  return { code: `http_${reply.status}`, message: `HTTP ${reply.status}` };
}

function isTransient(status: number): boolean {
  return status === 429 || status === 503 || status === 502 || status === 504 || status === 500;
}

export async function provisionConnected(deps: ProvisionConnectedDeps, input: ProvisionConnectedInput): Promise<ProvisionConnectedResult> {
  const { dir } = input;
  const device = loadDevice(dir);
  let installed: InstallProfileResult | null = null;
  if (device.identity.state === 'installed' && device.install) {
    // Installed before (a restart after install): installProfile re-verifies the profile on disk
    // and changes nothing. Confirmed too: nothing to send.
    installed = await installProfile({ clock: deps.clock }, { dir, profileText: readKeystoreFile(dir, 'profile') });
    input.onProgress?.({ step: 'installed', requestId: installed.install.requestId, changed: false });
    if (installed.install.confirmedAt) return { ...installed, requestId: installed.install.requestId, confirmed: true, serviceState: null };
  }
  if (!installed && !fileState(dir, 'request').present) {
    throw new DeviceError('keystore_damaged', `${dir} has an identity but no request.ppr`, 'make a new request with "provisio device init --reset"');
  }
  const base = input.serviceUrl.replace(/\/+$/, '');
  if (!/^https:\/\//.test(base)) {
    throw new DeviceError('service_refused', `the service URL must be https://; got ${JSON.stringify(input.serviceUrl)}`, 'pass the service URL from the provisioning package');
  }
  const ownTransport = deps.transport || installed ? null : httpsTransport(readKeystoreFile(dir, 'root'));
  const transport = deps.transport ?? (ownTransport as HttpTransport);
  const sleep = deps.sleep ?? defaultSleep;
  const maxPoll = input.maxPollIntervalMs ?? 60_000;
  const monotonic = deps.monotonicMs ?? (() => performance.now());
  const deadline = monotonic() + input.maxWaitMs;
  let failures = 0;
  let lastProblem = 'no answer yet';
  let confirming = false;

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
    await sleep(Math.min(ms, left));
  };
  /** One call; null when it failed transiently (already waited). */
  const call = async (method: 'GET' | 'POST', url: string, body?: { bytes: Uint8Array; contentType: string }, via: HttpTransport = transport): Promise<HttpReply | null> => {
    let reply: HttpReply;
    try {
      reply = await via.request(method, url, body);
    } catch (e) {
      lastProblem = `network: ${e instanceof Error ? e.message : String(e)}`;
      const delay = backoff();
      input.onProgress?.({ step: 'retrying', reason: lastProblem, retryInMs: delay });
      await waitOrGiveUp(delay, 'the service could not be reached');
      return null;
    }
    if (isTransient(reply.status)) {
      const e = errorOf(reply);
      lastProblem = `${reply.status} ${e.code}`;
      const delay = Math.min(retryAfterMs(reply) ?? backoff(), maxPoll);
      input.onProgress?.({ step: 'retrying', reason: lastProblem, retryInMs: delay });
      await waitOrGiveUp(delay, 'the service is busy or unavailable');
      return null;
    }
    return reply;
  };

  /** 1–3: submit, wait, verify and install. */
  const fetchAndInstall = async (): Promise<InstallProfileResult> => {
    const requestBytes = readKeystoreFile(dir, 'request');
    // 1. Submit (idempotent: identical bytes are the same request).
    let requestId: string | null = null;
    while (requestId === null) {
      const reply = await call('POST', `${base}/api/v1/device/requests`, { bytes: requestBytes, contentType: REQUEST_MEDIA });
      if (!reply) continue;
      if (reply.status !== 200 && reply.status !== 201) {
        const e = errorOf(reply);
        throw new DeviceError('service_refused', `the service refused the request: ${e.code}: ${e.message}`, 'fix what the service names, then run "provisio device init --reset" for a new request if needed');
      }
      const id = (JSON.parse(reply.body.toString('utf8')) as { request?: { id?: unknown } }).request?.id;
      if (typeof id !== 'string' || !/^[A-Za-z0-9._:-]{1,80}$/.test(id)) {
        throw new DeviceError('service_refused', `the service accepted the request but sent no usable request id`, 'check the service URL points at a Provisio service');
      }
      requestId = id;
      failures = 0;
      input.onProgress?.({ step: 'submitted', requestId, created: reply.status === 201 });
    }

    // 2. Wait for the decision.
    const profileUrl = `${base}/api/v1/device/requests/${encodeURIComponent(requestId)}/profile`;
    for (;;) {
      const reply = await call('GET', profileUrl);
      if (!reply) continue;
      if (reply.status === 202) {
        failures = 0;
        lastProblem = 'pending approval';
        const delay = Math.min(retryAfterMs(reply) ?? 5_000, maxPoll);
        input.onProgress?.({ step: 'waiting', requestId, state: 'pending', retryInMs: delay });
        await waitOrGiveUp(delay, `request ${requestId} is waiting for approval`);
        continue;
      }
      if (reply.status === 200) {
        // 3. Verify against root.crt and install (a refusal writes nothing).
        const result = await installProfile({ clock: deps.clock }, { dir, profileText: reply.body });
        input.onProgress?.({ step: 'installed', requestId, changed: result.changed });
        return result;
      }
      const e = errorOf(reply);
      if (e.code === 'request_rejected') {
        throw new DeviceError('provision_rejected', `the service rejected request ${requestId}: ${e.message}`, 'ask the approver why; a new attempt needs a new request ("provisio device init --reset")');
      }
      throw new DeviceError('service_refused', `the service refused the profile of request ${requestId}: ${e.code}: ${e.message}`, 'check the service URL and that the request still exists on the service');
    }
  };

  /** 4. Prove the install: mutual TLS with the new certificate; the service marks the device Provisioned. */
  const confirm = async (result: InstallProfileResult): Promise<ProvisionConnectedResult> => {
    confirming = true;
    failures = 0;
    const ownConfirm = deps.confirmTransport
      ? null
      : httpsTransport(readKeystoreFile(dir, 'root'), { clientKey: readPrivateKeyFile(dir), clientCertificate: readKeystoreFile(dir, 'certificate') });
    const via = deps.confirmTransport ?? (ownConfirm as HttpTransport);
    try {
      for (;;) {
        // A fresh proof per attempt: it is checked against the service's clock (± 5 minutes).
        const proof = await createConfirmProof(device.signer, { deviceId: result.identity.deviceId, serial: result.install.serial, at: deps.clock.now() });
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
        input.onProgress?.({ step: 'confirmed', deviceId: result.identity.deviceId, state: answer.state, changed: true });
        return { ...result, install: record, requestId: record.requestId, confirmed: true, serviceState: answer.state };
      }
    } finally {
      ownConfirm?.close();
    }
  };

  try {
    return await confirm(installed ?? (await fetchAndInstall()));
  } finally {
    ownTransport?.close();
  }
}
