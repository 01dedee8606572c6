/**
 * EST (RFC 7030) at /.well-known/est/ and /.well-known/est/<label>/ (docs/protocols.md): a Fastify
 * plugin of its own, outside the JSON API, because EST answers in EST: bodies are base64 DER,
 * answers are `application/pkcs7-mime; smime-type=certs-only` in base64 lines, and errors are an
 * HTTP status with a plain-text message (RFC 7030 §4.2.3), never the API's JSON.
 *
 * The first enrollment (simpleenroll) is authenticated by a one-time enrollment token as the HTTP
 * basic password; re-enrollment (simplereenroll) by the current certificate over mutual TLS.
 *
 * A label names a scope: "<system>" or "<system>/<component>" (the slash percent-encoded, as a
 * label is one path segment, §3.2.2). Unlabelled, cacerts and csrattrs are the service's, and an
 * enrollment goes to the component its credential names. The same listener serves mutual TLS and
 * HTTP basic (client certificates are requested, never required), so simplereenroll and the
 * first enrollment share it.
 */
import type { TLSSocket } from 'node:tls';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { isProvisioError, parseAndVerifyCsr } from '@provisio/pki';
import type { ServiceDeps } from '../domain/deps.js';
import { ServiceError } from '../domain/errors.js';
import type { ComponentRecord, SystemRecord } from '../domain/model.js';
import { enrollOverProtocol } from '../domain/protocol-enrollment.js';
import { authenticateReenrollingDevice, checkCsrNames, renewOverProtocol } from '../domain/protocol-renewal.js';
import { requireProtocol } from '../domain/protocols.js';
import { base64Lines, decodeBase64Body, encodeCertsOnly, encodeCsrAttrs } from '../protocols/est-wire.js';
import { STATUS } from './build-app.js';

export const EST_PREFIX = '/.well-known/est';
const CERTS_ONLY = 'application/pkcs7-mime; smime-type=certs-only';
const CSR_ATTRS = 'application/csrattrs';
/** A PKCS#10 CSR in base64 is a few KiB; RSA-8192 with extensions stays far below this. */
const MAX_EST_BODY_BYTES = 64 * 1024;

/** How long an EST client waits before asking again for a request an approver has not decided (RFC 7030 §4.2.3). */
export const EST_RETRY_AFTER_SECONDS = 10;

/** HTTP basic credentials (RFC 7617), or null when the header is not Basic. */
function basicCredentials(header: string | undefined): { username: string; password: string } | null {
  if (!header?.startsWith('Basic ')) return null;
  const text = Buffer.from(header.slice('Basic '.length).trim(), 'base64').toString('utf8');
  const colon = text.indexOf(':');
  if (colon < 0) return null;
  return { username: text.slice(0, colon), password: text.slice(colon + 1) };
}

export interface EstScope {
  readonly system: SystemRecord;
  readonly component: ComponentRecord | null;
}

/** The scope a label names (null: no label); refused as est_request_invalid when it names nothing. */
async function resolveLabel(deps: Pick<ServiceDeps, 'store'>, label: string | undefined): Promise<EstScope | null> {
  if (label === undefined) return null;
  const [systemName, componentName, extra] = label.split('/');
  const unknown = () => new ServiceError('est_request_invalid', `EST label ${JSON.stringify(label.slice(0, 80))} names no system or component; use "<system>" or "<system>%2F<component>"`);
  if (!systemName || extra !== undefined || componentName === '') throw unknown();
  const system = await deps.store.findSystemByName(systemName);
  if (!system) throw unknown();
  if (componentName === undefined) return { system, component: null };
  const component = await deps.store.findComponent(system.id, componentName);
  if (!component) throw unknown();
  return { system, component };
}

/** A label's scope must accept EST: on the component, or (a system label) on any of its components. */
async function requireLabelProtocol(deps: Pick<ServiceDeps, 'store'>, scope: EstScope): Promise<void> {
  if (scope.component) return requireProtocol(deps, 'est', scope.component, scope.system);
  const switches = await deps.store.listProtocolSwitches(scope.system.id);
  if (switches.some((s) => s.protocol === 'est' && s.componentId === null)) return;
  throw new ServiceError('protocol_not_enabled', `EST is not enabled for system "${scope.system.name}"; an admin enables it with "provisio protocol enable est --system ${JSON.stringify(scope.system.name)}"`);
}

function presentedCertificate(request: FastifyRequest): Buffer[] {
  const socket = request.raw.socket as Partial<TLSSocket>;
  const leaf = typeof socket.getPeerX509Certificate === 'function' ? socket.getPeerX509Certificate() : undefined;
  return leaf ? [leaf.raw] : [];
}

/**
 * The certs-only answer in base64: in CRLF lines of 64 characters by default (RFC 7030 §4, as MIME
 * writes it), on one line when the client sent its own body on one line. strongSwan's `pki --est`
 * (5.9) writes one line and its decoder takes no line breaks; answering in the form the client
 * spoke keeps such clients working without a setting (D42).
 */
function sendCertsOnly(reply: FastifyReply, certificates: readonly Buffer[], requestBody?: Buffer): FastifyReply {
  const der = encodeCertsOnly(certificates);
  const oneLine = requestBody !== undefined && isOneLine(requestBody);
  return reply.status(200).type(CERTS_ONLY).header('content-transfer-encoding', 'base64').send(oneLine ? der.toString('base64') : base64Lines(der));
}

/** Base64 without a line break inside it (a final line end does not count). */
function isOneLine(body: Buffer): boolean {
  return !/[\r\n]/.test(body.toString('latin1').trim());
}

/** EST errors: an HTTP status and a plain-text reason (RFC 7030 §4.2.3); a 5xx never tells its cause. */
function sendEstError(reply: FastifyReply, status: number, code: string, message: string): FastifyReply {
  if (status === 401) reply.header('www-authenticate', 'Basic realm="provisio est", charset="UTF-8"');
  return reply.status(status).type('text/plain; charset=utf-8').send(`${code}: ${message}\n`);
}

export function registerEstRoutes(app: FastifyInstance, deps: ServiceDeps, log?: (line: string) => void): void {
  void app.register(async (est) => {
    // Every body is taken as bytes whatever its type: what cannot be read is an EST error below.
    est.removeAllContentTypeParsers();
    est.addContentTypeParser('*', { parseAs: 'buffer', bodyLimit: MAX_EST_BODY_BYTES }, (_request, body, done) => done(null, body));

    est.setErrorHandler((error, request, reply) => {
      if (isProvisioError(error)) {
        // A CSR that is not DER or whose signature fails is the client's bad request.
        const status = STATUS[error.category] ?? 500;
        if (status < 500) return sendEstError(reply, status, error.code, error.message);
      }
      const e = error as { statusCode?: number; code?: string };
      if (e.code === 'FST_ERR_CTP_BODY_TOO_LARGE') return sendEstError(reply, 413, 'body_too_large', `an EST request body is at most ${MAX_EST_BODY_BYTES} bytes`);
      if (e.statusCode !== undefined && e.statusCode < 500) return sendEstError(reply, e.statusCode, 'est_request_invalid', 'the request could not be read');
      log?.(`error ${request.method} ${request.url.split('?')[0]}: ${error instanceof Error ? error.stack : String(error)}`);
      return sendEstError(reply, 500, 'internal', 'the service failed; the cause is in the server log');
    });

    const label = (request: FastifyRequest) => (request.params as { label?: string }).label;

    for (const base of [EST_PREFIX, `${EST_PREFIX}/:label`]) {
      // RFC 7030 §4.1: the CA certificates, the issuing CA first (it issues what EST enrolls), then the root.
      est.get(`${base}/cacerts`, async (request, reply) => {
        const scope = await resolveLabel(deps, label(request));
        if (scope) await requireLabelProtocol(deps, scope);
        return sendCertsOnly(reply, [deps.authority.intermediate.der, deps.authority.root.der]);
      });

      // RFC 7030 §4.5: what a CSR should be made with here.
      est.get(`${base}/csrattrs`, async (request, reply) => {
        const scope = await resolveLabel(deps, label(request));
        if (scope) await requireLabelProtocol(deps, scope);
        const keyTypes = scope?.component ? scope.component.keyTypes : (['p256'] as const);
        return reply.status(200).type(CSR_ATTRS).header('content-transfer-encoding', 'base64').send(base64Lines(encodeCsrAttrs(keyTypes)));
      });

      // RFC 7030 §4.2.2: the current certificate over mutual TLS renews; the CSR may bring a new key.
      est.post(`${base}/simplereenroll`, async (request, reply) => {
        const scope = await resolveLabel(deps, label(request));
        const presented = presentedCertificate(request);
        if (presented.length === 0) {
          throw new ServiceError('client_certificate_required', 'simplereenroll needs the device\'s current certificate as a TLS client certificate (mutual TLS)');
        }
        const csr = parseAndVerifyCsr(decodeBase64Body(request.body as Buffer));
        const who = await authenticateReenrollingDevice(deps, presented);
        if (scope && (scope.system.id !== who.device.systemId || (scope.component && scope.component.id !== who.component.id))) {
          throw new ServiceError('est_request_invalid', `device "${who.device.deviceId}" is not in the scope of EST label ${JSON.stringify(label(request))}`);
        }
        checkCsrNames({ subject: csr.subject, csr }, who.device);
        const result = await renewOverProtocol(deps, { protocol: 'est', who, raw: csr.der, publicKey: csr.publicKey, install: 'now' });
        return sendCertsOnly(reply, [result.certificate.der], request.body as Buffer);
      });

      // RFC 7030 §4.4: central key generation; no system offers it yet (docs/protocols.md).
      est.post(`${base}/serverkeygen`, async (_request, reply) =>
        sendEstError(reply, 501, 'est_request_invalid', 'serverkeygen is not offered: keys are made on the device (docs/protocols.md)'));

      // RFC 7030 §4.2.1, §3.2.3: the first enrollment, authenticated by a one-time enrollment
      // token as the HTTP basic password (the username: the device id, or empty for the CSR's CN).
      est.post(`${base}/simpleenroll`, async (request, reply) => {
        const scope = await resolveLabel(deps, label(request));
        const credentials = basicCredentials(request.headers.authorization);
        if (!credentials) return sendEstError(reply, 401, 'unauthenticated', 'simpleenroll needs a one-time enrollment token as the HTTP basic password ("provisio token create")');
        const csr = parseAndVerifyCsr(decodeBase64Body(request.body as Buffer));
        const outcome = await enrollOverProtocol(deps, {
          protocol: 'est',
          token: credentials.password,
          deviceId: credentials.username === '' ? null : credentials.username,
          csr,
          within: scope ? { systemId: scope.system.id, componentId: scope.component?.id ?? null } : null,
        });
        if (outcome.state === 'issued') return sendCertsOnly(reply, [outcome.certificate.der], request.body as Buffer);
        // RFC 7030 §4.2.3: accepted, not yet issued; the client sends the same request again later.
        return reply.status(202).header('retry-after', String(EST_RETRY_AFTER_SECONDS)).type('text/plain; charset=utf-8')
          .send(`request ${outcome.request.id} waits for an approver; send the same request again after ${EST_RETRY_AFTER_SECONDS} s\n`);
      });
    }
  });
}
