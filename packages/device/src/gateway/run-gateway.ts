/**
 * `startGateway`: the proxy gateway (docs/proxy.md). It serves the device endpoints of the
 * service (the same SDK works pointed at it) over HTTPS with the gateway certificate, which
 * chains to the package root devices trust; it keeps what devices send in a persistent queue
 * (gateway-queue.ts) and a forwarder (gateway-forwarder.ts) carries it to the service and the
 * profiles back, authenticating with the same certificate over mutual TLS.
 *
 * The gateway checks structure only. It cannot forge or alter anything it carries: the service
 * verifies each request's signatures, each device verifies its profile against its root, and an
 * install confirmation carries a proof only the device key can make.
 */
import { createServer, type Server } from 'node:https';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { PeerCertificate, TLSSocket } from 'node:tls';
import { readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import {
  type Clock,
  type ParsedCertificate,
  type Random,
  OID,
  decodePemAll,
  isProvisioError,
  parseCertificate,
  verifyChain,
} from '@provisio/pki';
import { DuplicateMemberError, MAX_REQUEST_BYTES, parseProvisioningRequest, parseStrictJson } from '@provisio/protocol';
import { DeviceError } from '../errors.js';
import { type HttpTransport, httpsTransport } from '../provision-connected.js';
import { Forwarder, type ForwarderEvent } from './gateway-forwarder.js';
import { GatewayQueue, type QueueEntry } from './gateway-queue.js';

const REQUEST_MEDIA = 'application/vnd.provisio.request+json';
const PROFILE_MEDIA = 'application/vnd.provisio.profile+json';
const ID = /^gw-[0-9a-f]{64}$/;

/** The files `provisio gateway create` writes into the gateway's directory. */
export const GATEWAY_FILES = { key: 'gateway.key', certificate: 'gateway.crt', chain: 'chain.pem', root: 'root.crt' } as const;

const STATUS: Record<string, number> = { invalid: 400, unauthorized: 401, forbidden: 403, not_found: 404, conflict: 409, unavailable: 503, internal: 500 };

export interface GatewayIdentity {
  readonly keyPem: string;
  /** The gateway certificate then its issuing CA (PEM): what it presents as server and as client. */
  readonly certificateChainPem: string;
  readonly rootPem: string;
  readonly root: ParsedCertificate;
  readonly intermediates: readonly ParsedCertificate[];
  readonly certificate: ParsedCertificate;
}

/** Reads the gateway's files; the key must be readable by its owner only. */
export function loadGatewayIdentity(dir: string): GatewayIdentity {
  const path = (f: keyof typeof GATEWAY_FILES) => join(dir, GATEWAY_FILES[f]);
  const read = (f: keyof typeof GATEWAY_FILES) => {
    try {
      return readFileSync(path(f), 'utf8');
    } catch {
      throw new DeviceError('gateway_not_configured', `${path(f)} is missing or unreadable`, 'create the gateway with "provisio gateway create NAME --host HOST --dir DIR" first');
    }
  };
  const keyPem = read('key');
  const mode = statSync(path('key')).mode & 0o777;
  if ((mode & 0o077) !== 0 && process.platform !== 'win32') {
    throw new DeviceError('gateway_insecure', `${path('key')} has mode 0${mode.toString(8)}; the gateway key must be readable by its owner only (0600)`, `run "chmod 600 ${path('key')}"`);
  }
  const certificatePem = read('certificate');
  const chainPem = read('chain');
  const rootPem = read('root');
  return {
    keyPem,
    certificateChainPem: certificatePem + chainPem,
    rootPem,
    root: parseCertificate(rootPem),
    intermediates: decodePemAll(chainPem).map((b) => parseCertificate(b.der)),
    certificate: parseCertificate(certificatePem),
  };
}

export interface GatewayOptions {
  readonly dir: string;
  /** The service's base URL, e.g. https://provisio.example.org:8443 */
  readonly upstream: string;
  readonly host: string;
  /** 0: any free port. */
  readonly port: number;
  readonly clock: Clock;
  readonly random: Random;
  /** Retry-After (seconds) told to devices while their profile is not here yet (default 5). */
  readonly retryAfterSeconds?: number;
  readonly pollIntervalMs?: number;
  readonly backoffBaseMs?: number;
  readonly backoffMaxMs?: number;
  readonly onEvent?: (event: ForwarderEvent | { readonly step: 'received'; readonly id: string; readonly created: boolean }) => void;
}

export interface RunningGateway {
  readonly url: string;
  readonly port: number;
  readonly queue: GatewayQueue;
  close(): Promise<void>;
}

function send(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  const bytes = Buffer.isBuffer(body) ? body : Buffer.from(JSON.stringify(body));
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': String(bytes.length), 'cache-control': 'no-store', ...headers });
  res.end(bytes);
}

function sendError(res: ServerResponse, status: number, code: string, message: string, headers: Record<string, string> = {}): void {
  send(res, status, { error: { code, message } }, headers);
}

class BodyTooLarge extends Error {}

async function readBody(req: IncomingMessage, max: number): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > max) throw new BodyTooLarge();
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks);
}

function peerChain(req: IncomingMessage): Buffer[] {
  const socket = req.socket as Partial<TLSSocket>;
  if (typeof socket.getPeerCertificate !== 'function') return [];
  const out: Buffer[] = [];
  let cert: PeerCertificate | undefined = socket.getPeerCertificate(true);
  while (cert?.raw && out.length < 4) {
    if (out.some((c) => c.equals(cert!.raw))) break;
    out.push(cert.raw);
    cert = (cert as { issuerCertificate?: PeerCertificate }).issuerCertificate;
  }
  return out;
}

export async function startGateway(options: GatewayOptions): Promise<RunningGateway> {
  const identity = loadGatewayIdentity(options.dir);
  const upstream = options.upstream.replace(/\/+$/, '');
  if (!/^https:\/\//.test(upstream)) throw new DeviceError('service_refused', `the upstream URL must be https://; got ${JSON.stringify(options.upstream)}`, 'pass the service URL');
  const queue = new GatewayQueue(options.dir);
  const client = httpsTransport(identity.rootPem, { clientKey: identity.keyPem, clientCertificate: identity.certificateChainPem });
  const transport: HttpTransport = client;
  const forwarder = new Forwarder({
    upstream,
    transport,
    queue,
    clock: options.clock,
    random: options.random,
    ...(options.pollIntervalMs !== undefined ? { pollIntervalMs: options.pollIntervalMs } : {}),
    ...(options.backoffBaseMs !== undefined ? { backoffBaseMs: options.backoffBaseMs } : {}),
    ...(options.backoffMaxMs !== undefined ? { backoffMaxMs: options.backoffMaxMs } : {}),
    ...(options.onEvent ? { onEvent: options.onEvent } : {}),
  });
  const retryAfter = String(options.retryAfterSeconds ?? 5);

  const submit = async (req: IncomingMessage, res: ServerResponse) => {
    const type = (req.headers['content-type'] ?? '').split(';')[0]?.trim() ?? '';
    if (type !== REQUEST_MEDIA && type !== 'application/octet-stream') return sendError(res, 400, 'validation_failed', `send the file as ${REQUEST_MEDIA}`);
    const raw = await readBody(req, MAX_REQUEST_BYTES);
    // Structure only: the signatures are the service's to verify (the gateway holds no package).
    const pr = parseProvisioningRequest(raw);
    const id = `gw-${pr.contentHash}`;
    const existing = queue.get(id);
    if (existing) return send(res, 200, { request: { id, state: existing.state === 'approved' ? 'approved' : 'pending' } });
    const now = options.clock.now().toISOString();
    const entry: QueueEntry = { v: 1, id, contentHash: pr.contentHash, request: pr.raw.toString('base64'), receivedAt: now, updatedAt: now, state: 'queued', upstreamId: null, profile: null, error: null };
    queue.put(entry); // durable before the device hears "accepted"
    options.onEvent?.({ step: 'received', id, created: true });
    forwarder.wake();
    return send(res, 201, { request: { id, state: 'pending' } });
  };

  const profile = (id: string, res: ServerResponse) => {
    const entry = ID.test(id) ? queue.get(id) : undefined;
    if (!entry) return sendError(res, 404, 'request_not_found', `this gateway holds no request "${id.slice(0, 80)}"`);
    if (entry.state === 'approved' && entry.profile) {
      // Byte for byte what the service signed: the device verifies it against its own root.
      const bytes = Buffer.from(entry.profile, 'base64');
      res.writeHead(200, { 'content-type': PROFILE_MEDIA, 'content-length': String(bytes.length), 'cache-control': 'no-store' });
      return res.end(bytes);
    }
    if (entry.state === 'refused' && entry.error) return sendError(res, STATUS[entry.error.category] ?? 400, entry.error.code, entry.error.message);
    // RFC 7030 §4.2.3 style: not there yet, ask again later.
    return send(res, 202, { state: 'pending' }, { 'retry-after': retryAfter });
  };

  const confirm = async (req: IncomingMessage, res: ServerResponse) => {
    const chain = peerChain(req);
    const [leafDer] = chain;
    if (!leafDer) return sendError(res, 401, 'client_certificate_required', 'confirm over mutual TLS with the device certificate');
    // Only a certificate under the package root is worth carrying; the service checks the rest.
    verifyChain({ leaf: parseCertificate(leafDer), intermediates: identity.intermediates, roots: [identity.root], at: options.clock.now(), requiredExtKeyUsage: OID.kpClientAuth });
    let proof: unknown;
    try {
      proof = (parseStrictJson((await readBody(req, 8 * 1024)).toString('utf8') || '{}', 'the request body') as { proof?: unknown }).proof;
    } catch (e) {
      if (e instanceof BodyTooLarge) throw e;
      if (e instanceof DuplicateMemberError) return sendError(res, 400, e.code, e.message);
      return sendError(res, 400, 'validation_failed', 'send {"proof": "<compact JWS>"}');
    }
    if (typeof proof !== 'string') {
      return sendError(res, 400, 'validation_failed', 'a confirmation through a gateway needs the proof signed with the device key; update the device SDK');
    }
    let reply;
    try {
      reply = await transport.request('POST', `${upstream}/api/v1/gateway/confirm`, {
        bytes: Buffer.from(JSON.stringify({ certificateChain: chain.map((c) => c.toString('base64')), proof })),
        contentType: 'application/json',
      });
    } catch {
      return sendError(res, 503, 'service_unavailable', 'the service cannot be reached from this gateway right now; retry later', { 'retry-after': retryAfter });
    }
    return send(res, reply.status, reply.body, reply.headers['retry-after'] ? { 'retry-after': reply.headers['retry-after'] } : {});
  };

  const handle = async (req: IncomingMessage, res: ServerResponse) => {
    const path = (req.url ?? '/').split('?')[0] ?? '/';
    try {
      if (req.method === 'POST' && path === '/api/v1/device/requests') return await submit(req, res);
      const m = /^\/api\/v1\/device\/requests\/([^/]+)\/profile$/.exec(path);
      if (req.method === 'GET' && m) return profile(decodeURIComponent(m[1] ?? ''), res);
      if (req.method === 'POST' && path === '/api/v1/device/confirm') return await confirm(req, res);
      if (req.method === 'GET' && path === '/api/v1/health') return send(res, 200, { status: 'ok', role: 'gateway', queue: queue.counts() });
      return sendError(res, 404, 'route_not_found', `no route ${req.method} ${path} on this gateway`);
    } catch (e) {
      if (e instanceof BodyTooLarge) return sendError(res, 413, 'body_too_large', 'the body is larger than this route accepts');
      if (isProvisioError(e) && e.category !== 'internal') return sendError(res, STATUS[e.category] ?? 400, e.code, e.message);
      return sendError(res, 500, 'internal', 'the gateway failed');
    }
  };

  const server: Server = createServer(
    // Client certificates are requested, never required: only the confirmation uses one.
    { key: identity.keyPem, cert: identity.certificateChainPem, requestCert: true, rejectUnauthorized: false },
    (req, res) => void handle(req, res),
  );
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, options.host, () => resolve());
  });
  forwarder.start();
  const port = (server.address() as AddressInfo).port;
  return {
    url: `https://${options.host.includes(':') ? `[${options.host}]` : options.host}:${port}`,
    port,
    queue,
    async close() {
      await forwarder.stop();
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
      client.close();
    },
  };
}
