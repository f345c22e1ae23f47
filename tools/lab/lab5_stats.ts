/**
 * Lab 5 checker: the student's `readStats` and `setPromisc` on BAR0 of two
 * cabled software 82599 ports, with traffic from the project's driver.
 *
 * @module
 */

import { Mempool } from "../../src/mempool.ts";
import { DeviceStats } from "../../src/stats.ts";
import { createSim82599 } from "../sim82599/mod.ts";
import { FrameTemplate } from "../lib/udp_frame.ts";
import { must } from "./checklist.ts";
import type { ReadStatsFn, SetPromiscFn } from "./contract.ts";
import { attachReference, drainReference, sendReference } from "./harness.ts";
import type { Lab } from "./lab.ts";

/** Lab 5: statistics and promiscuous mode. */
export const lab5: Lab = {
  number: 5,
  title: "Statistics and promiscuous mode",
  reference: "tools/lab/solutions/lab5_stats.ts",
  functions: ["readStats", "setPromisc"],
  async run(impl, list) {
    const readStats = impl.readStats as ReadStatsFn;
    const setPromisc = impl.setPromisc as SetPromiscFn;
    const sim = await createSim82599({ ports: 2, wiring: "cable" });
    try {
      const [a, b] = sim.ports;
      const devA = attachReference(a);
      const devB = attachReference(b);
      const pool = Mempool.create(a.dma, { numEntries: 1024 });
      const send = (count: number, dstMac?: Uint8Array) =>
        sendReference(
          { sim, dev: devA, pool, template: new FrameTemplate({ size: 100, dstMac }) },
          {
            first: 0,
            count,
          },
        );
      const rx = new DeviceStats();
      const tx = new DeviceStats();

      await list.check("counts received frames and their bytes without the CRC", () => {
        send(100, b.mac);
        readStats(b.regs, rx);
        drainReference(devB);
        must(rx.rxPackets === 100, `rxPackets is ${rx.rxPackets} after 100 frames (GPRC)`);
        must(
          rx.rxBytes === 100 * 100,
          `rxBytes is ${rx.rxBytes}; 100 frames of 100 bytes are 10000 (GORC counts 4 CRC bytes per frame)`,
        );
      });

      await list.check("counts sent frames and their bytes on the sender", () => {
        readStats(a.regs, tx);
        must(tx.txPackets === 100, `txPackets is ${tx.txPackets} after 100 frames (GPTC)`);
        must(tx.txBytes === 100 * 100, `txBytes is ${tx.txBytes}; expected 10000 (GOTC)`);
      });

      await list.check("adds to the counters: the registers clear when read", () => {
        readStats(b.regs, rx);
        must(
          rx.rxPackets === 100,
          `a second call without traffic changed rxPackets to ${rx.rxPackets}: add what the ` +
            `registers say, do not assign it`,
        );
        send(50, b.mac);
        readStats(b.regs, rx);
        drainReference(devB);
        const now: number = rx.rxPackets;
        must(now === 150, `rxPackets is ${now} after 100 + 50 frames`);
      });

      await list.check("counts frames dropped for want of receive descriptors (rxMissed)", () => {
        const before = rx.rxMissed;
        send(600, b.mac); // nobody polls: 511 descriptors take 511, 89 are dropped
        readStats(b.regs, rx);
        drainReference(devB);
        must(
          rx.rxMissed - before === 89,
          `rxMissed grew by ${rx.rxMissed - before}; the device dropped 89 (QPRDC[0] and MPC)`,
        );
      });

      const arrive = (count: number, dstMac?: Uint8Array) => {
        send(count, dstMac);
        return drainReference(devB);
      };
      const foreign = Uint8Array.of(0x02, 0, 0, 0, 0, 0x99);
      const multicast = Uint8Array.of(0x01, 0x00, 0x5e, 0, 0, 1);

      await list.check("promiscuous off: only frames for our MAC and broadcast arrive", () => {
        setPromisc(b.regs, false);
        must(arrive(10, foreign) === 0, "frames for another MAC still arrive (FCTRL.UPE)");
        must(arrive(10, multicast) === 0, "multicast frames still arrive (FCTRL.MPE)");
        must(arrive(10, b.mac) === 10, "frames for our own MAC no longer arrive");
        must(
          arrive(10) === 10,
          "broadcast frames no longer arrive: leave FCTRL.BAM alone (read-modify-write)",
        );
      });

      await list.check("promiscuous on: frames for any MAC arrive", () => {
        setPromisc(b.regs, true);
        must(arrive(10, foreign) === 10, "frames for another MAC do not arrive (FCTRL.UPE)");
        must(arrive(10, multicast) === 10, "multicast frames do not arrive (FCTRL.MPE)");
        must(arrive(10) === 10, "broadcast frames do not arrive");
      });
    } finally {
      sim.stop();
    }
  },
};
