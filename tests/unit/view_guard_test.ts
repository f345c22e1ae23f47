/**
 * The checks in front of the ring viewer's web server (tools/view/guard.ts):
 * the token, the Host and Origin names, the numbers. The server as a whole,
 * under attack, is tests/sim/view_security_test.ts.
 */

import assert from "node:assert/strict";
import {
  allowedHosts,
  allowedOrigins,
  newToken,
  sameToken,
  TOKEN_BYTES,
  wholeNumber,
} from "../../tools/view/guard.ts";

Deno.test("tokens: 192 random bits as hex, new each time", () => {
  assert.ok(TOKEN_BYTES * 8 >= 128);
  const seen = new Set<string>();
  for (let i = 0; i < 100; i++) {
    const t = newToken();
    assert.match(t, new RegExp(`^[0-9a-f]{${2 * TOKEN_BYTES}}$`));
    seen.add(t);
  }
  assert.equal(seen.size, 100);
});

Deno.test("sameToken: equal strings only", () => {
  const t = newToken();
  assert.equal(sameToken(t, t), true);
  assert.equal(sameToken(t.slice(), t), true);
  for (
    const bad of [
      "",
      t.slice(1),
      t + "0",
      t.toUpperCase() === t ? "x" + t.slice(1) : t.toUpperCase(),
      (t[0] === "a" ? "b" : "a") + t.slice(1),
      t.slice(0, -1) + (t.at(-1) === "a" ? "b" : "a"),
      "%" + t.slice(1),
    ]
  ) {
    assert.equal(sameToken(bad, t), false, bad);
  }
});

Deno.test("Host and Origin: the three loopback names with this port", () => {
  assert.deepEqual(
    [...allowedHosts(8080)],
    ["127.0.0.1:8080", "localhost:8080", "[::1]:8080"],
  );
  assert.deepEqual(
    [...allowedOrigins(8080)],
    ["http://127.0.0.1:8080", "http://localhost:8080", "http://[::1]:8080"],
  );
  for (const h of ["127.0.0.1", "localhost", "127.0.0.1:8081", "evil.example:8080", ""]) {
    assert.equal(allowedHosts(8080).has(h), false, h);
  }
  // Port 80: browsers leave the port out of Host.
  assert.equal(allowedHosts(80).has("localhost"), true);
});

Deno.test("wholeNumber: decimal digits within the bound, nothing else", () => {
  assert.equal(wholeNumber("0", 10), 0);
  assert.equal(wholeNumber("10", 10), 10);
  assert.equal(wholeNumber("1000000000", 1e9), 1e9);
  for (
    const bad of [
      null,
      "",
      " 1",
      "1 ",
      "-1",
      "+1",
      "1.5",
      "1e3",
      "0x10",
      "11",
      "4294967296",
      "2147483648",
      "99999999999",
      "Infinity",
      "NaN",
      "１",
    ]
  ) {
    assert.equal(wholeNumber(bad, 10), undefined, String(bad));
  }
  assert.equal(wholeNumber("2147483647", 2 ** 31 - 1), 2 ** 31 - 1);
  assert.equal(wholeNumber("2147483648", 2 ** 31 - 1), undefined);
});
