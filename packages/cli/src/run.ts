/**
 * The `provisio` command line: noun-verb commands matched exactly (no abbreviations, clig.dev),
 * help that leads with examples, and one place that turns errors into stderr lines and exit codes.
 */
import { parseCommandArgs } from './args.js';
import type { CommandSpec } from './command.js';
import { BUNDLE_COMMANDS } from './commands/bundle.js';
import { CA_COMMANDS } from './commands/ca.js';
import { DEVICE_COMMANDS } from './commands/device.js';
import { GATEWAY_COMMANDS } from './commands/gateway.js';
import { INSPECT_COMMAND } from './commands/inspect.js';
import { SERVE_COMMANDS } from './commands/serve.js';
import { SERVICE_COMMANDS } from './commands/service.js';
import { SIMULATE_COMMAND } from './commands/simulate.js';
import { TOKEN_COMMANDS } from './commands/token.js';
import { PAIRING_COMMANDS } from './commands/pairing.js';
import { printError } from './diagnostics.js';
import { EXIT, exitCodeFor, Interrupted, usageError } from './errors.js';
import { CA_HELP, DEVICE_HELP, TOP_HELP } from './help.js';
import type { CliDeps } from './io.js';

export { cliErrors } from './errors.js';
export type { CliDeps, Output, Terminal } from './io.js';

const COMMANDS: readonly CommandSpec[] = [
  ...CA_COMMANDS, ...DEVICE_COMMANDS, ...SERVICE_COMMANDS, ...BUNDLE_COMMANDS, ...SERVE_COMMANDS, ...GATEWAY_COMMANDS,
  ...TOKEN_COMMANDS, ...PAIRING_COMMANDS, INSPECT_COMMAND, SIMULATE_COMMAND,
];
const GROUPS: Readonly<Record<string, string>> = { ...groupHelp(COMMANDS), ca: CA_HELP, device: DEVICE_HELP };

/** A group's help when it has no hand-written one: each command's first help line. */
function groupHelp(commands: readonly CommandSpec[]): Record<string, string> {
  const groups: Record<string, string[]> = {};
  for (const c of commands) {
    const [group] = c.path.split(' ');
    if (!group || !c.path.includes(' ')) continue;
    (groups[group] ??= []).push(`  ${(c.help.split('\n')[0] ?? '').replace(/^provisio /, '')}`);
  }
  return Object.fromEntries(Object.entries(groups).map(([g, lines]) => [g, `provisio ${g}:\n\nCommands:\n${lines.join('\n')}\n\nRun "provisio ${g} COMMAND --help" for examples.\n`]));
}

const isHelpFlag = (a: string | undefined): boolean => a === '--help' || a === '-h';

/** Levenshtein distance, for "did you mean" hints (a suggestion, never an abbreviation). */
function distance(a: string, b: string): number {
  const row = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    let prev = row[0] as number;
    row[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const tmp = row[j] as number;
      row[j] = Math.min((row[j] as number) + 1, (row[j - 1] as number) + 1, prev + (a[i - 1] === b[j - 1] ? 0 : 1));
      prev = tmp;
    }
  }
  return row[b.length] as number;
}

function unknownCommand(words: string, candidates: readonly string[]) {
  const close = candidates.filter((c) => distance(words, c) <= 2 || c.startsWith(words));
  const hint =
    close.length > 0
      ? `did you mean "provisio ${close[0]}"? Run "provisio --help" for all commands`
      : 'run "provisio --help" for all commands';
  return usageError(`unknown command "${words}"`, hint);
}

/** Resolves `argv` to a command and the arguments left for it, or returns help text to print. */
function resolve(argv: readonly string[]): { help: string } | { command: CommandSpec; rest: readonly string[] } {
  const [first, second] = argv;
  if (first === undefined || isHelpFlag(first)) return { help: TOP_HELP };
  if (first === 'help') return { help: helpFor(argv.slice(1)) };
  const group = GROUPS[first];
  if (group !== undefined) {
    if (second === undefined || isHelpFlag(second)) return { help: group };
    const command = COMMANDS.find((c) => c.path === `${first} ${second}`);
    if (!command) {
      throw unknownCommand(
        `${first} ${second}`,
        COMMANDS.map((c) => c.path).filter((p) => p.startsWith(`${first} `)),
      );
    }
    return { command, rest: argv.slice(2) };
  }
  const command = COMMANDS.find((c) => c.path === first);
  if (!command) {
    if (first.startsWith('-')) throw usageError(`unknown flag ${first}`, 'run "provisio --help" for usage');
    throw unknownCommand(first, [...Object.keys(GROUPS), ...COMMANDS.map((c) => c.path)]);
  }
  return { command, rest: argv.slice(1) };
}

function helpFor(words: readonly string[]): string {
  if (words.length === 0) return TOP_HELP;
  const path = words.join(' ');
  const group = GROUPS[path];
  if (group !== undefined) return group;
  const command = COMMANDS.find((c) => c.path === path);
  if (!command) throw unknownCommand(path, [...Object.keys(GROUPS), ...COMMANDS.map((c) => c.path)]);
  return command.help;
}

/** Runs one invocation; returns the exit code. Never throws. */
export async function run(argv: readonly string[], deps: CliDeps): Promise<number> {
  try {
    if (argv.length === 1 && argv[0] === '--version') {
      deps.stdout.write(`provisio ${deps.version}\n`);
      return EXIT.ok;
    }
    const resolved = resolve(argv);
    if ('help' in resolved) {
      deps.stdout.write(resolved.help);
      return EXIT.ok;
    }
    const { command, rest } = resolved;
    const args = parseCommandArgs(command.path, rest, command.options, command.maxPositionals);
    if (args.values.help === true) {
      deps.stdout.write(command.help);
      return EXIT.ok;
    }
    return await command.run(deps, args);
  } catch (e) {
    if (e instanceof Interrupted) return EXIT.interrupted;
    printError(deps, e);
    return exitCodeFor(e);
  }
}
