/**
 * The central station listener (docs/station.md): mutual TLS that requires a client certificate
 * chaining to the root (the TLS layer refuses the handshake otherwise: no certificate, another
 * PKI, an expired certificate), then one route, POST /api/v1/check-in, where the chain is
 * validated again, revocation is checked through OCSP with the CRL as fallback (fail closed), and
 * last-seen is recorded. It holds no CA key and reads nothing from the store: it needs the root,
 * the issuing CA certificate, its own TLS certificate, the OCSP/CRL URLs and somewhere to record
 * check-ins (which answers whether a reprovisioning was asked for).
 */
import type { PeerCertificate, TLSSocket } from 'node:tls';
import Fastify, { type FastifyInstance, type FastifyListenOptions, type FastifyReply } from 'fastify';
import { type Clock, type ParsedCertificate, encodePem, isProvisioError, parseCertificate } from '@provisio/pki';
import { checkIn } from '../domain/check-in.js';
import type { Telemetry } from '../domain/model.js';
import type { Store } from '../domain/store.js';
import type { BoundPort } from '../http/bound-port.js';
import { STATUS } from '../http/build-app.js';
import { createFetchBytes } from './fetch-bytes.js';
import { DEFAULT_STATUS_CACHE_MS, RevocationChecker } from './revocation-checker.js';

export const CHECK_IN_PATH = '/api/v1/check-in';
/** A heartbeat is small: 2 KiB holds the telemetry fields with room to spare. */
export const MAX_CHECK_IN_BYTES = 2048;
/** Revocation answers are small (an OCSP response is under 2 KiB; a CRL of a device fleet a few MiB). */
const MAX_REVOCATION_BYTES = 16 * 1024 * 1024;
/** A responder slower than this counts as down, and the CRL is tried. */
const REVOCATION_TIMEOUT_MS = 5000;

export interface StationOptions {
  readonly host: string;
  /** 0 picks a free port (tests). */
  readonly port: number;
  /** A socket already bound for host:port (app.ts binds every listener first); adopted instead of listening anew. */
  readonly bound?: BoundPort;
  /** The station's own TLS server certificate (chaining to the root) and key, PEM. */
  readonly tls: { readonly key: string; readonly cert: string };
  readonly root: ParsedCertificate;
  /** The issuing CA certificate: device certificates chain through it; it signs the CRL. */
  readonly issuer: ParsedCertificate;
  readonly ocspUrl: string | null;
  readonly crlUrl: string | null;
  /** The cut-off: a revocation status is reused at most this long (default 60 s). */
  readonly statusCacheMs?: number;
  readonly clock: Clock;
  /** Where last-seen goes (the service's store when the station runs inside `provisio serve`). */
  readonly store: Pick<Store, 'recordCheckIn'>;
  readonly log: (line: string) => void;
}

export interface RunningStation {
  readonly url: string;
  readonly port: number;
  readonly statusCacheMs: number;
  close(): Promise<void>;
}

const telemetrySchema = {
  type: 'object',
  additionalProperties: false,
  properties: {
    firmwareVersion: { type: 'string', minLength: 1, maxLength: 64, pattern: '^[\\x21-\\x7e]+$' },
    uptimeSeconds: { type: 'integer', minimum: 0, maximum: 100 * 365 * 86_400 },
    status: { type: 'string', enum: ['ok', 'degraded', 'fault'] },
    message: { type: 'string', maxLength: 200 },
  },
} as const;

function sendError(reply: FastifyReply, status: number, code: string, message: string): FastifyReply {
  return reply.status(status).type('application/json').send({ error: { code, message } });
}

function presentedChain(socket: TLSSocket): Buffer[] {
  const out: Buffer[] = [];
  let cert: PeerCertificate | undefined = socket.getPeerCertificate(true);
  while (cert?.raw && out.length < 8) {
    if (out.some((c) => c.equals(cert!.raw))) break; // a self-signed root points at itself
    out.push(cert.raw);
    cert = (cert as { issuerCertificate?: PeerCertificate }).issuerCertificate;
  }
  return out;
}

export async function startStation(options: StationOptions): Promise<RunningStation> {
  const statusCacheMs = options.statusCacheMs ?? DEFAULT_STATUS_CACHE_MS;
  const rootPem = encodePem('CERTIFICATE', options.root.der);
  const revocation = new RevocationChecker({
    issuer: options.issuer,
    ocspUrl: options.ocspUrl,
    crlUrl: options.crlUrl,
    cacheMs: statusCacheMs,
    clock: options.clock,
    fetch: createFetchBytes({ rootPem, timeoutMs: REVOCATION_TIMEOUT_MS, maxBytes: MAX_REVOCATION_BYTES }),
    log: options.log,
  });
  const app: FastifyInstance = Fastify({
    logger: false,
    https: {
      key: options.tls.key,
      cert: options.tls.cert,
      // The issuing CA is listed too, so a device that sends only its leaf still chains; OpenSSL
      // still requires the path to end at the self-signed root.
      ca: [rootPem, encodePem('CERTIFICATE', options.issuer.der)],
      requestCert: true,
      rejectUnauthorized: true,
    },
    bodyLimit: MAX_CHECK_IN_BYTES,
    ajv: { customOptions: { removeAdditional: false, coerceTypes: false, allErrors: false } },
    frameworkErrors: (error, _request, reply) => sendError(reply, 400, 'validation_failed', error.message),
  });
  const trust = { root: options.root, issuer: options.issuer };
  app.post(CHECK_IN_PATH, { schema: { body: telemetrySchema } }, async (request, reply) => {
    const presented = presentedChain(request.raw.socket as TLSSocket);
    try {
      const result = await checkIn({ clock: options.clock, trust, revocation, store: options.store }, presented, request.body as Telemetry);
      return reply.type('application/json').send({
        deviceId: result.deviceId,
        serial: result.serial,
        lastSeen: result.lastSeen.toISOString(),
        revocationSource: result.revocationSource,
        // The station cannot call a device: what the service wants of it rides on the check-in answer.
        reprovisionRequestedAt: result.reprovisionRequestedAt?.toISOString() ?? null,
      });
    } catch (e) {
      if (isProvisioError(e)) options.log(`station: refused check-in (serial ${presented[0] ? serialHint(presented[0]) : 'none'}): ${e.code}`);
      throw e;
    }
  });
  app.setNotFoundHandler((request, reply) => sendError(reply, 404, 'route_not_found', `no route ${request.method} ${request.url.split('?')[0]} at the station; devices POST ${CHECK_IN_PATH}`));
  app.setErrorHandler((error, request, reply) => {
    if (isProvisioError(error)) {
      const status = STATUS[error.category] ?? 500;
      if (status >= 500 && error.category !== 'unavailable') return sendError(reply, status, error.code, 'the station failed; the cause is in its log');
      return sendError(reply, status, error.code, error.message);
    }
    const e = error as { code?: string; statusCode?: number; validation?: unknown; message: string };
    if (e.validation) return sendError(reply, 400, 'validation_failed', e.message);
    if (e.code === 'FST_ERR_CTP_BODY_TOO_LARGE') return sendError(reply, 413, 'body_too_large', `a check-in body is at most ${MAX_CHECK_IN_BYTES} bytes`);
    if (e.statusCode && e.statusCode < 500) return sendError(reply, e.statusCode, 'validation_failed', e.message);
    options.log(`station: error ${request.method} ${request.url.split('?')[0]}: ${error instanceof Error ? error.message : String(error)}`);
    return sendError(reply, 500, 'internal', 'the station failed; the cause is in its log');
  });
  // Refusals at the TLS layer (no certificate, another PKI, expired) never reach a route: logged
  // here, with OpenSSL's reason and nothing the client sent.
  app.server.on('tlsClientError', (error: Error & { code?: string }) => options.log(`station: TLS handshake refused: ${error.code ?? error.message}`));
  await app.listen(options.bound ? (options.bound.adopt() as FastifyListenOptions) : { host: options.host, port: options.port });
  const address = app.server.address();
  const port = typeof address === 'object' && address ? address.port : options.port;
  const host = options.host.includes(':') ? `[${options.host}]` : options.host;
  return {
    url: `https://${host}:${port}`,
    port,
    statusCacheMs,
    close: () => app.close(),
  };
}

/** The serial for the log line, or a placeholder when the leaf does not parse. */
function serialHint(der: Buffer): string {
  try {
    return parseCertificate(der).serial;
  } catch {
    return 'unparsable';
  }
}
