/**
 * A start after the clock was set back: the CRL published while the clock ran a day ahead is
 * dated in the future, which relying parties refuse ("CRL is not yet valid"); the next start
 * replaces it with one dated now (a higher number), and the service's own certificates issued
 * ahead of time are issued again, so clients can connect.
 */
import assert from 'node:assert/strict';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { parseCrl, parseCertificate } from '@provisio/pki';
import { openssl, tempDir } from '@provisio/testkit';
import { startTestService } from './service-harness.js';

const DAY = 86_400_000;

describe('start after a clock correction', () => {
  it('ok/crl-dated-in-the-future-is-replaced-on-start', async () => {
    const dataDir = tempDir('provisio-clock-');
    // The CA is made with a right clock; then the clock runs a day ahead for one run, during
    // which the CRL and (its files lost) the TLS certificate are made.
    await (await startTestService({ dataDir })).close();
    rmSync(join(dataDir, 'ca', 'tls.crt'));
    const ahead = { now: () => new Date(Date.now() + DAY) };
    const first = await startTestService({ dataDir, clock: ahead });
    const futureCrl = await first.service.deps.store.findCrl(first.service.deps.authority.issuerFingerprint);
    await first.close();
    assert.ok(futureCrl && futureCrl.thisUpdate.getTime() > Date.now() + DAY / 2, 'the first start published a CRL a day ahead');
    const futureTls = parseCertificate(readFileSync(join(dataDir, 'ca', 'tls.crt'), 'utf8'));
    assert.ok(futureTls.notBefore.getTime() > Date.now());

    const log: string[] = [];
    const second = await startTestService({ dataDir, serve: { log: (l) => log.push(l) } });
    try {
      // The https call itself shows the TLS certificate is valid now (it was reissued).
      const r = await second.call('GET', '/crl/issuing.crl', { token: null });
      assert.equal(r.status, 200);
      const crl = parseCrl(r.body);
      assert.ok(crl.thisUpdate.getTime() <= Date.now(), `thisUpdate ${crl.thisUpdate.toISOString()} is not in the future`);
      assert.ok((crl.crlNumber ?? 0n) > BigInt(futureCrl.crlNumber));
      assert.ok(log.some((l) => /dated in the future/.test(l)), log.join('\n'));
      // What a relying party does: openssl accepts it as current.
      const dir = tempDir('provisio-clock-crl-');
      writeFileSync(join(dir, 'crl.der'), r.body);
      const check = openssl(['crl', '-inform', 'DER', '-in', join(dir, 'crl.der'), '-CAfile', join(dataDir, 'ca', 'intermediate.crt'), '-noout']);
      assert.equal(check.status, 0, check.output);
      const tls = parseCertificate(readFileSync(join(dataDir, 'ca', 'tls.crt'), 'utf8'));
      assert.ok(tls.notBefore.getTime() <= Date.now());
    } finally {
      await second.close();
    }
  });
});
