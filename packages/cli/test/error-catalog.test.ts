/**
 * docs/errors.md lists every error code a caller can meet. This test fails when a code is added
 * to a catalog without a line in the doc, when the doc names a code no catalog has, or when the
 * two disagree on a category.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { deviceErrors } from '@provisio/device';
import { type Catalog, pkiErrors } from '@provisio/pki';
import { protocolErrors } from '@provisio/protocol';
import { serverErrors } from '@provisio/server';
import { cliErrors } from '../src/errors.js';

const catalogs: Record<string, Catalog> = { pki: pkiErrors, protocol: protocolErrors, cli: cliErrors, device: deviceErrors, server: serverErrors };

function documentedCodes(): Map<string, string> {
  const doc = readFileSync(new URL('../../../docs/errors.md', import.meta.url), 'utf8');
  const rows = new Map<string, string>();
  for (const m of doc.matchAll(/^\| `([a-z0-9_]+)` \| ([a-z_]+) \|/gm)) {
    assert.ok(!rows.has(m[1] as string), `docs/errors.md lists ${m[1]} twice`);
    rows.set(m[1] as string, m[2] as string);
  }
  return rows;
}

describe('error catalog', () => {
  it('ok/every-code-documented-with-its-category', () => {
    const documented = documentedCodes();
    for (const [pkg, catalog] of Object.entries(catalogs)) {
      for (const [code, entry] of Object.entries(catalog)) {
        assert.equal(
          documented.get(code),
          entry.category,
          `${pkg} code ${code}: docs/errors.md says ${documented.get(code) ?? 'nothing'}`,
        );
      }
    }
  });

  it('ok/no-documented-code-without-a-catalog-entry', () => {
    const known = new Set(Object.values(catalogs).flatMap((c) => Object.keys(c)));
    for (const code of documentedCodes().keys())
      assert.ok(known.has(code), `docs/errors.md lists ${code}, which no catalog has`);
  });

  it('ok/codes-unique-across-packages', () => {
    const seen = new Map<string, string>();
    for (const [pkg, catalog] of Object.entries(catalogs)) {
      for (const code of Object.keys(catalog)) {
        assert.ok(!seen.has(code), `${code} is in both ${seen.get(code)} and ${pkg}`);
        seen.set(code, pkg);
      }
    }
  });
});
