/**
 * `deno task bench:plot`: draws docs/batch_size.svg — Mpps per CPU core
 * against batch size (log scale, 1…256), one line per driver and mode, from
 * tools/bench/results.json (written by `deno task bench:report`). The ixy
 * papers plot the same curve. Hand-written SVG, no dependencies.
 *
 *     deno run -A tools/bench/plot.ts [results.json] [out.svg]
 *
 * @module
 */

import type { Results } from "./run.ts";
import { IxyError } from "../../src/error.ts";
import { runApp } from "../lib/app.ts";

const HERE = new URL(".", import.meta.url).pathname;
const W = 720;
const H = 440;
const M = { left: 70, right: 180, top: 50, bottom: 60 };
const SERIES = [
  { driver: "ixgbe", mode: "fwd", color: "#1f77b4", dash: "", label: "ixgbe forwarding" },
  { driver: "virtio", mode: "fwd", color: "#d62728", dash: "", label: "virtio forwarding" },
  { driver: "ixgbe", mode: "tx", color: "#1f77b4", dash: "6 4", label: "ixgbe transmit (pktgen)" },
  {
    driver: "virtio",
    mode: "tx",
    color: "#d62728",
    dash: "6 4",
    label: "virtio transmit (pktgen)",
  },
];

function esc(s: string): string {
  return s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");
}

/** The SVG text for `r`. */
export function plot(r: Results): string {
  const batches = [...new Set(r.rows.map((x) => x.batch))].sort((a, b) => a - b);
  const maxMpps = Math.max(...r.rows.map((x) => x.mpps));
  const step = maxMpps > 40 ? 10 : 5;
  const yMax = Math.ceil(maxMpps / step) * step;
  const pw = W - M.left - M.right;
  const ph = H - M.top - M.bottom;
  const lo = Math.log2(batches[0]);
  const hi = Math.log2(batches[batches.length - 1]);
  const x = (b: number) => M.left + ((Math.log2(b) - lo) / (hi - lo || 1)) * pw;
  const y = (v: number) => M.top + ph - (v / yMax) * ph;
  const out: string[] = [];
  out.push(
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" ` +
      `font-family="Helvetica, Arial, sans-serif" font-size="13">`,
    `<rect width="${W}" height="${H}" fill="white"/>`,
    `<text x="${M.left + pw / 2}" y="24" text-anchor="middle" font-size="15" font-weight="bold">` +
      `ixy.ts driver cost: packets per second on one core vs. batch size</text>`,
  );
  // Grid and axes.
  for (let v = 0; v <= yMax; v += step) {
    out.push(
      `<line x1="${M.left}" y1="${y(v)}" x2="${M.left + pw}" y2="${y(v)}" stroke="#ddd"/>`,
      `<text x="${M.left - 8}" y="${y(v) + 4}" text-anchor="end">${v}</text>`,
    );
  }
  for (const b of batches) {
    out.push(
      `<line x1="${x(b)}" y1="${M.top}" x2="${x(b)}" y2="${M.top + ph}" stroke="#eee"/>`,
      `<text x="${x(b)}" y="${M.top + ph + 18}" text-anchor="middle">${b}</text>`,
    );
  }
  out.push(
    `<rect x="${M.left}" y="${M.top}" width="${pw}" height="${ph}" fill="none" stroke="#333"/>`,
    `<text x="${M.left + pw / 2}" y="${
      H - 18
    }" text-anchor="middle">batch size (packets per rxBatch / txBatch)</text>`,
    `<text transform="translate(20 ${
      M.top + ph / 2
    }) rotate(-90)" text-anchor="middle">Mpps (instant device, 60-byte frames)</text>`,
  );
  // Lines.
  SERIES.forEach((s, i) => {
    const rows = r.rows.filter((p) => p.driver === s.driver && p.mode === s.mode)
      .sort((a, b) => a.batch - b.batch);
    if (rows.length === 0) return;
    const points = rows.map((p) => `${x(p.batch).toFixed(1)},${y(p.mpps).toFixed(1)}`).join(" ");
    out.push(
      `<polyline points="${points}" fill="none" stroke="${s.color}" stroke-width="2.5"` +
        (s.dash ? ` stroke-dasharray="${s.dash}"` : "") + `/>`,
    );
    for (const p of rows) {
      out.push(
        `<circle cx="${x(p.batch).toFixed(1)}" cy="${
          y(p.mpps).toFixed(1)
        }" r="3.5" fill="${s.color}">` +
          `<title>${
            esc(
              `${s.label}, batch ${p.batch}: ${p.mpps.toFixed(2)} Mpps, ` +
                `${p.minNs.toFixed(1)} ns, ${p.cycles.toFixed(0)} cycles per packet`,
            )
          }</title></circle>`,
      );
    }
    const ly = M.top + 10 + i * 22;
    const lx = M.left + pw + 16;
    out.push(
      `<line x1="${lx}" y1="${ly}" x2="${
        lx + 28
      }" y2="${ly}" stroke="${s.color}" stroke-width="2.5"` +
        (s.dash ? ` stroke-dasharray="${s.dash}"` : "") + `/>`,
      `<text x="${lx + 34}" y="${ly + 4}" font-size="12">${esc(s.label)}</text>`,
    );
  });
  const note = `${r.cpuModel} @ ${r.cpuMHz} MHz, Deno ${r.deno}, ${r.date.slice(0, 10)}; ` +
    `best of repeated runs, load ${r.loadBefore}`;
  out.push(
    `<text x="${M.left + pw + 16}" y="${M.top + 4 * 22 + 24}" font-size="11" fill="#555">` +
      `driver + instant device;</text>`,
    `<text x="${M.left + pw + 16}" y="${M.top + 4 * 22 + 38}" font-size="11" fill="#555">` +
      `one core, no real NIC</text>`,
    `<text x="${M.left}" y="${H - 2}" font-size="10" fill="#777">${esc(note)}</text>`,
    `</svg>`,
  );
  return out.join("\n") + "\n";
}

const HELP = `Usage: deno task bench:plot [results.json] [out.svg]

Draws Mpps per CPU core against batch size (log scale, 1 to 256), one line
per driver and mode, from the results of deno task bench:report, as a
hand-written SVG.

Arguments:
  results.json  the results to plot (default tools/bench/results.json)
  out.svg       where the plot goes (default docs/batch_size.svg)
  -h, --help    show this help

Example: deno task bench:plot tools/bench/results.json /tmp/batch_size.svg`;

if (import.meta.main) {
  runApp(() => {
    if (Deno.args.length === 1 && (Deno.args[0] === "--help" || Deno.args[0] === "-h")) {
      return console.log(HELP);
    }
    if (Deno.args.length > 2 || Deno.args.some((a) => a.startsWith("-"))) {
      throw new IxyError("Usage: deno task bench:plot [results.json] [out.svg] (see --help)");
    }
    const input = Deno.args[0] ?? `${HERE}results.json`;
    const output = Deno.args[1] ?? `${HERE}../../docs/batch_size.svg`;
    let r: Results;
    try {
      r = JSON.parse(Deno.readTextFileSync(input)) as Results;
    } catch (e) {
      throw new IxyError(
        `Cannot read ${input}: ${(e as Error).message}. Run deno task bench:report first.`,
      );
    }
    try {
      Deno.writeTextFileSync(output, plot(r));
    } catch (e) {
      throw new IxyError(`Cannot write ${output}: ${(e as Error).message}.`);
    }
    console.log(`wrote ${output}`);
  });
}
