/**
 * Lab 7 checker, the part that runs inside the lab VM (as root; started by
 * lab7_igb.ts): NIC `OURS` is an 82576 (QEMU's igb), NIC `PEER` another
 * 82576 on the same hub, driven by the Linux kernel's own igb driver. The
 * project's igb driver brings our NIC up (reset, link, queues); then the
 * student's `newRxQueue` makes the ring of receive queue 0, the student's
 * `configureRxQueue` and `startRxQueue` set the queue up again on it, and the
 * driver's own `rxBatch` (drivers/ixgbe/rx.ts) receives on it what the kernel
 * sends through an AF_PACKET socket — frames with sequence numbers, compared
 * byte for byte with what was sent. Only a queue brought up right, on a ring
 * with the 82576's tail register, moves them all.
 *
 * For each lab file of `LAB7_IMPLS` (a JSON array), in order, prints one
 * line `LAB7_RESULTS=<json>`: the requirement results, in order. Each file's
 * checks run in a child process of their own (a fresh bring-up of the NIC),
 * watched for code that never returns ({@link watch}).
 *
 *     LAB7_IMPLS='["<file>", ...]' OURS=<pci> PEER=<pci> $IXY_DENO run -A --no-check tools/lab/lab7_guest.ts
 *
 * @module
 */

import { dmaAllocatorFor, ixyInit } from "../../drivers/mod.ts";
import { PciDevice } from "../../src/pci.ts";
import { type RegisterSpace, sleepMicros } from "../../src/mmio.ts";
import { hi32, lo32 } from "../../src/memory.ts";
import { Mempool, type PktBuf } from "../../src/mempool.ts";
import { libc } from "../../src/ffi.ts";
import { runApp } from "../lib/app.ts";
import { newRxQueue as referenceRxQueue } from "../../drivers/igb/rx.ts";
import { rxBatch, type RxRing } from "../../drivers/ixgbe/rx.ts";
import {
  IGB_DESC_SIZE,
  IGB_GPRC,
  IGB_RDBAH,
  IGB_RDBAL,
  IGB_RDH,
  IGB_RDLEN,
  IGB_RDT,
  IGB_RXDADV_STAT,
  IGB_RXDCTL,
  IGB_RXDCTL_ENABLE,
  IGB_SRRCTL,
  IGB_SRRCTL_BITS,
} from "../../drivers/igb/constants.ts";
import { FrameTemplate, parseMac, SequenceChecker } from "../lib/udp_frame.ts";
import { openPacketSocket } from "../peer.ts";
import { Checklist, must, type RequirementResult } from "./checklist.ts";
import type { ConfigureRxQueueFn, NewRxQueueFn, StartRxQueueFn } from "./contract.ts";
import { loadImpl } from "./load.ts";

/** Descriptors of the student's ring: fewer than the frames of the long test, so RDT must move. */
const RING = 64;
/** Frames of the long test, sent in rounds that fit the ring. */
const MANY = 2000;
const ROUND = 50;
/** A requirement that takes longer than this is stuck (each normally takes a few seconds). */
const STALL_SECONDS = 60;

/** One register access, for checking the order of the student's accesses. */
interface Access {
  write: boolean;
  offset: number;
  value: number;
}

/** A register space that passes accesses through and records them (reads too). */
class TracingRegs implements RegisterSpace {
  readonly trace: Access[] = [];
  #inner: RegisterSpace;

  constructor(inner: RegisterSpace) {
    this.#inner = inner;
  }

  read32(offset: number): number {
    const value = this.#inner.read32(offset);
    this.trace.push({ write: false, offset, value });
    return value;
  }

  write32(offset: number, value: number): void {
    this.trace.push({ write: true, offset, value: value >>> 0 });
    this.#inner.write32(offset, value);
  }

  /** Values written to `offset` since the last clear. */
  writesTo(offset: number): number[] {
    return this.trace.filter((a) => a.write && a.offset === offset).map((a) => a.value);
  }

  clear(): void {
    this.trace.length = 0;
  }
}

const hex = (n: number) => `0x${(n >>> 0).toString(16)}`;

const env = (name: string) => {
  const value = Deno.env.get(name);
  if (!value) throw new Error(`lab 7 checker: ${name} is not set`);
  return value;
};

async function main(implPath: string): Promise<void> {
  const ours = env("OURS");
  const impl = await loadImpl(implPath, ["newRxQueue", "configureRxQueue", "startRxQueue"]);
  const newRxQueue = impl.newRxQueue as NewRxQueueFn;
  const configureRxQueue = impl.configureRxQueue as ConfigureRxQueueFn;
  const startRxQueue = impl.startRxQueue as StartRxQueueFn;

  // The kernel's side: its igb driver on the peer NIC, no IPv6 (no router
  // solicitations among our frames), an AF_PACKET socket to send from.
  const peerIf = PciDevice.open(env("PEER")).netInterfaces()[0];
  Deno.writeTextFileSync(`/proc/sys/net/ipv6/conf/${peerIf}/disable_ipv6`, "1");
  const sock = openPacketSocket(peerIf);
  const peerMac = parseMac(Deno.readTextFileSync(`/sys/class/net/${peerIf}/address`).trim());
  const kernelTx = () =>
    Number(Deno.readTextFileSync(`/sys/class/net/${peerIf}/statistics/tx_packets`));
  const template = new FrameTemplate({ srcMac: peerMac });
  const frame = template.bytes.slice();
  let sent = 0;
  const send = (first: number, count: number) => {
    for (let seq = first; seq < first + count; seq++) {
      template.stamp(frame, seq);
      for (let tries = 0; Number(libc().send(sock, frame, BigInt(frame.length), 0)) < 0; tries++) {
        if (tries > 1000) throw new Error(`lab 7 checker: cannot send on ${peerIf}`);
        sleepMicros(1000);
      }
      sent++;
    }
  };

  // Our side: the project's igb driver brings the NIC up; then queue 0 is the student's.
  const dma = dmaAllocatorFor(ours);
  const dev = ixyInit(ours, { dma });
  const bar0 = PciDevice.open(ours).mapMemoryBar(0);
  const regs = new TracingRegs(bar0);
  const bytes = RING * IGB_DESC_SIZE;
  const mem = dma.allocate(bytes, { contiguous: true });
  const desc = new Uint32Array(mem.buffer, 0, bytes / 4);
  desc.fill(0xffffffff);
  const ringPhys = mem.physAddr(0);
  const pool = Mempool.create(dma, { numEntries: RING * 4 });
  bar0.read32(IGB_GPRC); // clear-on-read: start counting from 0
  const kernelTx0 = kernelTx();

  const bufs: PktBuf[] = new Array(64);
  let received = 0;
  /** Calls rxBatch until `want` frames came or 3 s passed. */
  const receive = (want: number, each: (buf: PktBuf) => void, batch = 32): number => {
    const empty = q.bufs.findIndex((b) => b === undefined);
    must(
      empty < 0,
      `descriptor ${empty} of the ring holds no buffer (q.bufs[${empty}]): startRxQueue posts ` +
        `one in each, else the driver's rxBatch cannot run on the ring`,
    );
    let got = 0;
    const deadline = performance.now() + 3000;
    while (got < want && performance.now() < deadline) {
      const n = rxBatch(q, bufs, Math.min(batch, want - got));
      must(n >= 0 && n <= batch, `rxBatch returned ${n} with count ${batch}`);
      for (let i = 0; i < n; i++) {
        each(bufs[i]);
        bufs[i].pool.free(bufs[i]);
      }
      got += n;
      received += n;
      if (n === 0) sleepMicros(1000);
    }
    return got;
  };
  const hint = () =>
    bar0.read32(IGB_RDT(0)) === bar0.read32(IGB_RDH(0))
      ? ' — RDT equals RDH, which the 82576 reads as "no free descriptor": is q.tail the ' +
        "82576's RDT, and did startRxQueue hand over size - 1 descriptors?"
      : "";

  const list = new Checklist();
  /** Runs one requirement, telling the watchdog (see {@link watch}) when it starts and ends. */
  const check = async (name: string, fn: () => void) => {
    console.log(`LAB7_CHECK=${name}`);
    await list.check(name, fn);
    console.log(`LAB7_RESULT=${JSON.stringify(list.results[list.results.length - 1])}`);
  };
  let nextSeq = 0;

  // The student's ring; if newRxQueue fails outright, the checks after it
  // run on the reference's, so that each requirement is judged on its own.
  let q: RxRing = referenceRxQueue(regs, 0, desc, RING, pool);
  await check(
    "newRxQueue: drivers/ixgbe/rx.ts's ring for queue 0 with the 82576's RDT(0) (0xC018) as " +
      "its tail and the 82576's RXE (bit 31) as its errorBits; no buffers yet",
    () => {
      let mine: RxRing;
      try {
        mine = newRxQueue(regs, 0, desc, RING, pool);
      } catch (error) {
        must(false, `newRxQueue threw: ${error instanceof Error ? error.message : error}`);
      }
      must(
        mine.regs === regs && mine.queueId === 0 && mine.desc === desc && mine.size === RING &&
          mine.pool === pool,
        "the ring must hold the regs, queueId, desc, size and pool it was given",
      );
      must(
        mine.bufs.length === RING && mine.bufs.every((b) => b === undefined) &&
          mine.index === 0 && !mine.discarding && mine.errors === 0,
        "a new ring has bufs = size × undefined, index 0, discarding false, errors 0 " +
          "(new RxQueue(...) of drivers/ixgbe/rx.ts does that)",
      );
      q = mine;
      must(
        mine.tail === IGB_RDT(0),
        `q.tail is ${hex(mine.tail)}` +
          (mine.tail === 0x1018 ? ", the 82599's RDT(0)" : "") +
          `: on the 82576 RDT(n) is at 0xC018 + 0x40 n (${hex(IGB_RDT(0))} for queue 0); ` +
          "rxBatch writes the tail there",
      );
      must(
        mine.errorBits === IGB_RXDADV_STAT.RXE,
        `q.errorBits is ${hex(mine.errorBits)}` +
          (mine.errorBits === 0x20000000
            ? ", the 82599's RXE (bit 29): on the 82576 bit 29 is TCPE, a checksum error"
            : "") +
          ": the 82576's RXE is bit 31 of the status/error word (82576 7.1.5.2)",
      );
    },
  );

  await check(
    "configureRxQueue: queue 0 off (RXDCTL.ENABLE polled to 0) before its ring changes; " +
      "RDBAL/RDBAH = the ring, RDLEN = size × 16 bytes, RDH = RDT = 0",
    () => {
      // SRRCTL as the driver left it would pass by itself: make it the
      // student's job (legacy descriptors, no buffer size, no DROP_EN).
      const S = IGB_SRRCTL_BITS;
      const srrctl = bar0.read32(IGB_SRRCTL(0));
      bar0.write32(
        IGB_SRRCTL(0),
        srrctl & ~S.DESCTYPE_MASK & ~S.BSIZEPKT_MASK & ~S.DROP_EN,
      );
      regs.clear();
      configureRxQueue(q, ringPhys);
      const t = regs.trace;
      const firstRing = t.findIndex((a) =>
        a.write && [IGB_RDBAL(0), IGB_RDBAH(0), IGB_RDLEN(0)].includes(a.offset)
      );
      const off = t.findIndex((a) =>
        !a.write && a.offset === IGB_RXDCTL(0) && (a.value & IGB_RXDCTL_ENABLE) === 0
      );
      const why = "the driver's bring-up left queue 0 running (and after a reset the 82576's " +
        "queue 0 is enabled, unlike the 82599's). Clear RXDCTL.ENABLE and wait until it reads 0 " +
        "before you change the ring";
      must(off >= 0, `RXDCTL.ENABLE was never read back as 0: ${why}`);
      must(
        firstRing < 0 || off < firstRing,
        `the ring registers were written while RXDCTL.ENABLE still read 1: ${why}`,
      );
      must(
        bar0.read32(IGB_RDBAL(0)) === lo32(ringPhys) &&
          bar0.read32(IGB_RDBAH(0)) === hi32(ringPhys),
        `RDBAL/RDBAH hold ${hex(bar0.read32(IGB_RDBAH(0)))}:${
          hex(bar0.read32(IGB_RDBAL(0)))
        }, the ring is at ${hex(hi32(ringPhys))}:${hex(lo32(ringPhys))} (82576 RDBAL is at ` +
          `0xC000 + 0x40 n)`,
      );
      const rdlen = bar0.read32(IGB_RDLEN(0));
      must(rdlen === bytes, `RDLEN is ${rdlen}; it counts bytes: ${RING} × 16 = ${bytes}`);
      const rdh = bar0.read32(IGB_RDH(0));
      const rdt = bar0.read32(IGB_RDT(0));
      must(rdh === 0 && rdt === 0, `RDH = ${rdh}, RDT = ${rdt}: an empty ring starts at 0, 0`);
      must(
        (bar0.read32(IGB_RXDCTL(0)) & IGB_RXDCTL_ENABLE) === 0,
        "configureRxQueue left the queue enabled: startRxQueue enables it, once buffers are posted",
      );
    },
  );

  await check(
    "configureRxQueue: SRRCTL = advanced one-buffer descriptors, 2 KB buffers, DROP_EN (bit 31 " +
      "on the 82576)",
    () => {
      const S = IGB_SRRCTL_BITS;
      const srrctl = bar0.read32(IGB_SRRCTL(0));
      must(
        (srrctl & S.DESCTYPE_MASK) === S.DESCTYPE_ADV_ONEBUF,
        `SRRCTL is ${hex(srrctl)}: DESCTYPE (bits 27:25) must be 001b, advanced one buffer`,
      );
      must(
        (srrctl & S.BSIZEPKT_MASK) === 2,
        `SRRCTL.BSIZEPACKET (bits 6:0, 1 KB units) is ${srrctl & S.BSIZEPKT_MASK}; our ` +
          `buffers take 2 KB: 2`,
      );
      must(
        (srrctl & S.DROP_EN) !== 0,
        `SRRCTL is ${hex(srrctl)}: DROP_EN is bit 31 on the 82576 (bit 28 on the 82599)`,
      );
    },
  );

  await check(
    "startRxQueue: a buffer of q.pool in every descriptor (read format), the queue enabled " +
      "(RXDCTL.ENABLE polled to 1), then RDT = size - 1",
    () => {
      regs.clear();
      startRxQueue(q);
      for (let d = 0; d < RING; d++) {
        const buf = q.bufs[d];
        must(buf !== undefined, `q.bufs[${d}] is empty: remember each posted buffer`);
        const addr = buf.dataPhysAddr;
        must(
          desc[4 * d] === lo32(addr) && desc[4 * d + 1] === hi32(addr),
          `descriptor ${d} does not point at q.bufs[${d}].dataPhysAddr (words 0-1)`,
        );
        must(
          desc[4 * d + 2] === 0 && desc[4 * d + 3] === 0,
          `descriptor ${d}: words 2-3 (header address, later status) must be 0`,
        );
      }
      must(
        pool.freeCount === pool.numEntries - RING,
        `${pool.numEntries - pool.freeCount} buffers taken from q.pool for ${RING} descriptors`,
      );
      must(
        (bar0.read32(IGB_RXDCTL(0)) & IGB_RXDCTL_ENABLE) !== 0,
        "RXDCTL.ENABLE does not read 1: set it (bit 25, as on the 82599)",
      );
      const t = regs.trace;
      const rdtWrite = t.findLastIndex((a) => a.write && a.offset === IGB_RDT(0));
      const on = t.findIndex((a) =>
        !a.write && a.offset === IGB_RXDCTL(0) && (a.value & IGB_RXDCTL_ENABLE) !== 0
      );
      must(rdtWrite >= 0, "startRxQueue did not write RDT: the device has no descriptor");
      must(
        on >= 0 && on < rdtWrite,
        "RDT was written before RXDCTL.ENABLE read back 1: wait for the queue to run first",
      );
      const rdt = t[rdtWrite].value;
      must(
        rdt === RING - 1,
        `RDT = ${rdt}; hand over all descriptors but one: ${RING - 1}` +
          (rdt === RING ? " (RDT = size wraps to 0 = RDH: an empty ring)" : ""),
      );
    },
  );

  await check("the queue runs: one frame from the kernel arrives byte for byte", () => {
    send(nextSeq, 1);
    const expected = template.bytes.slice();
    template.stamp(expected, nextSeq++);
    const frames: Uint8Array[] = [];
    const got = receive(1, (buf) => frames.push(buf.data.slice(0, buf.size)));
    must(
      got === 1,
      `rxBatch returned no frame in 3 s although the kernel sent one (RXDCTL ` +
        `${hex(bar0.read32(IGB_RXDCTL(0)))}, RDH ${bar0.read32(IGB_RDH(0))}, RDT ` +
        `${bar0.read32(IGB_RDT(0))})${hint()}`,
    );
    must(
      frames[0].length === expected.length && frames[0].every((x, i) => x === expected[i]),
      "the frame's bytes differ",
    );
  });

  await check(
    `the queue runs: ${MANY} frames from the kernel through the ${RING}-descriptor ring ` +
      `(the driver's rxBatch), each once, in order, byte-exact`,
    () => {
      const checker = new SequenceChecker(MANY, template);
      for (let first = 0; first < MANY; first += ROUND) {
        send(first, ROUND);
        const got = receive(ROUND, (buf) => checker.add(buf.data.subarray(0, buf.size)));
        must(
          got === ROUND,
          `after ${first} frames, only ${got} of the next ${ROUND} came: the 82576 drops ` +
            `frames that find no free descriptor, and rxBatch hands descriptors back by ` +
            `writing q.tail` + hint(),
        );
      }
      must(checker.good === MANY, `${checker.good} good frames of ${MANY} (${checker.summary()})`);
      must(checker.distinct === MANY, `only ${checker.distinct} of ${MANY} frames arrived`);
      must(checker.duplicates === 0, `${checker.duplicates} frames were handed out twice`);
      must(checker.reordered === 0, `${checker.reordered} frames came out of order`);
      must(checker.mismatched === 0, `${checker.mismatched} frames differ from what was sent`);
    },
  );

  await check(
    "counts agree: frames rxBatch returned = frames the kernel sent = the 82576's GPRC",
    () => {
      const gprc = bar0.read32(IGB_GPRC);
      const kernel = kernelTx() - kernelTx0;
      must(
        received === sent && kernel === sent && gprc === sent,
        `sent ${sent} frames; the kernel counted ${kernel}, the 82576 received ${gprc} ` +
          `(GPRC), rxBatch returned ${received}`,
      );
    },
  );

  libc().close(sock);
  dev.close();
}

/**
 * Runs the checks (main) in a child process and watches it: a student's
 * rxBatch that never returns (an endless loop over descriptors, say) cannot
 * be interrupted from within, so the child is killed when a requirement
 * takes longer than {@link STALL_SECONDS}, and that requirement fails.
 * Prints `LAB7_RESULTS=<json>`, the results of every requirement that ran.
 */
async function watch(implPath: string): Promise<void> {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", "--no-check", new URL(import.meta.url).pathname, "--child", implPath],
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
  const results: RequirementResult[] = [];
  let current: string | undefined;
  let stalled = false;
  const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  let pending = "";
  for (;;) {
    let timer: ReturnType<typeof setTimeout> | undefined;
    const timeout = new Promise<"stall">((resolve) => {
      timer = setTimeout(() => resolve("stall"), STALL_SECONDS * 1000);
    });
    const next = await Promise.race([reader.read(), timeout]);
    clearTimeout(timer);
    if (next === "stall") {
      stalled = true;
      child.kill("SIGKILL");
      break;
    }
    if (next.done) break;
    pending += next.value;
    const lines = pending.split("\n");
    pending = lines.pop()!;
    for (const line of lines) {
      if (line.startsWith("LAB7_CHECK=")) current = line.slice("LAB7_CHECK=".length);
      else if (line.startsWith("LAB7_RESULT=")) {
        results.push(JSON.parse(line.slice("LAB7_RESULT=".length)));
        current = undefined;
      } else console.log(line);
    }
  }
  const status = await child.status;
  if (stalled || current !== undefined) {
    results.push({
      name: current ?? "the checker runs to its end",
      ok: false,
      reason: stalled
        ? `your code did not return within ${STALL_SECONDS} s (an endless loop? Does every ` +
          `path through your loop either advance n or stop?)`
        : `the checker stopped here (exit code ${status.code})`,
    });
  }
  console.log(`LAB7_RESULTS=${JSON.stringify(results)}`);
}

/** Checks each lab file of LAB7_IMPLS in turn, each in a child process of its own. */
async function watchAll(): Promise<void> {
  for (const implPath of JSON.parse(env("LAB7_IMPLS")) as string[]) await watch(implPath);
}

if (import.meta.main) {
  runApp(Deno.args[0] === "--child" ? () => main(Deno.args[1]) : watchAll);
}
