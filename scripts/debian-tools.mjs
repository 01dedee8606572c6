// The tools nobody here wrote that tests use to check our output, installed from Debian's
// packages when missing (a fresh machine has none of them).
import { execFileSync, spawnSync } from 'node:child_process';

/**
 * command on PATH → Debian package that provides it. chromium: the admin web UI's browser tests
 * (packages/web/test) drive Debian's Chromium through playwright-core; no browser is downloaded.
 * certtool: GnuTLS parses our private OIDs (packages/pki/src/oids.test.ts).
 * nginx: a relying party that checks the whole chain with ssl_crl (packages/cli/test/root-crl-*).
 * sqlcipher: opens the device's encrypted database with the derived key (packages/device/src/device-database.test.ts).
 * jq: recomputes the device audit log's hashes from its documented canonical form (device-audit-log.test.ts).
 * softhsm2-util, pkcs11-tool: a software HSM token per test for the CA keys, and a PKCS#11 tool
 * nobody here wrote that lists the key's attributes (packages/cli/test/hsm-ca.test.ts).
 * pki: strongSwan's EST and SCEP client (packages/server/test/est.test.ts, scep.test.ts); its
 * HTTP fetcher (the curl plugin) is in libstrongswan-extra-plugins, ECDSA (the openssl plugin)
 * in libstrongswan-standard-plugins. curl: the EST exchanges by hand (RFC 7030 Appendix A).
 * A value may name several packages, separated by spaces.
 */
const TOOLS = {
  'openssl': 'openssl', 'chromium': 'chromium', 'certtool': 'gnutls-bin', 'nginx': 'nginx-light', 'sqlcipher': 'sqlcipher', 'jq': 'jq',
  'softhsm2-util': 'softhsm2', 'pkcs11-tool': 'opensc',
  'pki': 'strongswan-pki libstrongswan-extra-plugins libstrongswan-standard-plugins', 'curl': 'curl',
};

function has(command) {
  // nginx lives in /usr/sbin, which a non-root PATH often lacks.
  return spawnSync('sh', ['-c', `PATH="$PATH:/usr/sbin:/sbin" command -v ${command}`], { stdio: 'ignore' }).status === 0;
}

export function ensureDebianTools(tools = TOOLS) {
  const missing = Object.entries(tools).filter(([command]) => !has(command));
  if (missing.length === 0) return;
  const packages = [...new Set(missing.flatMap(([, pkg]) => pkg.split(' ')))];
  console.error(`installing test tools from Debian: ${packages.join(' ')}`);
  const sudo = process.getuid?.() === 0 ? [] : ['sudo'];
  const run = (args) =>
    execFileSync(sudo[0] ?? args[0], sudo.length ? args : args.slice(1), {
      stdio: 'inherit',
      env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' },
    });
  run(['apt-get', 'update']);
  run(['apt-get', 'install', '-y', '--no-install-recommends', ...packages]);
}
