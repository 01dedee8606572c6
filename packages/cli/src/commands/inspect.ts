/**
 * `provisio inspect FILE|-`: what is this object, and does it verify? Parsing and verification are
 * the PKI core's; this file picks the parser, gathers the trust material from --ca and renders.
 */
import {
  decodePemAll,
  formatName,
  isProvisioError,
  type ParsedCertificate,
  parseCertificate,
  parseCsr,
  verifyChain,
  verifyCsr,
} from '@provisio/pki';
import type { ParsedArgs } from '../args.js';
import { optionalString } from '../args.js';
import { COMMON_OPTIONS, type CommandSpec, printJson } from '../command.js';
import { detectInput } from '../detect-input.js';
import { printError } from '../diagnostics.js';
import { CliError, EXIT, exitCodeFor, usageError } from '../errors.js';
import { MAX_INPUT_BYTES, readInputFile } from '../files.js';
import { formatCertificate, formatCsr } from '../format-inspect.js';
import { INSPECT_HELP } from '../help.js';
import { certificateReport, csrReport, type Verification } from '../inspect-report.js';
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
    default:
      throw new CliError(
        'input_unrecognized',
        `${name} is ${input.kind === 'crl' ? 'a CRL' : 'an OCSP response'}; this build cannot inspect it yet`,
      );
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
