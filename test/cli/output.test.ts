/** The CLI's output rules: colours only on a TTY without NO_COLOR, the progress bar, JSON mode. */
import { Writable } from 'node:stream';
import { expect, test } from 'vitest';
import { Output, ProgressBar, wantsColor } from '../../src/cli/output.js';

/** A stream that records what is written, optionally posing as a colour terminal. */
function sink(tty: boolean): NodeJS.WriteStream & { text: () => string } {
  let text = '';
  const stream = new Writable({
    write(chunk, _enc, done) {
      text += String(chunk);
      done();
    },
  }) as unknown as NodeJS.WriteStream & { text: () => string };
  Object.assign(stream, { isTTY: tty, columns: 100, hasColors: () => true, text: () => text });
  return stream;
}

test('colours only on a TTY, and never with NO_COLOR set', () => {
  expect(wantsColor(sink(true), {})).toBe(true);
  expect(wantsColor(sink(true), { NO_COLOR: '1' })).toBe(false);
  // An empty NO_COLOR does not count (no-color.org).
  expect(wantsColor(sink(true), { NO_COLOR: '' })).toBe(true);
  expect(wantsColor(sink(false), {})).toBe(false);
  const piped = new Output(false, false, sink(false), sink(false));
  expect(piped.style.red('x')).toBe('x');
  expect(piped.tty).toBe(false);
});

test('--json: only JSON lines on stdout, details on stderr with --verbose', () => {
  const stdout = sink(true);
  const stderr = sink(false);
  const out = new Output(true, true, stdout, stderr);
  expect(out.tty).toBe(false); // no progress bar in JSON mode, even on a terminal
  out.line('for people');
  out.record({ type: 'epoch', epoch: 1 });
  out.detail('backend: wasm');
  expect(stdout.text()).toBe('{"type":"epoch","epoch":1}\n');
  expect(stderr.text()).toBe('backend: wasm\n');
});

test('the progress bar redraws one line in place and clears it', () => {
  const stream = sink(true);
  const bar = new ProgressBar(stream, 'Epoch 1/5', 10, 'batches');
  bar.update(5, 320, 'loss 0.5000  acc 80.0%', true);
  const line = stream.text();
  expect(line.startsWith('\rEpoch 1/5 [')).toBe(true);
  expect(line.endsWith('\x1b[K')).toBe(true);
  const m =
    /\[(#+)(\.+)\] 5\/10 batches {2}[\d,]+ img\/s {2}ETA \d+s {2}loss 0\.5000 {2}acc 80\.0%/.exec(
      line,
    );
  expect(m).not.toBeNull();
  // Half done: as many '#' as '.' (an odd width rounds the half up).
  expect(Math.abs((m?.[1]?.length ?? 0) - (m?.[2]?.length ?? 99))).toBeLessThanOrEqual(1);
  expect(line.length).toBeLessThan(100 + 5);
  bar.update(6, 384, '', false); // within 100 ms of the last redraw: skipped
  expect(stream.text()).toBe(line);
  bar.clear();
  expect(stream.text()).toBe(`${line}\r\x1b[K`);
});
