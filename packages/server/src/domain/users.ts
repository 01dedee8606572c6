/**
 * Users, roles and API tokens. Passwords: scrypt (memory-hard; N=2^15, r=8 → 32 MiB per hash),
 * tokens: 256 random bits shown once and stored as SHA-256 (a fast hash is enough for a secret
 * that cannot be guessed; it never needs a slow one).
 */
import { createHash, scrypt as scryptCallback, timingSafeEqual } from 'node:crypto';
import type { Random } from '@provisio/pki';
import { type Actor, type ServiceDeps, actorName, newId } from './deps.js';
import { ServiceError } from './errors.js';
import type { ApiToken, Role, User, UserId } from './model.js';
import { StoreConflict } from './store.js';

const SCRYPT = { N: 2 ** 15, r: 8, p: 1, keyLength: 32, maxmem: 64 * 1024 * 1024 } as const;

function scrypt(password: string, salt: Buffer): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    scryptCallback(password, salt, SCRYPT.keyLength, { N: SCRYPT.N, r: SCRYPT.r, p: SCRYPT.p, maxmem: SCRYPT.maxmem }, (err, key) =>
      err ? reject(err) : resolve(key),
    );
  });
}

export async function hashPassword(random: Random, password: string): Promise<string> {
  const salt = Buffer.from(random.bytes(16));
  const key = await scrypt(password, salt);
  return `$scrypt$N=${SCRYPT.N},r=${SCRYPT.r},p=${SCRYPT.p}$${salt.toString('base64url')}$${key.toString('base64url')}`;
}

export async function verifyPassword(hash: string, password: string): Promise<boolean> {
  const m = /^\$scrypt\$N=(\d+),r=(\d+),p=(\d+)\$([A-Za-z0-9_-]+)\$([A-Za-z0-9_-]+)$/.exec(hash);
  if (!m) return false;
  const expected = Buffer.from(m[5] as string, 'base64url');
  const key = await new Promise<Buffer>((resolve, reject) =>
    scryptCallback(password, Buffer.from(m[4] as string, 'base64url'), expected.length, { N: Number(m[1]), r: Number(m[2]), p: Number(m[3]), maxmem: SCRYPT.maxmem }, (err, k) =>
      err ? reject(err) : resolve(k),
    ),
  );
  return key.length === expected.length && timingSafeEqual(key, expected);
}

const TOKEN_PREFIX = 'pvs_';

export function newToken(random: Random): string {
  return TOKEN_PREFIX + Buffer.from(random.bytes(32)).toString('base64url');
}

export function hashToken(token: string): Buffer {
  return createHash('sha256').update(token, 'utf8').digest();
}

const USERNAME = /^[a-z][a-z0-9._-]{0,63}$/;

function checkUsername(username: string): void {
  if (!USERNAME.test(username)) {
    throw new ServiceError('validation_failed', `username "${username.slice(0, 64)}" must be 1-64 characters of a-z 0-9 . _ - starting with a letter`);
  }
}

async function insertToken(deps: Pick<ServiceDeps, 'random' | 'clock'>, tx: Pick<ServiceDeps['store'], 'insertToken'>, user: User, name: string): Promise<string> {
  const token = newToken(deps.random);
  const record: ApiToken = { id: newId(deps.random, 'tok'), userId: user.id, tokenHash: hashToken(token), name, createdAt: deps.clock.now(), revokedAt: null };
  await tx.insertToken(record);
  return token;
}

/**
 * First start: when no user exists, create `admin` with a random password and an API token.
 * Returns the secrets once; the caller writes the token to a 0600 file and prints the password.
 */
/**
 * The first admin, on the first start only. `keepToken` runs inside the creating transaction,
 * before it commits (the composition root writes the token file there): if it fails, no admin is
 * made; if the process dies after it, the next start finds the admin and the token beside it.
 */
export async function ensureAdmin(deps: Pick<ServiceDeps, 'store' | 'random' | 'clock'>, keepToken: (token: string) => void = () => {}): Promise<{ password: string; token: string } | null> {
  if ((await deps.store.listUsers()).length > 0) return null;
  const password = Buffer.from(deps.random.bytes(18)).toString('base64url');
  const user: User = {
    id: newId(deps.random, 'usr') as UserId,
    username: 'admin',
    role: 'admin',
    passwordHash: await hashPassword(deps.random, password),
    createdAt: deps.clock.now(),
    disabledAt: null,
  };
  const token = await deps.store.transaction(async (tx) => {
    await tx.insertUser(user);
    const t = await insertToken(deps, tx, user, 'first start');
    await tx.appendAudit({ at: deps.clock.now(), actor: 'system', action: 'user.create', targetType: 'user', targetId: user.username, details: { role: user.role, reason: 'first start' } });
    keepToken(t);
    return t;
  });
  return { password, token };
}

/** Creates a user with a role and an API token (shown once). Admin only (enforced by the route). */
export async function createUser(
  deps: Pick<ServiceDeps, 'store' | 'random' | 'clock'>,
  actor: Actor,
  input: { username: string; role: Role; password?: string },
): Promise<{ user: User; token: string }> {
  checkUsername(input.username);
  if (input.password !== undefined && input.password.length < 12) {
    throw new ServiceError('validation_failed', 'a password must have at least 12 characters');
  }
  const user: User = {
    id: newId(deps.random, 'usr') as UserId,
    username: input.username,
    role: input.role,
    passwordHash: input.password === undefined ? null : await hashPassword(deps.random, input.password),
    createdAt: deps.clock.now(),
    disabledAt: null,
  };
  try {
    const token = await deps.store.transaction(async (tx) => {
      await tx.insertUser(user);
      const t = await insertToken(deps, tx, user, 'created with the user');
      await tx.appendAudit({ at: deps.clock.now(), actor: actorName(actor), action: 'user.create', targetType: 'user', targetId: user.username, details: { role: user.role } });
      return t;
    });
    return { user, token };
  } catch (e) {
    if (e instanceof StoreConflict) throw new ServiceError('user_exists', `user "${input.username}" already exists`);
    throw e;
  }
}

/** The user behind a bearer token, or null. Constant-time by construction: lookup by hash. */
export async function authenticateToken(deps: Pick<ServiceDeps, 'store'>, token: string): Promise<User | null> {
  if (!token.startsWith(TOKEN_PREFIX) || token.length > 128) return null;
  const found = await deps.store.findActiveToken(hashToken(token));
  return found?.user ?? null;
}
