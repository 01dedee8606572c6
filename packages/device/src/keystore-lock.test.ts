import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { withKeystoreLock } from './keystore-lock.js';

function gate(): { open: () => void; opened: Promise<void> } {
  let open!: () => void;
  const opened = new Promise<void>((resolve) => (open = resolve));
  return { open, opened };
}

describe('keystore lock', () => {
  it('ok/changes-of-one-keystore-run-one-after-another-even-after-a-failure', async () => {
    const log: string[] = [];
    const first = gate();
    const a = withKeystoreLock('/tmp/ks-lock-a', async () => {
      log.push('a starts');
      await first.opened;
      log.push('a fails');
      throw new Error('renewal refused');
    });
    const b = withKeystoreLock('/tmp/ks-lock-a/', async () => {
      log.push('b starts');
      return 'b done';
    });
    // Another keystore is not held up.
    assert.equal(await withKeystoreLock('/tmp/ks-lock-other', async () => 'other'), 'other');
    await new Promise((resolve) => setImmediate(resolve));
    assert.deepEqual(log, ['a starts'], 'b waits for a (the same directory, however spelled)');
    first.open();
    await assert.rejects(a, /renewal refused/);
    assert.equal(await b, 'b done');
    assert.deepEqual(log, ['a starts', 'a fails', 'b starts']);
  });
});
