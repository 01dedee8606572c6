import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { appendFileSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { tempDir } from '@provisio/testkit';
import { mode, withCode } from '../test/helpers.js';
import { appendDeviceAudit, canonicalDeviceAuditEntry, type DeviceAuditEntry, type DeviceAuditFinding, readDeviceAudit, verifyDeviceAudit } from './device-audit-log.js';

const AT = new Date('2026-06-01T12:00:00Z');

/** What `jq -S` does: every object's keys sorted. */
function sortKeys(v: unknown): unknown {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return v;
  return Object.fromEntries(Object.keys(v).sort().map((k) => [k, sortKeys((v as Record<string, unknown>)[k])]));
}

function keystore(): string {
  const dir = join(tempDir('provisio-audit-'), 'ks');
  mkdirSync(dir, { mode: 0o700 });
  return dir;
}

/** A keystore whose log holds three entries. */
function threeEntries(): { dir: string; log: string; lines: string[] } {
  const dir = keystore();
  appendDeviceAudit(dir, { event: 'device.initialized', details: { deviceId: 'DEV-001', replaced: false }, at: AT });
  appendDeviceAudit(dir, { event: 'profile.verified', details: { serial: '0a1b', requestId: 'req_1' }, at: AT });
  appendDeviceAudit(dir, { event: 'install.completed', details: { serial: '0a1b', rekey: false }, at: AT });
  const log = join(dir, 'security_audit_log.jsonl');
  return { dir, log, lines: readFileSync(log, 'utf8').split('\n').slice(0, -1) };
}

function assertBroken(dir: string, finding: DeviceAuditFinding, line: number): void {
  const v = verifyDeviceAudit(dir);
  assert.equal(v.ok, false);
  assert.equal(v.broken?.finding, finding, v.broken?.message);
  assert.equal(v.broken?.line, line, v.broken?.message);
  assert.throws(() => readDeviceAudit(dir), withCode('device_audit_broken'));
}

describe('device security audit log', () => {
  it('ok/append-chain-modes-and-canonical-hash', () => {
    const { dir, log, lines } = threeEntries();
    assert.equal(mode(log), 0o600);
    assert.equal(mode(join(dir, 'security_audit_head.json')), 0o600);
    const v = verifyDeviceAudit(dir);
    assert.equal(v.ok, true, v.broken?.message);
    assert.equal(v.entries, 3);
    const entries = readDeviceAudit(dir);
    assert.deepEqual(entries.map((e) => e.seq), [1, 2, 3]);
    assert.equal(entries[0]?.prevHash, '0'.repeat(64));
    assert.equal(entries[1]?.prevHash, entries[0]?.hash);
    assert.equal(v.head?.hash, entries[2]?.hash);
    // The documented canonical form: the line without "hash", keys sorted at every level, no
    // whitespace; its SHA-256 is the hash.
    const line = JSON.parse(lines[1] as string) as Record<string, unknown>;
    delete line.hash;
    const sorted = JSON.stringify(sortKeys(line));
    assert.equal(sorted, `{"at":"2026-06-01T12:00:00Z","details":{"requestId":"req_1","serial":"0a1b"},"event":"profile.verified","prevHash":"${entries[0]?.hash}","seq":2}`);
    assert.equal(canonicalDeviceAuditEntry(entries[1] as DeviceAuditEntry), sorted);
    assert.equal(createHash('sha256').update(sorted).digest('hex'), entries[1]?.hash);
  });

  it('ok/jq-recomputes-every-hash', () => {
    const dir = keystore();
    // Non-ASCII, quotes and a slash: jq and the device must write the same bytes for them.
    appendDeviceAudit(dir, { event: 'device.initialized', details: { system: 'Säule "Nord" / 2', deviceId: 'DEV-001', n: 5, b: true, z: null }, at: AT });
    appendDeviceAudit(dir, { event: 'profile.verified', details: { serial: '0a1b' }, at: AT });
    for (const line of readFileSync(join(dir, 'security_audit_log.jsonl'), 'utf8').split('\n').slice(0, -1)) {
      const canonical = execFileSync('jq', ['-cjS', 'del(.hash)'], { input: line });
      assert.equal(createHash('sha256').update(canonical).digest('hex'), (JSON.parse(line) as { hash: string }).hash);
    }
  });

  it('ok/empty-log-verifies', () => {
    const v = verifyDeviceAudit(keystore());
    assert.equal(v.ok, true);
    assert.equal(v.entries, 0);
    assert.equal(v.head, null);
  });

  it('fail/audit/edited-entry', () => {
    const { dir, log, lines } = threeEntries();
    // An attacker turns a recorded refusal into something else, keeping the hash.
    lines[1] = (lines[1] as string).replace('"serial":"0a1b"', '"serial":"0a1c"');
    writeFileSync(log, `${lines.join('\n')}\n`);
    assertBroken(dir, 'hash_mismatch', 2);
  });

  it('fail/audit/deleted-middle-entry', () => {
    const { dir, log, lines } = threeEntries();
    writeFileSync(log, `${[lines[0], lines[2]].join('\n')}\n`);
    assertBroken(dir, 'sequence_broken', 2);
  });

  it('fail/audit/reordered-entries', () => {
    const { dir, log, lines } = threeEntries();
    writeFileSync(log, `${[lines[0], lines[2], lines[1]].join('\n')}\n`);
    assertBroken(dir, 'sequence_broken', 2);
  });

  it('fail/audit/entry-spliced-from-another-log', () => {
    const a = threeEntries();
    // Same seq, a hash that matches its content, but it follows another log's first entry.
    const other = keystore();
    appendDeviceAudit(other, { event: 'device.initialized', details: { deviceId: 'DEV-002' }, at: AT });
    appendDeviceAudit(other, { event: 'profile.verified', details: { serial: '0a1b', requestId: 'req_1' }, at: AT });
    const spliced = readFileSync(join(other, 'security_audit_log.jsonl'), 'utf8').split('\n')[1] as string;
    writeFileSync(a.log, `${[a.lines[0], spliced, a.lines[2]].join('\n')}\n`);
    assertBroken(a.dir, 'chain_broken', 2);
  });

  it('fail/audit/last-entries-cut-from-the-end', () => {
    const { dir, log, lines } = threeEntries();
    writeFileSync(log, `${lines.slice(0, 2).join('\n')}\n`);
    assertBroken(dir, 'truncated', 2);
  });

  it('fail/audit/bytes-cut-from-the-end', () => {
    const { dir, log } = threeEntries();
    const text = readFileSync(log, 'utf8');
    writeFileSync(log, text.slice(0, text.length - 20));
    assertBroken(dir, 'truncated', 2);
  });

  it('fail/audit/log-deleted-but-head-kept', () => {
    const { dir, log } = threeEntries();
    writeFileSync(log, '');
    assertBroken(dir, 'truncated', 0);
  });

  it('fail/audit/line-rewritten-in-another-form', () => {
    const { dir, log, lines } = threeEntries();
    // Same content, other whitespace: not what the device writes.
    lines[0] = JSON.stringify(JSON.parse(lines[0] as string), null, 1).replace(/\n/g, '');
    writeFileSync(log, `${lines.join('\n')}\n`);
    assertBroken(dir, 'entry_malformed', 1);
  });

  it('ok/torn-append-is-kept-visible-and-the-log-goes-on', () => {
    const { dir, log } = threeEntries();
    // A power cut in the middle of the 4th append: half a line, the head not yet moved.
    appendFileSync(log, '{"seq":4,"at":"2026-06-01T12:00:00Z","ev');
    assertBroken(dir, 'entry_malformed', 4);
    const next = appendDeviceAudit(dir, { event: 'check_in.failed', details: { code: 'station_unreachable' }, at: AT });
    assert.equal(next.seq, 4);
    const text = readFileSync(log, 'utf8');
    assert.ok(text.endsWith(`"hash":"${next.hash}"}\n`));
    // The fragment stays on its own line, reported, never silently repaired.
    assertBroken(dir, 'entry_malformed', 4);
  });

  it('fail/audit/secrets-and-bad-details-are-refused-before-writing', () => {
    const dir = keystore();
    appendDeviceAudit(dir, { event: 'device.initialized', at: AT });
    const before = readFileSync(join(dir, 'security_audit_log.jsonl'), 'utf8');
    const pem = '-----BEGIN PRIVATE KEY-----\nMIGH\n-----END PRIVATE KEY-----';
    assert.throws(() => appendDeviceAudit(dir, { event: 'install.refused', details: { code: pem }, at: AT }), /key material|control/);
    assert.throws(() => appendDeviceAudit(dir, { event: 'install.refused', details: { note: 'PRIVATE KEY' }, at: AT }), /key material/);
    assert.throws(() => appendDeviceAudit(dir, { event: 'install.refused', details: { code: 'a\nb' }, at: AT }), /control/);
    assert.throws(() => appendDeviceAudit(dir, { event: 'install.refused', details: { nested: { a: 1 } as never }, at: AT }), /unsupported/);
    assert.throws(() => appendDeviceAudit(dir, { event: 'not.an_event' as never, at: AT }), /unknown/);
    assert.equal(readFileSync(join(dir, 'security_audit_log.jsonl'), 'utf8'), before);
  });

  it('fail/audit/no-keystore-directory', () => {
    assert.throws(() => appendDeviceAudit(join(tempDir('provisio-audit-'), 'missing'), { event: 'device.initialized', at: AT }), withCode('keystore_not_found'));
  });
});
