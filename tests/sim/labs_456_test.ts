/**
 * The lab checkers (tools/lab/) on the software 82599, labs 4-6 (see
 * labs_test.ts and labs_lib.ts): a file of their own, so that `deno test
 * --parallel` runs them beside labs 1-3.
 */

import { labCheckerTests } from "./labs_lib.ts";

for (const n of [4, 5, 6]) labCheckerTests(n);
