import assert from 'node:assert/strict';
import { readdirSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { tempDir } from '@provisio/testkit';
import { GatewayQueue, type QueueEntry } from './gateway-queue.js';

const at = new Date('2026-06-01T12:00:00Z');

function entry(n: number): QueueEntry {
  const contentHash = n.toString(16).padStart(64, '0');
  return { v: 1, id: `gw-${contentHash}`, contentHash, request: Buffer.from(`request ${n}`).toString('base64'), receivedAt: new Date(at.getTime() + n).toISOString(), updatedAt: at.toISOString(), state: 'queued', upstreamId: null, profile: null, error: null };
}

describe('gateway queue', () => {
  it('ok/survives-a-restart-and-ignores-interrupted-writes', () => {
    const dir = tempDir('provisio-queue-');
    const queue = new GatewayQueue(dir);
    for (const n of [3, 1, 2]) queue.put(entry(n));
    queue.update(entry(2).id, { state: 'pending', upstreamId: 'req_2' }, at);
    // A write interrupted before its rename leaves a temp file: never read as an entry.
    writeFileSync(join(queue.dir, '.abc123.tmp'), '{"half":');

    const again = new GatewayQueue(dir);
    assert.deepEqual(again.inState('queued').map((e) => e.id), [entry(1).id, entry(3).id], 'oldest first');
    assert.equal(again.get(entry(2).id)?.upstreamId, 'req_2');
    assert.deepEqual(again.counts(), { queued: 2, pending: 1, approved: 0, refused: 0 });
    assert.equal(again.inState('queued', 1).length, 1);

    // Private: the directory 0700, every entry 0600.
    assert.equal(statSync(queue.dir).mode & 0o777, 0o700);
    for (const f of readdirSync(queue.dir).filter((f) => f.endsWith('.json'))) assert.equal(statSync(join(queue.dir, f)).mode & 0o777, 0o600, f);
  });
});
