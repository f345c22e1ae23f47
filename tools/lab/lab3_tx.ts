/**
 * Lab 3 checker: the student's `txBatch` on a transmit ring of a software
 * 82599 port (A); the project's driver receives on the cabled port B and
 * checks every frame. Each requirement runs on freshly reset ports
 * ({@link withRig}), so one failure does not spill into the next.
 *
 * @module
 */

import type { PktBuf } from "../../src/mempool.ts";
import { Mempool } from "../../src/mempool.ts";
import {
  IXGBE_ADV_TX_DESC as TXD,
  IXGBE_ADVTXD,
  IXGBE_DMATXCTL,
  IXGBE_DMATXCTL_TE,
  IXGBE_TDT,
} from "../../drivers/ixgbe/constants.ts";
import { FrameTemplate, SequenceChecker } from "../lib/udp_frame.ts";
import { must } from "./checklist.ts";
import type { TxBatchFn, TxRing } from "./contract.ts";
import {
  closeRigs,
  drainReference,
  noNewViolations,
  RecordingRegs,
  type Rig,
  takeTxQueue,
  withRig,
} from "./harness.ts";
import type { Lab } from "./lab.ts";

const RING = 64;
const POOL = 256;

/** What each lab 3 requirement works with: a rig, a ring of port A, a pool, test frames. */
interface TxSetup extends Rig {
  q: TxRing;
  regs: RecordingRegs;
  pool: Mempool;
  template: FrameTemplate;
  /** Allocates up to `n` buffers holding frames `first..`; returns how many it got. */
  frames(bufs: PktBuf[], n: number, first: number): number;
}

function txSetup(rig: Rig): TxSetup {
  const regs = new RecordingRegs(rig.a.regs);
  const q = takeTxQueue(rig.a, { queueId: 1, size: RING, regs });
  const pool = Mempool.create(rig.a.dma, { numEntries: POOL });
  const template = new FrameTemplate({ size: 100, srcMac: rig.a.mac, dstMac: rig.b.mac });
  const frames = (bufs: PktBuf[], n: number, first: number) => {
    const got = pool.allocBatch(bufs, n);
    for (let i = 0; i < got; i++) {
      bufs[i].data.set(template.bytes);
      template.stamp(bufs[i].data, first + i);
      bufs[i].size = template.bytes.length;
    }
    return got;
  };
  return { ...rig, q, regs, pool, template, frames };
}

/**
 * Runs `check` on a fresh rig with a lab 3 ring; an index that ran past the
 * ring is named as the mistake, before anything it caused.
 */
const tx = (check: (s: TxSetup) => void) => () =>
  withRig((rig) => {
    const s = txSetup(rig);
    try {
      check(s);
    } catch (e) {
      const indices: [string, number][] = [["txIndex", s.q.txIndex], [
        "cleanIndex",
        s.q.cleanIndex,
      ]];
      for (const [name, index] of indices) {
        must(
          index >= 0 && index < s.q.size,
          `q.${name} is ${index}, past the end of the ring of ${s.q.size} descriptors: wrap ` +
            `around to 0 (index = (index + 1) & (size - 1))`,
        );
      }
      throw e;
    }
  });

/**
 * True if no descriptor in flight (cleanIndex .. txIndex) asks for a status
 * write-back: none has RS, and none has DD (a written-back descriptor had RS;
 * the write-back overwrote its command word).
 */
function noRsInFlight(q: TxRing): boolean {
  for (let i = q.cleanIndex; i !== q.txIndex; i = (i + 1) % q.size) {
    if (q.desc[i * 4 + TXD.CMD_TYPE_LEN] & IXGBE_ADVTXD.DCMD_RS) return false;
    if (Atomics.load(q.desc, i * 4 + TXD.WB_STATUS) & IXGBE_ADVTXD.STAT_DD) return false;
  }
  return q.cleanIndex !== q.txIndex;
}

const NO_RS = "no descriptor asked for a status write-back: set DCMD.RS (bit 27 of word 2) " +
  "so the 82599 writes DD back when it has sent the frame (7.2.3.2.4); without it you can " +
  "never free a buffer and the ring stays full";

/** Lab 3: transmit. */
export const lab3: Lab = {
  number: 3,
  title: "TX: txBatch over the 82599 transmit ring",
  reference: "drivers/ixgbe/tx.ts",
  functions: ["txBatch"],
  hangHint: "waiting in a loop for DD, or a loop whose end condition never holds",
  async run(impl, list) {
    try {
      const txBatch = impl.txBatch as TxBatchFn;

      await list.check(
        "sends one frame; the peer receives it byte for byte",
        tx((s) => {
          const bufs: PktBuf[] = [];
          s.frames(bufs, 1, 0);
          const taken = txBatch(s.q, bufs, 1);
          must(taken === 1, `txBatch returned ${taken} for one frame on an empty ring; expected 1`);
          s.sim.settle();
          noNewViolations(s.sim, s.seen);
          const frames: Uint8Array[] = [];
          drainReference(s.devB, (f) => frames.push(f.slice()));
          const tdt = s.regs.writesTo(IXGBE_TDT(s.q.queueId));
          must(
            tdt.length > 0,
            "nothing was sent: txBatch never wrote the tail register TDT (the doorbell)",
          );
          must(
            tdt[tdt.length - 1] === s.q.txIndex,
            `TDT was set to ${tdt[tdt.length - 1]}, but the next free descriptor is ` +
              `${s.q.txIndex}: the device sends TDH .. TDT - 1, so it never saw your last frame`,
          );
          must(frames.length === 1, `the peer received ${frames.length} frames; expected 1`);
          const expected = s.template.bytes.slice();
          s.template.stamp(expected, 0);
          must(
            frames[0].length === expected.length && frames[0].every((x, i) => x === expected[i]),
            `the frame arrived changed (${frames[0].length} bytes, expected ${expected.length}): ` +
              `check the buffer address (dataPhysAddr) and the length fields`,
          );
        }),
      );

      await list.check(
        "asks for a status write-back (RS), so sent descriptors get DD",
        tx((s) => {
          const bufs: PktBuf[] = [];
          const n = s.frames(bufs, 4, 0);
          const taken = txBatch(s.q, bufs, n);
          for (let i = taken; i < n; i++) s.pool.free(bufs[i]);
          must(taken === 4, `txBatch took ${taken} of 4 frames on an empty ring`);
          s.sim.settle();
          noNewViolations(s.sim, s.seen);
          let written = 0;
          let rs = 0;
          for (let d = 0; d < 4; d++) {
            written |= Atomics.load(s.q.desc, d * 4 + TXD.WB_STATUS) & IXGBE_ADVTXD.STAT_DD;
            rs |= s.q.desc[d * 4 + TXD.CMD_TYPE_LEN] & IXGBE_ADVTXD.DCMD_RS;
          }
          must(written !== 0 || rs !== 0, NO_RS);
          must(
            written !== 0,
            "the device wrote no descriptor back although RS is set: did it get the frames " +
              "(TDT = the next free descriptor)?",
          );
        }),
      );

      await list.check(
        "writes the tail once per batch, to the next free descriptor",
        tx((s) => {
          const bufs: PktBuf[] = [];
          const n = s.frames(bufs, 32, 0);
          s.regs.clear();
          const taken = txBatch(s.q, bufs, n);
          for (let i = taken; i < n; i++) s.pool.free(bufs[i]);
          const tdt = s.regs.writesTo(IXGBE_TDT(s.q.queueId));
          must(taken === 32, `txBatch took ${taken} of 32 frames on an empty 64-entry ring`);
          must(
            tdt.length === 1,
            `one txBatch call wrote TDT ${tdt.length} times; write it once, after the last ` +
              `descriptor (every tail write is a slow uncached bus write)`,
          );
          must(
            tdt[0] === 32,
            `TDT was set to ${tdt[0]}; after 32 frames from 0 it must be 32, the next free ` +
              `descriptor (the device sends TDH .. TDT - 1)`,
          );
          s.regs.clear();
          must(txBatch(s.q, [], 0) === 0, "txBatch with count 0 must return 0");
          must(
            s.regs.writesTo(IXGBE_TDT(s.q.queueId)).length === 0,
            "txBatch with nothing to send wrote TDT anyway",
          );
          s.sim.settle();
          noNewViolations(s.sim, s.seen);
        }),
      );

      await list.check(
        "stops before a buffer whose size is not 1..data.length, writing nothing of it",
        tx((s) => {
          // [a frame, a bad size, a frame], once with size 0 and once one byte too long:
          // the text's step 2, the driver's txBatch; a device would read past the buffer.
          for (const [what, bad] of [["size 0", 0], ["size data.length + 1", -1]] as const) {
            const bufs: PktBuf[] = [];
            const n = s.frames(bufs, 3, 0);
            must(n === 3, "the pool ran dry");
            bufs[1].size = bad < 0 ? bufs[1].data.length + 1 : bad;
            const before = s.q.txIndex;
            const taken = txBatch(s.q, bufs, 3);
            for (let i = Math.max(taken, 0); i < 3; i++) s.pool.free(bufs[i]);
            must(
              taken === 1,
              `txBatch took ${taken} of [a frame, ${what}, a frame]: stop before a buffer ` +
                `whose size is not 1..data.length (write nothing of it; the caller keeps it ` +
                `and the ones after it), as the text's step 2 says`,
            );
            must(
              s.q.txIndex === ((before + 1) & (s.q.size - 1)) &&
                s.q.bufs[s.q.txIndex] === undefined,
              `after taking one frame, q.txIndex moved from ${before} to ${s.q.txIndex}: ` +
                `nothing of the buffer with ${what} may be written`,
            );
          }
          // What the device makes of the frames taken is the other requirements' business.
        }),
      );

      await list.check(
        "sends 3000 frames in batches of 32 through a 64-descriptor ring: all arrive, in order, intact",
        tx((s) => {
          const N = 3000;
          const checker = new SequenceChecker(N, s.template);
          const bufs: PktBuf[] = new Array(32);
          let seq = 0;
          let idle = 0;
          while (seq < N) {
            const n = s.frames(bufs, Math.min(32, N - seq), seq);
            const taken = n === 0 ? 0 : txBatch(s.q, bufs, n);
            must(
              taken >= 0 && taken <= n,
              `txBatch returned ${taken} when offered ${n} frames`,
            );
            for (let i = taken; i < n; i++) s.pool.free(bufs[i]);
            seq += taken;
            s.sim.settle();
            noNewViolations(s.sim, s.seen);
            drainReference(s.devB, (f) => checker.add(f));
            idle = taken === 0 ? idle + 1 : 0;
            if (idle < 20) continue;
            must(!noRsInFlight(s.q), NO_RS);
            must(
              n !== 0,
              `the mempool ran dry after ${seq} frames: txBatch does not free the buffers of ` +
                `sent descriptors (check DD from cleanIndex on and free each buffer once)`,
            );
            must(
              false,
              `txBatch stopped taking frames after ${seq}: the ring looks full forever, although ` +
                `the device has sent everything (is cleanIndex advanced when DD is set, and ` +
                `does it wrap around at q.size?)`,
            );
          }
          must(checker.good === N, `the peer got ${checker.good} good frames of ${N}`);
          must(checker.distinct === N, `only ${checker.distinct} of ${N} sequence numbers arrived`);
          must(checker.duplicates === 0, `${checker.duplicates} frames arrived twice`);
          must(checker.reordered === 0, `${checker.reordered} frames arrived out of order`);
          must(checker.mismatched === 0, `${checker.mismatched} frames differ from what was sent`);
          const held = POOL - s.pool.freeCount;
          must(
            held <= RING - 1,
            `${held} buffers are still taken after everything was sent, more than the ring can ` +
              `hold (${RING - 1}): txBatch loses buffers instead of freeing them`,
          );
        }),
      );

      /** Stops the device (DMATXCTL.TE = 0) and offers 100 frames; returns how many were taken. */
      const stalled = (s: TxSetup) => {
        // Read-modify-write: DMATXCTL's bits 31:16 hold the VLAN EtherType (8.2.3.9.2).
        s.a.regs.write32(
          IXGBE_DMATXCTL,
          (s.a.regs.read32(IXGBE_DMATXCTL) & ~IXGBE_DMATXCTL_TE) >>> 0,
        );
        const offered: PktBuf[] = new Array(100);
        const n = s.frames(offered, 100, 0);
        const taken = txBatch(s.q, offered, n);
        for (let i = Math.max(taken, 0); i < n; i++) s.pool.free(offered[i]);
        return taken;
      };

      await list.check(
        "stops at a full ring: takes at most 63 frames on a 64-descriptor ring the device does not drain",
        tx((s) => {
          const taken = stalled(s);
          must(taken >= 1, `txBatch took no frame on an empty ring`);
          must(
            taken <= RING - 1,
            `txBatch took ${taken} frames: a ring of ${RING} holds at most ${RING - 1} ` +
              `(TDT = TDH would mean "empty", 82599 7.2.3.3)`,
          );
        }),
      );

      await list.check(
        "keeps buffers until the device has sent them (DD)",
        tx((s) => {
          const taken = stalled(s);
          const early = s.pool.freeCount - (POOL - taken);
          must(
            early <= 0,
            `txBatch freed ${early} buffers it had just queued, before the device set DD: a use ` +
              `after free — the pool hands them out again while the device still reads them. ` +
              `Free a buffer only once its descriptor has DD (in a later call)`,
          );
          const before = s.pool.freeCount;
          for (let i = 0; i < 5; i++) txBatch(s.q, [], 0);
          must(
            s.pool.freeCount === before,
            `txBatch freed ${s.pool.freeCount - before} buffers the device has not sent yet ` +
              `(their descriptors have no DD): read DD before freeing`,
          );
        }),
      );

      await list.check(
        "after the device resumes, exactly the frames it took arrive",
        tx((s) => {
          const taken = stalled(s);
          s.a.regs.write32(
            IXGBE_DMATXCTL,
            (s.a.regs.read32(IXGBE_DMATXCTL) | IXGBE_DMATXCTL_TE) >>> 0,
          );
          s.sim.settle();
          noNewViolations(s.sim, s.seen);
          const checker = new SequenceChecker(Math.max(taken, 1), s.template);
          drainReference(s.devB, (f) => checker.add(f));
          must(
            checker.distinct === taken && checker.good === taken,
            `txBatch took ${taken} frames but ${checker.distinct} arrived (${checker.summary()})`,
          );
        }),
      );
    } finally {
      await closeRigs();
    }
  },
};
