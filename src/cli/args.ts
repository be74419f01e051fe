/**
 * Command-line parsing: Node's `util.parseArgs` does the splitting (`--name value`,
 * `--name=value`, flags, `--`), and the checkers here turn its strings into validated values,
 * so that every option is checked before any work starts and bad usage fails with one line.
 */
import { constants } from 'node:fs';
import { access, stat } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { closestName } from '../options.js';

/** A command line the CLI cannot run: printed as one line, exit status 2. */
export class UsageError extends Error {
  override name = 'UsageError';
}

/** One option of a command, for the parser and for `--help`. */
export interface OptionDef {
  type: 'boolean' | 'string';
  /** What the value is, for help: `N`, `FILE`, `auto|wasm|webgpu`. */
  value?: string;
  description: string;
  /** The default, as shown in help. */
  default?: string;
  short?: string;
  /** Can be given several times (collected into an array). */
  multiple?: boolean;
}

export type OptionDefs = Record<string, OptionDef>;

/** What {@link parseCommandLine} found. */
export interface ParsedLine {
  values: Record<string, string | boolean | string[] | undefined>;
  positionals: string[];
}

/**
 * Splits `argv` with `util.parseArgs` (strict: unknown options, a missing value or a flag given a
 * value are usage errors).
 */
export function parseCommandLine(
  argv: readonly string[],
  defs: OptionDefs,
  allowPositionals: boolean,
): ParsedLine {
  const options: Record<
    string,
    { type: 'boolean' | 'string'; short?: string; multiple?: boolean }
  > = {};
  for (const [name, def] of Object.entries(defs)) {
    options[name] = { type: def.type };
    if (def.short !== undefined) options[name].short = def.short;
    if (def.multiple) options[name].multiple = true;
  }
  try {
    const { values, positionals } = parseArgs({
      args: [...argv],
      options,
      strict: true,
      allowPositionals,
    });
    return { values: values as ParsedLine['values'], positionals };
  } catch (err) {
    throw new UsageError(parseErrorText(err, Object.keys(defs)));
  }
}

/** `util.parseArgs`' messages, made shorter and closer to what the user typed. */
function parseErrorText(err: unknown, flags: readonly string[]): string {
  const e = err as { code?: string; message?: string };
  const message = String(e.message ?? err);
  switch (e.code) {
    case 'ERR_PARSE_ARGS_UNKNOWN_OPTION': {
      const name = /'([^']+)'/.exec(message)?.[1];
      // The library's vocabulary: the closest flag, as for an unknown key of an options object.
      const near = name?.startsWith('--') ? closestName(name.slice(2), flags) : undefined;
      return `unknown option '${name ?? message}'${near !== undefined ? ` (did you mean '--${near}'?)` : ''}`;
    }
    case 'ERR_PARSE_ARGS_UNEXPECTED_POSITIONAL': {
      const arg = /'([^']+)'/.exec(message)?.[1];
      return `unexpected argument '${arg ?? message}'`;
    }
    case 'ERR_PARSE_ARGS_INVALID_OPTION_VALUE': {
      const name = /'(-[^' ]+)/.exec(message)?.[1];
      if (/argument missing/.test(message)) return `${name ?? 'option'} needs a value`;
      if (/does not take an argument/.test(message)) {
        return `${name ?? 'option'} is a flag and takes no value`;
      }
      if (/ambiguous/.test(message)) {
        return `${name ?? 'option'} needs a value (a value starting with '-' is written ${name ?? '--option'}=-VALUE)`;
      }
      return message.split('\n')[0] ?? message;
    }
    default:
      return message.split('\n')[0] ?? message;
  }
}

/** The options as help text, aligned. */
export function formatOptions(defs: OptionDefs): string {
  const rows = Object.entries(defs).map(([name, def]) => {
    const flag = `${def.short ? `-${def.short}, ` : '    '}--${name}`;
    const left = def.type === 'boolean' ? flag : `${flag} ${def.value ?? 'VALUE'}`;
    const right = `${def.description}${def.default === undefined ? '' : ` (default: ${def.default})`}`;
    return [left, right] as const;
  });
  const width = Math.max(...rows.map(([left]) => left.length)) + 2;
  return rows.map(([left, text]) => `  ${left.padEnd(width)}${text}`).join('\n');
}

/** Checks option values; each returns the parsed value or throws a {@link UsageError}. */
export class Checker {
  constructor(private readonly values: ParsedLine['values']) {}

  has(name: string): boolean {
    return this.values[name] !== undefined;
  }

  flag(name: string): boolean {
    return this.values[name] === true;
  }

  string(name: string): string | undefined {
    const v = this.values[name];
    if (v === undefined) return undefined;
    if (typeof v !== 'string') throw new UsageError(`--${name} needs a value`);
    if (v.trim() === '') throw new UsageError(`--${name} needs a value, got an empty one`);
    return v;
  }

  /**
   * A decimal integer (digits only, optional sign): `0x2`, `1e3`, `2.0`, `' '` and `''` are
   * refused, where `Number()` would accept most of them.
   */
  int(name: string, min: number, max = Number.MAX_SAFE_INTEGER): number | undefined {
    const raw = this.raw(name);
    if (raw === undefined) return undefined;
    if (!/^[+-]?\d+$/.test(raw)) {
      throw new UsageError(`--${name} needs a whole number, got '${raw}'`);
    }
    const v = Number(raw);
    if (v < min || v > max) {
      throw new UsageError(
        `--${name} must be ${max === Number.MAX_SAFE_INTEGER ? `at least ${min}` : `from ${min} to ${max}`}, got ${raw}`,
      );
    }
    return v;
  }

  /** A decimal number (`0.001`, `1e-3`); hex, `Infinity`, `NaN` and blanks are refused. */
  positiveNumber(name: string): number | undefined {
    const raw = this.raw(name);
    if (raw === undefined) return undefined;
    return positiveNumber(raw, `--${name}`);
  }

  choice<T extends string>(name: string, choices: readonly T[]): T | undefined {
    const raw = this.raw(name);
    if (raw === undefined) return undefined;
    if (!(choices as readonly string[]).includes(raw)) {
      const near = closestName(raw, choices);
      throw new UsageError(
        `--${name} must be ${orList(choices)}, got '${raw}'${near !== undefined ? ` (did you mean '${near}'?)` : ''}`,
      );
    }
    return raw as T;
  }

  private raw(name: string): string | undefined {
    const v = this.values[name];
    if (v === undefined) return undefined;
    if (typeof v !== 'string') throw new UsageError(`--${name} needs a value`);
    if (v.trim() === '') throw new UsageError(`--${name} needs a value, got an empty one`);
    return v;
  }
}

/** A finite decimal number above 0, written plainly (`0.001`, `1e-3`, `.5`). */
export function positiveNumber(raw: string, what: string): number {
  if (!/^[+-]?(\d+\.?\d*|\.\d+)(e[+-]?\d+)?$/i.test(raw)) {
    throw new UsageError(`${what} needs a number, got '${raw}'`);
  }
  const v = Number(raw);
  if (!(v > 0) || !Number.isFinite(v)) {
    throw new UsageError(`${what} must be a number above 0, got ${raw}`);
  }
  return v;
}

/** `a, b or c`. */
export function orList(items: readonly string[]): string {
  return items.length <= 1
    ? (items[0] ?? '')
    : `${items.slice(0, -1).join(', ')} or ${items.at(-1)}`;
}

/**
 * Checks that a file can be written at `path` before any work: it is not a folder, and it (if
 * it exists) or the nearest existing folder above it is writable.
 */
export async function checkWritable(path: string, what: string): Promise<void> {
  const full = resolve(path);
  const info = await stat(full).catch(() => undefined);
  if (info?.isDirectory()) throw new UsageError(`${what} '${path}' is a folder, not a file`);
  if (info !== undefined) {
    await access(full, constants.W_OK).catch(() => {
      throw new UsageError(`${what} '${path}' is not writable`);
    });
    return;
  }
  let dir = dirname(full);
  for (;;) {
    const d = await stat(dir).catch(() => undefined);
    if (d !== undefined) {
      if (!d.isDirectory()) {
        throw new UsageError(`${what} '${path}' cannot be created: '${dir}' is not a folder`);
      }
      await access(dir, constants.W_OK | constants.X_OK).catch(() => {
        throw new UsageError(`${what} '${path}' cannot be created: '${dir}' is not writable`);
      });
      return;
    }
    const up = dirname(dir);
    if (up === dir) throw new UsageError(`${what} '${path}' cannot be created`);
    dir = up;
  }
}

/** Checks that a file exists and can be read. */
export async function checkReadable(path: string, what: string): Promise<void> {
  const info = await stat(path).catch(() => undefined);
  if (info === undefined) throw new UsageError(`${what} '${path}' does not exist`);
  if (!info.isFile()) throw new UsageError(`${what} '${path}' is not a file`);
  await access(path, constants.R_OK).catch(() => {
    throw new UsageError(`${what} '${path}' is not readable`);
  });
}

/** Checks that a folder exists. */
export async function checkFolder(path: string, what: string): Promise<void> {
  const info = await stat(path).catch(() => undefined);
  if (info === undefined) throw new UsageError(`${what} '${path}' does not exist`);
  if (!info.isDirectory()) throw new UsageError(`${what} '${path}' is not a folder`);
}
