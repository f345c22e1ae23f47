/**
 * The ring viewer's main thread: starts the application (app_worker.ts) in
 * a Worker and the web server (http_worker.ts) in another, with narrowed
 * permissions ({@link httpWorkerPermissions}), and answers the web server's
 * calls: snapshots of the rings (also streamed to open pages), one
 * descriptor decoded, pause, resume, one step, the generator's rate.
 *
 * Three threads, three sets of rights: the application drives the NIC (FFI,
 * /sys, VFIO: everything); this thread reads the rings, on a real NIC
 * through Deno.UnsafePointerView (FFI); the web server, the only part the
 * outside talks to, may only listen on 127.0.0.1. It checks every request
 * (guard.ts: Host, a per-run token, Origin, numbers) before passing it here,
 * and this thread checks the numbers again.
 *
 * Snapshots are taken at most SNAPSHOT_HZ times a second and only while a
 * page listens: with nobody looking, this thread sleeps and the driver
 * thread runs as if we were not there.
 *
 * @module
 */

import { IxyError } from "../../src/error.ts";
import { newToken } from "./guard.ts";
import {
  type ApiCall,
  type AppStart,
  CTRL,
  type HttpStart,
  type HttpToMain,
  type MainToHttp,
  MAX_PPS,
  RATE,
  RATE_WORDS,
  SNAPSHOT_HZ,
  STEPS,
  type ViewInit,
} from "./protocol.ts";
import { DmaMap, mapMemory, markHeaders, RingReader } from "./rings.ts";
import { type CodeLocation, pageFiles, stepCode } from "./source.ts";

/**
 * The permissions of the web server's Worker: the network only to listen on
 * 127.0.0.1 (on `port`; any port of 127.0.0.1 when `port` is 0, "pick a free
 * one"), nothing else: no reading or writing files (it gets its files from
 * this thread), no FFI, no subprocesses, no environment, no system
 * information, no remote imports. Deno 2.9 needs --unstable-worker-options
 * for Worker permissions, and --no-prompt so that a refused call cannot ask
 * at the terminal instead (`deno task view` passes both).
 */
export function httpWorkerPermissions(port: number): Deno.PermissionOptionsObject {
  return {
    net: [port === 0 ? "127.0.0.1" : `127.0.0.1:${port}`],
    read: false,
    write: false,
    run: false,
    ffi: false,
    env: false,
    sys: false,
    import: false,
  };
}

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
  /**
   * Run the web server's Worker with {@link httpWorkerPermissions} (default
   * true). Deno 2.9 allows that only with --unstable-worker-options and
   * exits without it; `deno test -A` runs without, so the in-process tests
   * pass false (tests/sim/view_security_test.ts checks the confined server
   * as `deno task view` runs it).
   */
  confine?: boolean;
}

/** A running viewer. */
export interface View {
  /** The page's address, with the per-run token: `http://127.0.0.1:PORT/<token>/`. */
  readonly url: string;
  /** The web server Worker's permissions ({@link httpWorkerPermissions}); undefined: not confined. */
  readonly permissions?: Deno.PermissionOptionsObject;
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

  // The driver lines of each step, found once: the source pages served are
  // read at the same moment, so links and pages agree.
  const codeOf = init.steps.map((id) => {
    const info = STEPS.find((s) => s.id === id)!;
    return stepCode(init.ports[info.port]?.driver ?? init.ports[0].driver, id);
  });
  const token = newToken();

  // The web server (http_worker.ts) in its own Worker; it sends us calls.
  const confined = options.confine ?? true;
  const requestedPort = options.port ?? 8080;
  const permissions = confined ? httpWorkerPermissions(requestedPort) : undefined;
  const http = new Worker(new URL("./http_worker.ts", import.meta.url).href, {
    type: "module",
    ...(permissions ? { deno: { permissions } } : {}),
  });
  const toHttp = (m: MainToHttp, transfer: Transferable[] = []) => http.postMessage(m, transfer);

  // One timer for all pages, running only while a page listens. Each
  // snapshot is encoded once and its bytes handed over to the web server
  // (transferred, not copied), which writes them to every open stream.
  const encoder = new TextEncoder();
  let timer: ReturnType<typeof setInterval> | undefined;
  const tick = () => {
    const t0 = performance.now();
    const bytes = encoder.encode(`data: ${JSON.stringify(snapshot())}\n\n`);
    snapshotMs += performance.now() - t0;
    toHttp({ type: "snapshot", bytes }, [bytes.buffer]);
  };
  const listeners = (count: number) => {
    if (count > 0) timer ??= setInterval(tick, 1000 / SNAPSHOT_HZ);
    else if (timer !== undefined) {
      clearInterval(timer);
      timer = undefined;
    }
  };

  const pause = async (on: boolean): Promise<void> => {
    Atomics.store(ctrl, CTRL.PAUSE, on ? 1 : 0);
    for (let i = 0; i < 500 && (Atomics.load(ctrl, CTRL.PAUSED) === 1) !== on; i++) {
      await new Promise((r) => setTimeout(r, 10));
    }
  };

  const step = async (n: number): Promise<StepResult | string> => {
    const id = init.steps[n];
    if (!Number.isInteger(n) || id === undefined) return `no step ${n}`;
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
    return {
      step: id,
      label: STEPS.find((s) => s.id === id)!.label,
      packets: Atomics.load(ctrl, CTRL.STEP_RESULT),
      touched,
      moved,
      code: codeOf[n],
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

  // Answers to the web server's calls: a status and a body (JSON if 2xx,
  // else one plain line). Numbers are checked again here.
  const answer = async (c: ApiCall): Promise<[number, string]> => {
    switch (c.op) {
      case "state":
        return [200, JSON.stringify(snapshot())];
      case "desc": {
        const d = describeEntry(c.ring, c.d);
        return d ? [200, JSON.stringify(d)] : [404, "No such descriptor."];
      }
      case "pause":
      case "resume":
        await pause(c.op === "pause");
        return [200, JSON.stringify({ paused: c.op === "pause" })];
      case "step": {
        const r = await step(c.n);
        return typeof r === "string" ? [409, r] : [200, JSON.stringify(r)];
      }
      case "rate":
        if (!Number.isInteger(c.pps) || c.pps < 0 || c.pps > MAX_PPS) return [400, "Bad pps."];
        Atomics.store(ctrl, CTRL.RATE, c.pps);
        return [200, JSON.stringify({ pps: c.pps })];
    }
    return [400, "Unknown call."];
  };

  let closed = () => {};
  const httpClosed = new Promise<void>((resolve) => closed = resolve);
  const stopApp = () => {
    Atomics.store(ctrl, CTRL.STOP, 1);
    Atomics.store(ctrl, CTRL.PAUSE, 0);
    Atomics.notify(ctrl, CTRL.STEP_SEQ);
  };
  let port: number;
  try {
    port = await new Promise<number>((resolve, reject) => {
      http.onmessage = (e: MessageEvent<HttpToMain>) => {
        const m = e.data;
        if (m.type === "listening") resolve(m.port);
        else if (m.type === "error") {
          reject(
            new IxyError(
              `Cannot listen on 127.0.0.1:${requestedPort} (${m.message}). ` +
                `Pick another port with --port.`,
            ),
          );
        } else if (m.type === "listeners") listeners(m.count);
        else if (m.type === "closed") closed();
        else if (m.type === "api") {
          answer(m.call).then(
            ([status, body]) => toHttp({ type: "reply", id: m.id, status, body }),
            () => toHttp({ type: "reply", id: m.id, status: 500, body: "Internal error." }),
          );
        }
      };
      http.onerror = (e) => {
        e.preventDefault();
        reject(new IxyError(`The viewer's web server failed: ${e.message}`));
      };
      const files = pageFiles(codeOf.flat());
      const start: HttpStart = {
        type: "start",
        port: requestedPort,
        token,
        files,
        config: JSON.stringify(config()),
        rings: rings.length,
        steps: init.steps.length,
      };
      toHttp(start);
    });
  } catch (e) {
    stopApp();
    worker.terminate();
    http.terminate();
    throw e;
  }
  // From now on a failure of the web server is one line, not a stack trace.
  http.onerror = (e) => {
    e.preventDefault();
    console.error(`view: the web server failed: ${e.message}`);
  };
  const url = `http://127.0.0.1:${port}/${token}/`;
  return {
    url,
    permissions,
    init,
    rings,
    get snapshots() {
      return snapshots;
    },
    get snapshotMs() {
      return snapshotMs;
    },
    async close() {
      listeners(0);
      toHttp({ type: "close" });
      await Promise.race([httpClosed, new Promise((r) => setTimeout(r, 3000))]);
      http.terminate();
      stopApp();
      // Let the application close its devices (the model's reset) before it goes.
      await Promise.race([appStopped, new Promise((r) => setTimeout(r, 3000))]);
      worker.terminate();
    },
  };
}
