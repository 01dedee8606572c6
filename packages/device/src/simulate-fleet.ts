/**
 * The fleet simulator (docs/device.md, "Fleet simulator"). N simulated devices, each with its own
 * key and keystore directory under `dir`, provision against a real service, at most `concurrency`
 * at a time, in one of three deliveries:
 *
 * - connected: each device runs `provisionConnected` against the service;
 * - proxy: the same, against a gateway's URL (the gateway serves the same device endpoints);
 * - disconnected: each device only writes its request file; the simulator plays the technician
 *   over the API with its token — upload the file, download the profile once approved, install it
 *   on the device with the SDK, complete provisioning.
 *
 * Approval: `auto` relies on an automatic approval policy (set on the component when the token
 * may and none is in effect); `manual` makes the simulator an approver that approves its own
 * devices' pending requests as they appear, the time they waited counted as human-wait time.
 *
 * Two phases, exported separately so a benchmark times only the second: `prepareFleet` makes the
 * keys and the requests; `runFleet` provisions them and returns the summary (provisioned, failures
 * by code, enrollments per second, p50/p99 latency).
 */
import { join } from 'node:path';
import type { Clock, Random } from '@provisio/pki';
import { isProvisioError } from '@provisio/pki';
import { DeviceError } from './errors.js';
import { initDevice } from './init-device.js';
import { installProfile } from './install-profile.js';
import { readKeystoreFile } from './keystore.js';
import { type HttpReply, type HttpTransport, httpsTransport, provisionConnected } from './provision-connected.js';

export type FleetMode = 'connected' | 'proxy' | 'disconnected';
export type FleetApproval = 'auto' | 'manual';

export interface SimulateFleetDeps {
  readonly clock: Clock;
  readonly random: Random;
  /** Elapsed-time source (default performance.now). */
  readonly monotonicMs?: () => number;
  /** Tests may inject a transport; by default each device uses HTTPS trusting its root.crt. */
  readonly transport?: HttpTransport;
  readonly confirmTransport?: HttpTransport;
}

export interface PrepareFleetInput {
  readonly packageText: string;
  readonly component: string;
  readonly count: number;
  /** Parent directory: device i's keystore is DIR/<idPrefix><i>. */
  readonly dir: string;
  /** deviceId prefix, e.g. "SIM-" gives SIM-00001 … */
  readonly idPrefix: string;
  /** Key generation runs this many at a time (default 8). */
  readonly concurrency?: number;
}

export interface PreparedDevice {
  readonly deviceId: string;
  readonly dir: string;
}

export interface PreparedFleet {
  readonly system: string;
  readonly component: string;
  readonly idPrefix: string;
  readonly devices: readonly PreparedDevice[];
  /** The package's root of trust (PEM): the service's TLS certificate chains to it. */
  readonly rootPem: string;
}

export interface RunFleetInput {
  readonly mode?: FleetMode;
  readonly approve?: FleetApproval;
  readonly concurrency: number;
  /** The service (connected, disconnected) — the API the simulator's token is for. */
  readonly serviceUrl: string;
  /** Proxy mode: the gateway's URL the devices talk to. */
  readonly gatewayUrl?: string;
  /**
   * An API token: needed for disconnected delivery (technician), manual approval (approver) and
   * for auto to set the policy (admin). Without one, auto trusts the service's policy.
   */
  readonly apiToken?: string;
  /** Per device: give up after this long without a confirmed profile. */
  readonly maxWaitMs: number;
  readonly onProgress?: (progress: FleetProgress) => void;
}

export interface SimulateFleetInput extends PrepareFleetInput, RunFleetInput {
  readonly concurrency: number;
}

export interface FleetProgress {
  readonly done: number;
  readonly provisioned: number;
  readonly failed: number;
  readonly total: number;
}

export interface FleetSummary {
  readonly mode: FleetMode;
  readonly approve: FleetApproval;
  readonly devices: number;
  readonly concurrency: number;
  readonly provisioned: number;
  /** Failures by error code (`internal` for errors without one). */
  readonly failed: Record<string, number>;
  /** The timed run (prepareFleet's key generation is outside it). */
  readonly seconds: number;
  /** Provisioned devices per second over the run. */
  readonly perSecond: number;
  /** From a device's first call (submit or upload) to its confirmation; null when none was provisioned. */
  readonly latencyMs: { readonly p50: number | null; readonly p99: number | null };
  /** Manual approval: from a device's submit to the simulated approver's approval (inside the latency). */
  readonly humanWaitMs: { readonly p50: number | null; readonly p99: number | null } | null;
  /** Auto: what the simulator did about the approval policy. */
  readonly policy: 'set' | 'already-automatic' | 'not-checked' | null;
  /** The first simulated device ID (the others count up from it). */
  readonly firstDeviceId: string | null;
}

/** Nearest-rank percentile of sorted values. */
export function percentile(sorted: readonly number[], p: number): number | null {
  if (sorted.length === 0) return null;
  const rank = Math.max(1, Math.ceil((p / 100) * sorted.length));
  return sorted[Math.min(sorted.length, rank) - 1] as number;
}

export function simulatedDeviceId(prefix: string, index: number, count: number): string {
  return `${prefix}${String(index + 1).padStart(Math.max(5, String(count).length), '0')}`;
}

async function eachLimited(count: number, concurrency: number, fn: (i: number) => Promise<void>): Promise<void> {
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < count) {
      const i = next;
      next += 1;
      await fn(i);
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, count) }, () => worker()));
}

/** Phase 1: a key and a provisioning request per device (initDevice), nothing sent. */
export async function prepareFleet(deps: Pick<SimulateFleetDeps, 'clock' | 'random'>, input: PrepareFleetInput): Promise<PreparedFleet> {
  const { count } = input;
  if (!Number.isInteger(count) || count < 1) throw new RangeError('count must be a positive integer');
  const devices: PreparedDevice[] = Array.from({ length: count }, (_, i) => {
    const deviceId = simulatedDeviceId(input.idPrefix, i, count);
    return { deviceId, dir: join(input.dir, deviceId) };
  });
  let system = '';
  await eachLimited(count, input.concurrency ?? 8, async (i) => {
    const d = devices[i] as PreparedDevice;
    const r = await initDevice(
      { clock: deps.clock, random: deps.random },
      { packageText: input.packageText, component: input.component, deviceId: d.deviceId, deviceLabel: `Simulated ${d.deviceId}`, dir: d.dir },
    );
    system = r.identity.system;
  });
  const rootPem = readKeystoreFile((devices[0] as PreparedDevice).dir, 'root').toString('utf8');
  return { system, component: input.component, idPrefix: input.idPrefix, devices, rootPem };
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** The simulator's own API calls (technician, approver, admin): retried on 429/503 and network errors. */
function apiClient(prepared: PreparedFleet, serviceUrl: string, token: string, maxWaitMs: number, now: () => number) {
  const transport = httpsTransport(prepared.rootPem, { headers: { authorization: `Bearer ${token}` } });
  const base = serviceUrl.replace(/\/+$/, '');
  const send = async (method: 'GET' | 'POST', path: string, body?: { json: unknown } | { bytes: Uint8Array; contentType: string }): Promise<HttpReply> => {
    const deadline = now() + maxWaitMs;
    const payload = body === undefined ? undefined : 'json' in body ? { bytes: Buffer.from(JSON.stringify(body.json)), contentType: 'application/json' } : body;
    for (;;) {
      let reply: HttpReply | null = null;
      try {
        reply = await transport.request(method, `${base}${path}`, payload);
      } catch {
        // network: retried below
      }
      if (reply && reply.status !== 429 && reply.status !== 503) return reply;
      if (now() > deadline) {
        throw new DeviceError('provision_timeout', `${method} ${path}: no answer from the service within ${Math.round(maxWaitMs / 1000)} s`);
      }
      const after = reply?.headers['retry-after'];
      await sleep(after && /^\d+$/.test(after) ? Number(after) * 1000 : 500);
    }
  };
  const json = async <T>(method: 'GET' | 'POST', path: string, body?: { json: unknown } | { bytes: Uint8Array; contentType: string }, expected: readonly number[] = [200]): Promise<{ status: number; body: T; raw: Buffer }> => {
    const reply = await send(method, path, body);
    if (!expected.includes(reply.status)) {
      let code = `http_${reply.status}`;
      let message = '';
      try {
        const e = (JSON.parse(reply.body.toString('utf8')) as { error?: { code?: string; message?: string } }).error;
        code = e?.code ?? code;
        message = e?.message ?? '';
      } catch {
        // not JSON
      }
      throw new DeviceError('service_refused', `${method} ${path}: ${code}: ${message}`);
    }
    const isJson = (reply.headers['content-type'] ?? '').startsWith('application/json');
    return { status: reply.status, body: (isJson ? JSON.parse(reply.body.toString('utf8')) : null) as T, raw: reply.body };
  };
  return { json, close: () => transport.close() };
}

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/** Phase 2, timed: provisions the prepared devices and summarizes. */
export async function runFleet(deps: SimulateFleetDeps, prepared: PreparedFleet, input: RunFleetInput): Promise<FleetSummary> {
  const mode = input.mode ?? 'connected';
  const approve = input.approve ?? 'auto';
  const count = prepared.devices.length;
  if (!Number.isInteger(input.concurrency) || input.concurrency < 1) throw new RangeError('concurrency must be a positive integer');
  if (mode === 'proxy' && !input.gatewayUrl) throw new RangeError('proxy mode needs the gateway URL');
  if ((mode === 'disconnected' || approve === 'manual') && !input.apiToken) {
    throw new DeviceError('service_refused', `${mode === 'disconnected' ? 'disconnected delivery' : 'manual approval'} needs an API token: the simulator acts as ${mode === 'disconnected' ? 'the technician' : 'the approver'}`);
  }
  const now = deps.monotonicMs ?? (() => performance.now());
  const api = input.apiToken ? apiClient(prepared, input.serviceUrl, input.apiToken, input.maxWaitMs, now) : null;
  const failed: Record<string, number> = {};
  const latencies: number[] = [];
  const humanWaits: number[] = [];
  let provisioned = 0;
  let failures = 0;
  const component = `/api/v1/systems/${encodeURIComponent(prepared.system)}/components/${encodeURIComponent(prepared.component)}`;

  try {
    // Auto: make sure an automatic policy is in effect for these devices (only they match).
    let policy: FleetSummary['policy'] = null;
    if (approve === 'auto') {
      policy = 'not-checked';
      if (api) {
        const shown = await api.json<{ effectiveMode: string }>('GET', `${component}/policy`);
        if (shown.body.effectiveMode === 'automatic') {
          policy = 'already-automatic';
        } else {
          await api.json('POST', `${component}/policy`, { json: { mode: 'automatic', rules: { deviceIdPattern: `^${escapeRegExp(prepared.idPrefix)}[0-9]+$` } } });
          policy = 'set';
        }
      }
    }

    const ids = new Set(prepared.devices.map((d) => d.deviceId));
    const submittedAt = new Map<string, number>();
    const approvedAt = new Map<string, number>();
    const started = now();
    let running = true;

    // Manual approval over connected/proxy delivery: the simulated approver approves its own
    // devices' pending requests as they appear.
    let approverError: unknown = null;
    const approver = approve === 'manual' && mode !== 'disconnected' && api
      ? (async () => {
          while (running) {
            const page = await api.json<{ items: { id: string; deviceId: string }[] }>('GET', `/api/v1/requests?state=pending&q=${encodeURIComponent(prepared.idPrefix)}&limit=500`);
            for (const item of page.body.items) {
              if (!ids.has(item.deviceId) || approvedAt.has(item.deviceId)) continue;
              await api.json('POST', `/api/v1/requests/${encodeURIComponent(item.id)}/approve`, undefined, [200, 409]);
              approvedAt.set(item.deviceId, now());
            }
            if (running) await sleep(100);
          }
        })().catch((e: unknown) => {
          // Reported after the run (the devices it did not approve time out meanwhile).
          approverError = e;
        })
      : null;

    const connected = async (d: PreparedDevice, url: string): Promise<void> => {
      await provisionConnected(
        {
          clock: deps.clock,
          random: deps.random,
          ...(deps.transport ? { transport: deps.transport } : {}),
          ...(deps.confirmTransport ? { confirmTransport: deps.confirmTransport } : {}),
          monotonicMs: now,
        },
        {
          dir: d.dir,
          serviceUrl: url,
          maxWaitMs: input.maxWaitMs,
          maxPollIntervalMs: 1_000,
          onProgress: (e) => {
            if (e.step === 'submitted' && !submittedAt.has(d.deviceId)) submittedAt.set(d.deviceId, now());
          },
        },
      );
    };

    /** The technician's round for one device's request file (disconnected delivery). */
    const disconnected = async (d: PreparedDevice): Promise<void> => {
      const a = api as NonNullable<typeof api>;
      const uploaded = await a.json<{ request: { id: string; state: string } }>(
        'POST', '/api/v1/requests', { bytes: readKeystoreFile(d.dir, 'request'), contentType: 'application/vnd.provisio.request+json' }, [200, 201],
      );
      const id = encodeURIComponent(uploaded.body.request.id);
      submittedAt.set(d.deviceId, now());
      let state = uploaded.body.request.state;
      if (state === 'pending' && approve === 'manual') {
        await a.json('POST', `/api/v1/requests/${id}/approve`, undefined, [200, 409]);
        approvedAt.set(d.deviceId, now());
        state = 'approved';
      }
      const deadline = now() + input.maxWaitMs;
      while (state === 'pending') {
        if (now() > deadline) throw new DeviceError('provision_timeout', `request ${uploaded.body.request.id} of ${d.deviceId} is still pending`);
        await sleep(200);
        state = (await a.json<{ state: string }>('GET', `/api/v1/requests/${id}`)).body.state;
      }
      if (state !== 'approved') throw new DeviceError('provision_rejected', `request ${uploaded.body.request.id} of ${d.deviceId} was ${state}`);
      const profile = await a.json('GET', `/api/v1/requests/${id}/profile`);
      await installProfile({ clock: deps.clock }, { dir: d.dir, profileText: profile.raw });
      await a.json('POST', `/api/v1/devices/${encodeURIComponent(d.deviceId)}/complete`);
    };

    await eachLimited(count, input.concurrency, async (i) => {
      const d = prepared.devices[i] as PreparedDevice;
      const start = now();
      try {
        if (mode === 'disconnected') await disconnected(d);
        else await connected(d, mode === 'proxy' ? (input.gatewayUrl as string) : input.serviceUrl);
        latencies.push(now() - start);
        provisioned += 1;
      } catch (e) {
        const code = isProvisioError(e) ? e.code : 'internal';
        failed[code] = (failed[code] ?? 0) + 1;
        failures += 1;
      }
      input.onProgress?.({ done: provisioned + failures, provisioned, failed: failures, total: count });
    });
    running = false;
    await approver;
    if (approverError) throw approverError;

    const seconds = (now() - started) / 1000;
    for (const [deviceId, at] of approvedAt) {
      const from = submittedAt.get(deviceId);
      if (from !== undefined) humanWaits.push(Math.max(0, at - from));
    }
    latencies.sort((a, b) => a - b);
    humanWaits.sort((a, b) => a - b);
    const round = (v: number | null) => (v === null ? null : Math.round(v * 10) / 10);
    return {
      mode,
      approve,
      devices: count,
      concurrency: input.concurrency,
      provisioned,
      failed,
      seconds: Math.round(seconds * 1000) / 1000,
      perSecond: seconds > 0 ? Math.round((provisioned / seconds) * 10) / 10 : 0,
      latencyMs: { p50: round(percentile(latencies, 50)), p99: round(percentile(latencies, 99)) },
      humanWaitMs: approve === 'manual' ? { p50: round(percentile(humanWaits, 50)), p99: round(percentile(humanWaits, 99)) } : null,
      policy,
      firstDeviceId: prepared.devices[0]?.deviceId ?? null,
    };
  } finally {
    api?.close();
  }
}

/** Both phases: prepareFleet then runFleet. */
export async function simulateFleet(deps: SimulateFleetDeps, input: SimulateFleetInput): Promise<FleetSummary> {
  const prepared = await prepareFleet(deps, input);
  return runFleet(deps, prepared, input);
}
