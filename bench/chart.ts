/** One bar: a label, a ratio to nginx, and whether higher is better (throughput) or not. */
export interface Bar {
  readonly label: string;
  readonly ratio: number;
  /** The target ratio, drawn as a tick; undefined when the scenario has none. */
  readonly target?: number;
  /** A reference system's bar (a ceiling), drawn grey: not the proxy's. */
  readonly reference?: boolean;
}

const escape = (text: string) =>
  text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

/**
 * A horizontal bar chart of ratios to nginx, as a small hand-written SVG: no chart library
 * for a dozen bars. The dashed line is nginx (1.0x); a red tick marks each target; reference
 * systems' bars are grey.
 */
export function ratioChart(title: string, bars: readonly Bar[]): string {
  const width = 720;
  const left = 260;
  const barHeight = 22;
  const gap = 10;
  const top = 40;
  const max = Math.max(1.2, ...bars.map((b) => (Number.isFinite(b.ratio) ? b.ratio : 0)));
  const scale = (width - left - 60) / max;
  const height = top + bars.length * (barHeight + gap) + 30;
  const parts = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" font-family="sans-serif" font-size="13">`,
    `<rect width="100%" height="100%" fill="white"/>`,
    `<text x="10" y="22" font-size="15" font-weight="bold">${escape(title)}</text>`,
  ];
  bars.forEach((bar, i) => {
    const y = top + i * (barHeight + gap);
    const w = Number.isFinite(bar.ratio) ? Math.max(1, bar.ratio * scale) : 0;
    parts.push(
      `<text x="${left - 8}" y="${y + 16}" text-anchor="end">${escape(bar.label)}</text>`,
      `<rect x="${left}" y="${y}" width="${w.toFixed(1)}" height="${barHeight}" fill="${bar.reference === true ? '#a0a0a0' : '#4a7ab5'}"/>`,
      `<text x="${(left + w + 6).toFixed(1)}" y="${y + 16}">${bar.ratio.toFixed(2)}x</text>`,
    );
    if (bar.target !== undefined) {
      const x = (left + bar.target * scale).toFixed(1);
      parts.push(
        `<line x1="${x}" x2="${x}" y1="${y - 3}" y2="${y + barHeight + 3}" stroke="#c0392b" stroke-width="3"/>`,
      );
    }
  });
  const one = (left + scale).toFixed(1);
  parts.push(
    `<line x1="${one}" x2="${one}" y1="${top - 8}" y2="${height - 24}" stroke="#333" stroke-dasharray="4 3"/>`,
    `<text x="${one}" y="${height - 8}" text-anchor="middle">nginx = 1.0x</text>`,
    '</svg>',
  );
  return `${parts.join('\n')}\n`;
}
