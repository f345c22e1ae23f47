/**
 * Lab 4 checker: the student's `rxBatch` on receive queue 0 of a software
 * 82599 port (B); the project's driver sends test frames from the cabled
 * port A. Each requirement runs on freshly reset ports ({@link withRig}), so
 * one failure does not spill into the next.
 *
 * @module
 */

import type { PktBuf } from "../../src/mempool.ts";
import { Mempool } from "../../src/mempool.ts";
import {
  IXGBE_ADV_RX_DESC as RXD,
  IXGBE_QPRDC,
  IXGBE_RDH,
  IXGBE_RDT,
  IXGBE_RXDADV_STAT,
} from "../../drivers/ixgbe/constants.ts";
import { FrameTemplate, SequenceChecker } from "../lib/udp_frame.ts";
import { must, Unmet } from "./checklist.ts";
import type { RxBatchFn, RxRing } from "./contract.ts";
import {
  closeRigs,
  noNewViolations,
  RecordingRegs,
  type Rig,
  sendReference,
  takeRxQueue0,
  withRig,
} from "./harness.ts";
import type { Lab } from "./lab.ts";

const RING = 64;

/** What each lab 4 requirement works with. */
interface RxSetup extends Rig {
  q: RxRing;
  regs: RecordingRegs;
  template: FrameTemplate;
  /** Sends `count` frames from port A with sequence numbers `first..`. */
  send(first: number, count: number): void;
  /** Frees buffers of the receive pool the way the caller of rxBatch does. */
  free(bufs: PktBuf[], n: number): void;
  /** Frames the device dropped for want of descriptors since the last call (QPRDC clears on read). */
  dropped(): number;
  /** Explains an empty-looking ring. */
  hint(): string;
}

function rxSetup(rig: Rig): RxSetup {
  const regs = new RecordingRegs(rig.b.regs);
  const q = takeRxQueue0(rig.b, { size: RING, regs });
  const template = new FrameTemplate({ size: 200, srcMac: rig.a.mac, dstMac: rig.b.mac });
  const txPool = Mempool.create(rig.a.dma, { numEntries: 512 });
  const tx = { sim: rig.sim, dev: rig.devA, pool: txPool, template };
  const b = rig.b.regs;
  return {
    ...rig,
    q,
    regs,
    template,
    send: (first, count) => sendReference(tx, { first, count }),
    free: (bufs, n) => {
      for (let i = 0; i < n; i++) bufs[i].pool.free(bufs[i]);
    },
    dropped: () => b.read32(IXGBE_QPRDC(0)),
    hint: () =>
      b.read32(IXGBE_RDT(0)) === b.read32(IXGBE_RDH(0))
        ? ' — RDT equals RDH, which the 82599 reads as "no free descriptor": set RDT to the ' +
          "last descriptor you refilled (one behind q.index)"
        : "",
  };
}

/**
 * Runs `check` on a fresh rig with a lab 4 ring; an index that ran past the
 * ring (which makes the next access throw) is named as the mistake.
 */
const rx = (check: (s: RxSetup) => void) => () =>
  withRig((rig) => {
    const s = rxSetup(rig);
    try {
      check(s);
    } catch (e) {
      must(
        s.q.index >= 0 && s.q.index < s.q.size,
        `q.index is ${s.q.index}, past the end of the ring of ${s.q.size} descriptors: wrap ` +
          `around to 0 (index = (index + 1) & (size - 1))`,
      );
      throw e;
    }
  });

/**
 * Checks that every buffer of the receive pool is either in a descriptor
 * (exactly `RING`) or free, naming the direction of a mismatch.
 */
function poolBalanced(q: RxRing, what: string): void {
  const missing = q.pool.numEntries - RING - q.pool.freeCount;
  must(
    missing <= 0,
    `${missing} receive buffers are lost${what}: every frame you hand out needs a fresh ` +
      `buffer from q.pool in its descriptor, and a dropped one goes back with q.pool.free`,
  );
  must(
    missing === 0,
    `${-missing} buffers are free although descriptors still point at them${what}: a buffer ` +
      `you hand out belongs to the caller (who frees it), so post a fresh one from q.pool in ` +
      `its place, never the same buffer again`,
  );
}

/** Lab 4: receive. */
export const lab4: Lab = {
  number: 4,
  title: "RX: rxBatch over the 82599 receive ring",
  reference: "drivers/ixgbe/rx.ts",
  functions: ["rxBatch"],
  hangHint: "waiting for a DD bit that never comes, or a stale DD that was never cleared",
  async run(impl, list) {
    try {
      const rxBatch = impl.rxBatch as RxBatchFn;
      const bufs: PktBuf[] = new Array(64);
      /** Calls rxBatch until `want` frames came or 20 calls brought nothing. */
      const receive = (s: RxSetup, want: number, each: (buf: PktBuf) => void, batch = 32) => {
        let got = 0;
        for (let idle = 0; got < want && idle < 20;) {
          const count = Math.min(batch, want - got);
          const n = rxBatch(s.q, bufs, count);
          must(
            n >= 0 && n <= count,
            `rxBatch returned ${n} frames although count was ${count}: take at most count ` +
              `(the caller's bufs array may hold no more)`,
          );
          for (let i = 0; i < n; i++) each(bufs[i]);
          s.free(bufs, n);
          got += n;
          idle = n === 0 ? idle + 1 : 0;
        }
        return got;
      };

      await list.check(
        "returns 0 and leaves RDT alone when nothing has arrived",
        rx((s) => {
          s.regs.clear();
          const n = rxBatch(s.q, bufs, 32);
          if (n > 0) s.free(bufs, n);
          must(
            n === 0,
            `rxBatch returned ${n} on an empty ring: a descriptor belongs to you only once the ` +
              `device has set DD in its status word (read it with Atomics.load, before anything else)`,
          );
          must(s.regs.writesTo(IXGBE_RDT(0)).length === 0, "rxBatch wrote RDT without receiving");
        }),
      );

      await list.check(
        "receives one frame byte for byte, with buf.size set",
        rx((s) => {
          s.send(0, 1);
          const expected = s.template.bytes.slice();
          s.template.stamp(expected, 0);
          const frames: Uint8Array[] = [];
          const got = receive(s, 1, (buf) => frames.push(buf.data.slice(0, buf.size)));
          noNewViolations(s.sim, s.seen);
          must(got === 1, `rxBatch returned no frame although one arrived (descriptor 0 has DD)`);
          must(
            frames[0].length === expected.length,
            `buf.size is ${frames[0].length}; the frame has ${expected.length} bytes (WB_LENGTH)`,
          );
          must(frames[0].every((x, i) => x === expected[i]), "the frame's bytes differ");
        }),
      );

      await list.check(
        "clears the status word (DD) of every descriptor it refills",
        rx((s) => {
          s.send(0, 5);
          const got = receive(s, 5, () => {});
          must(got === 5, `rxBatch returned ${got} of 5 waiting frames${s.hint()}`);
          for (let d = 0; d < 5; d++) {
            const status = Atomics.load(s.q.desc, d * 4 + RXD.WB_STATUS_ERROR);
            must(
              (status & IXGBE_RXDADV_STAT.DD) === 0,
              `descriptor ${d} still has DD set after rxBatch refilled it: write 0 to word 2 ` +
                `(the status in write-back format) when you post a fresh buffer, or after the ring ` +
                `wraps around rxBatch takes the stale DD for a new frame`,
            );
          }
          noNewViolations(s.sim, s.seen);
        }),
      );

      await list.check(
        "writes RDT once per batch, to the last descriptor it refilled",
        rx((s) => {
          s.send(0, 20);
          s.regs.clear();
          const n = rxBatch(s.q, bufs, 32);
          s.free(bufs, n);
          const rdt = s.regs.writesTo(IXGBE_RDT(0));
          must(n === 20, `rxBatch returned ${n} of 20 waiting frames${s.hint()}`);
          must(
            rdt.length === 1,
            `one rxBatch call wrote RDT ${rdt.length} times; write it once, after the loop ` +
              `(every tail write is a slow uncached bus write)`,
          );
          const want = (s.q.index - 1 + RING) % RING;
          must(
            rdt[0] === want,
            `RDT was set to ${rdt[0]}; it must be the last descriptor refilled (${want}). ` +
              `RDT = ${s.q.index} would hand over the whole ring, which the 82599 reads as empty`,
          );
          noNewViolations(s.sim, s.seen);
        }),
      );

      await list.check(
        "respects count: with 40 frames waiting, rxBatch(q, bufs, 8) returns 8",
        rx((s) => {
          s.send(0, 40);
          const n = rxBatch(s.q, bufs, 8);
          s.free(bufs, n);
          must(
            n <= 8,
            `rxBatch returned ${n} frames although count was 8: take at most count ` +
              `(the caller's bufs array may hold no more)`,
          );
          must(n === 8, `rxBatch returned ${n}${s.hint()}`);
          must(receive(s, 32, () => {}) === 32, "the other 32 frames did not come");
        }),
      );

      await list.check(
        "gives every descriptor back: 3000 frames through a 64-descriptor ring, none dropped, in order",
        rx((s) => {
          const N = 3000;
          const checker = new SequenceChecker(N, s.template);
          for (let first = 0; first < N; first += 50) {
            s.send(first, 50);
            noNewViolations(s.sim, s.seen);
            const lost = s.dropped();
            must(
              lost === 0,
              `the device dropped ${lost} frames for want of free descriptors after ` +
                `${first} frames: give each descriptor a fresh buffer and move RDT (wrapping ` +
                `around at q.size)`,
            );
            receive(s, 50, (buf) => checker.add(buf.data.subarray(0, buf.size)));
            noNewViolations(s.sim, s.seen);
          }
          must(checker.good === N, `${checker.good} good frames of ${N} (${checker.summary()})`);
          must(checker.distinct === N, `only ${checker.distinct} of ${N} frames arrived`);
          must(checker.duplicates === 0, `${checker.duplicates} frames were handed out twice`);
          must(checker.reordered === 0, `${checker.reordered} frames came out of order`);
        }),
      );

      await list.check(
        "leaks no buffer: each descriptor holds one, the rest are free",
        rx((s) => {
          s.send(0, 50);
          receive(s, 50, () => {});
          poolBalanced(s.q, "");
        }),
      );

      await list.check(
        "drops broken write-backs (length 0, longer than the buffer) and keeps their buffers",
        rx((s) => {
          must(s.b.injectRxDescriptor({ length: 0, eop: true }), "checker: cannot inject");
          must(s.b.injectRxDescriptor({ length: 5000, eop: true }), "checker: cannot inject");
          s.send(7, 1);
          const checker = new SequenceChecker(8, s.template);
          const sizes: number[] = [];
          receive(s, 3, (buf) => {
            sizes.push(buf.size);
            checker.add(buf.data.subarray(0, Math.min(buf.size, buf.data.length)));
          });
          must(
            sizes.length === 1 && checker.good === 1,
            `rxBatch handed out ${sizes.length} buffers (sizes ${sizes.join(", ")}); only the ` +
              `one real frame should come out: check 1 <= length <= buf.data.length`,
          );
          poolBalanced(s.q, " after dropping the broken write-backs");
          noNewViolations(s.sim, s.seen);
        }),
      );

      await list.check(
        "drops descriptors without EOP (part of a frame spread over several buffers)",
        rx((s) => {
          // A frame in two pieces (the first without EOP, the second with it),
          // then a real frame. Dropping only the piece without EOP (the lab's
          // steps) or the whole two-piece frame (the driver's rx.ts) are both
          // right; handing out the first piece is not.
          const piece = s.q.bufs[s.q.index];
          must(s.b.injectRxDescriptor({ length: 100, eop: false }), "checker: cannot inject");
          must(s.b.injectRxDescriptor({ length: 100, eop: true }), "checker: cannot inject");
          s.send(7, 1);
          const checker = new SequenceChecker(8, s.template);
          let pieceOut = false;
          receive(s, 3, (buf) => {
            pieceOut ||= buf === piece;
            checker.add(buf.data.subarray(0, Math.min(buf.size, buf.data.length)));
          });
          must(
            !pieceOut,
            `rxBatch handed out the buffer of a descriptor without EOP (status bit 1): that is ` +
              `only the first piece of a frame. Drop it (q.pool.free) unless EOP is set`,
          );
          must(checker.good === 1, `the real frame after the two pieces did not come out intact`);
          poolBalanced(s.q, " after dropping the descriptor without EOP");
          noNewViolations(s.sim, s.seen);
        }),
      );

      await list.check(
        "waits while q.pool is empty (the application holds every buffer), then receives",
        rx((s) => {
          const held: PktBuf[] = new Array(s.q.pool.numEntries);
          const nHeld = s.q.pool.allocBatch(held, held.length);
          s.send(0, 5);
          s.regs.clear();
          let n: number;
          try {
            n = rxBatch(s.q, bufs, 32);
          } catch (e) {
            throw new Unmet(
              `rxBatch threw ${e instanceof Error ? `${e.name}: ${e.message}` : String(e)} while ` +
                `q.pool was empty: q.pool.alloc() returns undefined then. Stop taking frames and ` +
                `leave them in the ring until a later call`,
            );
          }
          s.free(bufs, n);
          must(
            n === 0,
            `rxBatch handed out ${n} frames while q.pool was empty, so their descriptors got no ` +
              `fresh buffer: stop when q.pool.alloc() returns undefined`,
          );
          must(
            s.regs.writesTo(IXGBE_RDT(0)).length === 0,
            "rxBatch moved RDT while q.pool was empty, handing the device descriptors it never refilled",
          );
          s.free(held, nHeld);
          const got = receive(s, 5, () => {});
          must(got === 5, `after the buffers came back, rxBatch returned ${got} of 5 frames`);
          noNewViolations(s.sim, s.seen);
        }),
      );
    } finally {
      await closeRigs();
    }
  },
};
