/**
 * The list of lab checkers, shared by the runner (mod.ts) and its worker.
 *
 * @module
 */

import type { Lab } from "./lab.ts";
import { lab1 } from "./lab1_pci.ts";
import { lab2 } from "./lab2_dma.ts";
import { lab3 } from "./lab3_tx.ts";
import { lab4 } from "./lab4_rx.ts";
import { lab5 } from "./lab5_stats.ts";
import { lab6 } from "./lab6_perf.ts";
import { lab7 } from "./lab7_igb.ts";
import { lab1Vm } from "./lab1_vm.ts";
import { lab2Vm } from "./lab2_vm.ts";

/**
 * All labs, in order. Lab 7 boots the lab VM itself (`bootsVm`): `runLab` runs it
 * on the host, never in the worker.
 */
export const LAB_LIST: readonly Lab[] = [lab1, lab2, lab3, lab4, lab5, lab6, lab7];

/** The labs with a lab-VM step (`--vm`): checkers that run inside the lab VM, as root. */
export const VM_LAB_LIST: readonly Lab[] = [lab1Vm, lab2Vm];

/** Lab `n`'s checker: the software-82599 one, or with `vm` the one for the lab VM. */
export function findLab(n: number, vm = false): Lab | undefined {
  return (vm ? VM_LAB_LIST : LAB_LIST).find((l) => l.number === n);
}
