/**
 * The gateway's persistent queue (docs/proxy.md): one JSON file per request in DIR/queue, named
 * by the request's content hash, written atomically (temp file, fsync, rename, fsync dir) with
 * mode 0600 in a 0700 directory. The files are the truth; the map in memory is a copy loaded at
 * start, so a restarted gateway goes on where it stopped and loses nothing it acknowledged.
 *
 * Nothing here is trusted by anyone else: a profile held here is verified by the device against
 * its package root, a request by the service against the device's and the package's signatures.
 */
import { randomBytes } from 'node:crypto';
import { closeSync, fsyncSync, mkdirSync, openSync, readFileSync, readdirSync, renameSync, writeSync } from 'node:fs';
import { join } from 'node:path';

/**
 * queued: accepted from a device, not yet accepted by the service; pending: the service holds it
 * (upstreamId set) and no profile has arrived; approved: the profile is here; refused: the
 * service refused it (error set), which the device is told when it asks.
 */
export type QueueState = 'queued' | 'pending' | 'approved' | 'refused';

export interface QueueError {
  readonly code: string;
  readonly category: string;
  readonly message: string;
}

export interface QueueEntry {
  readonly v: 1;
  /** The id the gateway gave the device: "gw-" + the content hash. */
  readonly id: string;
  /** SHA-256 (hex) of the request file. */
  readonly contentHash: string;
  /** The request file exactly as the device sent it (base64). */
  readonly request: string;
  readonly receivedAt: string;
  readonly updatedAt: string;
  readonly state: QueueState;
  /** The service's request id, once accepted. */
  readonly upstreamId: string | null;
  /** The certified profile exactly as the service signed it (base64), once approved. */
  readonly profile: string | null;
  readonly error: QueueError | null;
}

const FILE = /^[0-9a-f]{64}\.json$/;

export class GatewayQueue {
  private readonly entries = new Map<string, QueueEntry>();
  readonly dir: string;

  constructor(root: string) {
    this.dir = join(root, 'queue');
    mkdirSync(this.dir, { recursive: true, mode: 0o700 });
    for (const name of readdirSync(this.dir)) {
      if (!FILE.test(name)) continue; // leftovers of an interrupted write (".x.tmp") are ignored
      const entry = JSON.parse(readFileSync(join(this.dir, name), 'utf8')) as QueueEntry;
      this.entries.set(entry.id, entry);
    }
  }

  get(id: string): QueueEntry | undefined {
    return this.entries.get(id);
  }

  /** Oldest first, at most `limit`. */
  inState(state: QueueState, limit = Number.POSITIVE_INFINITY): QueueEntry[] {
    const found = [...this.entries.values()].filter((e) => e.state === state).sort((a, b) => a.receivedAt.localeCompare(b.receivedAt) || a.id.localeCompare(b.id));
    return found.slice(0, limit);
  }

  counts(): Record<QueueState, number> {
    const counts: Record<QueueState, number> = { queued: 0, pending: 0, approved: 0, refused: 0 };
    for (const e of this.entries.values()) counts[e.state] += 1;
    return counts;
  }

  /** Writes the entry durably, then shows it: a crash in between leaves the old file or the new. */
  put(entry: QueueEntry): void {
    const path = join(this.dir, `${entry.contentHash}.json`);
    const temp = join(this.dir, `.${randomBytes(6).toString('hex')}.tmp`);
    const bytes = Buffer.from(`${JSON.stringify(entry)}\n`, 'utf8');
    const fd = openSync(temp, 'wx', 0o600);
    try {
      let offset = 0;
      while (offset < bytes.length) offset += writeSync(fd, bytes, offset);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(temp, path);
    const dirFd = openSync(this.dir, 'r');
    try {
      fsyncSync(dirFd);
    } finally {
      closeSync(dirFd);
    }
    this.entries.set(entry.id, entry);
  }

  update(id: string, changes: Partial<Pick<QueueEntry, 'state' | 'upstreamId' | 'profile' | 'error'>>, at: Date): QueueEntry {
    const entry = this.entries.get(id);
    if (!entry) throw new Error(`queue entry ${id} vanished`);
    const next: QueueEntry = { ...entry, ...changes, updatedAt: at.toISOString() };
    this.put(next);
    return next;
  }
}
