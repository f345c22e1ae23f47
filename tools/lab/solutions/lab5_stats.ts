/**
 * Lab 5, reference solution: the 82599's statistics and promiscuous mode —
 * `IxgbeDevice.readStats` and `IxgbeDevice.setPromisc` of
 * drivers/ixgbe/ixgbe.ts as functions of BAR0.
 *
 * @module
 */

import type { RegisterSpace } from "../../../src/mmio.ts";
import { clearFlags32, setFlags32 } from "../../../src/mmio.ts";
import type { DeviceStats } from "../../../src/stats.ts";
import * as C from "../../../drivers/ixgbe/constants.ts";

const TWO_TO_32 = 0x1_0000_0000;
/** GORC/GOTC count the 4-byte CRC of each frame (8.2.3.23.27); we report frames without it. */
const CRC_BYTES = 4;

/** Adds the counters since the last call (all clear on read, 8.2.3.23). */
export function readStats(regs: RegisterSpace, stats: DeviceStats): void {
  const rxPackets = regs.read32(C.IXGBE_GPRC);
  const txPackets = regs.read32(C.IXGBE_GPTC);
  // Low half first: reading the high half clears the pair.
  const rxBytes = regs.read32(C.IXGBE_GORCL) + regs.read32(C.IXGBE_GORCH) * TWO_TO_32;
  const txBytes = regs.read32(C.IXGBE_GOTCL) + regs.read32(C.IXGBE_GOTCH) * TWO_TO_32;
  let mpc = 0;
  for (let i = 0; i < 8; i++) mpc += regs.read32(C.IXGBE_MPC(i));
  let qprdc = 0;
  for (let i = 0; i < 16; i++) qprdc += regs.read32(C.IXGBE_QPRDC(i));
  // An erratum: GPRC also counts the frames MPC counts (Linux and DPDK correct it).
  const good = rxPackets - mpc;
  stats.rxPackets += good;
  stats.txPackets += txPackets;
  stats.rxBytes += rxBytes - CRC_BYTES * good;
  stats.txBytes += txBytes - CRC_BYTES * txPackets;
  stats.rxMissed += mpc + qprdc;
}

/** FCTRL.UPE and FCTRL.MPE (8.2.3.7.1), read-modify-write so BAM stays as it is. */
export function setPromisc(regs: RegisterSpace, enabled: boolean): void {
  const bits = C.IXGBE_FCTRL_BITS.UPE | C.IXGBE_FCTRL_BITS.MPE;
  if (enabled) setFlags32(regs, C.IXGBE_FCTRL, bits);
  else clearFlags32(regs, C.IXGBE_FCTRL, bits);
}
