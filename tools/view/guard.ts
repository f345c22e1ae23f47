/**
 * The checks in front of the ring viewer's web server (http_worker.ts), as
 * small pure functions. Who can reach a server on 127.0.0.1: every user of
 * the machine (a lab machine has many), and every web page open in the
 * user's browser (it may send requests to 127.0.0.1, and a page whose DNS
 * name is re-pointed to 127.0.0.1 even reads the answers: "DNS
 * rebinding"). The viewer runs as the user who started it, as root with
 * `--nic <pci>`, and its answers hold packet bytes; its POSTs pause a NIC.
 * So every request passes, in this order:
 *
 * 1. **Host**: exactly `127.0.0.1:PORT`, `localhost:PORT` or `[::1]:PORT`
 *    ({@link allowedHosts}). A rebound DNS name arrives with its own name in
 *    Host, and is refused before anything else.
 * 2. **Token**: the first segment of the path is a per-run random token
 *    ({@link newToken}, 192 bits), compared in constant time
 *    ({@link sameToken}). Only whoever sees the address the viewer printed
 *    knows it; other users of the machine and other web pages do not.
 * 3. **Origin**, for POSTs only: `http://` and one of the hosts above
 *    ({@link allowedOrigins}). Browsers send Origin with every POST; a page
 *    of another origin cannot forge it. (It cannot know the token either:
 *    two locks.)
 * 4. **Numbers**: decimal digits only, within a bound ({@link wholeNumber}):
 *    `pps=4294967296` is refused, not wrapped to 0 ("full speed") by the
 *    Int32Array it is stored in.
 *
 * Then the path is looked up, as a whole string, in a table of files built
 * at start (source.ts `pageFiles`): no path is ever built from the URL.
 *
 * @module
 */

/** Bytes of the per-run token: 192 random bits, 48 hex digits. */
export const TOKEN_BYTES = 24;

/** A fresh token: {@link TOKEN_BYTES} bytes from the system's CSPRNG, as hex. */
export function newToken(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(TOKEN_BYTES));
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

/**
 * True if `given` is `token`, in a time that does not depend on where they
 * differ: every character is compared, the differences OR-ed together, and
 * only the end result decides (an early exit would tell an attacker, by the
 * time it takes, how many leading characters were right). Only the length
 * may leave early: it is no secret (always 2 × {@link TOKEN_BYTES}).
 */
export function sameToken(given: string, token: string): boolean {
  if (given.length !== token.length) return false;
  let diff = 0;
  for (let i = 0; i < token.length; i++) diff |= given.charCodeAt(i) ^ token.charCodeAt(i);
  return diff === 0;
}

/** The names this server answers to; the server listens on 127.0.0.1 only. */
const NAMES = ["127.0.0.1", "localhost", "[::1]"];

/**
 * The Host headers a request to a server on `port` may carry:
 * `127.0.0.1:PORT`, `localhost:PORT`, `[::1]:PORT` (and the names alone on
 * port 80, where browsers leave the port out). Compare lower-cased.
 */
export function allowedHosts(port: number): Set<string> {
  const hosts = NAMES.map((n) => `${n}:${port}`);
  if (port === 80) hosts.push(...NAMES);
  return new Set(hosts);
}

/** The Origin headers a POST may carry: `http://` and an allowed host. */
export function allowedOrigins(port: number): Set<string> {
  return new Set([...allowedHosts(port)].map((h) => `http://${h}`));
}

/**
 * `text` as a whole number from 0 to `max`, or undefined: only decimal
 * digits (no sign, point, exponent, "0x", spaces), at most 10 of them, and
 * no more than `max`. `Number()` alone would take "", " 1", "1e3" and "0x10"
 * and numbers past 2^31.
 */
export function wholeNumber(text: string | null, max: number): number | undefined {
  if (text === null || !/^[0-9]{1,10}$/.test(text)) return undefined;
  const n = Number(text);
  return n <= max ? n : undefined;
}
