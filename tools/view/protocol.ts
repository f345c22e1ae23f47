/**
 * What the threads of the ring viewer share. The driver and its application
 * run in a Worker (app_worker.ts); the snapshots and the answers to the page
 * are made in the main thread (server.ts); the web server itself runs in a
 * third thread, a Worker with narrowed permissions (http_worker.ts), which
 * passes requests to the main thread as {@link HttpToMain} messages. The
 * application and the main thread meet in shared memory:
 *
 * - the rings and registers themselves (the DMA memory, the model's register
 *   file; on a real NIC, raw addresses read through Deno.UnsafePointerView),
 *   which the server reads from the side, at most {@link SNAPSHOT_HZ} times
 *   a second and only while a page is open;
 * - a few words the application publishes every {@link PUBLISH_EVERY} loop
 *   rounds (never inside rxBatch/txBatch): the driver's own ring indices,
 *   which live in JavaScript fields, the mempools' fill levels, the rates;
 * - the control words below: pause, one step, speed.
 *
 * @module
 */

import type { RingKind } from "../../src/introspect.ts";

/** Snapshots per second at most (the page's frame rate). */
export const SNAPSHOT_HZ = 10;
/**
 * The application publishes its indices once per this many loop rounds
 * (a few hundred microseconds at full speed; 64 ms when slowed down).
 */
export const PUBLISH_EVERY = 64;

/**
 * The fastest rate the page (and `--pps`) may ask for, packets/s: well below
 * 2^31, so that it fits the Int32Array word {@link CTRL}.RATE.
 */
export const MAX_PPS = 1_000_000_000;

/** Words of the control array (Int32Array over a SharedArrayBuffer). */
export const CTRL = {
  /** 1 = the page asked to pause the traffic. */
  PAUSE: 0,
  /** 1 = the application is paused and the device idle. */
  PAUSED: 1,
  /** The step to do ({@link STEPS} index). */
  STEP: 2,
  /** Bumped by the server to ask for {@link STEP}. */
  STEP_SEQ: 3,
  /** Set to STEP_SEQ by the application when the step (and the device's part) is done. */
  STEP_DONE: 4,
  /** Packets per second the generator may send; 0 = as fast as it can. */
  RATE: 5,
  /** 1 = stop the application. */
  STOP: 6,
  /** Packets the last step moved (the return value of rxBatch/txBatch). */
  STEP_RESULT: 7,
} as const;
/** Number of control words. */
export const CTRL_WORDS = 8;

/** The steps of step mode, in the order of the page's buttons. */
export const STEPS = [
  { id: "send", label: "send one packet", port: 0, call: "txBatch" },
  { id: "receive", label: "receive one batch (and refill)", port: 1, call: "rxBatch" },
  { id: "forward", label: "send the batch back", port: 1, call: "txBatch" },
  { id: "receive-back", label: "receive it back", port: 0, call: "rxBatch" },
] as const;
/** One step of {@link STEPS}. */
export type Step = (typeof STEPS)[number];

/** Per-port rate words in the rates array (Float64Array). */
export const RATE_WORDS = 5;
/** Offsets within a port's rate words. */
export const RATE = {
  /** Received packets per second in the last second. */
  RX_PPS: 0,
  /** Sent packets per second. */
  TX_PPS: 1,
  /** Frames dropped per second (rxMissed + rxErrors). */
  DROPS: 2,
  /** Number of the sample (bumped each second). */
  SAMPLE: 3,
  /**
   * The application thread's time on a CPU in the last second, in seconds per
   * second (0..1; NaN where Linux's /proc/thread-self/schedstat is missing):
   * packets per CPU-second stay comparable when other processes take the
   * cores (`deno task bench:view`). The same for every port.
   */
  CPU: 4,
} as const;

/**
 * Nanoseconds the calling thread has spent on a CPU (the first field of
 * Linux's /proc/thread-self/schedstat), or NaN where there is none. A file
 * read of about 20 µs: call it once a second, not per batch.
 */
export function threadCpuNs(): number {
  try {
    return Number(Deno.readTextFileSync("/proc/thread-self/schedstat").split(" ")[0]);
  } catch {
    return NaN;
  }
}

/**
 * Memory the server reads: a SharedArrayBuffer (software 82599), or a raw
 * address and length (a real NIC's DMA memory, mapped in this process).
 */
export type SharedMemory =
  | { kind: "shared"; buffer: SharedArrayBuffer; offset: number; length: number }
  | { kind: "pointer"; address: bigint; length: number };

/** One ring as the application describes it to the server. */
export interface RingInfo {
  /** Index of the port in {@link ViewInit.ports}. */
  port: number;
  kind: RingKind;
  queue: number;
  size: number;
  physAddr: number;
  memory: SharedMemory;
  /** ixgbe: offsets of head and tail in the port's register file. */
  registers?: { head: number; tail: number };
  /** virtio: offsets of the available and used rings. */
  virtqueue?: { availOffset: number; usedOffset: number };
  /** Receive rings: size of the mempool behind them. */
  poolSize?: number;
  /** virtio: bytes of virtio_net_hdr in front of each frame. */
  netHeaderBytes?: number;
}

/** One port as the application describes it to the server. */
export interface PortInfo {
  name: string;
  driver: string;
  mac: string;
  /** What the application does on this port. */
  role: string;
  /** The register file (software 82599), if the server can read it. */
  registerFile?: SharedMemory;
}

/** A piece of DMA memory at a device address (to find a packet buffer by its address). */
export interface DmaRegion {
  phys: number;
  memory: SharedMemory;
}

/** What the application worker sends once it runs. */
export interface ViewInit {
  type: "ready";
  nic: string;
  ports: PortInfo[];
  rings: RingInfo[];
  regions: DmaRegion[];
  /** Whether the generator's and forwarder's steps exist (two ports) or only send/receive. */
  steps: string[];
  /** Shared arrays: control, driver indices, pool fill, rates. */
  ctrl: SharedArrayBuffer;
  indices: SharedArrayBuffer;
  poolFree: SharedArrayBuffer;
  rates: SharedArrayBuffer;
}

/** What the server sends the application worker to start it. */
export interface AppStart {
  /** "sim" or a PCI address. */
  nic: string;
  /** Descriptors per ring. */
  ringSize: number;
  /** Frames per batch. */
  batch: number;
  /** Generator rate in packets/s, 0 = unlimited. */
  pps: number;
}

/** One file the web server serves: its Content-Type and its text. */
export interface PageFile {
  type: string;
  body: string;
}

/**
 * What the main thread sends the web server's Worker to start it. The
 * Worker reads no file and builds no path: it serves {@link files} by name.
 */
export interface HttpStart {
  type: "start";
  /** TCP port on 127.0.0.1; 0 = any free one. */
  port: number;
  /** The per-run token (guard.ts), the first segment of every path. */
  token: string;
  /** Path after the token ("" = the page, "static/app.js", "src/drivers/…") → file. */
  files: Record<string, PageFile>;
  /** The answer to /api/config (JSON), the same for the whole run. */
  config: string;
  /** Number of rings and steps, to refuse out-of-range numbers early. */
  rings: number;
  steps: number;
}

/**
 * A request the web server passed its checks and hands to the main thread.
 * The main thread checks the numbers again: it trusts no message.
 */
export type ApiCall =
  | { op: "state" }
  | { op: "desc"; ring: number; d: number }
  | { op: "pause" }
  | { op: "resume" }
  | { op: "step"; n: number }
  | { op: "rate"; pps: number };

/** Messages from the web server's Worker to the main thread. */
export type HttpToMain =
  | { type: "listening"; port: number }
  | { type: "error"; message: string }
  /** The number of open event streams changed (snapshots only while it is > 0). */
  | { type: "listeners"; count: number }
  | { type: "api"; id: number; call: ApiCall }
  | { type: "closed" };

/** Messages from the main thread to the web server's Worker. */
export type MainToHttp =
  | HttpStart
  /** One snapshot for every event stream: "data: {json}\n\n", UTF-8 (transferred, not copied). */
  | { type: "snapshot"; bytes: Uint8Array<ArrayBuffer> }
  /** The answer to an {@link ApiCall}: a status and a JSON text (2xx) or a plain one. */
  | { type: "reply"; id: number; status: number; body: string }
  | { type: "close" };
