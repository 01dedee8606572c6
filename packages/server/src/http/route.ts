/**
 * One API route: method, path, who may call it, its schemas, and a handler of a few lines
 * (parse, call the domain, render). The OpenAPI document and the role test are built from the
 * same table, so they cannot drift from what is served.
 */
import type { Actor, ServiceDeps } from '../domain/deps.js';
import type { Role } from '../domain/model.js';
import type { DecisionWaiters } from './decision-waiters.js';
import type { OcspResponderService } from '../ca/ocsp-responder.js';

export type JsonSchema = Readonly<Record<string, unknown>>;

export interface RouteContext {
  readonly deps: ServiceDeps;
  /** The authenticated caller; null only on public routes. */
  readonly actor: Actor | null;
  readonly params: Record<string, string>;
  readonly query: Record<string, unknown>;
  readonly body: unknown;
  /** On routes with `rawBody`: the media type the body was sent as (without parameters). */
  readonly contentType?: string;
  /**
   * On routes with `clientCertificate`: the TLS client certificate chain the caller presented
   * (DER, leaf first; empty when none was sent).
   */
  readonly clientCertificates?: readonly Buffer[];
  /** The OCSP responder, for its self-check on the CA overview (absent when not running). */
  readonly ocsp?: OcspResponderService;
  /** Held long-polls (absent: every poll is answered at once). */
  readonly decisionWaiters?: DecisionWaiters;
}

export interface RouteResult {
  readonly status?: number;
  readonly body: unknown;
  /** When set, `body` is sent as bytes with this content type instead of JSON. */
  readonly contentType?: string;
  readonly headers?: Readonly<Record<string, string>>;
}

export interface RouteSpec {
  readonly method: 'GET' | 'POST' | 'PATCH';
  readonly url: string;
  readonly operationId: string;
  readonly summary: string;
  /** 'public' routes need no token. */
  readonly roles: readonly Role[] | 'public';
  readonly params?: JsonSchema;
  readonly query?: JsonSchema;
  readonly body?: JsonSchema;
  /**
   * A raw (byte-exact) body of one of these content types, kept unparsed (signatures cover it),
   * at most `maxBytes`, or `maxBytesByType[type]` for a type listed there (a bundle is larger).
   */
  readonly rawBody?: { readonly contentTypes: readonly string[]; readonly maxBytes: number; readonly maxBytesByType?: Readonly<Record<string, number>> };
  /** A JSON body larger than the default 64 KiB (a list of up to 10,000 ids). */
  readonly bodyLimit?: number;
  /**
   * The caller authenticates with a TLS client certificate (mutual TLS) instead of a token: a
   * 'public' route that answers 401 client_certificate_required without one.
   */
  readonly clientCertificate?: boolean;
  /**
   * An expensive route under admission control (http/admission.ts): it runs when a slot is free,
   * waits in FIFO order otherwise, and answers 503 service_unavailable with Retry-After when even
   * the queue is full.
   */
  readonly admission?: boolean;
  readonly handler: (ctx: RouteContext) => Promise<RouteResult>;
}
