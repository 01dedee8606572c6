/**
 * Browser sessions (docs/web.md "Sessions and CSRF"): a user signs in with username and password
 * and gets a random session id (a cookie) and a random CSRF token (sent back in a header on every
 * unsafe request). Both are 256 random bits; the book keeps only the SHA-256 of the session id.
 *
 * Sessions live in this process's memory: a restart signs everyone out and each node of a
 * multi-node deployment has its own (docs/decisions.md "D14 — Browser sessions"). API tokens (the CLI) are unaffected.
 */
import { timingSafeEqual } from 'node:crypto';
import { type Actor, type ServiceDeps } from './deps.js';
import { ServiceError } from './errors.js';
import type { User, UserId } from './model.js';
import { hashPassword, hashToken, verifyPassword } from './users.js';
import { SignInThrottle } from './sign-in-throttle.js';

/** 30 minutes without a request ends a session (OWASP session management: 15-30 min for admin UIs). */
export const SESSION_IDLE_MS = 30 * 60_000;
/** 12 hours after sign-in a session ends however busy it is: one working day. */
export const SESSION_ABSOLUTE_MS = 12 * 3_600_000;

interface SessionEntry {
  readonly userId: UserId;
  readonly csrfToken: string;
  readonly createdAt: number;
  lastSeenAt: number;
}

export interface SessionInfo {
  readonly actor: Actor;
  readonly csrfToken: string;
  readonly expiresAt: Date;
}

/** What signing in returns: the cookie value (shown once, never stored) and the session facts. */
export interface NewSession extends SessionInfo {
  readonly sessionId: string;
}

/** Too many failed sign-ins for this username or address: HTTP 429 with Retry-After (RFC 6585 §4). */
export class SignInThrottled extends ServiceError {
  constructor(readonly retryAfterSeconds: number) {
    super('sign_in_throttled', `too many failed sign-ins for this username or from this address; wait ${retryAfterSeconds} s and try again`);
  }
}

let dummyHash: Promise<string> | null = null;

export class SessionBook {
  readonly #entries = new Map<string, SessionEntry>();
  readonly #throttle = new SignInThrottle();

  constructor(private readonly deps: Pick<ServiceDeps, 'store' | 'random' | 'clock'>) {}

  /**
   * Checks the password and opens a session. An unknown user, a user without a password, a
   * disabled user and a wrong password get the same error after the same scrypt work, so the
   * answer tells nothing about which names exist. Audits success and failure (never the password).
   */
  async signIn(username: string, password: string, address: string): Promise<NewSession> {
    const verdict = this.#throttle.check(username, address, this.deps.clock.now().getTime());
    if (!verdict.allowed) {
      // Refused before the password is checked: a guess made now tells nothing. Audited with the
      // name only when it is a user's (as for a failure).
      const known = await this.deps.store.findUserByName(username);
      await this.deps.store.appendAudit({
        at: this.deps.clock.now(), actor: 'anonymous', action: 'session.sign_in_throttled', targetType: 'user', targetId: known?.username ?? '(unknown user)',
        details: { by: verdict.by, address, retryAfterSeconds: verdict.retryAfterSeconds },
      });
      throw new SignInThrottled(verdict.retryAfterSeconds);
    }
    const user = await this.deps.store.findUserByName(username);
    // A hash to check against when there is none: the same cost as a real check.
    dummyHash ??= hashPassword(this.deps.random, 'no user has this password');
    const hash = user?.passwordHash ?? (await dummyHash);
    const isMatch = await verifyPassword(hash, password);
    const now = this.deps.clock.now();
    if (!user || !user.passwordHash || user.disabledAt !== null || !isMatch) {
      // The name typed is recorded only when it is a user's: a password typed into the username
      // field by mistake must not reach the audit log.
      const reason = !user ? 'unknown_user' : !user.passwordHash ? 'no_password' : user.disabledAt !== null ? 'disabled' : 'wrong_password';
      await this.deps.store.appendAudit({
        at: now, actor: 'anonymous', action: 'session.sign_in_failed', targetType: 'user', targetId: user?.username ?? '(unknown user)', details: { reason },
      });
      this.#throttle.recordFailure(username, address, now.getTime());
      throw new ServiceError('sign_in_failed', 'wrong username or password');
    }
    this.#throttle.recordSuccess(username);
    const sessionId = this.#randomToken();
    const entry: SessionEntry = { userId: user.id, csrfToken: this.#randomToken(), createdAt: now.getTime(), lastSeenAt: now.getTime() };
    this.#prune(now.getTime());
    this.#entries.set(this.#key(sessionId), entry);
    await this.deps.store.appendAudit({ at: now, actor: `user:${user.username}`, action: 'session.sign_in', targetType: 'user', targetId: user.username, details: {} });
    return { sessionId, ...this.#info(user, entry) };
  }

  /**
   * The session behind a cookie value, refreshed; session_expired when it is unknown, ended,
   * idle too long, past its absolute lifetime or its user was disabled.
   */
  async resume(sessionId: string): Promise<SessionInfo> {
    const key = this.#key(sessionId);
    const entry = this.#entries.get(key);
    const now = this.deps.clock.now().getTime();
    if (!entry || this.#isOver(entry, now)) {
      this.#entries.delete(key);
      throw new ServiceError('session_expired', 'your session has ended (signed out, idle for 30 minutes, or older than 12 hours); sign in again');
    }
    const user = await this.deps.store.findUserById(entry.userId);
    if (!user || user.disabledAt !== null) {
      this.#entries.delete(key);
      throw new ServiceError('session_expired', 'your session has ended; sign in again');
    }
    entry.lastSeenAt = now;
    return this.#info(user, entry);
  }

  /** Throws csrf_token_invalid unless `presented` is this session's CSRF token (constant time). */
  static checkCsrf(session: SessionInfo, presented: string | undefined): void {
    const expected = Buffer.from(session.csrfToken);
    const got = Buffer.from(presented ?? '');
    if (got.length !== expected.length || !timingSafeEqual(got, expected)) {
      throw new ServiceError('csrf_token_invalid', 'a signed-in browser must send its session\'s X-CSRF-Token header with this request; reload the page');
    }
  }

  /** Ends a session (sign out); unknown ids are ignored. */
  async signOut(sessionId: string): Promise<void> {
    const key = this.#key(sessionId);
    const entry = this.#entries.get(key);
    this.#entries.delete(key);
    if (!entry) return;
    const user = await this.deps.store.findUserById(entry.userId);
    await this.deps.store.appendAudit({
      at: this.deps.clock.now(), actor: `user:${user?.username ?? entry.userId}`, action: 'session.sign_out', targetType: 'user', targetId: user?.username ?? entry.userId, details: {},
    });
  }

  #info(user: User, entry: SessionEntry): SessionInfo {
    const expiresAt = Math.min(entry.lastSeenAt + SESSION_IDLE_MS, entry.createdAt + SESSION_ABSOLUTE_MS);
    return { actor: { userId: user.id, username: user.username, role: user.role }, csrfToken: entry.csrfToken, expiresAt: new Date(expiresAt) };
  }

  #isOver(entry: SessionEntry, now: number): boolean {
    return now - entry.lastSeenAt >= SESSION_IDLE_MS || now - entry.createdAt >= SESSION_ABSOLUTE_MS;
  }

  /** Drops ended sessions so the book cannot grow without bound. */
  #prune(now: number): void {
    for (const [key, entry] of this.#entries) if (this.#isOver(entry, now)) this.#entries.delete(key);
  }

  #key(sessionId: string): string {
    return hashToken(sessionId).toString('hex');
  }

  #randomToken(): string {
    return Buffer.from(this.deps.random.bytes(32)).toString('base64url');
  }
}
