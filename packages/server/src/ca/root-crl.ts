/**
 * The root's CRL as the service holds it (docs/service.md "Root CRL", decision D31). The root
 * lists the intermediates it revoked; a relying party that checks the whole chain (openssl
 * -crl_check_all, nginx ssl_crl) needs it beside the issuing CA's CRL, or refuses every device.
 *
 * The service never signs it. With `--ca DIR` it is the file the ceremony made
 * (`provisio ca root-crl`, copied to DIR/root.crl); the file is read again when it changes, so
 * the yearly re-signed CRL is published without a restart. The development CA signs its one
 * root CRL while its root key still exists (signDevelopmentRootCrl), then the key is gone.
 */
import { readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { buildCrl, formatName, type ParsedCertificate, parseCrl, type Signer, verifyCrl } from '@provisio/pki';
import type { PublishedRootCrl, RootCrlSource } from '../domain/deps.js';

export const ROOT_CRL_FILE = 'root.crl';

/**
 * The development root's only CRL: number 1, empty, valid until the root itself expires —
 * nothing can sign a later one, because the root key is discarded right after (load-authority.ts).
 */
export function signDevelopmentRootCrl(root: ParsedCertificate, signer: Signer): Promise<Buffer> {
  return buildCrl({ issuer: root, signer, crlNumber: 1n, thisUpdate: root.notBefore, nextUpdate: root.notAfter, entries: [] });
}

function readVerified(path: string, root: ParsedCertificate): PublishedRootCrl {
  const crl = parseCrl(readFileSync(path));
  verifyCrl(crl, root);
  if (crl.crlNumber === null || crl.nextUpdate === null) throw new Error('it has no CRL number or no next update');
  return { der: crl.der, crlNumber: crl.crlNumber, thisUpdate: crl.thisUpdate, nextUpdate: crl.nextUpdate };
}

function describe(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

/**
 * Opens CA_DIR/root.crl. A file that is there but is not a CRL of this root stops the start (a
 * wrong file would be published as if the root had signed it); a missing one is allowed, and said.
 */
export function openRootCrl(options: {
  readonly caDir: string;
  readonly root: ParsedCertificate;
  readonly intermediate: ParsedCertificate;
  readonly now: Date;
  readonly log: (line: string) => void;
}): RootCrlSource {
  const { root, log } = options;
  const path = join(options.caDir, ROOT_CRL_FILE);
  const stamp = (): string | null => {
    try {
      const st = statSync(path);
      return `${st.ino}/${st.size}/${st.mtimeMs}`;
    } catch {
      return null;
    }
  };
  let seen = stamp();
  let current: PublishedRootCrl | null = null;
  if (seen === null) {
    log(`no root CRL in ${path}: /crl/root.crl answers 404, and relying parties that check the whole chain (openssl -crl_check_all, nginx ssl_crl) refuse every device; sign one at the ceremony ("provisio ca root-crl", docs/ceremony.md) and copy it there`);
  } else {
    try {
      current = readVerified(path, root);
    } catch (e) {
      throw new Error(`${path} is not a CRL signed by the root "${formatName(root.subject)}" (${describe(e)}); copy the root CRL from the ceremony there, or remove the file`);
    }
    const lists = parseCrl(current.der).entries.find((e) => e.serial === options.intermediate.serial);
    if (lists) log(`the root CRL ${path} revokes the issuing CA in use (serial ${lists.serial}, ${lists.reason}): relying parties refuse every certificate it issues`);
    if (current.nextUpdate <= options.now) log(`the root CRL ${path} expired at ${current.nextUpdate.toISOString()}: relying parties that check the whole chain refuse every device until a new one is signed ("provisio ca root-crl")`);
  }
  return {
    path,
    current() {
      const now = stamp();
      // Gone or unchanged: keep what was published (a CRL once valid stays a signed statement).
      if (now === null || now === seen) return current;
      seen = now;
      try {
        const next = readVerified(path, root);
        // Numbers only rise (RFC 5280 §5.2.3): an older copy put back by mistake is not published.
        if (current && next.crlNumber < current.crlNumber) {
          log(`${path} holds root CRL number ${next.crlNumber}, older than the published number ${current.crlNumber}; still publishing ${current.crlNumber}`);
        } else {
          if (!current || next.crlNumber !== current.crlNumber) log(`publishing root CRL number ${next.crlNumber} from ${path} (next update ${next.nextUpdate.toISOString()})`);
          current = next;
        }
      } catch (e) {
        log(`${path} changed but is not a CRL signed by the root (${describe(e)}); still publishing ${current ? `number ${current.crlNumber}` : 'none'}`);
      }
      return current;
    },
  };
}
