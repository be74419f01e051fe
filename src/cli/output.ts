/**
 * Where the CLI writes: human lines or JSON lines on stdout, notes and errors on stderr, colours
 * only on a terminal that wants them, a progress bar only on a terminal.
 */
import type { WriteStream } from 'node:tty';

type Stream = NodeJS.WriteStream & Partial<Pick<WriteStream, 'hasColors' | 'columns'>>;

/** ANSI styles; identity functions when colours are off. */
export interface Styles {
  bold(s: string): string;
  dim(s: string): string;
  red(s: string): string;
  green(s: string): string;
  yellow(s: string): string;
  cyan(s: string): string;
}

const ansi = (open: number, close: number) => (s: string) => `\x1b[${open}m${s}\x1b[${close}m`;
const COLOURS: Styles = {
  bold: ansi(1, 22),
  dim: ansi(2, 22),
  red: ansi(31, 39),
  green: ansi(32, 39),
  yellow: ansi(33, 39),
  cyan: ansi(36, 39),
};
const plain = (s: string) => s;
const PLAIN: Styles = {
  bold: plain,
  dim: plain,
  red: plain,
  green: plain,
  yellow: plain,
  cyan: plain,
};

/**
 * Colours for a stream: only a TTY, and not when `NO_COLOR` is set (any non-empty value, see
 * no-color.org) or the terminal cannot show them (`TERM=dumb`; Node's `hasColors()` also honours
 * `FORCE_COLOR` and `NODE_DISABLE_COLORS`).
 */
export function wantsColor(stream: Stream, env: NodeJS.ProcessEnv = process.env): boolean {
  if (!stream.isTTY) return false;
  if (env.NO_COLOR !== undefined && env.NO_COLOR !== '') return false;
  return typeof stream.hasColors === 'function' ? stream.hasColors() : true;
}

/** The CLI's output channels for one command. */
export class Output {
  /** stdout is a terminal: progress bars instead of log lines. */
  readonly tty: boolean;
  /** stdout gets ANSI colours. */
  readonly color: boolean;
  /** Styles for stdout. */
  readonly style: Styles;
  /** Styles for stderr. */
  readonly errStyle: Styles;

  constructor(
    readonly json: boolean,
    readonly verbose: boolean,
    readonly stdout: Stream = process.stdout,
    readonly stderr: Stream = process.stderr,
  ) {
    this.tty = stdout.isTTY === true && !json;
    this.color = !json && wantsColor(stdout);
    this.style = this.color ? COLOURS : PLAIN;
    this.errStyle = wantsColor(stderr) ? COLOURS : PLAIN;
  }

  /** A line for people: stdout, unless `--json`. */
  line(text = ''): void {
    if (!this.json) this.stdout.write(`${text}\n`);
  }

  /** One JSON object on its own line: stdout, only with `--json`. */
  record(value: Record<string, unknown>): void {
    if (this.json) this.stdout.write(`${JSON.stringify(value)}\n`);
  }

  /** Details shown with `--verbose`, on stderr (so `--json` stdout stays parseable). */
  detail(text: string): void {
    if (this.verbose) this.stderr.write(`${this.errStyle.dim(text)}\n`);
  }

  /** A note on stderr, always shown (where files were written, an interruption). */
  note(text: string): void {
    this.stderr.write(`${text}\n`);
  }
}

/**
 * A one-line progress bar redrawn in place on a terminal (`\r`, then clear to the end of the
 * line): `[#####.....] 412/938 batches  11,200 img/s  ETA 3s  loss 0.1234  acc 96.1%`. Redraws at
 * most 10 times a second. About sixty lines: lighter than any dependency that does the same.
 */
export class ProgressBar {
  private last = 0;
  private readonly started = performance.now();
  private shown = false;

  constructor(
    private readonly stream: Stream,
    private readonly label: string,
    private readonly total: number,
    private readonly unit: string,
  ) {}

  /** Redraws with `done` of `total` finished, `samples` processed so far and extra text. */
  update(done: number, samples: number, extra: string, force = false): void {
    const t = performance.now();
    if (!force && t - this.last < 100) return;
    this.last = t;
    const seconds = (t - this.started) / 1000;
    const rate = seconds > 0 ? samples / seconds : 0;
    const eta = done > 0 ? (seconds / done) * (this.total - done) : Number.NaN;
    const columns = this.stream.columns || 80;
    const tail = ` ${done}/${this.total} ${this.unit}  ${Math.round(rate).toLocaleString('en-US')} img/s  ETA ${formatSeconds(eta)}${extra ? `  ${extra}` : ''}`;
    const barWidth = Math.max(10, Math.min(30, columns - this.label.length - tail.length - 4));
    const filled = this.total > 0 ? Math.round((done / this.total) * barWidth) : barWidth;
    const bar = `${'#'.repeat(filled)}${'.'.repeat(barWidth - filled)}`;
    const text = `${this.label} [${bar}]${tail}`.slice(0, Math.max(20, columns - 1));
    this.stream.write(`\r${text}\x1b[K`);
    this.shown = true;
  }

  /** Removes the bar, leaving the cursor at the start of an empty line. */
  clear(): void {
    if (this.shown) this.stream.write('\r\x1b[K');
    this.shown = false;
  }
}

function formatSeconds(s: number): string {
  if (!Number.isFinite(s)) return '?';
  if (s < 60) return `${Math.ceil(s)}s`;
  const m = Math.floor(s / 60);
  return `${m}m${String(Math.round(s - m * 60)).padStart(2, '0')}s`;
}
