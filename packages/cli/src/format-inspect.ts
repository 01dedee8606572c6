/**
 * The text view of `provisio inspect`: a one-screen summary in the spirit of
 * `step certificate inspect --short`, then ALWAYS one verification line, because a summary of an
 * unverified object reads like a trusted one unless it says otherwise (step: "Local certificates
 * are never verified").
 */
import { describeValidity, fieldLines, humanDuration } from './format-text.js';
import type { CertificateReport, CrlReport, CsrReport, OcspReport, Verification } from './inspect-report.js';
import type { Style } from './io.js';

/** `chain: VERIFIED against CN=Root`, `signature: VERIFIED (proof of possession)`, `... NOT VERIFIED: why [code]`. */
export function verificationLine(label: string, v: Verification, style: Style): string {
  switch (v.status) {
    case 'verified':
      return `${label}: ${style.ok('VERIFIED')} ${v.against === null ? `(${v.message})` : v.message}`;
    case 'not_verified':
      return `${label}: ${style.warn('NOT VERIFIED')} (${v.message})`;
    default:
      return `${label}: ${style.bad('NOT VERIFIED')}: ${v.message} [${v.code}]`;
  }
}

function caLine(r: CertificateReport): string {
  if (!r.ca) return 'no';
  return r.pathLength === null ? 'yes, path length unlimited' : `yes, path length ${r.pathLength}`;
}

export function formatCertificate(r: CertificateReport, now: Date, style: Style): string {
  const kind = r.ca ? (r.selfIssued ? 'root CA certificate' : 'CA certificate') : 'certificate';
  const head = `X.509v3 ${kind} (${r.publicKey.algorithm})`;
  const lines = fieldLines([
    ['serial', r.serial],
    ['subject', r.subject || '(empty)'],
    ['SANs', r.subjectAltNames],
    ['issuer', r.issuer],
    ['valid from', r.notBefore],
    ['valid to', `${r.notAfter} (${describeValidity(new Date(r.notBefore), new Date(r.notAfter), now)})`],
    ['key usage', r.keyUsage.join(', ')],
    ['ext key usage', r.extKeyUsage.join(', ')],
    ['CA', caLine(r)],
    ['CRL', r.crlUrls],
    ['OCSP', r.ocspUrls],
    ['CA issuers', r.caIssuersUrls],
    ['SHA-256', r.sha256],
    ['key SHA-256', r.publicKey.sha256],
  ]);
  return [style.bold(head), ...lines, verificationLine('chain', r.verification, style)].join('\n');
}

export function formatCsr(r: CsrReport, style: Style): string {
  const requested = r.requested;
  const lines = fieldLines([
    ['subject', r.subject || '(empty)'],
    ['requested SANs', requested.subjectAltNames],
    ['requested KU', requested.keyUsage.join(', ')],
    ['requested EKU', requested.extKeyUsage.join(', ')],
    ['requested CA', requested.ca === null ? null : requested.ca ? 'yes' : 'no'],
    ['signature alg', r.signatureAlgorithm],
    ['SHA-256', r.sha256],
    ['key SHA-256', r.publicKey.sha256],
  ]);
  const note =
    requested.subjectAltNames.length + requested.keyUsage.length + requested.extKeyUsage.length > 0 ||
    requested.ca !== null
      ? [style.dim('  (requested extensions are shown only; provisio never copies them into a certificate)')]
      : [];
  return [
    style.bold(`PKCS#10 certificate request (${r.publicKey.algorithm})`),
    ...lines,
    ...note,
    verificationLine('signature', r.verification, style),
  ].join('\n');
}

/** Entries listed in the text view; --json lists them all. */
const MAX_LISTED = 20;

function nextUpdateText(r: CrlReport | { nextUpdate: string | null }, now: Date): string | null {
  if (r.nextUpdate === null) return null;
  const next = new Date(r.nextUpdate);
  const span = humanDuration(now, next);
  return now > next ? `${r.nextUpdate} (stale: passed ${span} ago)` : `${r.nextUpdate} (in ${span})`;
}

export function formatCrl(r: CrlReport, now: Date, style: Style): string {
  const listed = r.entries
    .slice(0, MAX_LISTED)
    .map((e) => `${e.serial}  ${e.revokedAt}  ${e.reason}`)
    .concat(r.entries.length > MAX_LISTED ? [`... and ${r.entries.length - MAX_LISTED} more (--json lists all)`] : []);
  const lines = fieldLines([
    ['issuer', r.issuer],
    ['CRL number', r.crlNumber ?? '(none)'],
    ['this update', r.thisUpdate],
    ['next update', nextUpdateText(r, now) ?? '(none)'],
    ['revoked', `${r.revokedCount} certificate${r.revokedCount === 1 ? '' : 's'}`],
    ['', listed],
    ['signature alg', r.signatureAlgorithm],
    ['SHA-256', r.sha256],
  ]);
  return [style.bold('X.509 CRL (v2)'), ...lines, verificationLine('signature', r.verification, style)].join('\n');
}

export function formatOcsp(r: OcspReport, now: Date, style: Style): string {
  const head = style.bold(`OCSP response (${r.status})`);
  if (r.status !== 'successful') {
    return [head, ...fieldLines([['SHA-256', r.sha256]]), verificationLine('signature', r.verification, style)].join(
      '\n',
    );
  }
  const answers = r.responses.map((a) => {
    const status =
      a.status === 'good'
        ? style.ok('good')
        : a.status === 'revoked'
          ? `${style.bad('revoked')} at ${a.revokedAt} (${a.reason})`
          : style.warn('unknown');
    return `${a.serial}  ${status}`;
  });
  const first = r.responses[0];
  const lines = fieldLines([
    ['produced at', r.producedAt],
    ['responder', r.responderId],
    ['status', answers],
    ['this update', first?.thisUpdate ?? null],
    ['next update', first ? (nextUpdateText(first, now) ?? '(none)') : null],
    ['nonce', r.nonce],
    ['certs', r.certs],
    ['signature alg', r.signatureAlgorithm],
    ['SHA-256', r.sha256],
  ]);
  return [head, ...lines, verificationLine('signature', r.verification, style)].join('\n');
}
