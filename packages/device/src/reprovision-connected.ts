/**
 * `reprovisionConnected`: a provisioned device asks for a fresh certified profile with its
 * current identity (docs/lifecycle.md, "Reprovisioning"). The request is the renewal request of
 * audience `provisio-reprovision`, signed with the current key, sent over mutual TLS with the
 * current certificate to POST /api/v1/device/reprovision. It goes through the component's
 * approval policy: the device waits for the decision like a provisioning request (long-poll on
 * GET /api/v1/device/requests/{id}/profile), then installs the profile (installProfile) and
 * confirms it over mutual TLS with the new certificate (provisionConnected's confirmation step).
 * The device keeps using its current certificate while it waits.
 */
import { createCsr } from '@provisio/pki';
import { createRenewalRequest, REPROVISION_AUDIENCE } from '@provisio/protocol';
import { appendDeviceAudit, auditCodeOf, appendDeviceAuditQuietly } from './device-audit-log.js';
import { DeviceError } from './errors.js';
import { installProfile, type InstallProfileResult } from './install-profile.js';
import { readKeystoreFile, readPrivateKeyFile } from './keystore.js';
import { withKeystoreLock } from './keystore-lock.js';
import { loadDevice } from './load-device.js';
import { errorOf, type HttpReply, type HttpTransport, httpsTransport, isTransient, provisionConnected, type ProvisionConnectedResult, type ProvisionProgress } from './provision-connected.js';
import { backoffMs, type RenewConnectedDeps } from './renew-connected.js';

export type ReprovisionProgress =
  | { readonly step: 'reprovision-submitted'; readonly requestId: string; readonly state: string }
  | { readonly step: 'reprovision-waiting'; readonly requestId: string }
  | ProvisionProgress;

export interface ReprovisionConnectedInput {
  readonly dir: string;
  readonly serviceUrl: string;
  /** Give up with `provision_timeout` after this long without a decision. */
  readonly maxWaitMs: number;
  /** Long-poll seconds per wait (default 25, at most 30). */
  readonly longPollSeconds?: number;
  readonly signal?: AbortSignal;
  readonly onProgress?: (event: ReprovisionProgress) => void;
}

export interface ReprovisionConnectedResult {
  readonly requestId: string;
  readonly previousSerial: string;
  readonly installed: InstallProfileResult;
  readonly confirmed: ProvisionConnectedResult;
}

/** Outcomes go to the device's security audit log: reprovision.requested, then reprovision.completed or reprovision.failed. */
export async function reprovisionConnected(deps: RenewConnectedDeps, input: ReprovisionConnectedInput): Promise<ReprovisionConnectedResult> {
  return withKeystoreLock(input.dir, async () => {
    try {
      const result = await reprovisionConnectedNow(deps, input);
      appendDeviceAudit(input.dir, {
        event: 'reprovision.completed',
        details: { previousSerial: result.previousSerial, serial: result.confirmed.install.serial, requestId: result.requestId },
        at: deps.clock.now(),
      });
      return result;
    } catch (e) {
      if (!input.signal?.aborted) appendDeviceAuditQuietly(input.dir, { event: 'reprovision.failed', details: { code: auditCodeOf(e) }, at: deps.clock.now() });
      throw e;
    }
  });
}

async function reprovisionConnectedNow(deps: RenewConnectedDeps, input: ReprovisionConnectedInput): Promise<ReprovisionConnectedResult> {
  const { dir, signal } = input;
  const base = input.serviceUrl.replace(/\/+$/, '');
  if (!/^https:\/\//.test(base)) {
    throw new DeviceError('service_refused', `the service URL must be https://; got ${JSON.stringify(input.serviceUrl)}`, 'pass the service URL from the provisioning package');
  }
  const device = loadDevice(dir);
  if (device.identity.state !== 'installed' || !device.install?.confirmedAt) {
    throw new DeviceError('renewal_not_ready', `${dir} holds no confirmed certificate to reprovision with (state ${device.identity.state})`, `finish provisioning first: "provisio device provision --dir ${dir}"`);
  }
  const previousSerial = device.install.serial;
  const longPoll = Math.max(0, Math.min(30, Math.floor(input.longPollSeconds ?? 25)));
  const ownTransport = deps.transport
    ? null
    : httpsTransport(readKeystoreFile(dir, 'root'), { clientKey: readPrivateKeyFile(dir), clientCertificate: readKeystoreFile(dir, 'certificate'), timeoutMs: longPoll * 1000 + 15_000 });
  const transport = deps.transport ?? (ownTransport as HttpTransport);
  const sleep = deps.sleep ?? ((ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms)));
  const deadline = performance.now() + input.maxWaitMs;
  let failures = 0;
  /** One call; transient failures are retried with backoff until the deadline. */
  const call = async (method: 'GET' | 'POST', url: string, body?: { bytes: Uint8Array; contentType: string }): Promise<HttpReply> => {
    for (;;) {
      signal?.throwIfAborted();
      let problem: string;
      try {
        const reply = await transport.request(method, url, body);
        if (!isTransient(reply.status)) return reply;
        problem = `${reply.status} ${errorOf(reply).code}`;
      } catch (e) {
        problem = `network: ${e instanceof Error ? e.message : String(e)}`;
      }
      if (performance.now() >= deadline) throw new DeviceError('provision_timeout', `no answer from the service within ${Math.round(input.maxWaitMs / 1000)} s (last: ${problem})`, 'run the same command again later');
      await sleep(backoffMs(deps.random, failures++));
    }
  };

  let installed: InstallProfileResult;
  let requestId: string;
  try {
    const csrDer = await createCsr(device.signer, { subject: [{ type: 'CN', value: device.identity.deviceId }] });
    const reprovision = await createRenewalRequest(device.signer, {
      deviceId: device.identity.deviceId,
      serial: previousSerial,
      csrDer,
      nonce: deps.random.bytes(16),
      at: deps.clock.now(),
      aud: REPROVISION_AUDIENCE,
    });
    const submitted = await call('POST', `${base}/api/v1/device/reprovision`, { bytes: Buffer.from(JSON.stringify({ reprovision })), contentType: 'application/json' });
    if (submitted.status !== 200 && submitted.status !== 201) {
      const e = errorOf(submitted);
      throw new DeviceError('service_refused', `the service refused the reprovisioning: ${e.code}: ${e.message}`, 'see the code: a revoked certificate cannot reprovision; the device must be provisioned again');
    }
    const answer = (JSON.parse(submitted.body.toString('utf8')) as { request?: { id?: unknown; state?: unknown } }).request;
    if (typeof answer?.id !== 'string' || !/^[A-Za-z0-9._:-]{1,80}$/.test(answer.id)) {
      throw new DeviceError('service_refused', 'the service accepted the reprovisioning but sent no usable request id', 'check the service URL points at a Provisio service');
    }
    requestId = answer.id;
    appendDeviceAudit(dir, { event: 'reprovision.requested', details: { serial: previousSerial, requestId }, at: deps.clock.now() });
    input.onProgress?.({ step: 'reprovision-submitted', requestId, state: String(answer.state) });

    let profile: Buffer | null = null;
    while (!profile) {
      const reply = await call('GET', `${base}/api/v1/device/requests/${encodeURIComponent(requestId)}/profile${longPoll > 0 ? `?wait=${longPoll}` : ''}`);
      if (reply.status === 200) {
        profile = reply.body;
      } else if (reply.status === 202) {
        if (performance.now() >= deadline) {
          throw new DeviceError('provision_timeout', `request ${requestId} is still pending after ${Math.round(input.maxWaitMs / 1000)} s`, `an approver runs "provisio request approve ${requestId}"; run the command again to wait more`);
        }
        input.onProgress?.({ step: 'reprovision-waiting', requestId });
        const retry = Number(reply.headers['retry-after'] ?? '1');
        await sleep(Math.min(60_000, (Number.isFinite(retry) ? retry : 1) * 1000));
      } else {
        const e = errorOf(reply);
        if (e.code === 'request_rejected') throw new DeviceError('provision_rejected', `the service rejected reprovisioning request ${requestId}: ${e.message}`, 'the device keeps its current certificate; ask the approver why');
        throw new DeviceError('service_refused', `the service refused the profile of request ${requestId}: ${e.code}: ${e.message}`, 'check the service URL');
      }
    }
    installed = await installProfile({ clock: deps.clock }, { dir, profileText: profile });
    input.onProgress?.({ step: 'installed', requestId, changed: installed.changed, serial: installed.install.serial });
  } finally {
    ownTransport?.close();
  }
  const confirmed = await provisionConnected(
    { clock: deps.clock, random: deps.random, ...(deps.confirmTransport ? { confirmTransport: deps.confirmTransport } : {}), ...(deps.sleep ? { sleep: deps.sleep } : {}) },
    { dir, serviceUrl: base, maxWaitMs: 5 * 60_000, ...(signal ? { signal } : {}), ...(input.onProgress ? { onProgress: input.onProgress } : {}) },
  );
  return { requestId, previousSerial, installed, confirmed };
}
