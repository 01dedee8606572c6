/**
 * `provisio device pair`: the hospital workflow of seed 003 (DOC-PROC-011) on the device. The
 * device boots without a certificate, knowing its device id, the pairing code a PKI admin gave
 * it, the service URL and the root to trust:
 *
 *   1. hello      the id and code (checked, not spent) tell it the system, component and label
 *   2. key + CSR  generated here with the seed's profile (CN, OU, SAN, KU, EKU): the key stays
 *   3. pair       id, code and CSR; the service answers the signed provisioning payload and the
 *                 certified profile (or 202 while an approver decides: the same call again asks)
 *   4. verify     the payload's signature (the profile signer's, chained to --ca, or the HMAC
 *                 under the key derived from the code), its window and its identity, and the
 *                 profile, that both certify this key — all BEFORE anything is written
 *   5. install    the keystore files 0600 and config.json, each replaced atomically
 *   6. mutual TLS the install is confirmed with the new certificate (the service marks the
 *                 device Provisioned); the CLI then checks in at the central station (--station)
 */
import { type KeyType, encodePem, parseCertificate, parseDeviceId, publicKeyFingerprint } from '@provisio/pki';
import { derivePairingHmacKey, parsePairingPayload, parseStrictJson, verifyPairingPayload } from '@provisio/protocol';
import { DeviceError } from './errors.js';
import {
  type SecretEnrollDeps,
  type SecretEnrollResult,
  checkEmptyKeystore,
  makeDeviceKeyAndCsr,
  normalizeServiceUrl,
  verifyAnswerProfile,
  writeDeviceConfig,
  writeEnrolledKeystore,
} from './enroll-with-secret.js';
import { type HttpReply, type HttpTransport, errorOf, httpsTransport, provisionConnected } from './provision-connected.js';

export interface PairDeviceInput {
  readonly dir: string;
  readonly serviceUrl: string;
  readonly rootPem: string | Buffer;
  readonly deviceId: string;
  readonly code: string;
  readonly keyType?: KeyType;
  /** Ask for (and verify) the HMAC form of the payload signature instead of the profile signer's. */
  readonly hmac?: boolean;
  /** How long to wait for an approver when the service answers 202. */
  readonly maxWaitMs: number;
  readonly onProgress?: (event: { step: 'hello' | 'submitted' | 'waiting' | 'verified' | 'installed' | 'confirmed'; detail: string }) => void;
}

export interface PairDeviceResult extends SecretEnrollResult {
  /** What the service said the device is, at hello. */
  readonly hello: { readonly system: string; readonly component: string; readonly deviceLabel: string };
  readonly signature: 'asymmetric' | 'hmac';
}

function refusal(reply: HttpReply, what: string): DeviceError {
  const e = errorOf(reply);
  return new DeviceError('service_refused', `the service refused ${what}: ${e.code}: ${e.message}`, 'check the device id and the pairing code; after 5 wrong codes an administrator must reset the pairing');
}

function jsonOf(reply: HttpReply): Record<string, unknown> {
  const value = parseStrictJson(reply.body.toString('utf8'), 'the service\'s answer');
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new DeviceError('service_refused', 'the service answered with something that is not a JSON object', 'check --url points at a Provisio service');
  return value as Record<string, unknown>;
}

export async function pairDevice(deps: SecretEnrollDeps, input: PairDeviceInput): Promise<PairDeviceResult> {
  const deviceId = parseDeviceId(input.deviceId);
  const base = normalizeServiceUrl(input.serviceUrl);
  checkEmptyKeystore(input.dir);
  const root = parseCertificate(input.rootPem);
  const own = deps.transport ? null : httpsTransport(encodePem('CERTIFICATE', root.der), { timeoutMs: 40_000 });
  const transport = deps.transport ?? (own as HttpTransport);
  const sleep = deps.sleep ?? ((ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms)));
  const post = (path: string, body: unknown) => transport.request('POST', `${base}${path}`, { bytes: Buffer.from(JSON.stringify(body)), contentType: 'application/json' });
  try {
    const helloReply = await post('/api/v1/device/pairing/hello', { deviceId, code: input.code });
    if (helloReply.status !== 200) throw refusal(helloReply, 'the pairing code');
    const hello = jsonOf(helloReply) as { system?: unknown; component?: unknown; deviceLabel?: unknown };
    if (typeof hello.system !== 'string' || typeof hello.component !== 'string' || typeof hello.deviceLabel !== 'string') {
      throw new DeviceError('service_refused', 'the service answered the pairing without system, component and label', 'check --url points at a Provisio service');
    }
    input.onProgress?.({ step: 'hello', detail: `${hello.system} / ${hello.component} (${hello.deviceLabel})` });

    const made = await makeDeviceKeyAndCsr({ deviceId, deviceLabel: hello.deviceLabel, system: hello.system, ...(input.keyType ? { keyType: input.keyType } : {}) });
    const signature = input.hmac ? 'hmac' : 'asymmetric';
    const request = { deviceId, code: input.code, csr: made.csr.toString('base64'), signature };
    const deadline = Date.now() + input.maxWaitMs;
    let answer: Record<string, unknown> | null = null;
    for (;;) {
      const reply = await post('/api/v1/device/pairing/pair', request);
      if (reply.status === 201) {
        answer = jsonOf(reply);
        break;
      }
      if (reply.status !== 202) throw refusal(reply, 'the pairing');
      const id = String((jsonOf(reply).request as { id?: unknown } | undefined)?.id ?? '?');
      input.onProgress?.({ step: 'waiting', detail: id });
      if (Date.now() >= deadline) {
        throw new DeviceError('provision_timeout', `request ${id} was not approved within ${Math.round(input.maxWaitMs / 1000)} s; nothing was written`, 'ask an approver, then pair again with a new code');
      }
      await sleep(5_000);
    }
    input.onProgress?.({ step: 'submitted', detail: String((answer.request as { id?: unknown } | undefined)?.id ?? '?') });

    // Everything is checked in memory first: a refusal here leaves the keystore directory as it was.
    const now = deps.clock.now();
    const parsed = parsePairingPayload((answer.payload ?? null) as object);
    verifyPairingPayload(parsed, { root, deviceId, at: now, ...(input.hmac ? { hmacKey: derivePairingHmacKey(input.code, deviceId) } : {}) });
    if (parsed.payload.clientPrivateKey !== undefined) {
      throw new DeviceError('profile_request_mismatch', 'the payload carries a private key, but this device made its own key and sent a CSR', 'pair again; central key generation is for devices that cannot make keys');
    }
    if (!parsed.certificate.publicKey.spki.equals(made.signer.publicKey.spki)) {
      throw new DeviceError('profile_request_mismatch', `the payload certifies key ${publicKeyFingerprint(parsed.certificate.publicKey).slice(0, 16)}…, not this device's`, 'pair again');
    }
    if (typeof answer.profile !== 'string') throw new DeviceError('service_refused', 'the service answered the pairing without the certified profile', 'check --url points at a Provisio service');
    const profile = verifyAnswerProfile(answer.profile, { root, deviceId, signer: made.signer, at: now });
    if (!profile.certificate.der.equals(parsed.certificate.der)) {
      throw new DeviceError('profile_request_mismatch', 'the certified profile and the payload carry different certificates', 'pair again');
    }
    input.onProgress?.({ step: 'verified', detail: signature });

    await writeEnrolledKeystore(deps, {
      dir: input.dir, serviceUrl: base, root, made, profile, enrolledWith: 'pairing-code',
      verified: { signature, issuedAt: parsed.payload.issuedAt, expiresAt: parsed.payload.expiresAt },
    });
    writeDeviceConfig(input.dir, { serverUrl: parsed.payload.serverUrl.replace(/\/+$/, ''), at: deps.clock.now() });
    input.onProgress?.({ step: 'installed', detail: input.dir });
    const confirmed = await provisionConnected(
      {
        clock: deps.clock,
        random: deps.random,
        ...(deps.transport ? { transport: deps.transport } : {}),
        ...(deps.confirmTransport ? { confirmTransport: deps.confirmTransport } : {}),
      },
      { dir: input.dir, serviceUrl: base, maxWaitMs: Math.max(30_000, input.maxWaitMs) },
    );
    input.onProgress?.({ step: 'confirmed', detail: deviceId });
    return {
      ...confirmed,
      keyPath: `${input.dir}/device.key`,
      hello: { system: hello.system, component: hello.component, deviceLabel: hello.deviceLabel },
      signature,
    };
  } finally {
    own?.close();
  }
}
