/**
 * The forwarding step over two instant devices: the one loop body that the
 * forwarding benchmark (tools/bench/scenarios.ts) and the ring viewer's
 * `--nic instant` (tools/view/app_worker.ts) both run, so that `deno task
 * bench:view` compares the very same code with and without the viewer.
 *
 * @module
 */

import type { PktBuf } from "../../src/mempool.ts";
import type { IxyDevice } from "../../src/device.ts";
import { forward } from "../fwd.ts";

/** Frame size of every benchmark: 60 bytes + CRC = 64, the ixy papers' minimum-size frames. */
export const FRAME_SIZE = 60;

/** One NIC of a scenario: our driver on an instant device. */
export interface Port {
  /** Our driver. */
  drv: IxyDevice;
  /** The instant device: fills posted RX buffers / completes queued TX descriptors. */
  dev: { receive(size: number): void; transmit(): void };
}

/**
 * `fwd`: A receives a batch, tools/fwd.ts's own `forward()` moves it to B
 * (rxBatch, touch, txBatch, free what B's ring did not take), B sends.
 * `step()` does one batch and returns the frames B took.
 */
export function fwdScenario(a: Port, b: Port, batch: number): { step(): number } {
  const bufs: PktBuf[] = new Array(batch);
  const received = { n: 0 }; // made once: forward() reports the batch size here
  return {
    step() {
      a.dev.receive(FRAME_SIZE);
      const dropped = forward(a.drv, b.drv, bufs, batch, received);
      b.dev.transmit();
      return received.n - dropped;
    },
  };
}
