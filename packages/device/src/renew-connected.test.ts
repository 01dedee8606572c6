import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { backoffMs, renewalDue } from './renew-connected.js';

const DAY = 86_400_000;
const notBefore = new Date('2026-01-01T00:00:00Z');
const notAfter = new Date(notBefore.getTime() + 300 * DAY);

describe('renewal window', () => {
  it('ok/two-thirds-with-jitter-fixed-per-serial', () => {
    const dues = Array.from({ length: 200 }, (_, i) => renewalDue({ serial: (0x1000 + i).toString(16), notBefore, notAfter }).getTime() - notBefore.getTime());
    for (const d of dues) {
      assert.ok(d >= 300 * DAY * (2 / 3 - 0.05) - 1 && d <= 300 * DAY * (2 / 3 + 0.05) + 1, `due after ${d / DAY} days`);
    }
    // Spread: a fleet does not renew at one moment (200 serials, many distinct days).
    assert.ok(new Set(dues.map((d) => Math.floor(d / DAY))).size > 10);
    // The same certificate gets the same moment every time (a restarted agent).
    assert.equal(renewalDue({ serial: 'abcd', notBefore, notAfter }).getTime(), renewalDue({ serial: 'abcd', notBefore, notAfter }).getTime());
  });

  it('ok/policy-from-the-profile-and-never-after-expiry', () => {
    const due = renewalDue({ serial: 'ab', notBefore, notAfter }, { atFractionOfLifetime: 0.5, jitterFraction: 0 });
    assert.equal(due.getTime(), notBefore.getTime() + 150 * DAY);
    const late = renewalDue({ serial: 'ab', notBefore, notAfter }, { atFractionOfLifetime: 0.95, jitterFraction: 0.25 });
    assert.ok(late.getTime() <= notAfter.getTime());
  });

  it('ok/backoff-grows-and-is-capped', () => {
    const top = { bytes: (n: number) => new Uint8Array(n).fill(0xff) };
    assert.ok(backoffMs(top, 0, 1000, 60_000) < 1000);
    assert.ok(backoffMs(top, 3, 1000, 60_000) > 7000);
    assert.ok(backoffMs(top, 30, 1000, 60_000) <= 60_000);
  });
});
