/**
 * `renewConnected`: the device renews its certificate (docs/lifecycle.md, "Renewal"). It makes a
 * CSR — with its current key, or with a new key (`rekey`) written to renewal.key first — and a
 * renewal request signed with its CURRENT key (protocol renewal-request.ts), and sends it to
 * POST /api/v1/device/renew over mutual TLS with its current certificate. The answer is a new
 * certified profile, installed like the first one (installProfile: verified against root.crt,
 * written in one step, the previous certificate kept until then); with a new key, device.key is
 * replaced in that same step. Then the install is confirmed over mutual TLS with the new
 * certificate, through provisionConnected's confirmation step, which also finishes a renewal a
 * restart interrupted between install and confirmation.
 *
 * `renewalDue` says when the profile's renewal window opens: at `atFractionOfLifetime` of the
 * certificate's lifetime, moved by a jitter of ± `jitterFraction` of the lifetime drawn from a
 * value derived from the certificate serial, so each device has its own fixed moment (a fleet
 * provisioned at once does not renew at once) that is the same after every restart.
 */
import { createHash } from 'node:crypto';
import { type Clock, createCsr, createKeySigner, exportPrivateKeyPem, generateKey, type Random, type Signer } from '@provisio/pki';
import { createRenewalRequest } from '@provisio/protocol';
import { appendDeviceAudit, auditCodeOf, appendDeviceAuditQuietly } from './device-audit-log.js';
import { openDeviceDatabase } from './device-database.js';
import { DeviceError } from './errors.js';
import { installProfile, type InstallProfileResult } from './install-profile.js';
import { fileState, readKeystoreFile, readPrivateKeyFile, removeKeystoreFiles, replaceKeystoreFiles } from './keystore.js';
import { withKeystoreLock } from './keystore-lock.js';
import { loadDevice } from './load-device.js';
import { errorOf, type HttpReply, type HttpTransport, httpsTransport, isTransient, provisionConnected, type ProvisionConnectedResult, type ProvisionProgress } from './provision-connected.js';

/** The profile's default when it carries no renewal policy (docs/lifecycle.md). */
export const DEFAULT_RENEWAL = { atFractionOfLifetime: 2 / 3, jitterFraction: 0.05 } as const;

export type RenewProgress =
  | { readonly step: 'requesting'; readonly serial: string; readonly rekey: boolean }
  | { readonly step: 'retrying'; readonly reason: string; readonly retryInMs: number }
  | { readonly step: 'issued'; readonly requestId: string; readonly serial: string }
  | ProvisionProgress;

export interface RenewConnectedDeps {
  readonly clock: Clock;
  readonly random: Random;
  /** Defaults to HTTPS trusting only root.crt, presenting device.key and certificate.pem. */
  readonly transport?: HttpTransport;
  /** For the confirmation with the new certificate (see ProvisionConnectedDeps). */
  readonly confirmTransport?: HttpTransport;
  readonly sleep?: (ms: number) => Promise<void>;
}

export interface RenewConnectedInput {
  readonly dir: string;
  readonly serviceUrl: string;
  /** Make a new key and renew with it; the old certificate is revoked once the new one is confirmed. */
  readonly rekey?: boolean;
  /** Transient failures (network, 429, 5xx) are retried this many times (default 5). */
  readonly maxAttempts?: number;
  readonly signal?: AbortSignal;
  readonly onProgress?: (event: RenewProgress) => void;
}

export interface RenewConnectedResult {
  readonly previousSerial: string;
  readonly requestId: string;
  readonly installed: InstallProfileResult;
  readonly confirmed: ProvisionConnectedResult;
  readonly rekey: boolean;
}

const BACKOFF_BASE_MS = 1_000;
const BACKOFF_MAX_MS = 60_000;
const defaultSleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** Exponential backoff with full jitter, from the injected random source. */
export function backoffMs(random: Random, failures: number, baseMs = BACKOFF_BASE_MS, maxMs = BACKOFF_MAX_MS): number {
  const ceiling = Math.min(maxMs, baseMs * 2 ** Math.min(failures, 16));
  const r = Buffer.from(random.bytes(4)).readUInt32BE(0) / 0x1_0000_0000;
  return Math.max(50, Math.floor(ceiling * r));
}

/**
 * When the installed certificate is due for renewal: notBefore + lifetime × (fraction ± jitter),
 * the jitter fixed per certificate (from its serial), never after notAfter.
 */
export function renewalDue(
  certificate: { readonly serial: string; readonly notBefore: Date; readonly notAfter: Date },
  policy: { readonly atFractionOfLifetime: number; readonly jitterFraction: number } = DEFAULT_RENEWAL,
): Date {
  const start = certificate.notBefore.getTime();
  const lifetime = certificate.notAfter.getTime() - start;
  const u = createHash('sha256').update(`provisio-renewal:${certificate.serial}`).digest().readUInt32BE(0) / 0x1_0000_0000;
  const fraction = Math.min(1, Math.max(0, policy.atFractionOfLifetime + (2 * u - 1) * policy.jitterFraction));
  return new Date(Math.min(certificate.notAfter.getTime(), start + Math.floor(lifetime * fraction)));
}

/** Outcomes go to the device's security audit log: renewal.requested, then renewal.completed or renewal.failed. */
export async function renewConnected(deps: RenewConnectedDeps, input: RenewConnectedInput): Promise<RenewConnectedResult> {
  return withKeystoreLock(input.dir, async () => {
    try {
      const result = await renewConnectedNow(deps, input);
      appendDeviceAudit(input.dir, {
        event: 'renewal.completed',
        details: { previousSerial: result.previousSerial, serial: result.confirmed.install.serial, rekey: result.rekey, requestId: result.requestId },
        at: deps.clock.now(),
      });
      return result;
    } catch (e) {
      if (!input.signal?.aborted) appendDeviceAuditQuietly(input.dir, { event: 'renewal.failed', details: { code: auditCodeOf(e), rekey: input.rekey === true }, at: deps.clock.now() });
      throw e;
    }
  });
}

async function renewConnectedNow(deps: RenewConnectedDeps, input: RenewConnectedInput): Promise<RenewConnectedResult> {
  const { dir, signal } = input;
  signal?.throwIfAborted();
  const base = input.serviceUrl.replace(/\/+$/, '');
  if (!/^https:\/\//.test(base)) {
    throw new DeviceError('service_refused', `the service URL must be https://; got ${JSON.stringify(input.serviceUrl)}`, 'pass the service URL from the provisioning package');
  }
  const device = loadDevice(dir);
  if (device.identity.state !== 'installed' || !device.install?.confirmedAt) {
    throw new DeviceError(
      'renewal_not_ready',
      `${dir} holds no confirmed certificate to renew (state ${device.identity.state}${device.install && !device.install.confirmedAt ? ', install not confirmed' : ''})`,
      'finish provisioning first: "provisio device provision --dir ' + dir + '"',
    );
  }
  const previousSerial = device.install.serial;
  const rekey = input.rekey === true;

  // The new key is on disk (0600) before anything is sent: the profile the service issues for it
  // is useless without it.
  let next: { signer: Signer; pem: string } | null = null;
  appendDeviceAudit(dir, { event: 'renewal.requested', details: { serial: previousSerial, rekey }, at: deps.clock.now() });
  if (rekey) {
    // A rotation that failed after re-keying device.db left it under renewal.key's key: opening
    // it puts it back under device.key before renewal.key is replaced below.
    if (fileState(dir, 'database').present) openDeviceDatabase(dir, { create: false, now: deps.clock.now() }).close();
    const key = await generateKey(device.identity.keyType);
    next = { signer: createKeySigner(key.privateKey), pem: exportPrivateKeyPem(key.privateKey) };
    replaceKeystoreFiles(dir, [{ file: 'renewalKey', data: next.pem }]);
  }
  const csrDer = await createCsr(next?.signer ?? device.signer, { subject: [{ type: 'CN', value: device.identity.deviceId }] });

  const ownTransport = deps.transport
    ? null
    : httpsTransport(readKeystoreFile(dir, 'root'), { clientKey: readPrivateKeyFile(dir), clientCertificate: readKeystoreFile(dir, 'certificate') });
  const transport = deps.transport ?? (ownTransport as HttpTransport);
  const sleep = deps.sleep ?? defaultSleep;
  const maxAttempts = input.maxAttempts ?? 5;
  input.onProgress?.({ step: 'requesting', serial: previousSerial, rekey });

  let profileText: Buffer;
  let requestId: string;
  try {
    for (let failures = 0; ; failures++) {
      signal?.throwIfAborted();
      // A fresh request per attempt: the service checks its time against its own (± 5 minutes).
      const renewal = await createRenewalRequest(device.signer, {
        deviceId: device.identity.deviceId,
        serial: previousSerial,
        csrDer,
        nonce: deps.random.bytes(16),
        at: deps.clock.now(),
      });
      let reply: HttpReply | null = null;
      let problem: string;
      try {
        reply = await transport.request('POST', `${base}/api/v1/device/renew`, { bytes: Buffer.from(JSON.stringify({ renewal })), contentType: 'application/json' });
        problem = `${reply.status} ${errorOf(reply).code}`;
      } catch (e) {
        problem = `network: ${e instanceof Error ? e.message : String(e)}`;
      }
      if (reply && (reply.status === 200 || reply.status === 201)) {
        profileText = reply.body;
        requestId = reply.headers['x-request-id'] ?? '';
        break;
      }
      if (reply && !isTransient(reply.status)) {
        const e = errorOf(reply);
        throw new DeviceError('service_refused', `the service refused the renewal: ${e.code}: ${e.message}`, 'see the code: a revoked or long-expired certificate cannot renew; the device must be provisioned again');
      }
      if (failures + 1 >= maxAttempts) {
        throw new DeviceError('provision_timeout', `no renewal after ${maxAttempts} attempts (last: ${problem})`, 'run the same command again later: the current certificate is still installed');
      }
      const delay = backoffMs(deps.random, failures);
      input.onProgress?.({ step: 'retrying', reason: problem, retryInMs: delay });
      await sleep(delay);
    }
  } finally {
    ownTransport?.close();
  }

  const installed = await installProfile({ clock: deps.clock }, { dir, profileText, ...(next ? { newKey: next } : {}) });
  if (next) removeKeystoreFiles(dir, ['renewalKey']);
  input.onProgress?.({ step: 'issued', requestId: requestId || installed.install.requestId, serial: installed.install.serial });
  // installed → confirmed: the same step as after provisioning, with the new certificate.
  const confirmed = await provisionConnected(
    { clock: deps.clock, random: deps.random, ...(deps.confirmTransport ? { confirmTransport: deps.confirmTransport } : {}), ...(deps.sleep ? { sleep: deps.sleep } : {}) },
    { dir, serviceUrl: base, maxWaitMs: 5 * 60_000, ...(signal ? { signal } : {}), ...(input.onProgress ? { onProgress: input.onProgress } : {}) },
  );
  return { previousSerial, requestId: installed.install.requestId, installed, confirmed, rekey };
}
