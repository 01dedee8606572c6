import assert from 'node:assert/strict';
import { readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { createRootCa, seededRandom, tempDir } from '@provisio/testkit';
import type { AuditCheckpoint } from '../domain/model.js';
import { GENESIS_HASH, hashAuditEntry } from './audit-chain.js';
import { signCheckpoint, verifyCheckpointSignature } from './checkpoint.js';
import { CheckpointFile, CheckpointFileInvalid, checkpointLine, parseCheckpointLines } from './checkpoint-file.js';
import { compareKeptCheckpoints } from './verify-store-audit.js';

const NOW = new Date('2026-06-01T12:00:00.123Z');
const dir = tempDir('provisio-cpfile-');
let files = 0;

async function checkpoints(n: number): Promise<AuditCheckpoint[]> {
  const ca = await createRootCa(NOW, seededRandom('cp-file'));
  const out: AuditCheckpoint[] = [];
  let prevHash = GENESIS_HASH;
  for (let seq = 1; seq <= n; seq++) {
    const hash = hashAuditEntry(prevHash, seq, { at: NOW, actor: 'system', action: 'x.y', targetType: 't', targetId: `${seq}`, details: {} });
    out.push(await signCheckpoint({ seq, hash }, ca.signer, ca.certificate.der, new Date(NOW.getTime() + seq)));
    prevHash = hash;
  }
  return out;
}

describe('the checkpoint file', () => {
  it('ok/append-0600-one-line-each-read-back', async () => {
    const [a, b] = await checkpoints(2);
    const file = new CheckpointFile(join(dir, `f-${++files}`, 'audit-checkpoints.jsonl'));
    assert.deepEqual(file.read(), [], 'no file yet: no checkpoints');
    file.append(a!);
    file.append(b!);
    assert.equal(statSync(file.path).mode & 0o777, 0o600);
    assert.equal(readFileSync(file.path, 'utf8'), checkpointLine(a!) + checkpointLine(b!));
    assert.deepEqual(file.read(), [a, b]);
    assert.equal(file.read().every(verifyCheckpointSignature), true, 'what is read back still verifies');
  });

  it('ok/append-never-rewrites-and-tightens-the-mode', async () => {
    const [a] = await checkpoints(1);
    const path = join(dir, `g-${++files}.jsonl`);
    writeFileSync(path, checkpointLine(a!), { mode: 0o644 });
    new CheckpointFile(path).append(a!);
    assert.equal(readFileSync(path, 'utf8'), checkpointLine(a!).repeat(2), 'appended after what was there');
    assert.equal(statSync(path).mode & 0o777, 0o600);
  });

  for (const [name, text, line] of [
    ['not-json', '{nope\n', 1],
    ['cut-short', 'x', 1],
    ['wrong-type', `${JSON.stringify({ type: 'other' })}\n`, 1],
    ['bad-hash', `${JSON.stringify({ type: 'provisio.audit-checkpoint.v1', seq: 1, hash: 'XYZ', at: NOW.toISOString(), signature: 'AA==', signerCertificate: 'AA==' })}\n`, 1],
    ['bad-time', `${JSON.stringify({ type: 'provisio.audit-checkpoint.v1', seq: 1, hash: 'a'.repeat(64), at: 'yesterday', signature: 'AA==', signerCertificate: 'AA==' })}\n`, 1],
  ] as const) {
    it(`fail/parse/${name}`, () => {
      assert.throws(() => parseCheckpointLines(text), (e: unknown) => e instanceof CheckpointFileInvalid && e.line === line);
    });
  }

  it('fail/parse/second-line-cut-short', async () => {
    const [a] = await checkpoints(1);
    const text = checkpointLine(a!) + checkpointLine(a!).slice(0, 40);
    assert.throws(() => parseCheckpointLines(text), (e: unknown) => e instanceof CheckpointFileInvalid && e.line === 2);
  });
});

describe('compareKeptCheckpoints', () => {
  it('ok/file-subset-of-the-database', async () => {
    const cps = await checkpoints(3);
    assert.equal(compareKeptCheckpoints(cps.slice(0, 2), cps, verifyCheckpointSignature), null);
    assert.equal(compareKeptCheckpoints([], cps, verifyCheckpointSignature), null);
  });

  it('fail/checkpoint-missing', async () => {
    const cps = await checkpoints(3);
    const r = compareKeptCheckpoints(cps, [cps[0]!, cps[2]!], verifyCheckpointSignature);
    assert.deepEqual([r?.ok, r && !r.ok && r.seq, r && !r.ok && r.problem], [false, 2, 'checkpoint_missing']);
  });

  it('fail/checkpoint-differs', async () => {
    const cps = await checkpoints(2);
    const replaced = { ...cps[1]!, at: new Date(NOW.getTime() + 99) };
    const r = compareKeptCheckpoints(cps, [cps[0]!, replaced], verifyCheckpointSignature);
    assert.deepEqual([r?.ok, r && !r.ok && r.seq, r && !r.ok && r.problem], [false, 2, 'checkpoint_differs']);
  });

  it('fail/signature-invalid-in-the-file', async () => {
    const cps = await checkpoints(1);
    const forged = { ...cps[0]!, signature: Buffer.from(cps[0]!.signature).fill(1, 10, 12) };
    const r = compareKeptCheckpoints([forged], [forged], verifyCheckpointSignature);
    assert.deepEqual([r?.ok, r && !r.ok && r.problem], [false, 'checkpoint_signature_invalid']);
  });

  it('fail/two-different-checkpoints-at-one-seq', async () => {
    const cps = await checkpoints(1);
    const other = { ...cps[0]!, at: new Date(0) };
    const r = compareKeptCheckpoints([cps[0]!, other], cps, verifyCheckpointSignature);
    assert.deepEqual([r?.ok, r && !r.ok && r.problem], [false, 'checkpoint_file_invalid']);
  });
});
