/**
 * What the lab-checker tests share (tests/sim/labs_test.ts for labs 1-3 and
 * the command line, tests/sim/labs_456_test.ts for labs 4-6: two files, so
 * that `deno test --parallel` runs them side by side): the wrong solutions
 * in tests/fixtures/labs/ — one typical student mistake each — with the
 * requirements that must reject each, and {@link labCheckerTests}.
 *
 * The fixtures run a few at a time: each lab run has its own workers (the
 * checker's and the model's), so they overlap.
 *
 * @module
 */

import assert from "node:assert/strict";
import { Checklist, type LabOptions, runLab } from "../../tools/lab/mod.ts";

export const FIXTURES = new URL("../fixtures/labs/", import.meta.url).pathname;

/**
 * A wrong solution: the requirements that must fail (a substring of each
 * name) with a fragment of the message each must show; no other may fail,
 * except those in `mayAlsoFail` (where the outcome depends on timing).
 */
interface Wrong {
  file: string;
  fails: [requirement: string, message: string][];
  mayAlsoFail?: string[];
  /**
   * The noise check may call a requirement "too noisy to judge" (lab 6 speed):
   * accepted in place of a listed failure, and for any other requirement.
   */
  mayBeUnsure?: boolean;
}

const MODEL = "the 82599 model caught a mistake";

/** Per lab: the wrong solutions and how they must be rejected. */
const WRONG: Record<number, Wrong[]> = {
  1: [
    { file: "lab1_vendor_big_endian.ts", fails: [["vendor ID", "expected 0x8086"]] },
    { file: "lab1_device_wrong_offset.ts", fails: [["device ID", "expected 0x10fb"]] },
    { file: "lab1_subclass_for_class.ts", fails: [["base class", "expected 0x2"]] },
    { file: "lab1_bus_master_bit1.ts", fails: [["Bus Master", "expected false"]] },
    { file: "lab1_bar_io_bit1.ts", fails: [["kind of BAR0", "expected true"]] },
    { file: "lab1_bar_flags_kept.ts", fails: [["address in BAR0", "expected 0xf7c00000"]] },
    { file: "lab1_mac_reversed.ts", fails: [["readMac", ""]] },
    { file: "lab1_speed_in_mbytes.ts", fails: [["10000 while the link is up", "1250"]] },
    { file: "lab1_speed_constant.ts", fails: [["0 while the link is down", "10000"]] },
  ],
  2: [
    { file: "lab2_pagemap_32bit.ts", fails: [["pagemapOffset", "expected"]] },
    { file: "lab2_phys_keeps_flags.ts", fails: [["bits 0-54", "expected"]] },
    { file: "lab2_phys_not_present.ts", fails: [["not present", "not in memory"]] },
    {
      file: "lab2_pool_contiguous.ts",
      fails: [["its own page", "not physically adjacent"], ["header holds", "expected"]],
    },
    { file: "lab2_header_missing.ts", fails: [["header holds", "header says 0x0"]] },
    { file: "lab2_alloc_duplicates.ts", fails: [["distinct free buffers", "twice"]] },
    { file: "lab2_no_double_free_check.ts", fails: [["double free", "handed out twice"]] },
  ],
  3: [
    {
      file: "lab3_no_high_half.ts",
      fails: [
        ["sends one frame", "outside the DMA memory"],
        ["asks for a status write-back", "outside the DMA memory"],
        ["writes the tail", "outside the DMA memory"],
        ["3000 frames", "outside the DMA memory"],
        ["device resumes", "outside the DMA memory"],
      ],
    },
    {
      file: "lab3_no_ifcs.ts",
      fails: [
        ["sends one frame", `${MODEL}: TX descriptor 0 of queue 1: DCMD.IFCS is not set`],
        ["asks for a status write-back", "IFCS"],
        ["writes the tail", "IFCS"],
        ["3000 frames", "IFCS"],
        ["device resumes", "IFCS"],
      ],
    },
    {
      file: "lab3_no_rs.ts",
      fails: [
        ["asks for a status write-back", "no descriptor asked for a status write-back"],
        ["3000 frames", "no descriptor asked for a status write-back"],
      ],
    },
    { file: "lab3_tail_per_packet.ts", fails: [["writes the tail", "wrote TDT 32 times"]] },
    {
      file: "lab3_tail_one_off.ts",
      fails: [
        ["sends one frame", "never saw your last frame"],
        ["writes the tail", "TDT was set to 31"],
        ["3000 frames", "good frames of 3000"],
        ["device resumes", "arrived"],
      ],
    },
    {
      file: "lab3_no_wrap.ts",
      fails: [
        ["3000 frames", "q.txIndex is 64, past the end of the ring"],
        ["stops at a full ring", "past the end of the ring"],
        ["device resumes", "past the end of the ring"],
      ],
    },
    {
      file: "lab3_free_at_once.ts",
      fails: [
        ["3000 frames", "is cleanIndex advanced"],
        ["keeps buffers", "use after free"],
      ],
    },
    { file: "lab3_free_without_dd.ts", fails: [["keeps buffers", "has not sent yet"]] },
    { file: "lab3_never_free.ts", fails: [["3000 frames", "is cleanIndex advanced"]] },
    { file: "lab3_double_free.ts", fails: [["3000 frames", "Double free"]] },
    {
      file: "lab3_no_full_check.ts",
      fails: [["stops at a full ring", "holds at most 63"], ["device resumes", "arrived"]],
    },
    {
      file: "lab3_no_size_check.ts",
      fails: [["stops before a buffer whose size", "took 3 of [a frame, size 0, a frame]"]],
      mayAlsoFail: ["3000 frames"],
    },
  ],
  4: [
    {
      file: "lab4_no_dd_check.ts",
      fails: [
        ["returns 0", "once the device has set DD"],
        ["writes RDT once", "32 of 20 waiting frames"],
        ["broken write-backs", "handed out 3 buffers"],
        ["without EOP", "handed out the buffer of a descriptor without EOP"],
      ],
    },
    {
      file: "lab4_spin_on_dd.ts",
      fails: [
        ["returns 0", "rxBatch did not return within 3 s"],
        ["broken write-backs", "rxBatch did not return within 3 s"],
        ["without EOP", "rxBatch did not return within 3 s"],
      ],
    },
    {
      file: "lab4_no_size.ts",
      fails: [
        ["receives one frame", "buf.size is 0"],
        ["3000 frames", "0 good frames"],
        ["broken write-backs", "sizes 0"],
        ["without EOP", "did not come out intact"],
      ],
    },
    { file: "lab4_no_status_clear.ts", fails: [["clears the status word", "still has DD set"]] },
    { file: "lab4_no_high_half.ts", fails: [["3000 frames", "outside the DMA memory"]] },
    {
      file: "lab4_rdt_whole_ring.ts",
      fails: [["writes RDT once", "RDT was set to 20"], ["3000 frames", "dropped 50 frames"]],
    },
    { file: "lab4_rdt_per_packet.ts", fails: [["writes RDT once", "wrote RDT 20 times"]] },
    { file: "lab4_no_wrap.ts", fails: [["3000 frames", "q.index is 64, past the end"]] },
    {
      file: "lab4_ignores_count.ts",
      fails: [
        ["respects count", "although count was 8"],
        ["3000 frames", "although count was 32"],
        ["leaks no buffer", "although count was 32"],
      ],
    },
    {
      file: "lab4_repost_same.ts",
      fails: [
        ["3000 frames", "Double free"],
        ["leaks no buffer", "free although descriptors still point at them"],
        ["broken write-backs", "free although descriptors still point at them"],
        ["without EOP", "free although descriptors still point at them"],
        ["q.pool is empty", "while q.pool was empty"],
      ],
    },
    {
      file: "lab4_leak_dropped.ts",
      fails: [
        ["broken write-backs", "2 receive buffers are lost after dropping"],
        ["without EOP", "1 receive buffers are lost after dropping"],
      ],
    },
    { file: "lab4_no_length_check.ts", fails: [["broken write-backs", "1 <= length"]] },
    { file: "lab4_no_eop_check.ts", fails: [["without EOP", "without EOP (status bit 1)"]] },
    { file: "lab4_no_pool_check.ts", fails: [["q.pool is empty", "while q.pool was empty"]] },
  ],
  5: [
    { file: "lab5_rx_bytes_with_crc.ts", fails: [["received frames", "rxBytes is 10400"]] },
    { file: "lab5_no_tx_counters.ts", fails: [["sent frames", "txPackets is 0"]] },
    { file: "lab5_assigns.ts", fails: [["clear when read", "do not assign it"]] },
    { file: "lab5_no_missed.ts", fails: [["rxMissed", "grew by 0"]] },
    { file: "lab5_promisc_clears_bam.ts", fails: [["promiscuous off", "FCTRL.BAM"]] },
    { file: "lab5_promisc_upe_only.ts", fails: [["promiscuous on", "FCTRL.MPE"]] },
  ],
  6: [
    { file: "lab6_miscounts.ts", fails: [["counter (GPTC)", "count what txBatch returns"]] },
    { file: "lab6_allocates.ts", fails: [["allocates nothing", "bytes per txBatch call"]] },
    { file: "lab6_allocates_slice.ts", fails: [["allocates nothing", "bytes per txBatch call"]] },
    { file: "lab6_allocates_typed.ts", fails: [["allocates nothing", "bytes per txBatch call"]] },
    {
      file: "lab6_leaks.ts",
      fails: [["leaks no buffer", "buffers are lost"]],
      // How soon the pool runs dry depends on timing; a starved loop also measures badly.
      mayAlsoFail: ["counter (GPTC)", "batching pays"],
      mayBeUnsure: true,
    },
    // Counted, not timed: rejected whatever the machine's load.
    {
      file: "lab6_no_batching.ts",
      fails: [["batching pays", "handed txBatch 1.0 frames per call"]],
    },
    {
      file: "lab6_per_packet.ts",
      fails: [["batching pays", "handed txBatch 1.0 frames per call"]],
    },
  ],
};

/** Correct solutions written differently from the reference: they must pass too. */
export const CORRECT: [number, string][] = [[3, "lab3_correct.ts"], [4, "lab4_correct.ts"]];

/** Test options: short measurements, and a short call limit so hanging fixtures fail fast. */
export const labOptions = (n: number): LabOptions =>
  n === 6 ? { out: Deno.makeTempFileSync({ suffix: ".svg" }), durationMs: 50 } : { limitMs: 3000 };

/** Runs `jobs` with at most `width` at a time. */
export async function inParallel<T>(jobs: (() => Promise<T>)[], width = 2): Promise<T[]> {
  const results: T[] = new Array(jobs.length);
  let next = 0;
  const worker = async () => {
    while (next < jobs.length) {
      const i = next++;
      results[i] = await jobs[i]();
    }
  };
  await Promise.all(Array.from({ length: Math.min(width, jobs.length) }, worker));
  return results;
}

/** What is wrong with the checker's verdict on `w` (empty if it is as listed). */
function verdictProblems(n: number, w: Wrong, list: Checklist): string[] {
  const problems: string[] = [];
  const failed = list.results.filter((r) => !r.ok || (w.mayBeUnsure && r.unsure));
  for (const [requirement, message] of w.fails) {
    const r = failed.find((f) => f.name.includes(requirement));
    if (r === undefined) problems.push(`"${requirement}" did not fail`);
    else if (!r.reason.includes(message)) {
      if (!(w.mayBeUnsure && r.unsure && r.reason.includes("too noisy"))) {
        problems.push(`"${requirement}" failed with "${r.reason}", not "${message}"`);
      }
    }
  }
  for (const r of failed) {
    const listed = w.fails.some(([q]) => r.name.includes(q)) ||
      (w.mayAlsoFail ?? []).some((q) => r.name.includes(q));
    // The machine's noise, not the solution's mistake: never counted against the checker.
    const noise = w.mayBeUnsure && r.unsure && r.reason.includes("too noisy");
    if (!listed && !noise) problems.push(`"${r.name}" failed too: ${r.reason}`);
  }
  for (const r of list.results) {
    // "Too noisy to judge" is the machine's noise, not the solution's mistake: the speed
    // comparison may say it for any wrong solution of lab 6 on a loaded machine.
    if (r.unsure && !w.mayBeUnsure && !r.reason.includes("too noisy")) {
      problems.push(`"${r.name}" was unsure: ${r.reason}`);
    }
  }
  return problems.map((p) => `lab ${n}, ${w.file}: ${p}`);
}

/**
 * The tests of lab `n`'s checker: it accepts the reference, every requirement
 * can fail, and it rejects each wrong solution by the requirements listed.
 */
export function labCheckerTests(n: number): void {
  Deno.test(`lab ${n} checker accepts the reference solution`, async () => {
    const list = new Checklist();
    const options = labOptions(n);
    await runLab(n, list, options);
    const failed = list.results.filter((r) => !r.ok);
    assert.deepEqual(failed, [], JSON.stringify(failed));
    assert.ok(list.results.length >= 4, "a lab checks at least four requirements");
    // Every requirement is proven able to fail (the plot's only needs a writable path).
    for (const r of list.results.filter((r) => !r.name.startsWith("writes the plot"))) {
      assert.ok(
        WRONG[n].some((w) => w.fails.some(([q]) => r.name.includes(q))),
        `lab ${n}: no wrong solution is rejected by "${r.name}"`,
      );
    }
    if (options.out !== undefined) {
      assert.match(Deno.readTextFileSync(options.out), /^<svg .*<polyline/s);
    }
  });

  Deno.test(`lab ${n} checker rejects each wrong solution by the requirement that names it`, async () => {
    // A run mostly waits (its workers start, the model brings the port up: 0.9 s of CPU in
    // 4.7 s), so four at a time; lab 6 measures speed, two at a time on two cores.
    const problems = await inParallel(
      WRONG[n].map((w) => async () => {
        const list = new Checklist();
        // trustImports: the wrong solutions wrap the reference on purpose (lab_sandbox_test.ts
        // checks that a student's file may not).
        await runLab(n, list, { ...labOptions(n), impl: FIXTURES + w.file, trustImports: true });
        return verdictProblems(n, w, list);
      }),
      n === 6 ? 2 : 4,
    );
    assert.deepEqual(problems.flat(), []);
  });
}
