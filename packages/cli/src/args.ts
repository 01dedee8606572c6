/**
 * Argument parsing on node:util parseArgs (no dependency), with its errors turned into
 * `usage_invalid` messages that name the command and point at its help.
 */
import { type ParseArgsConfig, parseArgs } from 'node:util';
import { KEY_TYPES, type KeyType } from '@provisio/pki';
import { usageError } from './errors.js';

export type OptionsConfig = NonNullable<ParseArgsConfig['options']>;

export interface ParsedArgs {
  readonly values: Readonly<Record<string, string | boolean | undefined>>;
  readonly positionals: readonly string[];
}

function helpHint(command: string): string {
  return `run "provisio ${command} --help" for usage`;
}

export function parseCommandArgs(
  command: string,
  args: readonly string[],
  options: OptionsConfig,
  maxPositionals: number,
): ParsedArgs {
  let parsed: ReturnType<typeof parseArgs>;
  try {
    parsed = parseArgs({ args: [...args], options, allowPositionals: true, strict: true });
  } catch (e) {
    const code = (e as { code?: string }).code ?? '';
    const message = e instanceof Error ? e.message : String(e);
    const quoted = /'(-[^' ]+)/.exec(message)?.[1] ?? /'([^']+)'/.exec(message)?.[1] ?? '';
    if (code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION') {
      throw usageError(`unknown flag ${quoted} for "provisio ${command}"`, helpHint(command));
    }
    if (code === 'ERR_PARSE_ARGS_INVALID_OPTION_VALUE') {
      throw usageError(`flag ${quoted} needs a value`, helpHint(command));
    }
    throw usageError(`cannot parse the arguments of "provisio ${command}"`, helpHint(command));
  }
  if (parsed.positionals.length > maxPositionals) {
    const extra = parsed.positionals[maxPositionals] as string;
    throw usageError(`unexpected argument "${extra}" for "provisio ${command}"`, helpHint(command));
  }
  return { values: parsed.values as ParsedArgs['values'], positionals: parsed.positionals };
}

export function requireString(args: ParsedArgs, flag: string, command: string): string {
  const value = args.values[flag];
  if (typeof value !== 'string' || value === '') {
    throw usageError(`"provisio ${command}" needs --${flag}`, helpHint(command));
  }
  return value;
}

export function optionalString(args: ParsedArgs, flag: string): string | undefined {
  const value = args.values[flag];
  return typeof value === 'string' ? value : undefined;
}

/** A whole number in [min, max]; "1e3", "12abc", "0x10" and " 5" are refused. */
export function integerFlag(
  args: ParsedArgs,
  flag: string,
  fallback: number,
  min: number,
  max: number,
  command: string,
): number {
  const raw = args.values[flag];
  if (raw === undefined) return fallback;
  const n = typeof raw === 'string' && /^\d{1,6}$/.test(raw) ? Number(raw) : Number.NaN;
  if (!Number.isInteger(n) || n < min || n > max) {
    throw usageError(`--${flag} must be a whole number from ${min} to ${max}; got "${String(raw)}"`, helpHint(command));
  }
  return n;
}

export function keyTypeFlag(args: ParsedArgs, command: string): KeyType {
  const raw = args.values['key-type'];
  if (raw === undefined) return 'p256';
  if (typeof raw === 'string' && (KEY_TYPES as readonly string[]).includes(raw)) return raw as KeyType;
  throw usageError(`--key-type must be one of ${KEY_TYPES.join(', ')}; got "${String(raw)}"`, helpHint(command));
}

export function isSet(args: ParsedArgs, flag: string): boolean {
  return args.values[flag] === true;
}
