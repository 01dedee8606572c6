/**
 * `provisio inspect FILE|-`: what is this object, and does it verify? Parsing and verification are
 * the PKI core's; this file picks the parser, gathers the trust material from --ca and renders.
 */
import {
  certIdMatchesIssuer,
  decodePemAll,
  formatName,
  isProvisioError,
  type ParsedCertificate,
  type ParsedCrl,
  type ParsedOcspResponse,
  parseCertificate,
  parseCrl,
  parseCsr,
  parseOcspResponse,
  verifyChain,
  verifyCrl,
  verifyCsr,
  verifyOcspResponse,
} from '@provisio/pki';
import type { ParsedArgs } from '../args.js';
import { optionalString } from '../args.js';
import { COMMON_OPTIONS, type CommandSpec, printJson } from '../command.js';
import { detectInput } from '../detect-input.js';
import { printError, warn } from '../diagnostics.js';
import { CliError, EXIT, exitCodeFor, usageError } from '../errors.js';
import { MAX_INPUT_BYTES, readInputFile } from '../files.js';
import { formatCertificate, formatCrl, formatCsr, formatOcsp } from '../format-inspect.js';
import { INSPECT_HELP } from '../help.js';
import { certificateReport, crlReport, csrReport, ocspReport, type Verification } from '../inspect-report.js';
import { type CliDeps, styleFor } from '../io.js';

export interface Outcome<R> {
  readonly report: R;
  /** The verification failure, when there was one: reported on stderr and in the exit code. */
  readonly failure: unknown;
}

function failed(e: unknown): Verification {
  if (!isProvisioError(e)) throw e;
  return { status: 'failed', against: null, path: [], code: e.code, message: e.message };
}

/** Certificates from a --ca file: a PEM bundle, or one DER certificate. */
export function readCertificates(path: string): ParsedCertificate[] {
  const bytes = readInputFile(path);
  const text = bytes.subarray(0, 4096).toString('latin1');
  const certs = text.includes('-----BEGIN ')
    ? decodePemAll(bytes.toString('utf8'))
        .filter((b) => b.label === 'CERTIFICATE')
        .map((b) => parseCertificate(b.der))
    : [parseCertificate(bytes)];
  if (certs.length === 0) {
    throw new CliError('input_unrecognized', `${path} holds no CERTIFICATE block`, 'pass the root certificate PEM');
  }
  return certs;
}

function inspectCertificate(
  cert: ParsedCertificate,
  more: readonly ParsedCertificate[],
  ca: readonly ParsedCertificate[] | null,
  now: Date,
) {
  let verification: Verification;
  let failure: unknown = null;
  if (!ca) {
    verification = {
      status: 'not_verified',
      against: null,
      path: [],
      code: null,
      message: 'pass --ca root.crt to verify',
    };
  } else {
    // Self-issued certificates in the bundle are the trust anchors and the rest may complete the
    // path; a bundle without a self-issued certificate pins what it holds.
    const selfIssued = ca.filter((c) => c.issuer.der.equals(c.subject.der));
    const roots = selfIssued.length > 0 ? selfIssued : ca;
    const intermediates = [...more, ...ca.filter((c) => !roots.includes(c))];
    try {
      const path = verifyChain({ leaf: cert, intermediates, roots, at: now });
      const anchor = formatName((path[path.length - 1] as ParsedCertificate).subject);
      verification = {
        status: 'verified',
        against: anchor,
        path: path.map((c) => formatName(c.subject)),
        code: null,
        message: `against ${anchor}`,
      };
    } catch (e) {
      verification = failed(e);
      failure = e;
    }
  }
  return { report: certificateReport(cert, now, verification), failure };
}

function notVerified(message: string): Verification {
  return { status: 'not_verified', against: null, path: [], code: null, message };
}

function signedBy(cert: ParsedCertificate, suffix = ''): Verification {
  const against = formatName(cert.subject);
  return { status: 'verified', against, path: [against], code: null, message: `by ${against}${suffix}` };
}

/**
 * Tries each --ca certificate that could have issued `subject` (`couldIssue`), or all of them
 * when none looks like it; the first that verifies wins, otherwise the last failure is reported.
 */
function verifyWithIssuers(
  ca: readonly ParsedCertificate[],
  couldIssue: (c: ParsedCertificate) => boolean,
  verify: (issuer: ParsedCertificate) => Verification,
): { verification: Verification; failure: unknown } {
  const likely = ca.filter(couldIssue);
  let failure: unknown = null;
  for (const issuer of likely.length > 0 ? likely : ca) {
    try {
      return { verification: verify(issuer), failure: null };
    } catch (e) {
      if (!isProvisioError(e)) throw e;
      failure = e;
    }
  }
  return { verification: failed(failure), failure };
}

function inspectCrl(crl: ParsedCrl, ca: readonly ParsedCertificate[] | null) {
  if (!ca) return { verification: notVerified('pass --ca issuer.crt to verify'), failure: null };
  return verifyWithIssuers(
    ca,
    (c) => c.subject.der.equals(crl.issuer.der),
    (issuer) => {
      verifyCrl(crl, issuer);
      return signedBy(issuer);
    },
  );
}

function inspectOcsp(resp: ParsedOcspResponse, ca: readonly ParsedCertificate[] | null, now: Date) {
  if (!ca) {
    return {
      verification: notVerified(
        resp.basic ? 'pass --ca issuer.crt to verify' : `the responder answered ${resp.status}; nothing is signed`,
      ),
      failure: null,
    };
  }
  const first = resp.basic?.responses[0];
  return verifyWithIssuers(
    ca,
    (c) => first !== undefined && certIdMatchesIssuer(first.certId, c),
    (issuer) => {
      const signer = verifyOcspResponse(resp, issuer, now);
      return signer === issuer ? signedBy(issuer) : signedBy(signer, ` (delegated by ${formatName(issuer.subject)})`);
    },
  );
}

async function readSubject(deps: CliDeps, file: string): Promise<Buffer> {
  return file === '-' ? deps.readStdin(MAX_INPUT_BYTES) : readInputFile(file);
}

async function inspect(deps: CliDeps, args: ParsedArgs): Promise<number> {
  const file = args.positionals[0];
  if (file === undefined) {
    throw usageError(
      '"provisio inspect" needs a FILE, or "-" to read stdin',
      'run "provisio inspect --help" for usage',
    );
  }
  const caPath = optionalString(args, 'ca');
  const json = args.values.json === true;
  const now = deps.clock.now();
  const name = file === '-' ? 'stdin' : file;
  const input = detectInput(await readSubject(deps, file), name);
  const ca = caPath === undefined ? null : readCertificates(caPath);
  const style = styleFor(deps.stdout, deps.env);

  let text: string;
  let report: unknown;
  let failure: unknown = null;
  switch (input.kind) {
    case 'certificate': {
      const out = inspectCertificate(
        parseCertificate(input.der),
        input.more.map((d) => parseCertificate(d)),
        ca,
        now,
      );
      report = out.report;
      failure = out.failure;
      text = formatCertificate(out.report, now, style);
      break;
    }
    case 'csr': {
      const csr = parseCsr(input.der);
      let verification: Verification;
      try {
        verifyCsr(csr);
        verification = {
          status: 'verified',
          against: null,
          path: [],
          code: null,
          message: 'proof of possession',
        };
      } catch (e) {
        verification = failed(e);
        failure = e;
      }
      const r = csrReport(csr, verification);
      report = r;
      text = formatCsr(r, style);
      break;
    }
    case 'crl': {
      const crl = parseCrl(input.der);
      const out = inspectCrl(crl, ca);
      const r = crlReport(crl, now, out.verification);
      report = r;
      failure = out.failure;
      text = formatCrl(r, now, style);
      if (r.freshness === 'stale') {
        warn(deps, `the CRL's nextUpdate (${r.nextUpdate}) has passed; relying parties treat it as stale`);
      }
      break;
    }
    case 'ocsp-response': {
      const resp = parseOcspResponse(input.der);
      const out = inspectOcsp(resp, ca, now);
      const r = ocspReport(resp, out.verification);
      report = r;
      failure = out.failure;
      text = formatOcsp(r, now, style);
      break;
    }
  }

  if (json) printJson(deps, report);
  else deps.stdout.write(`${text}\n`);
  if (failure !== null) {
    printError(deps, failure);
    return exitCodeFor(failure);
  }
  return EXIT.ok;
}

export const INSPECT_COMMAND: CommandSpec = {
  path: 'inspect',
  help: INSPECT_HELP,
  options: { ...COMMON_OPTIONS, ca: { type: 'string' } },
  maxPositionals: 1,
  run: inspect,
};
