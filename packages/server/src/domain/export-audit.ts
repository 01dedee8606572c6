/**
 * Everything in the audit log matching a filter, as JSON Lines (one entry per line, newest
 * first, like the list), for the Audit page's export and scripts. Read in keyset pages of
 * EXPORT_PAGE by seq, so entries appended while the export runs neither repeat nor shift it:
 * the export is the log as it was when it started, up to `limit` entries.
 */
import type { ServiceDeps } from './deps.js';
import type { AuditEntry } from './model.js';
import type { AuditFilter } from './store.js';

export const EXPORT_PAGE = 500;
export const MAX_EXPORT = 100_000;

export async function* exportAudit(
  deps: Pick<ServiceDeps, 'store'>,
  filter: Omit<AuditFilter, 'limit' | 'offset' | 'toSeq'>,
  limit: number,
  line: (entry: AuditEntry) => unknown,
): AsyncGenerator<string> {
  let left = Math.min(limit, MAX_EXPORT);
  let toSeq: number | undefined;
  while (left > 0) {
    const page = await deps.store.listAudit({ ...filter, ...(toSeq !== undefined ? { toSeq } : {}), limit: Math.min(EXPORT_PAGE, left), offset: 0 });
    if (page.items.length === 0) return;
    yield page.items.map((e) => `${JSON.stringify(line(e))}\n`).join('');
    left -= page.items.length;
    toSeq = (page.items.at(-1) as AuditEntry).seq - 1;
  }
}
