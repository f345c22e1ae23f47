/**
 * Guest helper for the forwarding test: a TCP transfer whose both ends print
 * the SHA-256 of the bytes they saw.
 *
 *     tcp_transfer.ts sink <port> [--ready-file F]     # prints {"bytes":..,"sha256":..}
 *     tcp_transfer.ts source <host> <port> --bytes N   # sends N pseudo-random bytes
 *
 * @module
 */

import { parseArgs } from "node:util";

async function sha256(data: Uint8Array<ArrayBuffer>): Promise<string> {
  const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", data));
  return Array.from(digest, (b) => b.toString(16).padStart(2, "0")).join("");
}

/** Deterministic pseudo-random bytes (xorshift32), so a corrupted byte shows. */
function payload(n: number): Uint8Array<ArrayBuffer> {
  const out = new Uint8Array(n);
  let x = 0x12345678;
  for (let i = 0; i < n; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    out[i] = x & 0xff;
  }
  return out;
}

const { values, positionals } = parseArgs({
  args: Deno.args,
  allowPositionals: true,
  options: { "ready-file": { type: "string" }, bytes: { type: "string", default: "4194304" } },
});

if (positionals[0] === "sink") {
  const listener = Deno.listen({ port: Number(positionals[1]) });
  if (values["ready-file"]) Deno.writeTextFileSync(values["ready-file"], "ready\n");
  const conn = await listener.accept();
  const chunks: Uint8Array[] = [];
  let total = 0;
  for await (const chunk of conn.readable) {
    chunks.push(chunk);
    total += chunk.length;
  }
  listener.close();
  const all = new Uint8Array(total);
  let off = 0;
  for (const c of chunks) {
    all.set(c, off);
    off += c.length;
  }
  console.log(JSON.stringify({ bytes: total, sha256: await sha256(all) }));
} else if (positionals[0] === "source") {
  const data = payload(Number(values.bytes));
  const conn = await Deno.connect({ hostname: positionals[1], port: Number(positionals[2]) });
  const writer = conn.writable.getWriter();
  await writer.write(data);
  await writer.close();
  console.log(JSON.stringify({ bytes: data.length, sha256: await sha256(data) }));
} else {
  console.error("usage: tcp_transfer.ts sink <port> | source <host> <port> --bytes N");
  Deno.exit(2);
}
