/**
 * Lab 5, reference solution: the project's own code. `readStats` and
 * `setPromisc` are the functions of drivers/ixgbe/ixgbe.ts behind
 * `IxgbeDevice.readStats` and `IxgbeDevice.setPromisc`. Read them there.
 *
 * @module
 */

export { readStats, setPromisc } from "../../../drivers/ixgbe/ixgbe.ts";
