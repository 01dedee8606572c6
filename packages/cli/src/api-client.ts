/**
 * The CLI's connection to a provisioning service: PROVISIO_URL, an API token from PROVISIO_TOKEN
 * or --token-file (never a flag value: flags end up in shell history), and PROVISIO_CA_FILE, the
 * root to trust for TLS (the service's certificate chains to the provisioning root, which no
 * operating system trusts). Service errors keep their code and category end to end.
 */
import { request as httpsRequest } from 'node:https';
import { type ErrorCategory, ProvisioError } from '@provisio/pki';
import type { ParsedArgs } from './args.js';
import { optionalString } from './args.js';
import { CliError } from './errors.js';
import { readInputFile } from './files.js';
import type { CliDeps } from './io.js';

/** An error answered by the service: its code and message, mapped back to a category. */
export class ServiceResponseError extends ProvisioError {
  constructor(code: string, category: ErrorCategory, message: string, readonly status: number) {
    super(code, category, message);
  }
}

const CATEGORY_BY_STATUS: Readonly<Record<number, ErrorCategory>> = {
  400: 'invalid',
  401: 'unauthorized',
  403: 'forbidden',
  404: 'not_found',
  409: 'conflict',
  413: 'invalid',
  422: 'invalid',
  429: 'unavailable',
  503: 'unavailable',
};

export interface ApiResponse {
  readonly status: number;
  readonly headers: Readonly<Record<string, string | string[] | undefined>>;
  readonly body: Buffer;
}

export type ApiBody = { json: unknown } | { bytes: Buffer; contentType: string };

export interface CallOptions {
  /** How long the connection may stay silent; 30 s by default (a bundle of 10,000 takes longer). */
  readonly timeoutMs?: number;
}

export interface ApiClient {
  readonly url: string;
  send(method: 'GET' | 'POST' | 'PATCH', path: string, body?: ApiBody, options?: CallOptions): Promise<ApiResponse>;
  json<T>(method: 'GET' | 'POST' | 'PATCH', path: string, body?: ApiBody, options?: CallOptions): Promise<T>;
}

export const CONNECTION_OPTIONS = { 'token-file': { type: 'string' } } as const;

export function connect(deps: Pick<CliDeps, 'env'>, args: ParsedArgs): ApiClient {
  const url = (deps.env.PROVISIO_URL ?? 'https://127.0.0.1:8443').replace(/\/+$/, '');
  const tokenFile = optionalString(args, 'token-file');
  const token = tokenFile ? readInputFile(tokenFile, 4096).toString('utf8').trim() : deps.env.PROVISIO_TOKEN?.trim();
  if (!token) {
    throw new CliError('token_required', 'no API token: set PROVISIO_TOKEN or pass --token-file FILE', 'the first start of "provisio serve" writes one to DATA/admin.token');
  }
  const caFile = deps.env.PROVISIO_CA_FILE;
  const ca = caFile ? readInputFile(caFile, 1024 * 1024).toString('utf8') : undefined;

  const send: ApiClient['send'] = (method, path, body, options = {}) =>
    new Promise((resolve, reject) => {
      const payload = body === undefined ? undefined : 'json' in body ? Buffer.from(JSON.stringify(body.json)) : body.bytes;
      const contentType = body === undefined ? undefined : 'json' in body ? 'application/json' : body.contentType;
      const req = httpsRequest(
        `${url}${path}`,
        {
          method,
          ...(ca ? { ca } : {}),
          headers: {
            authorization: `Bearer ${token}`,
            accept: 'application/json',
            ...(payload ? { 'content-type': contentType, 'content-length': String(payload.length) } : {}),
          },
          timeout: options.timeoutMs ?? 30_000,
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }));
          res.on('error', reject);
        },
      );
      req.on('timeout', () => req.destroy(new Error(`timed out after ${Math.round((options.timeoutMs ?? 30_000) / 1000)} s`)));
      req.on('error', (e) => {
        const hint = /certificate|self[- ]signed|issuer/i.test(e.message)
          ? 'set PROVISIO_CA_FILE to the root certificate "provisio serve" printed'
          : 'is "provisio serve" running, and is PROVISIO_URL right?';
        reject(new CliError('service_unreachable', `cannot reach ${url}: ${e.message}`, hint));
      });
      if (payload) req.write(payload);
      req.end();
    });

  // 429 and 503 are answered before the service reads the body or acts (docs/service.md "Burst
  // handling"), so sending the same call again after the Retry-After delay is always safe.
  const sendPolitely: ApiClient['send'] = async (method, path, body, options) => {
    for (let attempt = 1; ; attempt++) {
      const response = await send(method, path, body, options);
      const waitS = retryAfterSeconds(response);
      if (waitS === null || attempt >= MAX_ATTEMPTS) return response;
      await new Promise((resolve) => setTimeout(resolve, waitS * 1000));
    }
  };

  return {
    url,
    send: async (method, path, body, options) => {
      const response = await sendPolitely(method, path, body, options);
      if (response.status >= 400) throw toError(response, url);
      return response;
    },
    json: async <T>(method: 'GET' | 'POST', path: string, body?: ApiBody, options?: CallOptions) => {
      const response = await sendPolitely(method, path, body, options);
      if (response.status >= 400) throw toError(response, url);
      try {
        return JSON.parse(response.body.toString('utf8')) as T;
      } catch {
        throw new CliError('service_unreachable', `${url}${path} did not answer JSON`);
      }
    },
  };
}

/** Tries of one call when the service answers 429 or 503 with Retry-After. */
const MAX_ATTEMPTS = 5;
/** A longer Retry-After is reported to the person instead of waited for. */
const MAX_RETRY_AFTER_S = 30;

/** The delay to wait before sending again, or null when the answer is final. */
function retryAfterSeconds(response: ApiResponse): number | null {
  if (response.status !== 429 && response.status !== 503) return null;
  const header = response.headers['retry-after'];
  const seconds = Number(Array.isArray(header) ? header[0] : header);
  return Number.isInteger(seconds) && seconds >= 0 && seconds <= MAX_RETRY_AFTER_S ? seconds : null;
}

function toError(response: ApiResponse, url: string): Error {
  try {
    const parsed = JSON.parse(response.body.toString('utf8')) as { error?: { code?: string; message?: string } };
    if (parsed.error?.code && parsed.error.message) {
      return new ServiceResponseError(parsed.error.code, CATEGORY_BY_STATUS[response.status] ?? 'internal', parsed.error.message, response.status);
    }
  } catch {
    // fall through: not our API
  }
  return new CliError('service_unreachable', `${url} answered HTTP ${response.status} without an API error body`);
}

/** Query string from defined values only. */
export function query(values: Readonly<Record<string, string | number | undefined>>): string {
  const entries = Object.entries(values).filter((e): e is [string, string | number] => e[1] !== undefined && e[1] !== '');
  return entries.length === 0 ? '' : `?${new URLSearchParams(entries.map(([k, v]): [string, string] => [k, String(v)])).toString()}`;
}
