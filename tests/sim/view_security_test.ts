/**
 * The ring viewer's web server (tools/view/) under attack: it runs as the
 * user who started it (root with `--nic <pci>`), on 127.0.0.1, where every
 * other user of the machine and every web page the user's browser opens can
 * reach it. This test starts the tool as `deno task view` does (a
 * subprocess, `--nic sim`, its web server confined) and checks that it
 * refuses, each with a plain 4xx and none of the file's bytes:
 *
 * - path traversal: encoded, double-encoded, `?` and `#` suffixes, absolute
 *   paths, backslashes, a file planted outside the project, project files the
 *   page does not link;
 * - a foreign Host header (DNS rebinding), requests without the per-run
 *   token or with a wrong one;
 * - cross-origin POSTs (no Origin, another origin; in chromium too: a page
 *   of another origin that knows the token cannot pause the traffic);
 * - numbers out of range (`pps=4294967296` once wrapped to "full speed");
 *
 * and that the real page still works in chromium against that confined
 * server. A second test checks the confinement itself: a Worker with the
 * web server's permissions cannot read, write, run, dlopen, read the
 * environment or reach another port.
 *
 * Requests go over a raw TCP socket: the path exactly as written (no
 * client-side normalisation, like `curl --path-as-is`), any Host header.
 */

import assert from "node:assert/strict";
import { Browser, haveChromium } from "./cdp.ts";

const ROOT = new URL("../../", import.meta.url);

/** The flags `deno task view` runs the viewer with (deno.json), minus the V8 flags. */
const VIEW_FLAGS = ["run", "-A", "--unstable-worker-options", "--no-prompt"];

interface Reply {
  status: number;
  headers: Map<string, string>;
  body: string;
}

/**
 * One HTTP/1.1 request over a fresh TCP connection, byte for byte: `head`
 * is the request line and header lines (without the final blank line).
 * Reads until the server closes or `ms` pass (an event stream never ends).
 */
async function raw(port: number, head: string, ms = 3000): Promise<Reply> {
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  await conn.write(new TextEncoder().encode(head + "\r\nConnection: close\r\n\r\n"));
  const chunks: Uint8Array[] = [];
  const deadline = setTimeout(() => conn.close(), ms);
  try {
    const buf = new Uint8Array(65536);
    for (;;) {
      const n = await conn.read(buf);
      if (n === null) break;
      chunks.push(buf.slice(0, n));
    }
  } catch { /* closed by the deadline */ }
  clearTimeout(deadline);
  try {
    conn.close();
  } catch { /* already closed */ }
  const text = new TextDecoder().decode(
    chunks.reduce((a, b) => {
      const c = new Uint8Array(a.length + b.length);
      c.set(a);
      c.set(b, a.length);
      return c;
    }, new Uint8Array()),
  );
  const end = text.indexOf("\r\n\r\n");
  const lines = (end < 0 ? text : text.slice(0, end)).split("\r\n");
  const status = Number(/^HTTP\/1\.[01] (\d{3})/.exec(lines[0] ?? "")?.[1] ?? 0);
  const headers = new Map<string, string>();
  for (const l of lines.slice(1)) {
    const i = l.indexOf(":");
    if (i > 0) headers.set(l.slice(0, i).trim().toLowerCase(), l.slice(i + 1).trim());
  }
  let body = end < 0 ? "" : text.slice(end + 4);
  if (headers.get("transfer-encoding") === "chunked") {
    let out = "";
    for (;;) {
      const nl = body.indexOf("\r\n");
      const size = parseInt(body.slice(0, nl), 16);
      if (!(size > 0)) break;
      out += body.slice(nl + 2, nl + 2 + size);
      body = body.slice(nl + 2 + size + 2);
    }
    body = out;
  }
  return { status, headers, body };
}

/** The viewer as a subprocess, and the address it printed. */
interface Running {
  child: Deno.ChildProcess;
  url: URL;
  port: number;
  /** Everything it printed on stdout so far. */
  out: () => string;
}

async function startTool(): Promise<Running> {
  const child = new Deno.Command(Deno.execPath(), {
    args: [...VIEW_FLAGS, "tools/view/main.ts", "--port", "0", "--seconds", "600"],
    cwd: ROOT,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  let out = "";
  let err = "";
  const pump = async (s: ReadableStream<Uint8Array>, add: (t: string) => void) => {
    for await (const t of s.pipeThrough(new TextDecoderStream())) add(t);
  };
  pump(child.stdout, (t) => out += t).catch(() => {});
  pump(child.stderr, (t) => err += t).catch(() => {});
  const deadline = Date.now() + 60_000;
  let url: string | undefined;
  while (!(url = /view: open (http:\/\/\S+)/.exec(out)?.[1])) {
    if (Date.now() > deadline) {
      child.kill();
      throw new Error(`the viewer printed no address in 60 s: ${out} ${err}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  const u = new URL(url);
  return { child, url: u, port: Number(u.port), out: () => out };
}

/** A refusal: 4xx, short, plain, no file contents, no stack trace. */
function assertRefused(r: Reply, what: string, secrets: string[]): void {
  assert.ok(
    r.status >= 400 && r.status < 500,
    `${what}: status ${r.status}, ${r.body.slice(0, 200)}`,
  );
  for (const s of secrets) assert.ok(!r.body.includes(s), `${what}: the body holds ${s}`);
  assert.ok(r.body.length < 300, `${what}: a ${r.body.length}-byte body`);
  assert.doesNotMatch(r.body, /\bat .*:\d+:\d+|Error:/, `${what}: a stack trace`);
  assert.doesNotMatch(r.headers.get("content-type") ?? "text/plain", /html|json|javascript/, what);
}

Deno.test({
  name: "ring viewer: refuses traversal, foreign hosts, missing tokens, cross-origin POSTs",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn(t) {
    // A file planted outside the project, with a marker to look for.
    const marker = `PLANTED-${crypto.randomUUID()}`;
    const dir = await Deno.makeTempDir({ prefix: "ixy-view-attack-" });
    const planted = `${dir}/secret.ts`;
    await Deno.writeTextFile(planted, `export const secret = "${marker}";\n`);
    await Deno.writeTextFile(`${dir}/secret.ts?.ts`, `"${marker}"\n`).catch(() => {});
    // Bytes of files the server must never send.
    const denoJson = (await Deno.readTextFile(new URL("deno.json", ROOT))).slice(0, 40);
    const serverTs = "export async function startView";
    const secrets = [marker, "root:x:0:0", denoJson, serverTs];

    const tool = await startTool();
    const { port } = tool;
    const host = `127.0.0.1:${port}`;
    const base = tool.url.pathname; // "/<token>/"
    const get = (path: string, headers = "") =>
      raw(port, `GET ${path} HTTP/1.1\r\nHost: ${host}${headers ? "\r\n" + headers : ""}`);
    const post = (path: string, headers: string) =>
      raw(
        port,
        `POST ${path} HTTP/1.1\r\nHost: ${host}\r\nContent-Length: 0${
          headers ? "\r\n" + headers : ""
        }`,
      );
    const origin = `Origin: http://${host}`;
    const state = async () => JSON.parse((await get(`${base}api/state`)).body);
    let browser: Browser | undefined;
    try {
      await t.step("the printed address works: page, config, linked source", async () => {
        const page = await get(base);
        assert.equal(page.status, 200);
        assert.match(page.body, /<title>ixy\.ts/);
        assert.equal((await get(`${base}api/config`)).status, 200);
        const src = await get(`${base}src/drivers/ixgbe/tx.ts`);
        assert.equal(src.status, 200);
        assert.match(src.body, /IXGBE_TDT/);
        for (const h of [`localhost:${port}`, `[::1]:${port}`]) {
          const r = await raw(port, `GET ${base}api/config HTTP/1.1\r\nHost: ${h}`);
          assert.equal(r.status, 200, h);
        }
      });

      await t.step("path traversal, in every spelling, is refused", async () => {
        const up = (enc: string, n = 12) => Array(n).fill(enc).join("/");
        const targets = [
          // The exploit and its variants.
          `src/tools/${up("%252e%252e")}/etc/passwd%3F.ts`,
          `src/tools/${up("%252e%252e")}${planted}`,
          `src/tools/${up("%252e%252e")}${planted}%3F.ts`,
          `src/tools/${up("%252e%252e")}/etc/passwd%23.ts`,
          `src/tools/${up("%2e%2e")}/etc/passwd%3F.ts`,
          `src/tools/${up("..")}/etc/passwd%3F.ts`,
          `src/tools/${up("%2e%2e", 2)}/deno.json%3F.ts`,
          `src/drivers/..%2F..%2Fdeno.json%3F.ts`,
          `src/drivers/..%252F..%252Fdeno.json%253F.ts`,
          `src/tools/..%5c..%5cdeno.json%3F.ts`,
          `src/tools/%2e%2e%2f%2e%2e%2fdeno.json`,
          `src/tools/%c0%ae%c0%ae/%c0%ae%c0%ae/deno.json%3F.ts`,
          // Absolute paths.
          `src//etc/passwd`,
          `src/%2Fetc%2Fpasswd%3F.ts`,
          `src/${planted}`,
          `src/%2F${planted.slice(1).replaceAll("/", "%2F")}`,
          `src/file:///etc/passwd%3F.ts`,
          `src/file:%2F%2F${planted.replaceAll("/", "%2F")}`,
          `static/..%2F..%2F..%2Fdeno.json`,
          `static/%2e%2e/server.ts`,
          `static/%252e%252e/server.ts`,
          // NUL and friends.
          `src/drivers/ixgbe/tx.ts%00.ts`,
          `src/drivers/ixgbe/tx.ts%3F/../../../../deno.json`,
          // .ts files of the project the page does not link, and other files.
          `src/tools/view/server.ts`,
          `src/src/error.ts`,
          `src/deno.json`,
          `src/README.md`,
          `static/../../../deno.json`,
          `deno.json`,
          `tools/view/server.ts`,
        ];
        for (const path of targets) {
          assertRefused(await get(base + path), path, secrets);
          // And without the token in front (today's URLs).
          assertRefused(await get("/" + path), "/" + path, secrets);
        }
        // Request targets that are not a plain path.
        for (
          const target of [
            "/../../../../../../etc/passwd",
            `/${up("..")}${planted}`,
            `http://${host}/src/${up("%252e%252e")}/etc/passwd%3F.ts`,
            `*`,
          ]
        ) {
          const r = await get(target);
          if (r.status !== 0) assertRefused(r, target, secrets);
        }
      });

      await t.step("a foreign Host header is refused (DNS rebinding)", async () => {
        for (
          const h of [
            "evil.example",
            `evil.example:${port}`,
            `127.0.0.1.nip.io:${port}`,
            `localhost:${port + 1}`,
            `127.0.0.1:${port}.evil.example`,
            `127.0.0.1:${port}@evil.example`,
            "127.0.0.1",
            "localhost",
            `0.0.0.0:${port}`,
            `127.0.0.2:${port}`,
            "",
          ]
        ) {
          for (const path of [base, `${base}api/state`, `${base}api/config`]) {
            const r = await raw(port, `GET ${path} HTTP/1.1\r\nHost: ${h}`);
            assertRefused(r, `Host "${h}" ${path}`, [...secrets, '"rings"', "<html"]);
          }
          const p = await raw(
            port,
            `POST ${base}api/pause HTTP/1.1\r\nHost: ${h}\r\nContent-Length: 0\r\nOrigin: http://${h}`,
          );
          assertRefused(p, `Host "${h}" POST`, secrets);
        }
        // No Host at all (HTTP/1.0).
        const r = await raw(port, `GET ${base}api/state HTTP/1.0`);
        assertRefused(r, "no Host", [...secrets, '"rings"']);
        assert.equal((await state()).paused, false, "paused by a refused request");
      });

      await t.step("requests without the token, or with a wrong one, are refused", async () => {
        const token = base.split("/")[1] ?? "";
        const wrong = [
          "/",
          "/index.html",
          "/static/app.js",
          "/static/style.css",
          "/api/config",
          "/api/state",
          "/api/events",
          "/api/desc?ring=0&d=0",
          "/src/drivers/ixgbe/tx.ts",
          `/api/state?token=${token}`,
        ];
        if (token.length > 0) {
          const flip = (i: number) =>
            token.slice(0, i) + (token[i] === "0" ? "1" : "0") + token.slice(i + 1);
          wrong.push(
            `/${flip(0)}/api/state`,
            `/${flip(token.length - 1)}/api/state`,
            `/${token.slice(0, -1)}/api/state`,
            `/${token}0/api/state`,
            `/${token.toUpperCase()}/api/state`,
            `/${"0".repeat(token.length)}/api/state`,
            `/%${token.charCodeAt(0).toString(16)}${token.slice(1)}/api/state`,
            `/x/${token}/api/state`,
          );
        }
        for (const path of wrong) {
          const r = await raw(port, `GET ${path} HTTP/1.1\r\nHost: ${host}`, 1500);
          assertRefused(r, path, [...secrets, '"rings"', "<html", "function", "data:"]);
        }
        for (const p of ["/api/pause", "/api/step?n=0", "/api/rate?pps=1"]) {
          assertRefused(await post(p, origin), `POST ${p}`, secrets);
        }
        assert.equal((await state()).paused, false, "paused without the token");
      });

      await t.step("POSTs need this server's Origin; GET cannot change anything", async () => {
        for (
          const o of [
            "",
            "Origin: null",
            "Origin: http://evil.example",
            `Origin: http://127.0.0.1:${port + 1}`,
            `Origin: https://127.0.0.1:${port}`,
            `Origin: http://127.0.0.1:${port}.evil.example`,
            `Origin: http://evil.example\r\nReferer: http://${host}${base}`,
          ]
        ) {
          for (const p of ["api/pause", "api/step?n=0", "api/rate?pps=20"]) {
            assertRefused(await post(base + p, o), `POST ${p} with "${o}"`, secrets);
          }
        }
        for (const p of ["api/pause", "api/resume", "api/step?n=0", "api/rate?pps=20"]) {
          assertRefused(await get(base + p), `GET ${p}`, secrets);
        }
        const s = await state();
        assert.equal(s.paused, false, "paused by a cross-origin POST");
        assert.equal(s.pps, 0, "rate changed by a cross-origin POST");
        // This server's own origin, under each of its names, may.
        const ok = await post(`${base}api/pause`, `Origin: http://localhost:${port}`);
        assert.equal(ok.status, 200, ok.body);
        assert.equal((await state()).paused, true);
        assert.equal((await post(`${base}api/resume`, origin)).status, 200);
      });

      await t.step("numbers out of range are refused, not wrapped", async () => {
        for (
          const pps of [
            "4294967296",
            "2147483648",
            "4294968296",
            "-1",
            "1.5",
            "1e3",
            "0x10",
            "%2010",
            "",
            "abc",
            "Infinity",
            "NaN",
            "99999999999999999999",
          ]
        ) {
          const r = await post(`${base}api/rate?pps=${pps}`, origin);
          assertRefused(r, `pps=${pps}`, secrets);
        }
        assert.equal((await post(`${base}api/rate`, origin)).status, 400, "no pps");
        assert.equal((await state()).pps, 0, "a refused rate changed the rate");
        assert.equal((await post(`${base}api/rate?pps=1000`, origin)).status, 200);
        assert.equal((await state()).pps, 1000);
        assert.equal((await post(`${base}api/rate?pps=0`, origin)).status, 200);
        for (const n of ["4", "99", "-1", "1.5", "", "abc", "4294967296"]) {
          const r = await post(`${base}api/step?n=${n}`, origin);
          assertRefused(r, `step n=${n}`, secrets);
        }
        for (const q of ["ring=99&d=0", "ring=0&d=-1", "ring=0&d=64", "ring=0&d=1e1", "ring=&d="]) {
          assertRefused(await get(`${base}api/desc?${q}`), `desc ${q}`, secrets);
        }
      });

      await t.step("the web server runs confined (the tool says so)", () => {
        assert.match(tool.out(), /web server: a Worker without read, write, run, ffi, env, sys/);
      });

      await t.step({
        name: "in chromium: the real page works; another origin's page cannot pause",
        ignore: !haveChromium(),
        fn: async () => {
          // A page of another origin (this test's own server) that knows the
          // token and POSTs as a hostile page would: fetch with no-cors, and a
          // form (into a hidden frame, so the page stays to tell it is done).
          const viewer = tool.url.href;
          const evil = Deno.serve(
            { hostname: "127.0.0.1", port: 0, onListen() {} },
            () =>
              new Response(
                `<!doctype html><iframe name=sink hidden></iframe>` +
                  `<form id=f method=POST target=sink action="${viewer}api/pause"></form>` +
                  `<script>fetch(${JSON.stringify(viewer + "api/rate?pps=20")}, ` +
                  `{method: "POST", mode: "no-cors"}).catch(() => {}).finally(() => { ` +
                  `document.getElementById("f").submit(); ` +
                  `setTimeout(() => document.title = "sent", 1000); });</script>`,
                { headers: { "content-type": "text/html" } },
              ),
          );
          try {
            browser = await Browser.launch();
            const b = browser;
            await b.open(`http://127.0.0.1:${evil.addr.port}/`, "document.title === 'sent'");
            await new Promise((r) => setTimeout(r, 1000));
            const s = await state();
            assert.equal(s.paused, false, "another origin paused the traffic");
            assert.equal(s.pps, 0, "another origin changed the rate");

            await b.open(viewer, "document.querySelectorAll('svg[data-ring]').length === 4");
            await b.waitFor(
              `[...document.querySelectorAll('.ptr')].every((g) => g.getAttribute('data-value') !== null)`,
            );
            // Set and announce in one turn of the page: a snapshot between
            // two evals would write the server's rate back into the field
            // (update() does, every frame), and the change would post that.
            await b.eval(
              `(() => { const s = document.getElementById('speed'); s.value = '1000'; ` +
                `s.dispatchEvent(new Event('change')); })()`,
            );
            await b.waitFor(`document.getElementById('speed').value === '1000'`);
            await b.eval(`document.getElementById('pause').click()`);
            await b.waitFor(`!document.querySelector('button.step').disabled`);
            await b.eval(`document.querySelector('button[data-step="send"]').click()`);
            await b.waitFor(
              `document.getElementById('step-text').textContent.includes('returned')`,
            );
            const text = await b.eval<string>(`document.getElementById('step-text').textContent`);
            assert.match(text, /returned 1\./);
            // The source link the step shows opens, in the browser.
            const link = await b.eval<string>(`document.querySelector('#step-text a').href`);
            await b.open(link, "document.querySelector('tr[id^=\"L\"]') !== null");
            const styled = await b.eval<string>(
              `getComputedStyle(document.querySelector('td.n')).textAlign`,
            );
            assert.equal(styled, "right", "the source page's stylesheet did not load");
          } finally {
            await evil.shutdown();
          }
        },
      });
    } finally {
      await browser?.close();
      try {
        tool.child.kill("SIGINT");
      } catch { /* exited */ }
      await tool.child.status;
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test("ring viewer: the web server's Worker cannot read, write, run, dlopen or dial out", async () => {
  const dir = await Deno.makeTempDir({ prefix: "ixy-view-confine-" });
  try {
    const planted = `${dir}/planted.txt`;
    await Deno.writeTextFile(planted, "planted");
    const out = await new Deno.Command(Deno.execPath(), {
      args: [...VIEW_FLAGS, "tests/sim/view_confine_probe.ts", planted],
      cwd: ROOT,
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    }).output();
    const text = new TextDecoder().decode(out.stdout);
    assert.ok(out.success, text + new TextDecoder().decode(out.stderr));
    const results = JSON.parse(text) as Record<string, string>;
    assert.equal(results["listen on its port"], "ok");
    for (const [what, result] of Object.entries(results)) {
      if (what !== "listen on its port") assert.equal(result, "NotCapable", what);
    }
    assert.ok(Object.keys(results).length >= 12, text);
    await Deno.stat(`${dir}/written.txt`).then(
      () => assert.fail("the probe wrote a file"),
      () => {},
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
