/**
 * One change of a keystore at a time in this process: the agent renews on its schedule and
 * reprovisions when the station says an admin asked, and both replace the certificate, profile
 * and (with a re-key) the key. Run together they could install over each other; queued, the
 * second starts from what the first left. Other processes (a `provisio device renew` typed in
 * another shell) are not covered: docs/lifecycle.md says so.
 */
import { resolve } from 'node:path';

const queues = new Map<string, Promise<unknown>>();

export async function withKeystoreLock<T>(dir: string, change: () => Promise<T>): Promise<T> {
  const key = resolve(dir);
  const before = queues.get(key) ?? Promise.resolve();
  // `before` never rejects (it is a tail below): this change runs once the previous one settled.
  const mine = before.then(change);
  const tail = mine.catch(() => undefined);
  queues.set(key, tail);
  try {
    return await mine;
  } finally {
    if (queues.get(key) === tail) queues.delete(key);
  }
}
