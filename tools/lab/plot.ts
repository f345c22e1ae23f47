/**
 * A small line plot as plain SVG text (no scripts, no external fonts), for
 * lab 6: packet rate over batch size, batch sizes on a log2 axis.
 *
 * @module
 */

/** One measured point. */
export interface Point {
  /** Batch size (x, log2 axis). */
  batch: number;
  /** Packet rate in Mpps (y). */
  mpps: number;
}

const W = 640;
const H = 400;
const LEFT = 70;
const RIGHT = 20;
const TOP = 40;
const BOTTOM = 60;

/** Renders `points` (sorted by batch size) as an SVG document titled `title`. */
export function plotBatchSizes(points: readonly Point[], title: string): string {
  const xs = points.map((p) => Math.log2(p.batch));
  const xMin = Math.min(...xs);
  const xMax = Math.max(...xs, xMin + 1);
  const yMax = niceCeil(Math.max(...points.map((p) => p.mpps), 0.001));
  const px = (x: number) => LEFT + ((x - xMin) / (xMax - xMin)) * (W - LEFT - RIGHT);
  const py = (y: number) => H - BOTTOM - (y / yMax) * (H - TOP - BOTTOM);
  const out: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}">`,
    `  <title>${escape(title)}</title>`,
    `  <rect width="${W}" height="${H}" fill="#ffffff"/>`,
    `  <text x="${W / 2}" y="24" font-family="sans-serif" font-size="15" text-anchor="middle">` +
    `${escape(title)}</text>`,
  ];
  for (let i = 0; i <= 4; i++) {
    const y = (yMax * i) / 4;
    out.push(
      `  <line x1="${LEFT}" y1="${py(y)}" x2="${W - RIGHT}" y2="${py(y)}" stroke="#dddddd"/>`,
      `  <text x="${LEFT - 8}" y="${py(y) + 4}" font-family="sans-serif" font-size="12" ` +
        `text-anchor="end">${y.toFixed(2)}</text>`,
    );
  }
  for (const p of points) {
    const x = px(Math.log2(p.batch));
    out.push(
      `  <text x="${x}" y="${H - BOTTOM + 18}" font-family="sans-serif" font-size="12" ` +
        `text-anchor="middle">${p.batch}</text>`,
    );
  }
  const line = points.map((p) => `${px(Math.log2(p.batch))},${py(p.mpps)}`).join(" ");
  out.push(`  <polyline points="${line}" fill="none" stroke="#1f5fbf" stroke-width="2"/>`);
  for (const p of points) {
    out.push(
      `  <circle cx="${px(Math.log2(p.batch))}" cy="${py(p.mpps)}" r="4" fill="#1f5fbf"/>`,
    );
  }
  out.push(
    `  <text x="${(LEFT + W - RIGHT) / 2}" y="${H - 16}" font-family="sans-serif" ` +
      `font-size="13" text-anchor="middle">batch size (frames per txBatch call)</text>`,
    `  <text x="18" y="${(TOP + H - BOTTOM) / 2}" font-family="sans-serif" font-size="13" ` +
      `text-anchor="middle" transform="rotate(-90 18 ${(TOP + H - BOTTOM) / 2})">Mpps</text>`,
    `</svg>`,
  );
  return out.join("\n") + "\n";
}

/** 1, 2 or 5 times a power of ten, at least `v`. */
function niceCeil(v: number): number {
  const p = 10 ** Math.floor(Math.log10(v));
  for (const m of [1, 2, 5, 10]) if (m * p >= v) return m * p;
  return 10 * p;
}

function escape(text: string): string {
  return text.replace(/&/g, "&amp;").replace(/</g, "&lt;");
}
