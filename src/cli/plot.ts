/** One curve of {@link plotCurves}. */
export interface Curve {
  label: string;
  values: readonly number[];
  color: string;
}

/**
 * Draws the reference's two training plots (loss and accuracy per epoch) side by side as a
 * self-contained SVG, so the CLI needs no plotting library.
 */
export function plotCurves(panels: { title: string; yLabel: string; curves: Curve[] }[]): string {
  const w = 420;
  const h = 300;
  const m = { left: 60, right: 16, top: 44, bottom: 44 };
  const parts: string[] = [];
  panels.forEach((panel, p) => {
    const ox = p * w;
    const all = panel.curves.flatMap((c) => c.values).filter(Number.isFinite);
    const epochs = Math.max(1, ...panel.curves.map((c) => c.values.length));
    let lo = Math.min(...all);
    let hi = Math.max(...all);
    if (!(hi > lo)) {
      lo -= 0.5;
      hi += 0.5;
    }
    const pad = (hi - lo) * 0.08;
    lo = lo >= 0 ? Math.max(0, lo - pad) : lo - pad; // losses and accuracies never go below 0
    hi += pad;
    const x = (i: number) =>
      ox + m.left + (epochs === 1 ? 0.5 : i / (epochs - 1)) * (w - m.left - m.right);
    const y = (v: number) => m.top + (1 - (v - lo) / (hi - lo)) * (h - m.top - m.bottom);
    parts.push(
      `<text x="${ox + w / 2}" y="20" text-anchor="middle" font-weight="bold">${panel.title}</text>`,
      `<rect x="${ox + m.left}" y="${m.top}" width="${w - m.left - m.right}" height="${h - m.top - m.bottom}" fill="none" stroke="#999"/>`,
      `<text x="${ox + w / 2}" y="${h - 8}" text-anchor="middle">Epoch</text>`,
      `<text x="${ox + 14}" y="${h / 2}" text-anchor="middle" transform="rotate(-90 ${ox + 14} ${h / 2})">${panel.yLabel}</text>`,
    );
    for (let t = 0; t <= 4; t++) {
      const v = lo + ((hi - lo) * t) / 4;
      parts.push(
        `<text x="${ox + m.left - 6}" y="${y(v) + 4}" text-anchor="end" font-size="10">${v.toPrecision(3)}</text>`,
      );
    }
    for (let i = 0; i < epochs; i++) {
      parts.push(
        `<text x="${x(i)}" y="${h - m.bottom + 14}" text-anchor="middle" font-size="10">${i + 1}</text>`,
      );
    }
    panel.curves.forEach((c, k) => {
      const pts = c.values.map((v, i) => `${x(i).toFixed(1)},${y(v).toFixed(1)}`).join(' ');
      parts.push(`<polyline points="${pts}" fill="none" stroke="${c.color}" stroke-width="2"/>`);
      for (const pt of pts.split(' ')) {
        const [px, py] = pt.split(',');
        parts.push(`<circle cx="${px}" cy="${py}" r="3" fill="${c.color}"/>`);
      }
      parts.push(
        // Legend above the frame, so it never covers a point.
        `<text x="${ox + w - m.right - k * 50}" y="${m.top - 8}" text-anchor="end" font-size="11" fill="${c.color}">${c.label}</text>`,
      );
    });
  });
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${w * panels.length}" height="${h}" font-family="sans-serif" font-size="12"><rect width="100%" height="100%" fill="white"/>${parts.join('')}</svg>\n`;
}
