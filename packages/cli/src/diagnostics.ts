/**
 * Diagnostics on stderr, lowercase, with the program name first (age, clig.dev):
 *   provisio: error: <message> [<code>]
 *   provisio: hint: <what to do>
 *   provisio: warning: <message>
 *   provisio: note: <message>
 * Results go to stdout; nothing here is meant for scripts to parse beyond the [code].
 */
import { isProvisioError } from '@provisio/pki';
import { CliError } from './errors.js';
import { type CliDeps, styleFor } from './io.js';

type Deps = Pick<CliDeps, 'stderr' | 'env'>;

export function warn(deps: Deps, message: string): void {
  const style = styleFor(deps.stderr, deps.env);
  deps.stderr.write(`provisio: ${style.warn('warning')}: ${message}\n`);
}

export function note(deps: Deps, message: string): void {
  deps.stderr.write(`provisio: note: ${message}\n`);
}

/** Hints for codes raised outside the CLI, where the PKI core cannot know the command line. */
const HINTS: Readonly<Record<string, string>> = {
  key_passphrase_wrong: 'check PROVISIO_ROOT_PASSPHRASE / PROVISIO_CA_PASSPHRASE, or type the passphrase again',
  csr_signature_invalid: 'the request was altered or damaged in transit; create a new one where the key lives',
  pem_invalid: 'the file may be truncated; copy it again',
  der_malformed: 'the file is damaged or not what it seems; "provisio inspect FILE" tells what it is',
};

export function printError(deps: Deps, error: unknown): void {
  const style = styleFor(deps.stderr, deps.env);
  const prefix = `provisio: ${style.bad('error')}:`;
  if (isProvisioError(error)) {
    deps.stderr.write(`${prefix} ${error.message} [${error.code}]\n`);
    const hint = error instanceof CliError ? error.hint : HINTS[error.code];
    if (hint) deps.stderr.write(`provisio: hint: ${hint}\n`);
    return;
  }
  // An unexpected failure: its message could carry anything (paths, key material in a dump), so
  // only PROVISIO_DEBUG=1 shows it.
  deps.stderr.write(`${prefix} an unexpected error occurred [internal_error]\n`);
  if (deps.env.PROVISIO_DEBUG === '1') {
    deps.stderr.write(`${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
  } else {
    deps.stderr.write('provisio: hint: run again with PROVISIO_DEBUG=1 to see the details\n');
  }
}
