/**
 * Installing the lab VM's host packages with apt: first a plan, then (as root)
 * its steps, or (as anyone else) the one command a person should run.
 *
 * The plan is a pure function of what we found out about the machine
 * ({@link HostFacts}), so every case (fresh Debian 12, Debian 13, not root, no
 * apt at all) is tested without touching apt; {@link applyInstallPlan} then
 * carries it out through an injected {@link InstallSystem}.
 *
 * Why backports: Debian 12 ("bookworm") ships QEMU 7.2, which has no igb
 * (Intel 82576) device model; QEMU added it in 8.0. Debian's own
 * bookworm-backports archive carries QEMU 10 built for Debian 12, so on
 * bookworm QEMU comes from there: `apt-get install -t bookworm-backports
 * qemu-system-x86`. `-t` (the target release) only raises the priority of the
 * backports archive for this command; packages that are not in it (busybox,
 * cpio, kmod) come from bookworm as usual. Later Debian releases carry QEMU 8
 * or newer themselves and need no backports.
 *
 * @module
 */

/** The Debian release whose QEMU (7.2) is too old for igb, and its backports suite. */
export const BACKPORTS = {
  /** `VERSION_CODENAME` in /etc/os-release. */
  codename: "bookworm",
  /** The apt suite with newer packages built for bookworm. */
  suite: "bookworm-backports",
  /** The file we add when apt has no bookworm-backports source (deb822 format, sources.list(5)). */
  sourcePath: "/etc/apt/sources.list.d/bookworm-backports.sources",
  /** Debian's archive keys; every Debian system has them (package debian-archive-keyring). */
  keyring: "/usr/share/keyrings/debian-archive-keyring.gpg",
} as const;

/** The Debian package of QEMU's PC emulator. */
export const QEMU_PACKAGE = "qemu-system-x86";

/** What {@link planInstall} needs to know about the machine. */
export interface HostFacts {
  /** We run as root (uid 0), so we may install. */
  readonly root: boolean;
  /** `apt-get` is there. */
  readonly apt: boolean;
  /** `ID` and `VERSION_CODENAME` from /etc/os-release, e.g. `debian` and `bookworm`. */
  readonly os: OsRelease;
  /** apt already has an enabled `bookworm-backports main` source (see {@link parseIndexTargets}). */
  readonly backportsEnabled: boolean;
  /** A file exists at {@link BACKPORTS.sourcePath} (ours or someone else's). */
  readonly backportsFileExists: boolean;
  /** Debian's archive keyring is there, so our source can name it in `Signed-By`. */
  readonly keyring: boolean;
}

/** The two fields of /etc/os-release we look at (os-release(5)). */
export interface OsRelease {
  /** Distribution, e.g. `debian`, `ubuntu`. */
  readonly id?: string;
  /** Release code name, e.g. `bookworm`. */
  readonly codename?: string;
}

/** One step of an {@link InstallPlan}. */
export type InstallStep =
  /** Create a file (atomically: written next to it, then renamed). */
  | { readonly kind: "write-file"; readonly path: string; readonly text: string }
  /** Run a program; its output is shown as it comes. */
  | { readonly kind: "run"; readonly argv: readonly string[] };

/** How to get some Debian packages onto this machine. */
export interface InstallPlan {
  /** The packages to install. */
  readonly packages: readonly string[];
  /** QEMU comes from bookworm-backports (`-t bookworm-backports`). */
  readonly fromBackports: boolean;
  /** The bookworm-backports source has to be added first. */
  readonly addBackports: boolean;
  /** What to do, in order; empty when nothing can be done with apt (see {@link blocker}). */
  readonly steps: readonly InstallStep[];
  /** The same as one shell command for a person to run as root (prefix it with sudo). */
  readonly command: string;
  /** True when we may carry out {@link steps} ourselves: root, apt, and no {@link blocker}. */
  readonly automatic: boolean;
  /** Why apt cannot do it (no apt; a backports file we must not overwrite). */
  readonly blocker?: string;
}

/**
 * Reads `ID` and `VERSION_CODENAME` from the text of /etc/os-release
 * (shell-style `KEY=value` lines, values optionally quoted).
 *
 * @param text the file's contents
 * @returns the two fields, each undefined when absent
 */
export function parseOsRelease(text: string): OsRelease {
  const fields: Record<string, string> = {};
  for (const line of text.split("\n")) {
    const match = /^\s*([A-Z_]+)=(.*?)\s*$/.exec(line);
    if (match) fields[match[1]] = match[2].replace(/^(["'])(.*)\1$/, "$2");
  }
  return { id: fields.ID, codename: fields.VERSION_CODENAME };
}

/**
 * Tells from the output of
 * `apt-get indextargets --no-release-info --format '$(RELEASE) $(COMPONENT)'`
 * whether apt has a source for bookworm-backports' main component.
 *
 * We ask apt instead of reading /etc/apt ourselves: apt's own parser knows
 * both formats (one-line `deb ...` and deb822 `.sources`), comments,
 * `Enabled: no` and every mirror's URL.
 *
 * @param output apt-get's output, one "release component" per line
 * @returns true if bookworm-backports main is among them
 */
export function parseIndexTargets(output: string): boolean {
  return output.split("\n").some((line) => line.trim() === `${BACKPORTS.suite} main`);
}

/**
 * The deb822 source for bookworm-backports (sources.list(5), "DEB822-STYLE
 * FORMAT"), as Debian's own installer writes it.
 *
 * @param keyring name Debian's keyring in `Signed-By` (true when the file exists)
 * @returns the file's contents
 */
export function backportsSourceText(keyring: boolean): string {
  return backportsSourceLines(keyring).join("\n") + "\n";
}

function backportsSourceLines(keyring: boolean): string[] {
  return [
    "Types: deb",
    "URIs: http://deb.debian.org/debian",
    `Suites: ${BACKPORTS.suite}`,
    "Components: main",
    ...(keyring ? [`Signed-By: ${BACKPORTS.keyring}`] : []),
  ];
}

/**
 * Plans the installation of some Debian packages.
 *
 * QEMU ({@link QEMU_PACKAGE}) comes from bookworm-backports on Debian 12
 * (adding that source when apt lacks it); everything else, and QEMU on other
 * releases, from the release itself.
 *
 * @param facts what the machine is and has
 * @param packages the Debian packages wanted (at least one)
 * @returns the plan; {@link InstallPlan.automatic} says whether we may run it
 */
export function planInstall(facts: HostFacts, packages: readonly string[]): InstallPlan {
  const fromBackports = packages.includes(QEMU_PACKAGE) && facts.os.id === "debian" &&
    facts.os.codename === BACKPORTS.codename;
  const addBackports = fromBackports && !facts.backportsEnabled;
  let blocker: string | undefined;
  if (!facts.apt) {
    blocker = "this machine has no apt-get";
  } else if (addBackports && facts.backportsFileExists) {
    blocker = `${BACKPORTS.sourcePath} exists, but apt does not use ${BACKPORTS.suite} from it ` +
      `(is it "Enabled: no"?); fix or remove that file`;
  }
  const install = [
    "apt-get",
    "install",
    "-y",
    "--no-install-recommends",
    ...(fromBackports ? ["-t", BACKPORTS.suite] : []),
    ...packages,
  ];
  const steps: InstallStep[] = blocker !== undefined ? [] : [
    ...(addBackports
      ? [{
        kind: "write-file",
        path: BACKPORTS.sourcePath,
        text: backportsSourceText(facts.keyring),
      }]
      : []) as InstallStep[],
    { kind: "run", argv: ["apt-get", "update"] },
    // Wait up to two minutes for another apt (unattended-upgrades on a freshly
    // booted machine) instead of failing at once on its lock.
    {
      kind: "run",
      argv: [...install.slice(0, 2), "-o", "DPkg::Lock::Timeout=120", ...install.slice(2)],
    },
  ];
  // For a person: the same in one line, for `sudo` or a root shell.
  // (No single quote inside: the whole goes between single quotes.)
  const lines = backportsSourceLines(facts.keyring).map((line) => `"${line}"`).join(" ");
  const parts = [
    ...(addBackports ? [`printf "%s\\n" ${lines} > ${BACKPORTS.sourcePath}`] : []),
    "apt-get update",
    install.join(" "),
  ];
  const command = `sh -c '${parts.join(" && ")}'`;
  return {
    packages,
    fromBackports,
    addBackports,
    steps,
    command,
    automatic: facts.root && blocker === undefined,
    blocker,
  };
}

/**
 * Says what a plan will do, for the progress line shown before it runs.
 *
 * @param plan the plan
 * @returns e.g. "adding Debian's bookworm-backports source (...), then apt-get install ..."
 */
export function describePlan(plan: InstallPlan): string {
  const what = plan.fromBackports
    ? `${plan.packages.join(" ")} (QEMU from ${BACKPORTS.suite})`
    : plan.packages.join(" ");
  const source = plan.addBackports
    ? `adding Debian's ${BACKPORTS.suite} source (${BACKPORTS.sourcePath}), then `
    : "";
  return `${source}installing ${what} with apt-get`;
}

/**
 * The message for someone who cannot install (not root, or no apt): what is
 * missing and the one command that fixes it.
 *
 * @param plan the plan for the missing packages
 * @param reason what is wrong, e.g. "qemu-system-x86_64, cpio not found"
 * @returns the message, ending with the command (or what to install by hand)
 */
export function manualInstallMessage(plan: InstallPlan, reason: string): string {
  if (plan.blocker !== undefined) {
    return `${reason}, and ${plan.blocker}. Then install the Debian packages ` +
      `${plan.packages.join(" ")} (or their equivalents from your distribution).`;
  }
  const backports = plan.fromBackports
    ? ` (QEMU from Debian's ${BACKPORTS.suite}, ${
      plan.addBackports ? "which it adds" : "already set up"
    })`
    : "";
  return `${reason}. Run this once as root${backports}, then try again:\n  sudo ${plan.command}`;
}

/** What {@link applyInstallPlan} does to the machine; tests pass a recording fake. */
export interface InstallSystem {
  /** Creates a file atomically. */
  writeFile(path: string, text: string): Promise<void>;
  /** Deletes a file (no error if it is gone). */
  removeFile(path: string): Promise<void>;
  /** Runs a program with its output shown; fails with a VmError when it fails. */
  run(argv: readonly string[]): Promise<void>;
}

/**
 * Carries out a plan step by step. If `apt-get update` fails after we added
 * the backports source, the source is removed again: a half-working apt
 * configuration is worse than none.
 *
 * @param plan an {@link InstallPlan.automatic} plan
 * @param system the machine (or a fake)
 * @param log where each step is announced
 */
export async function applyInstallPlan(
  plan: InstallPlan,
  system: InstallSystem,
  log: (message: string) => void = () => {},
): Promise<void> {
  const added: string[] = [];
  for (const step of plan.steps) {
    if (step.kind === "write-file") {
      log(`Writing ${step.path}`);
      await system.writeFile(step.path, step.text);
      added.push(step.path);
      continue;
    }
    log(`Running ${step.argv.join(" ")}`);
    try {
      await system.run(step.argv);
    } catch (error) {
      if (step.argv[1] === "update") {
        for (const path of added) {
          log(`Removing ${path} again (apt-get update failed)`);
          await system.removeFile(path);
        }
      }
      throw error;
    }
  }
}
