/** A command-line option: a flag (`--download`) or a value (`--epochs 5`). */
export interface OptionSpec {
  type: 'boolean' | 'string' | 'number';
  description: string;
  default?: string | number | boolean;
}

export type ParsedArgs = Record<string, string | number | boolean | undefined>;

/** A command line the CLI cannot run: the message is shown with the usage. */
export class UsageError extends Error {}

/**
 * Parses `--name value`, `--name=value` and `--flag` arguments against a spec. The CLI's needs
 * are this small; a dependency would outweigh it, and `node:util`'s parser would tie the
 * module to Node.
 */
export function parseArgs(argv: readonly string[], spec: Record<string, OptionSpec>): ParsedArgs {
  const out: ParsedArgs = {};
  for (const [name, opt] of Object.entries(spec)) out[name] = opt.default;
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] as string;
    if (!arg.startsWith('--')) throw new UsageError(`unexpected argument '${arg}'`);
    const eq = arg.indexOf('=');
    const name = arg.slice(2, eq < 0 ? undefined : eq);
    const opt = spec[name];
    if (opt === undefined) throw new UsageError(`unknown option '--${name}'`);
    if (opt.type === 'boolean') {
      if (eq >= 0) throw new UsageError(`--${name} is a flag and takes no value`);
      out[name] = true;
      continue;
    }
    const raw = eq >= 0 ? arg.slice(eq + 1) : argv[++i];
    if (raw === undefined) throw new UsageError(`--${name} needs a value`);
    if (opt.type === 'number') {
      const value = Number(raw);
      if (!Number.isFinite(value)) throw new UsageError(`--${name} needs a number, got '${raw}'`);
      out[name] = value;
    } else {
      out[name] = raw;
    }
  }
  return out;
}

/** The options as help text. */
export function formatUsage(spec: Record<string, OptionSpec>): string {
  const rows = Object.entries(spec).map(([name, opt]) => {
    const left = opt.type === 'boolean' ? `--${name}` : `--${name} <${opt.type}>`;
    const def =
      opt.default === undefined || opt.type === 'boolean' ? '' : ` (default: ${opt.default})`;
    return [left, `${opt.description}${def}`] as const;
  });
  const width = Math.max(...rows.map(([left]) => left.length)) + 2;
  return rows.map(([left, text]) => `  ${left.padEnd(width)}${text}`).join('\n');
}
