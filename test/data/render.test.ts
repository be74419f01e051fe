import { describe, expect, it } from 'vitest';
import { formatDigitAscii, formatDigitHex, imageAt, loadMnist } from '../../src/data/index.js';

const RED = '\x1b[31m';
const RESET = '\x1b[0m';

describe('formatDigitHex', () => {
  it('formats a synthetic digit exactly', () => {
    const pixels = new Uint8Array([0, 255, 128, 1]);
    // 255 → v = 1.0 → int(100) = 0x0064 → little-endian "6400"; 128 → 50 → "3200"; 1 → 0.39 → "0000".
    expect(formatDigitHex(pixels, 2, 2)).toBe(
      ['=========', '0000 6400', '3200 0000', '========='].join('\n'),
    );
    expect(formatDigitHex(pixels, 2, 2, { color: true })).toBe(
      [
        '=========',
        `0000 ${RED}6400${RESET}`,
        `${RED}3200${RESET} ${RED}0000${RESET}`,
        '=========',
      ].join('\n'),
    );
  });

  it('matches int(v * 100) of the float32 value v = p / 255 for every pixel value', () => {
    const pixels = Uint8Array.from({ length: 256 }, (_, p) => p);
    const cells = (formatDigitHex(pixels, 256, 1).split('\n')[1] ?? '').split(' ');
    expect(cells).toHaveLength(256);
    cells.forEach((cell, p) => {
      const c = Math.trunc(Math.fround(Math.fround(p / 255) * 100));
      expect(cell).toBe(`${c.toString(16).padStart(2, '0')}00`);
    });
    expect(cells[51]).toBe('1400'); // 0.2 → 20 = 0x14
    expect(cells[255]).toBe('6400');
  });

  it('prints the first real training digit as a framed 28x28 matrix', async () => {
    const { train } = await loadMnist();
    const digit = imageAt(train, 0);
    const text = formatDigitHex(digit, 28, 28, { color: true });
    const lines = text.split('\n');
    expect(lines).toHaveLength(30);
    expect(lines[0]).toBe('='.repeat(139));
    expect(lines[29]).toBe(lines[0]);
    const plain = formatDigitHex(digit, 28, 28).split('\n');
    for (const row of plain.slice(1, 29)) {
      expect(row).toMatch(/^[0-9a-f]{4}( [0-9a-f]{4}){27}$/);
    }
    const nonZero = digit.reduce((n, p) => n + (p ? 1 : 0), 0);
    expect(text.split(RED).length - 1).toBe(nonZero);
    expect(text.split(RESET).length - 1).toBe(nonZero);
    const full = digit.reduce((n, p) => n + (p === 255 ? 1 : 0), 0);
    expect(text.split(`${RED}6400${RESET}`).length - 1).toBe(full);
    // Row 0 of an MNIST digit is background.
    expect(plain[1]).toBe(Array(28).fill('0000').join(' '));
  });

  it('validates its arguments', () => {
    expect(() => formatDigitHex(new Uint8Array(3), 2, 2)).toThrow(RangeError);
    expect(() => formatDigitHex(new Uint8Array(4), 0, 2)).toThrow(RangeError);
  });
});

describe('formatDigitAscii', () => {
  it('maps pixels through the ramp', () => {
    expect(formatDigitAscii(new Uint8Array([0, 255, 128, 1, 26, 230]), 3, 2)).toBe(' @+\n .%');
    expect(formatDigitAscii(new Uint8Array([127, 128]), 2, 1, { ramp: ' #' })).toBe(' #');
    expect(formatDigitAscii(new Uint8Array([0, 255]), 2, 1, { ramp: '░█' })).toBe('░█');
    expect(() => formatDigitAscii(new Uint8Array(1), 1, 1, { ramp: '' })).toThrow(RangeError);
    expect(() => formatDigitAscii(new Uint8Array(1), 2, 1)).toThrow(RangeError);
  });

  it('draws the first real test digit (a 7)', async () => {
    const { test } = await loadMnist();
    const digit = imageAt(test, 0);
    const art = formatDigitAscii(digit, 28, 28);
    const rows = art.split('\n');
    expect(rows).toHaveLength(28);
    expect(rows.every((r) => r.length === 28)).toBe(true);
    let i = 0;
    for (const row of rows) {
      for (const ch of row) {
        const p = digit[i++] as number;
        if (p === 0) expect(ch).toBe(' ');
        if (p === 255) expect(ch).toBe('@');
      }
    }
    expect(rows[0]?.trim()).toBe('');
    expect(art).toContain('@');
  });
});
