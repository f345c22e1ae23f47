/**
 * selftest: checks one real NIC step by step and prints a report a user can
 * paste into an issue — issue 23, "a self-test for real cards".
 *
 *     deno task selftest 0000:03:00.0 --json report.json
 *
 * The steps, in the order they run (each PASS, FAIL or SKIP with the reason):
 *
 * 1. identify — what is at the address (PCI IDs, subsystem, revision, class,
 *    BARs, the driver family, sysfs or VFIO), read from config space only;
 * 2. bring-up and link — `ixyInit` (reset, init), the link and its speed,
 *    how long each took;
 * 3. registers and NVM — the ID registers and, where the family defines one,
 *    the EEPROM checksum (8254x: words 0x00..0x3F add up to 0xBABA). They run
 *    after bring-up because only then is the device ours: we never touch the
 *    registers of a device a kernel driver still drives;
 * 4. loopback — frames of several sizes through the card's own loopback
 *    (8254x: the PHY's loopback bit, drivers/e1000/selftest.ts), so nothing
 *    leaves the port: every frame back, byte-exact, in order, and the card's
 *    counters equal ours;
 * 5. interrupts — only through VFIO;
 * 6. teardown — loopback off, the device reset, Bus Master Enable clear.
 *
 * What each family can do so far: e1000 all six; virtio, ixgbe and igb the
 * steps that need no family-specific code (identify, bring-up, teardown).
 *
 * @module
 */

import { parseArgs } from "node:util";
import { dmaAllocatorFor, identify, type IxyDriver, ixyInit } from "../drivers/mod.ts";
import { E1000Device } from "../drivers/e1000/e1000.ts";
import {
  disablePhyLoopback,
  eepromChecksum,
  enablePhyLoopback,
  phyLoopbackOn,
  readEepromChecksumWords,
} from "../drivers/e1000/selftest.ts";
import {
  E1000_CTRL,
  E1000_EEPROM_SUM,
  E1000_RAH,
  E1000_RAL,
  E1000_STATUS,
} from "../drivers/e1000/constants.ts";
import type { IxyDevice } from "../src/device.ts";
import { formatMac } from "../src/device.ts";
import type { DmaAllocator } from "../src/memory.ts";
import { type RegisterSpace, sleepMicros } from "../src/mmio.ts";
import { Mempool, type PktBuf } from "../src/mempool.ts";
import { parsePciAddress, type PciDevice } from "../src/pci.ts";
import { DeviceStats } from "../src/stats.ts";
import { IxyError } from "../src/error.ts";
import { intOption } from "./lib/cli.ts";
import { runApp } from "./lib/app.ts";

const HELP = `Usage: deno task selftest <pci-address> [options]

Checks one NIC step by step and prints a report to paste into an issue:
  1 identify      PCI IDs, subsystem, revision, class, BARs, driver, sysfs/VFIO
  2 bringup       reset and init (ixyInit), link state and speed, timings
  3 registers     ID registers; the EEPROM checksum (e1000)
  4 loopback      frames of 60..1514 bytes through the card's own loopback
                  (e1000: PHY loopback, nothing leaves the port): all back,
                  byte-exact, in order; the card's counters equal ours
  5 interrupts    VFIO only
  6 teardown      loopback off, device reset, Bus Master Enable clear
Each step says PASS, FAIL or SKIP and why; the exit code is 1 if one failed.
Needs what every ixy.ts tool needs (root and hugepages, or a vfio-pci
binding: see docs/hardware.md). Run it on a quiet port: frames arriving
from the wire during the loopback step count as failures.

Options:
  --json FILE    also write the report as JSON to FILE
  --frames N     frames in the loopback step, 1..100000 (default 210)
  --rebind       give the NIC back to its kernel driver at the end
  --force        take the NIC even if a kernel interface on it is up
  -h, --help     show this help`;

/** The outcome of one step. */
export type StepStatus = "PASS" | "FAIL" | "SKIP";

/** One step of the report. */
export interface StepResult {
  /** Short name: identify, bringup, registers, loopback, interrupts, teardown. */
  step: string;
  /** PASS, FAIL or SKIP. */
  status: StepStatus;
  /** Why, in one sentence (what was checked, what failed, why skipped). */
  reason: string;
  /** How long the step took, in milliseconds. */
  ms: number;
  /** What was read or measured, for the report (hex strings for register values). */
  values: Record<string, string | number | boolean>;
}

/** The whole report, as written with --json. */
export interface SelftestReport {
  /** Always "ixy.ts selftest". */
  tool: string;
  /** `git describe` of the checkout, or "unknown". */
  version: string;
  /** The PCI address tested. */
  device: string;
  /** ISO time of the start. */
  startedAt: string;
  /** Where it ran. */
  machine: { hostname: string; kernel: string; arch: string; deno: string };
  /** The steps in the order they ran. */
  steps: StepResult[];
  /** FAIL if a step failed, else PASS. */
  result: "PASS" | "FAIL";
}

/** The step names, in the order they run. */
export const STEPS = [
  "identify",
  "bringup",
  "registers",
  "loopback",
  "interrupts",
  "teardown",
] as const;

/** The overall result: FAIL if any step failed (SKIPs do not fail). */
export function overall(steps: readonly StepResult[]): "PASS" | "FAIL" {
  return steps.some((s) => s.status === "FAIL") ? "FAIL" : "PASS";
}

/** A register value as the report shows it: 0x and 8 hex digits. */
export function hex32(value: number): string {
  return `0x${(value >>> 0).toString(16).padStart(8, "0")}`;
}

/** The report as text: a header, one line per step, its values indented. */
export function formatReport(report: SelftestReport): string {
  const m = report.machine;
  const lines = [
    `ixy.ts selftest ${report.version} on ${report.device}, ${report.startedAt}`,
    `machine ${m.hostname}, kernel ${m.kernel}, ${m.arch}, deno ${m.deno}`,
  ];
  report.steps.forEach((s, i) => {
    lines.push(
      `${i + 1}. ${s.step.padEnd(10)} ${s.status}  ${s.reason} (${s.ms.toFixed(0)} ms)`,
    );
    for (const [k, v] of Object.entries(s.values)) lines.push(`     ${k}: ${v}`);
  });
  lines.push(`result: ${report.result}`);
  return lines.join("\n");
}

// ---------------------------------------------------------------------------
// Loopback frames

/** Ethertype of our frames: 0x88B5, IEEE 802 "local experimental" (never routed). */
const ETHERTYPE = 0x88b5;
/** Frame sizes (without CRC) the loopback step cycles through. */
export const FRAME_SIZES: readonly number[] = [60, 64, 128, 256, 512, 1024, 1514];
/** Offsets in our frame: after the 14-byte Ethernet header, seq (u32) and size (u16). */
const SEQ_OFFSET = 14;
const SIZE_OFFSET = 18;
const PAYLOAD_OFFSET = 20;

/** FNV-1a, 32 bits, of `bytes[start..end)`: the payload checksum of our frames. */
export function fnv1a(bytes: Uint8Array, start: number, end: number): number {
  let h = 0x811c9dc5;
  for (let i = start; i < end; i++) h = Math.imul(h ^ bytes[i], 0x01000193) >>> 0;
  return h;
}

/**
 * Loopback frame `seq` of `size` bytes from and to `mac`: Ethernet header
 * (ethertype 0x88B5), sequence number, size, bytes that depend on both, and
 * the FNV-1a checksum of everything after the header in the last 4 bytes.
 */
export function loopbackFrame(mac: Uint8Array, seq: number, size: number): Uint8Array {
  const f = new Uint8Array(size);
  const v = new DataView(f.buffer);
  f.set(mac, 0);
  f.set(mac, 6);
  v.setUint16(12, ETHERTYPE);
  v.setUint32(SEQ_OFFSET, seq);
  v.setUint16(SIZE_OFFSET, size);
  for (let i = PAYLOAD_OFFSET; i < size - 4; i++) f[i] = (seq * 31 + i * 7) & 0xff;
  v.setUint32(size - 4, fnv1a(f, SEQ_OFFSET, size - 4));
  return f;
}

/** Why `got` is not loopback frame `seq` of `size` bytes (undefined: it is, byte for byte). */
export function frameMismatch(
  got: Uint8Array,
  mac: Uint8Array,
  seq: number,
  size: number,
): string | undefined {
  const want = loopbackFrame(mac, seq, size);
  if (got.length !== want.length) {
    return `frame ${seq}: ${got.length} bytes back, ${want.length} sent`;
  }
  const at = want.findIndex((b, i) => got[i] !== b);
  if (at < 0) return undefined;
  const v = new DataView(got.buffer, got.byteOffset, got.length);
  const gotSeq = got.length >= SIZE_OFFSET ? v.getUint32(SEQ_OFFSET) : -1;
  if (gotSeq !== seq && at >= SEQ_OFFSET && at < SIZE_OFFSET) {
    return `frame ${seq} expected, frame ${gotSeq} came (out of order or lost)`;
  }
  const sumOk = fnv1a(got, SEQ_OFFSET, got.length - 4) === v.getUint32(got.length - 4);
  return `frame ${seq}: byte ${at} differs (0x${got[at].toString(16)} back, 0x${
    want[at].toString(16)
  } sent; payload checksum ${sumOk ? "matches" : "wrong"})`;
}

// ---------------------------------------------------------------------------
// The steps

/** Runs `body` as step `step`, timing it; an exception becomes a FAIL with its message. */
export function runStep(
  step: string,
  body: (values: Record<string, string | number | boolean>) => [StepStatus, string],
): StepResult {
  const values: Record<string, string | number | boolean> = {};
  const t0 = performance.now();
  try {
    const [status, reason] = body(values);
    return { step, status, reason, ms: performance.now() - t0, values };
  } catch (e) {
    const reason = e instanceof Error ? e.message : String(e);
    return { step, status: "FAIL", reason, ms: performance.now() - t0, values };
  }
}

/** A step that cannot run, with the reason. */
function skipped(step: string, reason: string): StepResult {
  return { step, status: "SKIP", reason, ms: 0, values: {} };
}

/** Reads a sysfs attribute of the device (e.g. "revision"), trimmed; "?" if absent. */
function sysfs(pci: PciDevice, name: string): string {
  try {
    return Deno.readTextFileSync(`${pci.path}/${name}`).trim();
  } catch {
    return "?";
  }
}

/** Step 1: identify (config space and sysfs only; nothing changes). */
function identifyStep(
  address: string,
): { result: StepResult; pci?: PciDevice; driver?: IxyDriver } {
  let found: { pci: PciDevice; driver: IxyDriver } | undefined;
  const result = runStep("identify", (v) => {
    found = identify(address);
    const { pci, driver } = found;
    const strip = (s: string) => s.replace(/^0x/, "");
    v.ids = pci.ids;
    v.subsystem = `${strip(sysfs(pci, "subsystem_vendor"))}:${
      strip(sysfs(pci, "subsystem_device"))
    }`;
    v.revision = strip(sysfs(pci, "revision"));
    v.class = strip(sysfs(pci, "class"));
    // sysfs "resource": one line per BAR, start end flags; flag 0x100 = I/O space.
    sysfs(pci, "resource").split("\n").slice(0, 6).forEach((line, n) => {
      const [start, end, flags] = line.trim().split(/\s+/).map((x) => BigInt(x));
      if (start === undefined || end === undefined || end === 0n) return;
      const kind = (flags & 0x100n) !== 0n ? "io" : "memory";
      v[`bar${n}`] = `${kind} 0x${start.toString(16)}, ${end - start + 1n} bytes`;
    });
    v.family = driver.name;
    v.kernelDriver = pci.driver ?? "none";
    v.access = pci.driver === "vfio-pci" ? "vfio" : "sysfs";
    return ["PASS", `${pci.ids} is a network controller the ${driver.name} driver drives`];
  });
  return { result, pci: found?.pci, driver: found?.driver };
}

/** Step 2: bring-up and link through ixyInit. */
function bringupStep(
  address: string,
  force: boolean,
): { result: StepResult; dev?: IxyDevice; dma?: DmaAllocator } {
  let dev: IxyDevice | undefined;
  let dma: DmaAllocator | undefined;
  const result = runStep("bringup", (v) => {
    dma = dmaAllocatorFor(address);
    const t0 = performance.now();
    dev = ixyInit(address, { dma, force });
    v.initMs = Math.round(performance.now() - t0);
    const speed = dev.getLinkSpeed();
    v.linkMbps = speed;
    v.mac = formatMac(dev.getMacAddress());
    if (speed === 0) {
      return ["FAIL", "reset and init done, but the link is down: connect a cable or a peer"];
    }
    return ["PASS", `reset and init in ${v.initMs} ms, link up at ${speed} Mbit/s`];
  });
  return { result, dev, dma };
}

/**
 * Step 3 on an 8254x: CTRL, STATUS, RAL/RAH(0), the EEPROM checksum
 * (5.6: words 0x00..0x3F add up to 0xBABA) and the MAC in EEPROM words 0..2.
 */
export function e1000RegistersStep(regs: RegisterSpace): StepResult {
  return runStep("registers", (v) => {
    v.ctrl = hex32(regs.read32(E1000_CTRL));
    v.status = hex32(regs.read32(E1000_STATUS));
    v.ral0 = hex32(regs.read32(E1000_RAL(0)));
    v.rah0 = hex32(regs.read32(E1000_RAH(0)));
    const words = readEepromChecksumWords(regs);
    const { sum, ok } = eepromChecksum(words);
    v.eepromSum = `0x${sum.toString(16).padStart(4, "0")}`;
    v.eepromWord3f = `0x${words[0x3f].toString(16).padStart(4, "0")}`;
    const sumHex = `0x${E1000_EEPROM_SUM.toString(16)}`;
    if (!ok) {
      return ["FAIL", `EEPROM words 0x00..0x3F add up to ${v.eepromSum}, not ${sumHex}`];
    }
    // RAL/RAH(0) hold the MAC the device loaded from EEPROM words 0..2 (5.6.1).
    const eepromMac = (words[0] | (words[1] << 16)) >>> 0;
    if (eepromMac !== regs.read32(E1000_RAL(0)) >>> 0) {
      return ["FAIL", `RAL(0) ${v.ral0} is not the MAC of EEPROM words 0..1 (${hex32(eepromMac)})`];
    }
    return ["PASS", `EEPROM checksum ${v.eepromSum} = ${sumHex}, MAC in RAL(0) as in the EEPROM`];
  });
}

/** Frames per txBatch call in the loopback step. */
const LOOPBACK_BATCH = 32;
/** How long the PHY gets to settle in loopback before the first frame (see e1000LoopbackStep). */
const LOOPBACK_SETTLE_MS = 1100;
/** How long the loopback step waits for a batch to come back. */
const LOOPBACK_TIMEOUT_MS = 2000;

/**
 * Step 4 on an 8254x: PHY loopback on, `count` frames of {@link FRAME_SIZES}
 * sent in batches; each must come back byte-exact and in order, and the
 * card's counters (GPTC, GPRC, GOTC, GORC; readStats takes off the CRC) must
 * equal what we sent. Loopback is off again at the end, however it ends.
 */
function e1000LoopbackStep(dev: E1000Device, dma: DmaAllocator, count: number): StepResult {
  const regs = dev.registers;
  return runStep("loopback", (v) => {
    const mac = dev.getMacAddress();
    const pool = Mempool.create(dma, { numEntries: 2 * LOOPBACK_BATCH });
    const rx: PktBuf[] = new Array(LOOPBACK_BATCH);
    // Frames that were waiting before loopback, and the counters so far: not ours.
    const stats = new DeviceStats();
    const drained = drain(dev, rx);
    dev.readStats(stats);
    const before = enablePhyLoopback(regs);
    v.phyCtrlBefore = `0x${before.phyCtrl.toString(16).padStart(4, "0")}`;
    v.drainedBefore = drained;
    // Let the PHY settle in loopback before the first frame. QEMU's model
    // needs this wait too: it refuses every received frame for 1 s after a
    // write to RCTL (hw/net/e1000.c, flush_queue_timer), and bring-up wrote
    // RCTL just now; a frame looped back in that second is dropped uncounted.
    sleepMicros(LOOPBACK_SETTLE_MS * 1000);
    let sent = 0;
    let sentBytes = 0;
    let back = 0;
    let failure: string | undefined;
    try {
      for (let seq = 0; seq < count && failure === undefined;) {
        const n = Math.min(LOOPBACK_BATCH, count - seq);
        const tx: PktBuf[] = [];
        for (let i = 0; i < n; i++) {
          const buf = pool.alloc();
          if (buf === undefined) throw new IxyError("selftest: loopback mempool empty (a bug)");
          const size = FRAME_SIZES[(seq + i) % FRAME_SIZES.length];
          buf.data.set(loopbackFrame(mac, seq + i, size));
          buf.size = size;
          tx.push(buf);
        }
        let queued = 0;
        const deadline = performance.now() + LOOPBACK_TIMEOUT_MS;
        while (queued < n && performance.now() < deadline) {
          queued += dev.txBatch(0, tx.slice(queued), n - queued);
        }
        for (let i = queued; i < n; i++) pool.free(tx[i]);
        for (let i = 0; i < queued; i++) sentBytes += FRAME_SIZES[(seq + i) % FRAME_SIZES.length];
        sent += queued;
        if (queued < n) {
          failure = `the transmit ring took ${queued} of ${n} frames in 2 s`;
          break;
        }
        const end = seq + n;
        while (seq < end && performance.now() < deadline && failure === undefined) {
          const got = dev.rxBatch(0, rx, LOOPBACK_BATCH);
          for (let i = 0; i < got; i++) {
            const buf = rx[i];
            if (failure === undefined) {
              const size = FRAME_SIZES[seq % FRAME_SIZES.length];
              const frame = buf.data.subarray(0, buf.size);
              failure = seq >= end
                ? `a frame came back that was not sent (${buf.size} bytes)`
                : frameMismatch(frame, mac, seq, size);
              if (failure === undefined) {
                back++;
                seq++;
              }
            }
            buf.pool.free(buf);
          }
        }
        if (failure === undefined && seq < end) {
          failure = `frame ${seq} did not come back within ${LOOPBACK_TIMEOUT_MS} ms ` +
            `(${back} of ${count} did)`;
        }
      }
    } finally {
      disablePhyLoopback(regs, before);
    }
    v.sent = sent;
    v.back = back;
    dev.readStats(stats);
    v.cardTxPackets = stats.txPackets;
    v.cardRxPackets = stats.rxPackets;
    v.cardTxBytes = stats.txBytes;
    v.cardRxBytes = stats.rxBytes;
    v.ourBytes = sentBytes;
    if (failure !== undefined) return ["FAIL", failure];
    const counters: [string, number, number][] = [
      ["GPTC", stats.txPackets, count],
      ["GPRC", stats.rxPackets, count],
      ["GOTC", stats.txBytes, sentBytes],
      ["GORC", stats.rxBytes, sentBytes],
    ];
    for (const [name, card, ours] of counters) {
      if (card !== ours) return ["FAIL", `the card's ${name} counted ${card}, we ${ours}`];
    }
    return [
      "PASS",
      `${count} frames of ${FRAME_SIZES[0]}..${FRAME_SIZES.at(-1)} bytes back through PHY ` +
      `loopback, byte-exact, in order; GPTC/GPRC/GOTC/GORC equal ours`,
    ];
  });
}

/** Receives and frees everything waiting on queue 0; returns how many frames. */
function drain(dev: IxyDevice, bufs: PktBuf[]): number {
  let total = 0;
  for (let n; (n = dev.rxBatch(0, bufs, bufs.length)) > 0;) {
    for (let i = 0; i < n; i++) bufs[i].pool.free(bufs[i]);
    total += n;
  }
  return total;
}

/** Step 6: loopback off (e1000), close (reset), Bus Master Enable clear. */
function teardownStep(dev: IxyDevice, pci: PciDevice, rebind: boolean): StepResult {
  return runStep("teardown", (v) => {
    if (dev instanceof E1000Device) {
      const on = phyLoopbackOn(dev.registers);
      v.phyLoopback = on;
      if (on) throw new IxyError("the PHY's loopback bit is still set after the loopback step");
    }
    const t0 = performance.now();
    dev.close();
    v.closeMs = Math.round(performance.now() - t0);
    const bme = pci.busMastering;
    v.busMaster = bme;
    if (rebind) {
      pci.rebindDriver();
      v.rebound = pci.originalDriver ?? "no driver";
    }
    if (bme) return ["FAIL", "Bus Master Enable is still set after close()"];
    return ["PASS", `device reset in ${v.closeMs} ms, Bus Master Enable clear`];
  });
}

/** `git describe` of this checkout, or "unknown" (no git, or not a checkout). */
function version(): string {
  try {
    const out = new Deno.Command("git", {
      args: ["describe", "--always", "--dirty", "--tags"],
      cwd: new URL(".", import.meta.url).pathname,
      stdout: "piped",
      stderr: "null",
    }).outputSync();
    const text = new TextDecoder().decode(out.stdout).trim();
    return out.success && text ? text : "unknown";
  } catch {
    return "unknown";
  }
}

/** Runs every step on `address` and returns the report. */
export function selftest(
  address: string,
  options: { frames: number; force: boolean; rebind: boolean },
): SelftestReport {
  const report: SelftestReport = {
    tool: "ixy.ts selftest",
    version: version(),
    device: address,
    startedAt: new Date().toISOString(),
    machine: {
      hostname: Deno.hostname(),
      kernel: Deno.osRelease(),
      arch: Deno.build.arch,
      deno: Deno.version.deno,
    },
    steps: [],
    result: "PASS",
  };
  const steps = report.steps;
  const id = identifyStep(address);
  steps.push(id.result);
  const rest = (from: number, why: string) => {
    for (const s of STEPS.slice(from)) steps.push(skipped(s, why));
  };
  if (!id.pci || !id.driver) {
    rest(1, "the device was not identified (step 1)");
    report.result = overall(steps);
    return report;
  }
  const { pci, driver } = id;
  const up = bringupStep(address, options.force);
  steps.push(up.result);
  const { dev, dma } = up;
  if (!dev || !dma) {
    rest(2, "bring-up failed (step 2)");
    report.result = overall(steps);
    return report;
  }
  try {
    if (dev instanceof E1000Device) {
      steps.push(e1000RegistersStep(dev.registers));
      steps.push(e1000LoopbackStep(dev, dma, options.frames));
    } else if (driver.name === "virtio") {
      steps.push(skipped(
        "registers",
        "virtio defines no ID registers or NVM beyond the PCI IDs of step 1",
      ));
      steps.push(skipped(
        "loopback",
        "virtio-net has no loopback mode (no PHY; the virtio spec defines no such feature)",
      ));
    } else {
      steps.push(skipped("registers", `not yet for ${driver.name}`));
      steps.push(skipped("loopback", `not yet for ${driver.name}`));
    }
    steps.push(skipped(
      "interrupts",
      pci.driver !== "vfio-pci"
        ? "interrupts need VFIO: bind the NIC to vfio-pci (deno task bind)"
        : driver.msix === false
        ? `${driver.name}: INTx only, no MSI-X (the driver polls)`
        : `not yet: no loopback on ${driver.name} to raise a receive interrupt`,
    ));
  } finally {
    steps.push(teardownStep(dev, pci, options.rebind));
  }
  report.result = overall(steps);
  return report;
}

async function main(): Promise<void> {
  const { values, positionals } = parseArgs({
    args: Deno.args,
    allowPositionals: true,
    options: {
      json: { type: "string" },
      frames: { type: "string", default: "210" },
      rebind: { type: "boolean", default: false },
      force: { type: "boolean", default: false },
      help: { type: "boolean", short: "h", default: false },
    },
  });
  if (values.help) return console.log(HELP);
  if (positionals.length !== 1) throw new IxyError(`Expected one PCI address.\n${HELP}`);
  const address = parsePciAddress(positionals[0]);
  const frames = intOption("frames", values.frames, { min: 1, max: 100_000 });
  const json = values.json;
  if (json !== undefined) {
    // Fail before touching the device if the report cannot be written.
    try {
      await Deno.writeTextFile(json, "");
    } catch (e) {
      throw new IxyError(`Cannot write --json ${json}: ${(e as Error).message}`);
    }
  }
  const report = selftest(address, {
    frames,
    force: values.force,
    rebind: values.rebind,
  });
  console.log(formatReport(report));
  if (json !== undefined) {
    await Deno.writeTextFile(json, JSON.stringify(report, null, 2) + "\n");
    console.log(`report written to ${json}`);
  }
  if (report.result === "FAIL") {
    const failed = report.steps.filter((s) => s.status === "FAIL").map((s) => s.step);
    throw new IxyError(`selftest FAILED (${failed.join(", ")}): the report above says why.`);
  }
}

if (import.meta.main) runApp(main);
