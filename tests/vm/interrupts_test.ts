/**
 * Lab-VM test of receive interrupts through VFIO (`deno task vm --iommu`):
 * a legacy virtio NIC bound to vfio-pci, MSI-X vector 0 for its receive queue
 * (virtio 1.1 sections 4.1.4.8 and 4.1.5.1.2) wired to an eventfd
 * (VFIO_DEVICE_SET_IRQS), used-ring notifications switched on while the
 * receive loop sleeps (section 2.6.7), ixy's poll-or-sleep policy
 * (src/interrupts.ts). Runs tests/vm/guest/irq_kernel_to_rx.sh as root.
 */

import assert from "node:assert/strict";
import { field, guest } from "./lib.ts";

const COUNT = 500;
const ROUNDS = 4;
/**
 * Idle measurement per mode (polling, then interrupts): 5 s, as igb_test.ts's. Polling takes a
 * whole vCPU, interrupts a few percent (README, "Interrupts"): far apart at any length.
 */
const IDLE_SECONDS = 5;

Deno.test("lab VM + IOMMU: MSI-X through VFIO wakes a sleeping receive loop", async (t) => {
  const out = await guest(
    `sh tests/vm/guest/irq_kernel_to_rx.sh ${COUNT} ${ROUNDS} ${IDLE_SECONDS}`,
    {
      iommu: true,
    },
  );
  const r = JSON.parse(field(out, "IRQ_RESULT"));
  console.log(
    `  idle receive loop in the VM: polling ${(r.idleCpuPolling * 100).toFixed(1)}% CPU, ` +
      `with interrupts ${(r.idleCpuInterrupts * 100).toFixed(1)}% (guest load ` +
      `${r.loadAverage.toFixed(2)}, ${r.cpus} vCPUs); ${r.sleeps} sleeps, ${r.wakeups} ` +
      `wake-ups, ${r.interrupts} interrupts (kernel: ${r.kernelMsixInterrupts})`,
  );
  await t.step("MSI-X was set up through VFIO", () => {
    assert.equal(field(out, "DRIVER"), "vfio-pci");
    assert.ok(r.msixLines.length >= 1, `no vfio-msix line in /proc/interrupts: ${out}`);
    assert.ok(r.kernelMsixInterrupts >= 1, JSON.stringify(r));
  });
  await t.step("every round arrived, once, byte-exact", () => {
    assert.equal(r.rounds.length, ROUNDS, JSON.stringify(r.rounds));
    for (const round of r.rounds) {
      assert.equal(round.good, COUNT, JSON.stringify(round));
      assert.equal(round.distinct, COUNT, JSON.stringify(round));
      assert.equal(round.bad + round.mismatched, 0, JSON.stringify(round));
    }
    assert.equal(Number(field(out, "KERNEL_TX_PACKETS")), COUNT * ROUNDS);
  });
  await t.step("the loop slept and interrupts woke it", () => {
    assert.ok(r.wakeups >= ROUNDS - 1, JSON.stringify(r));
    assert.ok(r.interrupts >= r.wakeups, JSON.stringify(r));
  });
  await t.step("idle with interrupts: far less CPU than polling", () => {
    assert.ok(r.idleCpuInterrupts < 0.2, `${r.idleCpuInterrupts}`);
    assert.ok(r.idleCpuInterrupts < r.idleCpuPolling / 2, JSON.stringify(r));
  });
});
