/**
 * Expiry health (docs/service.md "Expiry health"): certificates that expire within a window,
 * devices overdue for renewal, and the `certificate.expiring` audit notices the expiry job
 * writes, once per certificate, whatever the number of restarts or servers.
 */
import { type ServiceDeps, actorName } from './deps.js';
import { ServiceError } from './errors.js';
import type { CertificateRecord, Page } from './model.js';

const DAY_MS = 86_400_000;
/** The default window of the expiry notices and of `--expiring`: 30 days. */
export const DEFAULT_EXPIRY_WINDOW_MS = 30 * DAY_MS;
/** Longest window asked about: ten years covers every certificate the CA issues. */
const MAX_WINDOW_MS = 3650 * DAY_MS;
/** The notice kind recorded per certificate (certificate_notices.kind). */
export const EXPIRING_NOTICE = 'expiring';

/**
 * "30d", "12h" or a plain number of days, in milliseconds (1 hour to 3650 days). Hours exist for
 * short-lived test certificates; operators think in days.
 */
export function parseExpiryWindow(text: string): number {
  const match = /^(\d{1,5})([dh]?)$/.exec(text.trim());
  const ms = match ? Number(match[1]) * (match[2] === 'h' ? 3_600_000 : DAY_MS) : Number.NaN;
  if (!Number.isSafeInteger(ms) || ms < 3_600_000 || ms > MAX_WINDOW_MS) {
    throw new ServiceError('validation_failed', `an expiry window is a number of days or hours from 1h to 3650d, like 30d or 12h; got "${text.slice(0, 20)}"`);
  }
  return ms;
}

/**
 * A certificate is overdue for renewal once two thirds of its lifetime have passed: a 398-day
 * certificate then has about 133 days left, room for a device that checks in rarely.
 */
export function renewalDueAt(c: Pick<CertificateRecord, 'notBefore' | 'notAfter'>): Date {
  const life = c.notAfter.getTime() - c.notBefore.getTime();
  return new Date(c.notBefore.getTime() + Math.ceil((life * 2) / 3));
}

export function listExpiringCertificates(
  deps: Pick<ServiceDeps, 'store' | 'clock'>,
  query: { windowMs: number; kind?: string; limit: number; offset: number },
): Promise<Page<CertificateRecord>> {
  const now = deps.clock.now();
  return deps.store.listExpiringCertificates({
    now,
    before: new Date(now.getTime() + query.windowMs),
    ...(query.kind ? { kind: query.kind } : {}),
    limit: query.limit,
    offset: query.offset,
  });
}

export function listRenewalOverdue(deps: Pick<ServiceDeps, 'store' | 'clock'>, query: { limit: number; offset: number }): Promise<Page<CertificateRecord>> {
  return deps.store.listRenewalOverdueCertificates({ now: deps.clock.now(), limit: query.limit, offset: query.offset });
}

/**
 * Writes one `certificate.expiring` audit entry for each active certificate that expires within
 * `windowMs` and has none yet; the notice row and the entry commit together, so a crash or a
 * second server never makes a duplicate. Returns how many were written.
 */
export async function noteExpiringCertificates(deps: Pick<ServiceDeps, 'store' | 'clock'>, windowMs = DEFAULT_EXPIRY_WINDOW_MS): Promise<number> {
  const now = deps.clock.now();
  const before = new Date(now.getTime() + windowMs);
  let written = 0;
  const seen = new Set<string>();
  // Each pass takes certificates that still have no notice, so it always starts at offset 0; a
  // page of certificates already seen (noted meanwhile by another server) ends it.
  for (;;) {
    const page = await deps.store.listExpiringCertificates({ now, before, withoutNotice: EXPIRING_NOTICE, limit: 100, offset: 0 });
    const fresh = page.items.filter((c) => !seen.has(`${c.issuerFingerprint}:${c.serial}`));
    if (fresh.length === 0) return written;
    for (const c of fresh) {
      seen.add(`${c.issuerFingerprint}:${c.serial}`);
      const noted = await deps.store.transaction(async (tx) => {
        if (!(await tx.insertCertificateNotice(c.issuerFingerprint, c.serial, EXPIRING_NOTICE, now))) return false;
        await tx.appendAudit({
          at: now,
          actor: actorName('system'),
          action: 'certificate.expiring',
          targetType: 'certificate',
          targetId: c.serial,
          details: {
            kind: c.kind,
            sha256: c.fingerprint,
            notAfter: c.notAfter.toISOString(),
            windowDays: Math.round(windowMs / DAY_MS),
            ...(c.deviceId ? { deviceId: c.deviceId } : {}),
          },
        });
        return true;
      });
      if (noted) written++;
    }
  }
}
