/**
 * The ring viewer (tools/view/) in a real browser: headless chromium, driven
 * over the DevTools protocol (./cdp.ts), against `--nic sim`. Skipped when
 * chromium is not installed. With VIEW_SCREENSHOTS=1 it also writes the
 * screenshots in docs/ (docs/view_rings.png, docs/view_step.png).
 */

import assert from "node:assert/strict";
import { Browser, haveChromium } from "./cdp.ts";
import { startView } from "../../tools/view/server.ts";

const SIZE = 64;

Deno.test({
  name: "ring viewer in a browser: rings, moving pointers, step mode, decoded descriptors",
  ignore: !haveChromium(),
  sanitizeResources: false,
  sanitizeOps: false,
  async fn(t) {
    // Not confined: `deno test -A` runs without --unstable-worker-options
    // (tests/sim/view_security_test.ts opens the confined server in chromium).
    const view = await startView({ port: 0, ringSize: SIZE, confine: false });
    let browser: Browser | undefined;
    try {
      // Nobody looks yet: the server has not read the rings once.
      await new Promise((r) => setTimeout(r, 300));
      assert.equal(view.snapshots, 0, "snapshots without a page");
      browser = await Browser.launch();
      const b = browser;
      await b.open(view.url, "document.querySelectorAll('svg[data-ring]').length === 4");

      await t.step("every ring is drawn with one wedge per descriptor", async () => {
        const counts = await b.eval<number[]>(
          `[...document.querySelectorAll('svg[data-ring]')].map((s) => s.querySelectorAll('path.desc').length)`,
        );
        assert.deepEqual(counts, [SIZE, SIZE, SIZE, SIZE]);
        // The pointers get their names and places with the first snapshot.
        await b.waitFor(
          `[...document.querySelectorAll('.ptr')].every((g) => g.getAttribute('data-value') !== null)`,
        );
        const names = await b.eval<string[]>(
          `[...document.querySelectorAll('.ptr text')].map((t) => t.textContent.split('=')[0])`,
        );
        for (const n of ["RDH", "RDT", "TDH", "TDT", "driver"]) assert.ok(names.includes(n), n);
      });

      await t.step("pointers move while traffic flows", async () => {
        const read = () =>
          b.eval<string[]>(
            `[...document.querySelectorAll('.ptr')].map((g) => g.getAttribute('data-value'))`,
          );
        await b.waitFor(`document.querySelector('.ptr').getAttribute('data-value') !== null`);
        const first = await read();
        let changed = 0;
        for (let k = 0; k < 20 && changed === 0; k++) {
          await new Promise((r) => setTimeout(r, 200));
          const now = await read();
          changed = now.filter((v, i) => v !== first[i]).length;
        }
        assert.ok(changed > 0, "no pointer moved in 4 s");
        assert.ok(view.snapshots > 0);
      });

      // Slow traffic, then pause: step mode.
      await b.eval(`fetch('api/rate?pps=1000', { method: 'POST' })`);
      await new Promise((r) => setTimeout(r, 500));
      await b.eval(`document.getElementById('pause').click()`);
      await b.waitFor(`!document.querySelector('button.step').disabled`);

      // Ring 1 = port 0 TX, ring 2 = port 1 RX (app_worker's order: per port, RX then TX).
      const pointer = (ring: number, key: string) =>
        b.eval<number>(
          `Number(document.querySelector('svg[data-ring="${ring}"] [data-pointer="${key}"]').getAttribute('data-value'))`,
        );
      const waitSnapshot = () => new Promise((r) => setTimeout(r, 400));

      let sentAt = -1;
      await t.step("'send one packet' moves TDT by exactly one and the frame arrives", async () => {
        await waitSnapshot();
        const tdt = await pointer(1, "tail");
        const rdh = await pointer(2, "head");
        await b.eval(`document.querySelector('button[data-step="send"]').click()`);
        await b.waitFor(`document.getElementById('step-text').textContent.includes('returned')`);
        const text = await b.eval<string>(`document.getElementById('step-text').textContent`);
        assert.match(text, /returned 1\./);
        await waitSnapshot();
        assert.equal(await pointer(1, "tail"), (tdt + 1) % SIZE, "TDT");
        assert.equal(await pointer(2, "head"), (rdh + 1) % SIZE, "RDH of the receiver");
        // The step names the driver line that moved the tail.
        assert.match(text, /drivers\/ixgbe\/\S+\.ts:\d+.*TDT/);
        const link = await b.eval<string>(
          `[...document.querySelectorAll('#step-text a')].find((a) => a.parentNode.textContent.includes('TDT')).href`,
        );
        const src = await (await fetch(link)).text();
        const line = Number(/#L(\d+)$/.exec(link)![1]);
        assert.match(src, new RegExp(`id="L${line}".*write32\\(q\\.tail, q\\.txIndex\\)`));
        sentAt = tdt;
      });

      await t.step(
        "a clicked TX descriptor shows what is in memory: the device's write-back, or the read format while WTHRESH holds it back",
        async () => {
          await b.eval(
            `document.querySelector('svg[data-ring="1"] path[data-d="${sentAt}"]').dispatchEvent(new MouseEvent('click'))`,
          );
          await b.waitFor(`document.getElementById('detail').dataset.d === '${sentAt}'`);
          const fields = await b.eval<Record<string, string>>(
            `Object.fromEntries([...document.querySelectorAll('#fields tbody tr')].map((tr) => [tr.dataset.name, tr.children[2].textContent + '|' + tr.children[3].textContent]))`,
          );
          // A direct read of the ring: the TX ring's shared memory.
          const m = view.init.rings[1].memory;
          assert.equal(m.kind, "shared");
          if (m.kind !== "shared") return;
          const words = new Uint32Array(m.buffer, m.offset, m.length / 4);
          const w = sentAt * 4;
          const hex = (n: number) => "0x" + n.toString(16).padStart(8, "0");
          if ((words[w + 3] & 1) === 1) {
            // The device sent it and wrote the descriptor back (7.2.3.2.4): only DD is left.
            assert.equal(
              fields["Reserved"].split("|")[0],
              `${hex(words[w])} ${hex(words[w + 1])} ${hex(words[w + 2])}`,
            );
            assert.match(fields["STA"], /DD: sent/);
          } else {
            // The frame arrived (previous step), but the driver sets TXDCTL.WTHRESH = 4:
            // the device holds write-backs until four have accumulated (7.2.3.5.1), so
            // the descriptor may still be in the read format the driver wrote.
            const phys = words[w] + words[w + 1] * 2 ** 32;
            assert.equal(
              fields["Address"].split("|")[0],
              "0x" + phys.toString(16).padStart(12, "0"),
            );
            assert.equal(fields["DTALEN"].split("|")[0], String(words[w + 2] & 0xffff));
            assert.match(fields["STA"], /DD clear/);
          }
        },
      );

      await t.step(
        "'receive one batch' takes that frame, refills, moves RDT by one; the page shows the driver's refill",
        async () => {
          const rdt = await pointer(2, "tail");
          await b.eval(`document.querySelector('button[data-step="receive"]').click()`);
          await b.waitFor(
            `document.getElementById('step-text').textContent.includes('receive one batch')`,
          );
          const text = await b.eval<string>(`document.getElementById('step-text').textContent`);
          assert.match(text, /returned 1\./);
          assert.match(text, /RDT/);
          await waitSnapshot();
          assert.equal(await pointer(2, "tail"), (rdt + 1) % SIZE, "RDT");
          // The received descriptor (RDT's new position) is written back; the page decodes it.
          await b.eval(
            `document.querySelector('svg[data-ring="2"] path[data-d="${
              (rdt + 1) % SIZE
            }"]').dispatchEvent(new MouseEvent('click'))`,
          );
          await b.waitFor(`document.getElementById('detail').dataset.d === '${(rdt + 1) % SIZE}'`);
          const fields = await b.eval<Record<string, string>>(
            `Object.fromEntries([...document.querySelectorAll('#fields tbody tr')].map((tr) => [tr.dataset.name, tr.children[2].textContent]))`,
          );
          // The refill put a fresh buffer in: read format again, DD clear, as in memory.
          const m = view.init.rings[2].memory;
          if (m.kind !== "shared") throw new Error("not shared");
          const words = new Uint32Array(m.buffer, m.offset, m.length / 4);
          const w = ((rdt + 1) % SIZE) * 4;
          assert.equal(words[w + 2] & 1, 0);
          assert.equal(
            fields["Packet Buffer Address"],
            "0x" + (words[w] + words[w + 1] * 2 ** 32).toString(16).padStart(12, "0"),
          );
        },
      );

      await t.step("a written-back receive descriptor shows PKT_LEN, DD and EOP", async () => {
        await b.eval(`document.querySelector('button[data-step="forward"]').click()`);
        await b.waitFor(
          `document.getElementById('step-text').textContent.includes('send the batch back')`,
        );
        await waitSnapshot();
        // Port 0's RX ring now holds the frame, written back: find it and click it.
        const d = await b.eval<number>(
          `[...document.querySelectorAll('svg[data-ring="0"] path.desc')].findIndex((p) => p.classList.contains('own-W'))`,
        );
        assert.ok(d >= 0, "no written-back descriptor on port 0's RX ring");
        await b.eval(
          `document.querySelector('svg[data-ring="0"] path[data-d="${d}"]').dispatchEvent(new MouseEvent('click'))`,
        );
        await b.waitFor(
          `document.getElementById('detail').dataset.d === '${d}' && document.getElementById('detail').dataset.ring === '0'`,
        );
        await b.waitFor(`document.querySelector('#fields tbody tr[data-name="PKT_LEN"]')`);
        const fields = await b.eval<Record<string, string>>(
          `Object.fromEntries([...document.querySelectorAll('#fields tbody tr')].map((tr) => [tr.dataset.name, tr.children[2].textContent + '|' + tr.children[3].textContent]))`,
        );
        const m = view.init.rings[0].memory;
        if (m.kind !== "shared") throw new Error("not shared");
        const words = new Uint32Array(m.buffer, m.offset, m.length / 4);
        assert.equal(fields["PKT_LEN"].split("|")[0], String(words[d * 4 + 3] & 0xffff));
        assert.equal(fields["PKT_LEN"].split("|")[0], "60");
        assert.match(fields["Extended Status"], /DD EOP/);
        // Its packet, found through the address the driver had posted.
        const marks = await b.eval<string>(`document.getElementById('marks').textContent`);
        assert.match(marks, /Ethernet .*type 0x0800/);
        assert.match(marks, /IPv4 198\.18\.0\.1 → 198\.18\.0\.2 proto 17/);
        assert.match(marks, /UDP port \d+ → \d+ length 26/);
        const dump = await b.eval<string>(`document.getElementById('hexdump').textContent`);
        assert.match(dump, /^0000 {2}ff ff ff ff ff ff 02 82/);
        if (Deno.env.get("VIEW_SCREENSHOTS")) {
          await Deno.writeFile(
            new URL("../../docs/view_step.png", import.meta.url),
            await b.screenshot(),
          );
        }
      });

      await t.step("resume: traffic flows again", async () => {
        await b.eval(`document.getElementById('pause').click()`);
        await b.waitFor(`document.querySelector('button.step').disabled`);
        if (Deno.env.get("VIEW_SCREENSHOTS")) {
          await b.eval(`fetch('api/rate?pps=20', { method: 'POST' })`);
          await new Promise((r) => setTimeout(r, 1500));
          await b.eval(
            `document.querySelector('svg[data-ring="2"] path[data-d="3"]').dispatchEvent(new MouseEvent('click'))`,
          );
          await new Promise((r) => setTimeout(r, 800));
          await Deno.writeFile(
            new URL("../../docs/view_rings.png", import.meta.url),
            await b.screenshot(),
          );
        }
      });
    } finally {
      await browser?.close();
      await view.close();
    }
  },
});
