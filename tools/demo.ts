/**
 * The demo: ixy.ts moving real (emulated) packets, in one command.
 *
 *     deno task demo              # lab VM: our driver -> the kernel's driver
 *     deno task demo --nic e1000  # the same with QEMU's Intel 82540EM NICs
 *     deno task demo --nic igb    # our igb driver on QEMU's Intel 82576 -> the kernel's virtio_net
 *     deno task demo --sim        # software 82599: our ixgbe driver on both ends
 *
 * It boots the lab VM (tools/vm/) with two NICs on one QEMU hub (virtio by
 * default), runs our pktgen on the first NIC with live statistics, and asks
 * the Linux kernel, whose own driver owns the second NIC, how many frames it
 * received. It succeeds if the frames arrived there.
 *
 * At full speed the kernel's receive path (emulated, like everything in the
 * VM) is slower than our sender, and what the kernel's ring cannot take is
 * lost on the way — so the demo reports how many arrived, not that all did. The
 * tests (tests/vm/) check every single frame at a rate both sides sustain.
 *
 * @module
 */

import { parseArgs } from "node:util";
import { type NicModel, runInVm, vmNicAddress } from "./vm/mod.ts";
import { IxyError } from "../src/error.ts";
import { runApp } from "./lib/app.ts";
import { intOption } from "./lib/cli.ts";
import { runSimDemo } from "./sim82599/demo.ts";

/** One NIC family the demo can show. */
interface DemoNic {
  /** QEMU's model of our NIC (the first). */
  ours: NicModel;
  /** QEMU's model of the kernel's NIC (the second). */
  peer: NicModel;
  /** The kernel driver of the peer NIC. */
  kernelDriver: string;
  /** A kernel module the guest loads first (virtio_net is loaded at boot; e1000 is not). */
  load?: string;
}

/**
 * The NIC families the demo can show. The igb demo's peer is a virtio NIC,
 * whose kernel driver is loaded at boot; tests/vm/igb_test.ts also checks
 * our igb against the kernel's own igb on a second 82576.
 */
const DEMO_NICS: Record<string, DemoNic> = {
  virtio: { ours: "virtio", peer: "virtio", kernelDriver: "virtio_net" },
  e1000: { ours: "e1000", peer: "e1000", kernelDriver: "e1000", load: "e1000" },
  igb: { ours: "igb", peer: "virtio", kernelDriver: "virtio_net" },
};

/** QEMU's models of the demo's two NICs, in order. */
function modelsOf(nic: DemoNic): NicModel[] {
  return [nic.ours, nic.peer];
}

const HELP = `Usage: deno task demo [options]

Boots the lab VM (QEMU, two NICs on one hub, virtio by default), sends test
frames with our driver on the first NIC for a few seconds (live statistics),
and shows how many of them the kernel's own driver on the second NIC counted.
Exits 0 if frames arrived there. Our NIC is at ${vmNicAddress(0)}, an igb at ${
  vmNicAddress(0, ["igb"])
}.
Needs root (QEMU, the Debian kernel download on first use).

With --sim, no VM: our ixgbe driver sends on port A of a software 82599
(tools/sim82599/) cabled to port B, where our ixgbe driver receives; no root.

Options:
  --nic KIND    the NICs of the VM: ${Object.keys(DEMO_NICS).join(", ")} (default virtio);
                e1000 is QEMU's Intel 82540EM, driven by our e1000 driver and,
                on the peer, by the kernel's e1000; igb is QEMU's Intel 82576
                (QEMU 8.0 or newer), driven by our igb driver, the peer virtio
  --sim         use the software 82599 instead of the lab VM
  --seconds N   how long pktgen runs (default 5)
  --verbose     also show the guest kernel's console
  -h, --help    show this help`;

/** What runs inside the VM (plain sh; see tests/vm/guest/ for the tests). */
function guestScript(seconds: number, nic: DemoNic): string {
  // The slots depend on the models (an igb sits below the hub's usual slots).
  const ours = vmNicAddress(0, modelsOf(nic));
  const peer = vmNicAddress(1, modelsOf(nic));
  return `set -eu
${nic.load ? `modprobe ${nic.load}` : ""}
PEER=$(ls /sys/bus/pci/devices/${peer}/net/ 2>/dev/null ||
  ls /sys/bus/pci/devices/${peer}/virtio*/net/)
echo 1 > /proc/sys/net/ipv6/conf/$PEER/disable_ipv6   # only our frames on the wire
ip link set "$PEER" up
BEFORE=$(cat /sys/class/net/$PEER/statistics/rx_packets)
echo "demo: the kernel's ${nic.kernelDriver} owns ${peer} as $PEER; ixy.ts takes ${ours}"
$IXY_DENO run -A --no-check tools/pktgen.ts ${ours} --seconds ${seconds}
sleep 1
AFTER=$(cat /sys/class/net/$PEER/statistics/rx_packets)
echo "DEMO_PEER=$PEER DEMO_PEER_RX=$((AFTER - BEFORE))"`;
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    args: Deno.args,
    options: {
      seconds: { type: "string", default: "5" },
      verbose: { type: "boolean", default: false },
      sim: { type: "boolean", default: false },
      nic: { type: "string", default: "virtio" },
      help: { type: "boolean", short: "h", default: false },
    },
  });
  if (values.help) return console.log(HELP);
  const seconds = intOption("seconds", values.seconds, { min: 1, max: 3600 });
  const nic = DEMO_NICS[values.nic];
  if (nic === undefined) {
    throw new IxyError(
      `Unknown --nic "${values.nic}": use one of ${Object.keys(DEMO_NICS).join(", ")}.`,
    );
  }
  if (values.sim) {
    console.log("demo: software 82599, port A cabled to port B, ixgbe driver on both");
    const r = await runSimDemo({ seconds });
    console.log(
      `demo: sent ${r.sent}, received ${r.received}, checked ${r.good} intact, ${r.bad} bad, ` +
        `missed ${r.rxMissed}, model violations ${r.violations}`,
    );
    if (r.received === 0 || r.bad > 0 || r.violations > 0) {
      throw new IxyError("The software 82599 demo failed (see the lines above).");
    }
    return;
  }
  // runInVm checks the QEMU version an igb needs (8.0) and says how to get it.
  console.log(
    `demo: booting the lab VM with ${
      nic.ours === nic.peer ? `two ${nic.ours} NICs` : `${nic.ours} and ${nic.peer} NICs`
    } (QEMU without KVM: ~15 s) ...`,
  );
  const result = await runInVm(guestScript(seconds, nic), {
    nicModels: modelsOf(nic),
    stream: true,
    verbose: values.verbose,
    log: (m) => console.log(`demo: ${m}`),
    timeoutSeconds: 300 + seconds,
  });
  const sent = Number(/pktgen: sent (\d+) frames/.exec(result.output)?.[1] ?? NaN);
  const peer = /DEMO_PEER=(\S+) DEMO_PEER_RX=(\d+)/.exec(result.output);
  if (result.code !== 0 || !peer || Number.isNaN(sent)) {
    throw new IxyError(
      `The demo failed inside the VM (exit ${result.code}); see the output above.`,
    );
  }
  const received = Number(peer[2]);
  const share = sent > 0 ? (100 * received / sent).toFixed(1) : "0";
  console.log(
    `demo: ixy.ts sent ${sent} frames; the kernel's ${nic.kernelDriver} (${peer[1]}) counted ` +
      `${received} (${share}%).`,
  );
  if (received === 0 || received > sent) {
    throw new IxyError(`The kernel peer counted ${received} of ${sent} frames: the demo failed.`);
  }
  if (received < sent) {
    console.log(
      "demo: the rest were lost on the way (QEMU's queue or the kernel's receive ring): the " +
        "kernel's emulated receive path is slower than our sender. `deno task test` checks " +
        "every frame at a rate both sustain.",
    );
  }
  console.log("demo: frames sent by ixy.ts arrived at the Linux kernel's driver.");
}

if (import.meta.main) runApp(main);
