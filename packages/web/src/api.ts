/**
 * The service's REST API as the page uses it: same origin, the session cookie (HttpOnly, so the
 * page never sees it) and the session's CSRF token in X-CSRF-Token on every unsafe request.
 */

export type Role = 'admin' | 'approver' | 'technician' | 'auditor';

export interface Session {
  readonly username: string;
  readonly role: Role;
  readonly csrfToken: string;
  readonly expiresAt: string;
}

/** An error answer of the API: its stable code and message (docs/errors.md). */
export class ApiError extends Error {
  constructor(readonly status: number, readonly code: string, message: string) {
    super(message);
  }
}

let csrfToken: string | null = null;

export function setCsrfToken(token: string | null): void {
  csrfToken = token;
}

async function errorOf(response: Response): Promise<ApiError> {
  try {
    const body = (await response.json()) as { error?: { code?: string; message?: string } };
    return new ApiError(response.status, body.error?.code ?? 'http_error', body.error?.message ?? `HTTP ${response.status}`);
  } catch {
    return new ApiError(response.status, 'http_error', `the service answered HTTP ${response.status}`);
  }
}

export interface CallOptions {
  readonly json?: unknown;
  readonly body?: Blob | ArrayBuffer;
  readonly contentType?: string;
}

/** Calls the API; resolves with the raw response when it is 2xx, else throws ApiError. */
export async function call(method: 'GET' | 'POST' | 'PATCH' | 'DELETE', path: string, options: CallOptions = {}): Promise<Response> {
  const headers: Record<string, string> = { accept: 'application/json' };
  if (method !== 'GET' && csrfToken) headers['x-csrf-token'] = csrfToken;
  let body: BodyInit | undefined;
  if (options.json !== undefined) {
    headers['content-type'] = 'application/json';
    body = JSON.stringify(options.json);
  } else if (options.body !== undefined) {
    headers['content-type'] = options.contentType ?? 'application/octet-stream';
    body = options.body;
  }
  const response = await fetch(path, { method, headers, body, credentials: 'same-origin', cache: 'no-store' });
  if (!response.ok) throw await errorOf(response);
  return response;
}

export async function getJson<T>(path: string): Promise<T> {
  return (await call('GET', path)).json() as Promise<T>;
}

export async function postJson<T>(path: string, json?: unknown): Promise<T> {
  return (await call('POST', path, json === undefined ? {} : { json })).json() as Promise<T>;
}

export async function patchJson<T>(path: string, json: unknown): Promise<T> {
  return (await call('PATCH', path, { json })).json() as Promise<T>;
}

/** The session for this browser, or null when not signed in (or it ended). */
export async function currentSession(): Promise<Session | null> {
  try {
    return await getJson<Session>('/api/v1/session');
  } catch (e) {
    if (e instanceof ApiError && e.status === 401) return null;
    throw e;
  }
}

export const MEDIA = {
  request: 'application/vnd.provisio.request+json',
  bundle: 'application/vnd.provisio.bundle+json',
} as const;

/** Saves bytes as a file through the browser's download (no inline script, no data: URL in a page). */
export function saveFile(name: string, content: Blob): void {
  const url = URL.createObjectURL(content);
  const a = document.createElement('a');
  a.href = url;
  a.download = name;
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
}

// Views as the API renders them (packages/server/src/http/views.ts).
export interface RequestView {
  id: string;
  state: 'pending' | 'approved' | 'rejected';
  deviceId: string;
  deviceLabel: string;
  system: string | null;
  component: string | null;
  packageId: string;
  hardwareSerial: string | null;
  firmwareVersion: string | null;
  keyAlgorithm: string;
  publicKeySha256: string;
  contentSha256: string;
  transport: string;
  gateway: string | null;
  mock: boolean;
  createdAt: string;
  expiresAt: string;
  /** Who uploaded it (username); null when a device or gateway sent it. */
  submittedBy: string | null;
  decidedAt: string | null;
  decisionReason: string | null;
  policyDecision: string | null;
  policyRule: string | null;
  policyReason: string | null;
  /** 'renewal' or 'reprovision'; absent for a provisioning request. */
  kind?: 'renewal' | 'reprovision';
  /** The standard protocol it came by (docs/protocols.md); absent otherwise. */
  protocol?: 'est' | 'cmp' | 'scep';
}

/** What a pending request asks for: a first provisioning, a renewal, or a reprovisioning. */
export type PendingRequestKind = 'provision' | 'renewal' | 'reprovision';

export type DeviceState = 'pending' | 'approved' | 'provisioned' | 'rejected' | 'revoked';

export interface DeviceView {
  deviceId: string;
  label: string;
  state: DeviceState;
  system: string | null;
  component: string | null;
  mock: boolean;
  requestId: string;
  createdAt: string;
  updatedAt: string;
  provisionedAt: string | null;
  /** An outstanding reprovisioning asked for by an admin or approver; null: none. */
  reprovisionRequest?: { requestedAt: string; requestedBy: string; reason: string } | null;
  /** The request waiting for a decision, of any kind; null when none. */
  pendingRequest: { id: string; kind: PendingRequestKind; expiresAt: string } | null;
}

export interface CertificateView {
  serial: string;
  sha256: string;
  kind: string;
  status: 'active' | 'revoked';
  notBefore: string;
  notAfter: string;
  revokedAt: string | null;
  revocationReason: string | null;
  pem: string;
  /** The enrollment method that issued it (bootstrap-package, pairing-code, renewal, ...); null when unknown. */
  method?: string | null;
}

/** How a device enrolled: its first provisioning request's method and transport. */
export interface EnrollmentView { method: string; transport: string; requestId: string }

const METHOD_TEXT: Record<string, string> = {
  'bootstrap-package': 'bootstrap package',
  'enrollment-token': 'one-time enrollment token',
  'pairing-code': 'pairing code',
  'renewal': 'renewal',
  'reprovisioning': 'reprovisioning',
};

/** An enrollment method's name in words. */
export function methodText(method: string): string {
  return METHOD_TEXT[method] ?? method;
}

export interface SystemView {
  name: string;
  components: { name: string }[];
}

export interface Page<T> {
  total: number;
  items: T[];
}
