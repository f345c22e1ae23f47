import assert from "node:assert/strict";
import { removeStaleArchives, useCachedArchive } from "../../tools/vm/initramfs.ts";

const MINUTE = 60 * 1000;

/** A fake cache directory with archives last modified / read `ageMinutes` ago. */
async function cacheWith(
  files: Record<string, { modifiedMinutesAgo: number; readMinutesAgo: number }>,
): Promise<string> {
  const dir = await Deno.makeTempDir({ prefix: "ixy-vm-cache-test-" });
  for (const [name, age] of Object.entries(files)) {
    await Deno.writeTextFile(`${dir}/${name}`, "archive");
    const now = Date.now();
    await Deno.utime(
      `${dir}/${name}`,
      new Date(now - age.readMinutesAgo * MINUTE),
      new Date(now - age.modifiedMinutesAgo * MINUTE),
    );
  }
  return dir;
}

function names(dir: string): string[] {
  return [...Deno.readDirSync(dir)].map((e) => e.name).sort();
}

Deno.test("initramfs cache: an archive taken from the cache just now survives the prune", async () => {
  // Built 30 minutes ago and read by QEMU ever since; relatime moved its
  // atime once, a second after it was built, and never again (it updates
  // atime only when atime <= mtime or atime is a day old).
  const dir = await cacheWith({
    "6.1.0-57-amd64-aaaaaaaaaaaa.cpio": { modifiedMinutesAgo: 30, readMinutesAgo: 29.9 },
    "6.1.0-57-amd64-bbbbbbbbbbbb.cpio": { modifiedMinutesAgo: 0, readMinutesAgo: 0 },
  });
  try {
    // Another run (another branch's /init) takes archive a from the cache...
    assert.equal(await useCachedArchive(`${dir}/6.1.0-57-amd64-aaaaaaaaaaaa.cpio`), true);
    // ... while this one has just built b and prunes.
    await removeStaleArchives(dir, `${dir}/6.1.0-57-amd64-bbbbbbbbbbbb.cpio`);
    assert.deepEqual(names(dir), [
      "6.1.0-57-amd64-aaaaaaaaaaaa.cpio",
      "6.1.0-57-amd64-bbbbbbbbbbbb.cpio",
    ]);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("initramfs cache: unused for 10 minutes is pruned, the new one and other files stay", async () => {
  const dir = await cacheWith({
    "old.cpio": { modifiedMinutesAgo: 60, readMinutesAgo: 59 },
    "recent.cpio": { modifiedMinutesAgo: 5, readMinutesAgo: 5 },
    "new.cpio": { modifiedMinutesAgo: 60, readMinutesAgo: 60 }, // the one to keep
    "notes.txt": { modifiedMinutesAgo: 60, readMinutesAgo: 60 },
  });
  try {
    assert.equal(await useCachedArchive(`${dir}/missing.cpio`), false);
    await removeStaleArchives(dir, `${dir}/new.cpio`);
    assert.deepEqual(names(dir), ["new.cpio", "notes.txt", "recent.cpio"]);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
