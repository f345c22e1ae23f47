/**
 * Lab 3 checker: the student's `txBatch` on a transmit ring of a software
 * 82599 port (A); the project's driver receives on the cabled port B and
 * checks every frame.
 *
 * @module
 */

import type { PktBuf } from "../../src/mempool.ts";
import { Mempool } from "../../src/mempool.ts";
import { IXGBE_DMATXCTL, IXGBE_DMATXCTL_TE, IXGBE_TDT } from "../../drivers/ixgbe/constants.ts";
import { createSim82599 } from "../sim82599/mod.ts";
import { FrameTemplate, SequenceChecker } from "../lib/udp_frame.ts";
import { must } from "./checklist.ts";
import type { TxBatchFn, TxRing } from "./contract.ts";
import {
  attachReference,
  drainReference,
  noNewViolations,
  RecordingRegs,
  takeTxQueue,
} from "./harness.ts";
import type { Lab } from "./lab.ts";

const RING = 64;

/** Lab 3: transmit. */
export const lab3: Lab = {
  number: 3,
  title: "TX: txBatch over the 82599 transmit ring",
  reference: "drivers/ixgbe/tx.ts",
  functions: ["txBatch"],
  async run(impl, list) {
    const txBatch = impl.txBatch as TxBatchFn;
    const sim = await createSim82599({ ports: 2, wiring: "cable" });
    try {
      const [a, b] = sim.ports;
      attachReference(a);
      const devB = attachReference(b);
      const seen = { count: sim.violations().length };
      const template = new FrameTemplate({ size: 100, srcMac: a.mac, dstMac: b.mac });
      const pool = Mempool.create(a.dma, { numEntries: 256 });
      const regs = new RecordingRegs(a.regs);
      let nextQueue = 1;
      const freshRing = (): TxRing => takeTxQueue(a, { queueId: nextQueue++, size: RING, regs });
      const fill = (bufs: PktBuf[], n: number, first: number) => {
        for (let i = 0; i < n; i++) {
          bufs[i].data.set(template.bytes);
          template.stamp(bufs[i].data, first + i);
          bufs[i].size = template.bytes.length;
        }
      };

      await list.check("sends one frame; the peer receives it byte for byte", () => {
        const q = freshRing();
        const bufs = [pool.alloc()!];
        fill(bufs, 1, 0);
        const taken = txBatch(q, bufs, 1);
        must(taken === 1, `txBatch returned ${taken} for one frame on an empty ring; expected 1`);
        sim.settle();
        noNewViolations(sim, seen);
        const frames: Uint8Array[] = [];
        drainReference(devB, (f) => frames.push(f.slice()));
        must(
          regs.writesTo(IXGBE_TDT(q.queueId)).length > 0,
          "nothing was sent: txBatch never wrote the tail register TDT (the doorbell)",
        );
        must(frames.length === 1, `the peer received ${frames.length} frames; expected 1`);
        const expected = template.bytes.slice();
        template.stamp(expected, 0);
        must(
          frames[0].length === expected.length && frames[0].every((x, i) => x === expected[i]),
          `the frame arrived changed (${frames[0].length} bytes, expected ${expected.length}): ` +
            `check the buffer address (dataPhysAddr) and the length fields`,
        );
      });

      await list.check("writes the tail once per batch, to the next free descriptor", () => {
        const q = freshRing();
        const bufs: PktBuf[] = new Array(32);
        const n = pool.allocBatch(bufs, 32);
        fill(bufs, n, 0);
        regs.clear();
        const taken = txBatch(q, bufs, n);
        for (let i = taken; i < n; i++) pool.free(bufs[i]);
        const tdt = regs.writesTo(IXGBE_TDT(q.queueId));
        must(taken === 32, `txBatch took ${taken} of 32 frames on an empty 64-entry ring`);
        must(tdt.length === 1, `one txBatch call wrote TDT ${tdt.length} times; write it once`);
        must(tdt[0] === 32, `TDT was set to ${tdt[0]}; after 32 frames from 0 it must be 32`);
        regs.clear();
        must(txBatch(q, [], 0) === 0, "txBatch with count 0 must return 0");
        must(
          regs.writesTo(IXGBE_TDT(q.queueId)).length === 0,
          "txBatch with nothing to send wrote TDT anyway",
        );
        sim.settle();
        drainReference(devB);
        noNewViolations(sim, seen);
      });

      await list.check(
        "sends 3000 frames in batches of 32 through a 64-descriptor ring: all arrive, in order, intact",
        () => {
          const q = freshRing();
          const N = 3000;
          const checker = new SequenceChecker(N, template);
          const bufs: PktBuf[] = new Array(32);
          let seq = 0;
          let idle = 0;
          while (seq < N) {
            const n = pool.allocBatch(bufs, Math.min(32, N - seq));
            fill(bufs, n, seq);
            const taken = n === 0 ? 0 : txBatch(q, bufs, n);
            for (let i = taken; i < n; i++) pool.free(bufs[i]);
            seq += taken;
            sim.settle();
            drainReference(devB, (f) => checker.add(f));
            idle = taken === 0 ? idle + 1 : 0;
            must(
              idle < 20,
              n === 0
                ? `the mempool ran dry after ${seq} frames: txBatch never frees the buffers of ` +
                  `sent descriptors (check DD from cleanIndex on and free them)`
                : `txBatch stopped taking frames after ${seq}: the ring looks full forever ` +
                  `(is cleanIndex advanced when DD is set?)`,
            );
          }
          noNewViolations(sim, seen);
          must(checker.good === N, `the peer got ${checker.good} good frames of ${N}`);
          must(checker.distinct === N, `only ${checker.distinct} of ${N} sequence numbers arrived`);
          must(checker.duplicates === 0, `${checker.duplicates} frames arrived twice`);
          must(checker.reordered === 0, `${checker.reordered} frames arrived out of order`);
          must(checker.mismatched === 0, `${checker.mismatched} frames differ from what was sent`);
        },
      );

      // The last scenario: the device stops fetching (DMATXCTL.TE = 0).
      const q = freshRing();
      const offered: PktBuf[] = new Array(100);
      let taken = 0;
      await list.check(
        "stops at a full ring: takes at most 63 frames on a 64-descriptor ring the device does not drain",
        () => {
          // Read-modify-write: DMATXCTL's bits 31:16 hold the VLAN EtherType (8.2.3.9.2).
          a.regs.write32(
            IXGBE_DMATXCTL,
            (a.regs.read32(IXGBE_DMATXCTL) & ~IXGBE_DMATXCTL_TE) >>> 0,
          );
          const n = pool.allocBatch(offered, 100);
          fill(offered, n, 0);
          taken = txBatch(q, offered, n);
          for (let i = taken; i < n; i++) pool.free(offered[i]);
          must(taken >= 1, `txBatch took no frame on an empty ring`);
          must(
            taken <= RING - 1,
            `txBatch took ${taken} frames: a ring of ${RING} holds at most ${RING - 1} ` +
              `(TDT = TDH would mean "empty", 82599 7.2.3.3)`,
          );
        },
      );

      await list.check("keeps buffers until the device has sent them (DD)", () => {
        const before = pool.freeCount;
        for (let i = 0; i < 5; i++) txBatch(q, [], 0);
        must(
          pool.freeCount === before,
          `txBatch freed ${pool.freeCount - before} buffers the device has not sent yet ` +
            `(their descriptors have no DD): the device would send garbage`,
        );
      });

      await list.check("after the device resumes, exactly the frames it took arrive", () => {
        a.regs.write32(IXGBE_DMATXCTL, (a.regs.read32(IXGBE_DMATXCTL) | IXGBE_DMATXCTL_TE) >>> 0);
        sim.settle();
        const checker = new SequenceChecker(taken, template);
        drainReference(devB, (f) => checker.add(f));
        noNewViolations(sim, seen);
        must(
          checker.distinct === taken && checker.good === taken,
          `txBatch took ${taken} frames but ${checker.distinct} arrived (${checker.summary()})`,
        );
      });
    } finally {
      sim.stop();
    }
  },
};
