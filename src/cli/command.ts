/**
 * The shape of a subcommand. A module exports one (or several) {@link Command}s and
 * `commands.ts` registers it with one line; `main.ts` parses, validates and dispatches.
 */
import { type Checker, formatOptions, type OptionDefs } from './args.js';
import type { Output } from './output.js';

/** What a command's `run` gets: the checked options, positionals, and the output channels. */
export interface CommandContext {
  /** Typed access to the options (throws `UsageError` for bad values). */
  readonly args: Checker;
  /** Positional arguments (files for `predict`). */
  readonly positionals: readonly string[];
  readonly out: Output;
  /** Aborted on the first Ctrl-C (SIGINT); a second one exits at once. */
  readonly signal: AbortSignal;
}

/** A subcommand: `lenet-mnist <name> [options]`. */
export interface Command {
  readonly name: string;
  /** One line for `lenet-mnist --help`. */
  readonly summary: string;
  /** The synopsis after `lenet-mnist`, e.g. `predict [options] IMAGE...`. */
  readonly usage: string;
  /** More help text shown after the options (examples, notes). */
  readonly details?: string;
  /** Its options (the shared `--help`, `--json`, `--verbose` are added by the dispatcher). */
  readonly options: OptionDefs;
  /** Takes positional arguments. */
  readonly positionals?: boolean;
  /** Runs the command; resolves with the exit status (0 when omitted). */
  run(ctx: CommandContext): Promise<number | undefined>;
}

/** Options every command has. */
export const COMMON_OPTIONS: OptionDefs = {
  json: { type: 'boolean', description: 'print one JSON object per line on stdout, nothing else' },
  verbose: { type: 'boolean', description: 'explain choices (backend, engine) on stderr' },
  help: { type: 'boolean', short: 'h', description: 'show this help' },
};

/** The help text of a command. */
export function commandHelp(command: Command): string {
  const lines = [
    `Usage: lenet-mnist ${command.usage}`,
    '',
    command.summary,
    '',
    'Options:',
    formatOptions({ ...command.options, ...COMMON_OPTIONS }),
  ];
  if (command.details !== undefined) lines.push('', command.details);
  return lines.join('\n');
}
