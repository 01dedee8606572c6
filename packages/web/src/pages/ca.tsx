/** CA: the hierarchy in use with validity, the newest CRL's number and next update, the OCSP responder. */
import { useEffect, useState } from 'react';
import { getJson, saveFile } from '../api';
import { CliCommand, ErrorBox, When } from '../widgets';

interface CaCertificate { role: string; subject: string; issuer: string; serial: string; notBefore: string; notAfter: string; sha256: string; pem: string }
interface CaOverview {
  certificates: CaCertificate[];
  crl: { number: number; thisUpdate: string; nextUpdate: string; url: string | null } | null;
  ocsp: { url: string | null; selfCheck: { status: 'answering' | 'failing'; detail: string; producedAt: string | null; preSignedAnswers: number } | null };
}

const DAY = 86_400_000;

/** Days left as words, flagged when under 30 (text, not colour alone). */
function validityLeft(notAfter: string): string {
  const days = Math.floor((Date.parse(notAfter) - Date.now()) / DAY);
  if (days < 0) return 'EXPIRED';
  return days < 30 ? `${days} days left — renew soon` : `${days} days left`;
}

export function CaPage() {
  const [ca, setCa] = useState<CaOverview | null>(null);
  const [error, setError] = useState<unknown>(null);
  useEffect(() => {
    getJson<CaOverview>('/api/v1/ca').then(setCa, setError);
  }, []);

  return (
    <section>
      <h1>Certificate authority</h1>
      <ErrorBox error={error} />
      {ca ? (
        <>
          <table className="table">
            <caption className="sr-only">The CA hierarchy, root first</caption>
            <thead><tr><th scope="col">Role</th><th scope="col">Subject</th><th scope="col">Issuer</th><th scope="col">Serial</th><th scope="col">Valid</th><th scope="col">SHA-256</th><th scope="col"><span className="sr-only">Download</span></th></tr></thead>
            <tbody>
              {ca.certificates.map((c) => (
                <tr key={c.role} data-role={c.role}>
                  <th scope="row">{c.role}</th>
                  <td>{c.subject}</td>
                  <td>{c.issuer}</td>
                  <td><code className="wrap">{c.serial}</code></td>
                  <td><When at={c.notBefore} /> to <When at={c.notAfter} /><br />{validityLeft(c.notAfter)}</td>
                  <td><code className="wrap">{c.sha256}</code></td>
                  <td>
                    <button type="button" className="secondary small" onClick={() => saveFile(`${c.role.replace(/\s+/g, '-')}.crt`, new Blob([c.pem], { type: 'application/x-pem-file' }))}>
                      PEM<span className="sr-only"> of the {c.role}</span>
                    </button>
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
          <h2>Revocation</h2>
          <dl className="facts">
            <dt>CRL number</dt><dd data-testid="crl-number">{ca.crl ? ca.crl.number : 'none published yet'}</dd>
            <dt>This update</dt><dd><When at={ca.crl?.thisUpdate ?? null} /></dd>
            <dt>Next update</dt><dd><When at={ca.crl?.nextUpdate ?? null} /></dd>
            <dt>CRL address</dt><dd><code>{ca.crl?.url ?? '—'}</code></dd>
            <dt>OCSP responder</dt><dd><code>{ca.ocsp.url ?? '—'}</code></dd>
            <dt>OCSP status</dt>
            <dd data-testid="ocsp-status">
              {ca.ocsp.selfCheck === null ? 'not running' : ca.ocsp.selfCheck.status === 'answering'
                ? <>Answering: a signed answer verified against the issuing CA, produced <When at={ca.ocsp.selfCheck.producedAt} />; {ca.ocsp.selfCheck.preSignedAnswers} pre-signed answer{ca.ocsp.selfCheck.preSignedAnswers === 1 ? '' : 's'} kept</>
                : `NOT answering: ${ca.ocsp.selfCheck.detail}`}
            </dd>
          </dl>
          <CliCommand command="provisio crl fetch --out issuing.crl" />
        </>
      ) : null}
    </section>
  );
}
