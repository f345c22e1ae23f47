/**
 * Prints the functions with the most self time in a V8 CPU profile, e.g.
 *
 *     deno run -A --cpu-prof --cpu-prof-dir=/tmp/prof tools/bench/measure.ts virtio fwd 32
 *     deno run -A tools/bench/profile_top.ts /tmp/prof/*.cpuprofile
 *
 * @module
 */

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
}

function main(): void {
  for (const path of Deno.args) {
    const profile = JSON.parse(Deno.readTextFileSync(path)) as {
      nodes: ProfileNode[];
      samples: number[];
      timeDeltas: number[];
    };
    const byId = new Map(profile.nodes.map((n) => [n.id, n]));
    const self = new Map<string, number>();
    let total = 0;
    profile.samples.forEach((id, i) => {
      const f = byId.get(id)!.callFrame;
      const file = f.url.split("/").slice(-2).join("/");
      const key = `${f.functionName || "(anonymous)"} ${file}:${f.lineNumber + 1}`;
      const dt = profile.timeDeltas[i] ?? 0;
      self.set(key, (self.get(key) ?? 0) + dt);
      total += dt;
    });
    console.log(`${path}: ${(total / 1000).toFixed(0)} ms sampled`);
    const top = [...self].sort((a, b) => b[1] - a[1]).slice(0, 15);
    for (const [key, us] of top) {
      console.log(`${(100 * us / total).toFixed(1).padStart(5)} %  ${key}`);
    }
  }
}

if (import.meta.main) main();
