/**
 * The ring viewer's web server: starts the application (app_worker.ts) in a
 * Worker, then serves, on 127.0.0.1 only,
 *
 *     /                     the page (static/index.html, app.js, style.css)
 *     /api/config           ports, rings, steps (once)
 *     /api/events           Server-Sent Events: one snapshot per frame
 *     /api/desc?ring=&d=    one descriptor decoded, with its packet
 *     /api/pause, /api/resume, /api/step?n=, /api/rate?pps=   (POST)
 *     /src/<path>#L<n>      driver source, read-only
 *
 * Snapshots are taken at most SNAPSHOT_HZ times a second and only while a
 * page listens: with nobody looking, this thread sleeps and the driver
 * thread runs as if we were not there.
 *
 * @module
 */

import { IxyError } from "../../src/error.ts";
import {
  type AppStart,
  CTRL,
  RATE,
  RATE_WORDS,
  SNAPSHOT_HZ,
  STEPS,
  type ViewInit,
} from "./protocol.ts";
import { DmaMap, mapMemory, markHeaders, RingReader } from "./rings.ts";
import { type CodeLocation, sourcePage, stepCode } from "./source.ts";

/** Options for {@link startView}. */
export interface ViewOptions {
  /** "sim" (the software 82599, default) or a PCI address. */
  nic?: string;
  /** TCP port on 127.0.0.1; 0 picks a free one (default 8080). */
  port?: number;
  /** Descriptors per ring (ixgbe; default 64, big enough to click one). */
  ringSize?: number;
  /** Frames per batch (default 32). */
  batch?: number;
  /** Generator rate in packets/s; 0 = as fast as it can (default 0). */
  pps?: number;
}

/** A running viewer. */
export interface View {
  /** The page's address. */
  readonly url: string;
  /** What the application described. */
  readonly init: ViewInit;
  /** The rings as the server reads them. */
  readonly rings: readonly RingReader[];
  /** Number of snapshots taken so far (0 while nobody looked). */
  readonly snapshots: number;
  /** Milliseconds this thread spent taking them (reading the rings, JSON). */
  readonly snapshotMs: number;
  /** Stops the server and the application. */
  close(): Promise<void>;
}

/** What one step did, for the page. */
interface StepResult {
  step: string;
  label: string;
  /** Packets rxBatch/txBatch returned. */
  packets: number;
  /** Entries whose bytes changed: [ring, index]. */
  touched: [number, number][];
  /** Pointers that moved. */
  moved: { ring: number; name: string; from: number; to: number }[];
  code: CodeLocation[];
}

const HISTORY = 60;

/** Starts the application and the server; see {@link ViewOptions}. */
export async function startView(options: ViewOptions = {}): Promise<View> {
  const start: AppStart = {
    nic: options.nic ?? "sim",
    ringSize: options.ringSize ?? 64,
    batch: options.batch ?? 32,
    pps: options.pps ?? 0,
  };
  const worker = new Worker(new URL("./app_worker.ts", import.meta.url).href, { type: "module" });
  const init = await new Promise<ViewInit>((resolve, reject) => {
    worker.onmessage = (e: MessageEvent<ViewInit | { type: "error"; message: string }>) => {
      if (e.data.type === "ready") resolve(e.data);
      else reject(new IxyError(`The viewer's application failed: ${e.data.message}`));
    };
    worker.onerror = (e) => {
      e.preventDefault();
      reject(new IxyError(`The viewer's application failed: ${e.message}`));
    };
    worker.postMessage(start);
  });
  let appError: string | undefined;
  let stopped = () => {};
  const appStopped = new Promise<void>((resolve) => stopped = resolve);
  worker.onmessage = (e: MessageEvent<{ type: string; message?: string }>) => {
    if (e.data.type === "error") appError = e.data.message;
    if (e.data.type === "stopped" || e.data.type === "error") stopped();
  };

  const ctrl = new Int32Array(init.ctrl);
  const indices = new Int32Array(init.indices);
  const poolFree = new Int32Array(init.poolFree);
  const rates = new Float64Array(init.rates);
  const registerFiles = init.ports.map((p) => p.registerFile && mapMemory(p.registerFile));
  const rings = init.rings.map((r) => new RingReader(r, registerFiles[r.port]));
  const dmaMap = new DmaMap(init.regions);
  const history = init.ports.map(() => ({
    rx: [] as number[],
    tx: [] as number[],
    drops: [] as number[],
  }));
  const lastSample = init.ports.map(() => 0);
  let snapshots = 0;
  let snapshotMs = 0;

  const snapshot = () => {
    snapshots++;
    init.ports.forEach((_, p) => {
      const w = p * RATE_WORDS;
      if (rates[w + RATE.SAMPLE] === lastSample[p]) return;
      lastSample[p] = rates[w + RATE.SAMPLE];
      const h = history[p];
      h.rx.push(rates[w + RATE.RX_PPS]);
      h.tx.push(rates[w + RATE.TX_PPS]);
      h.drops.push(rates[w + RATE.DROPS]);
      for (const a of [h.rx, h.tx, h.drops]) if (a.length > HISTORY) a.shift();
    });
    return {
      paused: Atomics.load(ctrl, CTRL.PAUSED) === 1,
      pps: Atomics.load(ctrl, CTRL.RATE),
      error: appError,
      rings: rings.map((r, i) => {
        const p = r.pointers(indices[i]);
        r.rememberAddresses();
        return {
          pointers: p,
          owners: p ? r.owners(p) : undefined,
          poolFree: poolFree[i] >= 0 ? poolFree[i] : undefined,
        };
      }),
      rates: history,
    };
  };

  // One timer for all pages, running only while a page listens.
  const clients = new Set<ReadableStreamDefaultController<Uint8Array>>();
  const encoder = new TextEncoder();
  let timer: ReturnType<typeof setInterval> | undefined;
  const tick = () => {
    const t0 = performance.now();
    const data = encoder.encode(`data: ${JSON.stringify(snapshot())}\n\n`);
    snapshotMs += performance.now() - t0;
    for (const c of clients) {
      try {
        c.enqueue(data);
      } catch {
        clients.delete(c);
      }
    }
    if (clients.size === 0 && timer !== undefined) {
      clearInterval(timer);
      timer = undefined;
    }
  };
  const events = (): Response => {
    let me: ReadableStreamDefaultController<Uint8Array>;
    const body = new ReadableStream<Uint8Array>({
      start(c) {
        me = c;
        clients.add(c);
        timer ??= setInterval(tick, 1000 / SNAPSHOT_HZ);
      },
      cancel() {
        clients.delete(me);
      },
    });
    return new Response(body, {
      headers: { "content-type": "text/event-stream", "cache-control": "no-store" },
    });
  };

  const pause = async (on: boolean): Promise<void> => {
    Atomics.store(ctrl, CTRL.PAUSE, on ? 1 : 0);
    for (let i = 0; i < 500 && (Atomics.load(ctrl, CTRL.PAUSED) === 1) !== on; i++) {
      await new Promise((r) => setTimeout(r, 10));
    }
  };

  const step = async (n: number): Promise<StepResult | string> => {
    const id = init.steps[n];
    if (id === undefined) return `no step ${n}`;
    if (Atomics.load(ctrl, CTRL.PAUSED) !== 1) return "pause the traffic first";
    const before = rings.map((r) => r.words.slice());
    const ptrBefore = rings.map((r, i) => r.pointers(indices[i]));
    for (const r of rings) r.rememberAddresses();
    const seq = Atomics.load(ctrl, CTRL.STEP_SEQ) + 1;
    Atomics.store(ctrl, CTRL.STEP, n);
    Atomics.store(ctrl, CTRL.STEP_SEQ, seq);
    Atomics.notify(ctrl, CTRL.STEP_SEQ);
    // Wait without blocking this thread's event loop (other pages keep updating).
    for (let i = 0; i < 1000 && Atomics.load(ctrl, CTRL.STEP_DONE) !== seq; i++) {
      await new Promise((r) => setTimeout(r, 2));
    }
    const touched: [number, number][] = [];
    const moved: StepResult["moved"] = [];
    rings.forEach((r, i) => {
      const old = before[i];
      const entryWords = r.isVirtio ? 0 : 4;
      if (entryWords) {
        for (let d = 0; d < r.info.size; d++) {
          for (let k = 0; k < 4; k++) {
            if (old[d * 4 + k] !== r.words[d * 4 + k]) {
              touched.push([i, d]);
              break;
            }
          }
        }
      }
      const a = ptrBefore[i], b = r.pointers(indices[i]);
      if (a && b && !entryWords) {
        // virtio: descriptors are reused in any order, so "whose bytes
        // changed" says little; the slots the indices moved over are the ones
        // this step made available, used or processed.
        const slots = new Set<number>();
        for (const k of ["head", "tail", "driver"] as const) {
          const n = Math.min((b[k] - a[k]) & 0xffff, r.info.size);
          for (let j = 0; j < n; j++) slots.add((a[k] + j) & (r.info.size - 1));
        }
        for (const d of slots) touched.push([i, d]);
      }
      if (a && b) {
        const names = r.pointerNames;
        for (const k of ["head", "tail", "driver"] as const) {
          if (a[k] !== b[k]) moved.push({ ring: i, name: names[k], from: a[k], to: b[k] });
        }
      }
    });
    const info = STEPS.find((s) => s.id === id)!;
    const driver = init.ports[info.port]?.driver ?? init.ports[0].driver;
    return {
      step: id,
      label: info.label,
      packets: Atomics.load(ctrl, CTRL.STEP_RESULT),
      touched,
      moved,
      code: stepCode(driver, id),
    };
  };

  const describeEntry = (ring: number, d: number) => {
    const r = rings[ring];
    if (!r || !Number.isInteger(d) || d < 0 || d >= r.info.size) return undefined;
    const decoded = r.decode(d);
    let packet;
    if (decoded.buffer && decoded.buffer.length > 0) {
      const bytes = dmaMap.read(decoded.buffer.phys, decoded.buffer.length);
      if (bytes) {
        packet = {
          phys: decoded.buffer.phys,
          stale: decoded.buffer.stale ?? false,
          hex: Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join(""),
          marks: markHeaders(bytes, decoded.buffer.skip),
        };
      }
    }
    return { ...decoded, packet };
  };

  const config = () => ({
    nic: init.nic,
    ports: init.ports.map(({ registerFile: _, ...p }) => p),
    rings: rings.map((r) => ({
      port: r.info.port,
      kind: r.info.kind,
      queue: r.info.queue,
      size: r.info.size,
      physAddr: r.info.physAddr,
      poolSize: r.info.poolSize,
      names: r.pointerNames,
      canReadPointers: r.pointers(0) !== undefined,
    })),
    steps: init.steps.map((id) => ({ id, label: STEPS.find((s) => s.id === id)!.label })),
  });

  const json = (v: unknown, status = 200) =>
    new Response(JSON.stringify(v), { status, headers: { "content-type": "application/json" } });
  const staticDir = new URL("./static/", import.meta.url);
  const TYPES: Record<string, string> = {
    html: "text/html; charset=utf-8",
    js: "text/javascript; charset=utf-8",
    css: "text/css; charset=utf-8",
  };

  const handler = async (req: Request): Promise<Response> => {
    const url = new URL(req.url);
    const path = url.pathname;
    if (path === "/" || path.startsWith("/static/")) {
      const name = path === "/" ? "index.html" : path.slice("/static/".length);
      if (!/^[a-z_]+\.(html|js|css)$/.test(name)) return new Response("not found", { status: 404 });
      const body = await Deno.readFile(new URL(name, staticDir));
      return new Response(body, { headers: { "content-type": TYPES[name.split(".")[1]] } });
    }
    if (path === "/api/config") return json(config());
    if (path === "/api/events") return events();
    if (path === "/api/state") return json(snapshot());
    if (path === "/api/desc") {
      const d = describeEntry(
        Number(url.searchParams.get("ring")),
        Number(url.searchParams.get("d")),
      );
      return d ? json(d) : json({ error: "no such descriptor" }, 404);
    }
    if (path.startsWith("/src/")) {
      const page = sourcePage(decodeURIComponent(path.slice("/src/".length)));
      return page
        ? new Response(page, { headers: { "content-type": TYPES.html } })
        : new Response("not found", { status: 404 });
    }
    if (req.method !== "POST") return new Response("not found", { status: 404 });
    if (path === "/api/pause") {
      await pause(true);
      return json({ paused: true });
    }
    if (path === "/api/resume") {
      await pause(false);
      return json({ paused: false });
    }
    if (path === "/api/step") {
      const r = await step(Number(url.searchParams.get("n")));
      return typeof r === "string" ? json({ error: r }, 409) : json(r);
    }
    if (path === "/api/rate") {
      const pps = Number(url.searchParams.get("pps"));
      if (!Number.isInteger(pps) || pps < 0) return json({ error: "pps: a whole number ≥ 0" }, 400);
      Atomics.store(ctrl, CTRL.RATE, pps);
      return json({ pps });
    }
    return new Response("not found", { status: 404 });
  };

  let server: Deno.HttpServer<Deno.NetAddr>;
  try {
    server = Deno.serve({
      hostname: "127.0.0.1",
      port: options.port ?? 8080,
      onListen: () => {},
    }, handler);
  } catch (e) {
    Atomics.store(ctrl, CTRL.STOP, 1);
    Atomics.store(ctrl, CTRL.PAUSE, 0);
    worker.terminate();
    throw new IxyError(
      `Cannot listen on 127.0.0.1:${options.port ?? 8080} (${(e as Error).message}). ` +
        `Pick another port with --port.`,
    );
  }
  const url = `http://127.0.0.1:${server.addr.port}/`;
  return {
    url,
    init,
    rings,
    get snapshots() {
      return snapshots;
    },
    get snapshotMs() {
      return snapshotMs;
    },
    async close() {
      if (timer !== undefined) clearInterval(timer);
      for (const c of clients) {
        try {
          c.close();
        } catch { /* already closed */ }
      }
      Atomics.store(ctrl, CTRL.STOP, 1);
      Atomics.store(ctrl, CTRL.PAUSE, 0);
      Atomics.notify(ctrl, CTRL.STEP_SEQ);
      // Let the application close its devices (the model's reset) before it goes.
      await Promise.race([appStopped, new Promise((r) => setTimeout(r, 3000))]);
      worker.terminate();
      await server.shutdown();
    },
  };
}
