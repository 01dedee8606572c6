import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { tempDir } from '@provisio/testkit';
import { CliError } from './errors.js';
import { readInputFile, SECRET_MODE, writeFileAtomic, writeFilesAtomic } from './files.js';

const isCode = (code: string) => (e: unknown) => e instanceof CliError && e.code === code;

describe('files', () => {
  it('ok/atomic-write/secret-is-0600-whatever-the-umask', () => {
    const dir = tempDir();
    const path = join(dir, 'k.key');
    const old = process.umask(0);
    try {
      writeFileAtomic(path, 'secret', SECRET_MODE);
    } finally {
      process.umask(old);
    }
    assert.equal(statSync(path).mode & 0o777, 0o600);
    assert.equal(readFileSync(path, 'utf8'), 'secret');
    assert.deepEqual(readdirSync(dir), ['k.key'], 'no temp file left behind');
  });

  it('fail/atomic-write/never-replaces-an-existing-file', () => {
    const dir = tempDir();
    const path = join(dir, 'root.key');
    writeFileSync(path, 'the real root key');
    assert.throws(() => writeFileAtomic(path, 'attacker', SECRET_MODE), isCode('file_exists'));
    assert.equal(readFileSync(path, 'utf8'), 'the real root key');
    assert.deepEqual(readdirSync(dir), ['root.key']);
  });

  it('fail/write-files/all-or-nothing', () => {
    const dir = tempDir();
    const first = join(dir, 'root.key');
    assert.throws(
      () =>
        writeFilesAtomic([
          { path: first, data: 'key', mode: SECRET_MODE },
          { path: join(dir, 'missing-dir', 'root.crt'), data: 'cert', mode: 0o644 },
        ]),
      isCode('file_not_found'),
    );
    assert.equal(existsSync(first), false, 'the first file is removed when the second fails');
  });

  it('fail/read/missing-directory-and-too-large', () => {
    const dir = tempDir();
    assert.throws(() => readInputFile(join(dir, 'nope')), isCode('file_not_found'));
    assert.throws(() => readInputFile(dir), isCode('file_not_found'));
    writeFileSync(join(dir, 'big'), Buffer.alloc(100));
    assert.throws(
      () => readInputFile(join(dir, 'big'), 10),
      (e: unknown) => (e as { code?: string }).code === 'input_too_large',
    );
  });
});
