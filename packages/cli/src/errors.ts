/**
 * The CLI's error codes, in the same shape as `pkiErrors` (packages/pki/src/errors.ts) and listed
 * in docs/errors.md. Codes raised by the PKI core pass through unchanged; this catalog only holds
 * what the command line itself can refuse. Only `exitCodeFor` maps a category to a number
 * (docs/cli.md "Exit codes").
 */
import { type Catalog, type ErrorCategory, isProvisioError, ProvisioError } from '@provisio/pki';

export const cliErrors = {
  usage_invalid: {
    category: 'invalid',
    when: 'unknown command or flag, missing argument, or a flag value out of range (exit code 2)',
  },
  passphrase_required: {
    category: 'unauthorized',
    when: 'a passphrase is needed, its environment variable is unset and there is no terminal to ask on',
  },
  passphrase_mismatch: { category: 'invalid', when: 'the two passphrases typed at the prompt differ' },
  passphrase_too_short: {
    category: 'invalid',
    when: 'a passphrase for a new key is shorter than 12 characters',
  },
  file_exists: { category: 'conflict', when: 'an output file already exists; provisio never overwrites' },
  file_not_found: { category: 'not_found', when: 'an input file or directory does not exist' },
  file_access_denied: { category: 'forbidden', when: 'the operating system refused to read or write a file' },
  input_unrecognized: {
    category: 'invalid',
    when: 'inspect input is not a certificate, CSR, CRL or OCSP response in PEM or DER',
  },
  key_mismatch: { category: 'invalid', when: 'a private key does not belong to the certificate beside it' },
  service_unreachable: {
    category: 'unavailable',
    when: 'the provisioning service at PROVISIO_URL could not be reached or answered something that is not its API',
  },
  token_required: {
    category: 'unauthorized',
    when: 'a command talks to the service but neither PROVISIO_TOKEN nor --token-file gives an API token',
  },
  bundle_package_mismatch: {
    category: 'invalid',
    when: 'a request file given to "request bundle" was made with another package than --package',
  },
  ca_serial_unknown: {
    category: 'not_found',
    when: 'a certificate given to "ca root-crl --revoke" is not one the root signed and recorded in its issued/ directory',
  },
  ca_state_invalid: {
    category: 'invalid',
    when: 'the root directory\'s root-crl.json (the root CRL\'s number and list) is not the file provisio writes',
  },
  audit_file_invalid: {
    category: 'invalid',
    when: '"audit verify --export" was given a file whose lines are not audit entries as "audit export" writes them',
  },
  internal_error: { category: 'internal', when: 'an unexpected failure; details only with PROVISIO_DEBUG=1' },
} as const satisfies Catalog;

export type CliErrorCode = keyof typeof cliErrors;

export class CliError extends ProvisioError<CliErrorCode> {
  constructor(
    code: CliErrorCode,
    message: string,
    /** One line telling the user what to do next (printed as `provisio: hint: ...`). */
    readonly hint?: string,
  ) {
    super(code, cliErrors[code].category, message);
  }
}

/** Exit codes, documented in docs/cli.md. Security failures (unauthorized, forbidden) stay distinct. */
export const EXIT = {
  ok: 0,
  internal: 1,
  usage: 2,
  invalid: 3,
  unauthorized: 4,
  forbidden: 5,
  not_found: 6,
  conflict: 7,
  unavailable: 8,
  /** 128 + SIGINT: the user pressed Ctrl-C at a prompt. */
  interrupted: 130,
} as const;

const BY_CATEGORY: Record<ErrorCategory, number> = {
  invalid: EXIT.invalid,
  unauthorized: EXIT.unauthorized,
  forbidden: EXIT.forbidden,
  not_found: EXIT.not_found,
  conflict: EXIT.conflict,
  unavailable: EXIT.unavailable,
  internal: EXIT.internal,
};

export function exitCodeFor(error: unknown): number {
  if (!isProvisioError(error)) return EXIT.internal;
  // A usage error is "invalid" in the shared category set but gets its own exit code, so a script
  // can tell "you called me wrong" from "your input is bad".
  if (error.code === 'usage_invalid') return EXIT.usage;
  return BY_CATEGORY[error.category];
}

export function usageError(message: string, hint?: string): CliError {
  return new CliError('usage_invalid', message, hint);
}

/** Ctrl-C at a prompt: nothing was written, exit 130 without an error line. */
export class Interrupted extends Error {
  override readonly name = 'Interrupted';
}
