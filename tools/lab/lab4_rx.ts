/**
 * Lab 4 checker: the student's `rxBatch` on receive queue 0 of a software
 * 82599 port (B); the project's driver sends test frames from the cabled
 * port A.
 *
 * @module
 */

import type { PktBuf } from "../../src/mempool.ts";
import { Mempool } from "../../src/mempool.ts";
import { IXGBE_QPRDC, IXGBE_RDH, IXGBE_RDT } from "../../drivers/ixgbe/constants.ts";
import { createSim82599 } from "../sim82599/mod.ts";
import { FrameTemplate, SequenceChecker } from "../lib/udp_frame.ts";
import { must } from "./checklist.ts";
import type { RxBatchFn } from "./contract.ts";
import {
  attachReference,
  noNewViolations,
  RecordingRegs,
  sendReference,
  takeRxQueue0,
} from "./harness.ts";
import type { Lab } from "./lab.ts";

const RING = 64;

/** Lab 4: receive. */
export const lab4: Lab = {
  number: 4,
  title: "RX: rxBatch over the 82599 receive ring",
  reference: "drivers/ixgbe/rx.ts",
  functions: ["rxBatch"],
  async run(impl, list) {
    const rxBatch = impl.rxBatch as RxBatchFn;
    const sim = await createSim82599({ ports: 2, wiring: "cable" });
    try {
      const [a, b] = sim.ports;
      const devA = attachReference(a);
      attachReference(b);
      const regs = new RecordingRegs(b.regs);
      const q = takeRxQueue0(b, { size: RING, regs });
      const seen = { count: sim.violations().length };
      const template = new FrameTemplate({ size: 200, srcMac: a.mac, dstMac: b.mac });
      const tx = { sim, dev: devA, pool: Mempool.create(a.dma, { numEntries: 512 }), template };
      const bufs: PktBuf[] = new Array(64);
      let nextSeq = 0;
      /** Calls rxBatch until `want` frames came or 20 calls brought nothing. */
      const receive = (want: number, each: (buf: PktBuf) => void, batch = 32): number => {
        let got = 0;
        for (let idle = 0; got < want && idle < 20;) {
          const n = rxBatch(q, bufs, Math.min(batch, want - got));
          must(n >= 0 && n <= batch, `rxBatch returned ${n} with count ${batch}`);
          for (let i = 0; i < n; i++) {
            each(bufs[i]);
            bufs[i].pool.free(bufs[i]);
          }
          got += n;
          idle = n === 0 ? idle + 1 : 0;
        }
        return got;
      };
      const dropped = () => b.regs.read32(IXGBE_QPRDC(0));
      /** Explains an empty-looking ring: RDT = RDH means "no descriptor for the device". */
      const hint = () =>
        b.regs.read32(IXGBE_RDT(0)) === b.regs.read32(IXGBE_RDH(0))
          ? ' — RDT equals RDH, which the 82599 reads as "no free descriptor": set RDT to the ' +
            "last descriptor you refilled (one behind q.index)"
          : "";

      await list.check("returns 0 and leaves RDT alone when nothing has arrived", () => {
        regs.clear();
        const n = rxBatch(q, bufs, 32);
        must(n === 0, `rxBatch returned ${n} on an empty ring (is DD checked?)`);
        must(regs.writesTo(IXGBE_RDT(0)).length === 0, "rxBatch wrote RDT without receiving");
      });

      await list.check("receives one frame byte for byte, with buf.size set", () => {
        sendReference(tx, { first: nextSeq, count: 1 });
        const expected = template.bytes.slice();
        template.stamp(expected, nextSeq++);
        const frames: Uint8Array[] = [];
        const got = receive(1, (buf) => frames.push(buf.data.slice(0, buf.size)));
        must(got === 1, `rxBatch returned no frame although one arrived (descriptor 0 has DD)`);
        must(
          frames[0].length === expected.length,
          `buf.size is ${frames[0].length}; the frame has ${expected.length} bytes (WB_LENGTH)`,
        );
        must(frames[0].every((x, i) => x === expected[i]), "the frame's bytes differ");
        noNewViolations(sim, seen);
      });

      await list.check("writes RDT once per batch, to the last descriptor it refilled", () => {
        sendReference(tx, { first: nextSeq, count: 20 });
        nextSeq += 20;
        regs.clear();
        const n = rxBatch(q, bufs, 32);
        for (let i = 0; i < n; i++) bufs[i].pool.free(bufs[i]);
        const rdt = regs.writesTo(IXGBE_RDT(0));
        must(n === 20, `rxBatch returned ${n} of 20 waiting frames${hint()}`);
        must(rdt.length === 1, `one rxBatch call wrote RDT ${rdt.length} times; write it once`);
        const want = (q.index - 1 + RING) % RING;
        must(
          rdt[0] === want,
          `RDT was set to ${rdt[0]}; it must be the last descriptor refilled (${want}). ` +
            `RDT = ${q.index} would hand over the whole ring, which the 82599 reads as empty`,
        );
        noNewViolations(sim, seen);
      });

      await list.check(
        "respects count: with 40 frames waiting, rxBatch(q, bufs, 8) returns 8",
        () => {
          sendReference(tx, { first: nextSeq, count: 40 });
          nextSeq += 40;
          const n = rxBatch(q, bufs, 8);
          for (let i = 0; i < n; i++) bufs[i].pool.free(bufs[i]);
          must(n === 8, `rxBatch returned ${n}${hint()}`);
          must(receive(32, () => {}) === 32, "the other 32 frames did not come");
        },
      );

      await list.check(
        "gives every descriptor back: 3000 frames through a 64-descriptor ring, none dropped, in order",
        () => {
          dropped(); // clear the counter
          const N = 3000;
          const checker = new SequenceChecker(N, template);
          for (let first = 0; first < N; first += 50) {
            sendReference(tx, { first, count: 50 });
            const lost = dropped();
            must(
              lost === 0,
              `the device dropped ${lost} frames for want of free descriptors after ` +
                `${first} frames: give each descriptor a fresh buffer and move RDT`,
            );
            receive(50, (buf) => checker.add(buf.data.subarray(0, buf.size)));
          }
          must(checker.good === N, `${checker.good} good frames of ${N} (${checker.summary()})`);
          must(checker.distinct === N, `only ${checker.distinct} of ${N} frames arrived`);
          must(checker.duplicates === 0, `${checker.duplicates} frames were handed out twice`);
          must(checker.reordered === 0, `${checker.reordered} frames came out of order`);
          noNewViolations(sim, seen);
        },
      );

      await list.check("leaks no buffer: each descriptor holds one, the rest are free", () => {
        const free = q.pool.freeCount;
        must(
          free === q.pool.numEntries - RING,
          `${q.pool.numEntries - RING - free} receive buffers are lost: every frame handed ` +
            `out needs a fresh buffer from q.pool in its descriptor`,
        );
      });

      await list.check(
        "drops broken write-backs (length 0, longer than the buffer) and keeps their buffers",
        () => {
          must(b.injectRxDescriptor({ length: 0, eop: true }), "checker: cannot inject");
          must(b.injectRxDescriptor({ length: 5000, eop: true }), "checker: cannot inject");
          sendReference(tx, { first: 7, count: 1 });
          const checker = new SequenceChecker(8, template);
          const sizes: number[] = [];
          receive(3, (buf) => {
            sizes.push(buf.size);
            checker.add(buf.data.subarray(0, Math.min(buf.size, buf.data.length)));
          });
          must(
            sizes.length === 1 && checker.good === 1,
            `rxBatch handed out ${sizes.length} buffers (sizes ${sizes.join(", ")}); only the ` +
              `one real frame should come out`,
          );
          must(
            q.pool.freeCount === q.pool.numEntries - RING,
            "the buffers of dropped descriptors did not go back to the pool",
          );
          noNewViolations(sim, seen);
        },
      );
    } finally {
      sim.stop();
    }
  },
};
