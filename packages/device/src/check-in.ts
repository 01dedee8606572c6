/**
 * A provisioned device checks in at the central station (docs/station.md; seed 003 step 5: test
 * the connection after install): one POST of a small telemetry body over mutual TLS, presenting
 * the installed certificate chain with the device key, trusting only the keystore's root. The
 * station answers with what it recorded, or refuses: a revoked certificate (403
 * device_certificate_revoked), no revocation status (503, fail closed), or at the TLS handshake
 * for an expired certificate or one not under its root. One attempt: the caller (the device agent,
 * the CLI) decides when to try again.
 */
import { loadIdentity } from './load-device.js';
import { appendDeviceAudit, auditCodeOf, auditOrigin, appendDeviceAuditQuietly } from './device-audit-log.js';
import { DeviceError } from './errors.js';
import { fileState, readKeystoreFile, readPrivateKeyFile } from './keystore.js';
import { type HttpReply, type HttpTransport, httpsTransport } from './provision-connected.js';

export const CHECK_IN_PATH = '/api/v1/check-in';

/** What the station accepts (docs/station.md "Check-in"); every field optional. */
export interface CheckInTelemetry {
  readonly firmwareVersion?: string;
  readonly uptimeSeconds?: number;
  readonly status?: 'ok' | 'degraded' | 'fault';
  readonly message?: string;
}

export interface CheckInResult {
  readonly deviceId: string;
  readonly serial: string;
  /** When the station recorded the check-in (its clock). */
  readonly lastSeen: string;
  /** Which revocation source vouched for the certificate: 'ocsp', or 'crl' when the responder was down. */
  readonly revocationSource: string;
  /**
   * When an admin asked for this device to be reprovisioned (ISO time), null when nothing is
   * asked: the agent then reprovisions (docs/lifecycle.md "Reprovisioning asked for by an admin").
   */
  readonly reprovisionRequestedAt: string | null;
}

export interface CheckInInput {
  readonly dir: string;
  /** The station's base URL, e.g. https://station.ward.example:9443 */
  readonly stationUrl: string;
  /** Default: the firmware version recorded at init, when there is one. */
  readonly telemetry?: CheckInTelemetry;
  readonly timeoutMs?: number;
  /**
   * Record the outcome in the device's security audit log (default true). The agent's heartbeat
   * records only changes (heartbeatAtStation), or a check-in every few minutes would fill it.
   */
  readonly record?: boolean;
  /** The time the audit entry carries (default now). */
  readonly now?: () => Date;
}

function refusal(reply: HttpReply): { code: string; message: string } {
  try {
    const parsed = JSON.parse(reply.body.toString('utf8')) as { error?: { code?: unknown; message?: unknown } };
    if (typeof parsed.error?.code === 'string') return { code: parsed.error.code, message: String(parsed.error.message ?? '') };
  } catch {
    // not JSON: described by its status below
  }
  return { code: `http_${reply.status}`, message: `the station answered HTTP ${reply.status}` };
}

export async function checkInAtStation(deps: { readonly transport?: HttpTransport }, input: CheckInInput): Promise<CheckInResult> {
  const now = () => input.now?.() ?? new Date();
  try {
    const result = await checkInOnce(deps, input);
    if (input.record !== false) {
      appendDeviceAudit(input.dir, {
        event: 'check_in.succeeded',
        details: { station: auditOrigin(input.stationUrl), serial: result.serial, revocationSource: result.revocationSource, mutualTls: true },
        at: now(),
      });
    }
    return result;
  } catch (e) {
    if (input.record !== false) appendDeviceAuditQuietly(input.dir, { event: 'check_in.failed', details: { code: auditCodeOf(e), station: auditOrigin(input.stationUrl) }, at: now() });
    throw e;
  }
}

async function checkInOnce(deps: { readonly transport?: HttpTransport }, input: CheckInInput): Promise<CheckInResult> {
  const identity = loadIdentity(input.dir);
  if (!fileState(input.dir, 'certificate').present) {
    throw new DeviceError('device_not_installed', `device ${identity.deviceId} has no installed certificate in ${input.dir}`, 'install its certified profile first ("provisio device install" or "provisio device provision")');
  }
  let url: URL;
  try {
    url = new URL(CHECK_IN_PATH, input.stationUrl);
  } catch {
    throw new DeviceError('station_unreachable', `"${input.stationUrl.slice(0, 200)}" is not a URL`, 'pass the station as https://HOST:PORT');
  }
  if (url.protocol !== 'https:') throw new DeviceError('station_unreachable', `the station URL must be https (mutual TLS); got ${url.protocol}`, 'pass the station as https://HOST:PORT');
  const own = deps.transport
    ? null
    : httpsTransport(readKeystoreFile(input.dir, 'root'), {
        clientKey: readPrivateKeyFile(input.dir),
        clientCertificate: readKeystoreFile(input.dir, 'certificate'),
        timeoutMs: input.timeoutMs ?? 15_000,
      });
  const transport = deps.transport ?? (own as HttpTransport);
  try {
    let reply: HttpReply;
    try {
      const telemetry = input.telemetry ?? (identity.firmwareVersion ? { firmwareVersion: identity.firmwareVersion } : {});
      reply = await transport.request('POST', url.toString(), { bytes: Buffer.from(JSON.stringify(telemetry)), contentType: 'application/json' });
    } catch (e) {
      throw new DeviceError(
        'station_unreachable',
        `no answer from the station at ${url.origin}: ${e instanceof Error ? e.message : String(e)}`,
        'check the URL; a station that closes the TLS handshake refuses this certificate (expired, or not under its root)',
      );
    }
    if (reply.status !== 200) {
      const e = refusal(reply);
      throw new DeviceError(
        'station_refused',
        `the station refused the check-in of ${identity.deviceId}: ${e.code}: ${e.message}`,
        e.code === 'device_certificate_revoked' ? 'the certificate is revoked: the device must be provisioned again' : 'see the station\'s code above (docs/errors.md)',
      );
    }
    const body = JSON.parse(reply.body.toString('utf8')) as Partial<CheckInResult>;
    if (body.deviceId !== identity.deviceId || typeof body.serial !== 'string' || typeof body.lastSeen !== 'string') {
      throw new DeviceError('station_refused', `the station answered ${JSON.stringify(body).slice(0, 200)}, not a check-in of ${identity.deviceId}`, 'check that the URL is a Provisio central station');
    }
    return {
      deviceId: body.deviceId,
      serial: body.serial,
      lastSeen: body.lastSeen,
      revocationSource: String(body.revocationSource ?? ''),
      reprovisionRequestedAt: typeof body.reprovisionRequestedAt === 'string' ? body.reprovisionRequestedAt : null,
    };
  } finally {
    own?.close();
  }
}
