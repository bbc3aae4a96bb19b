// deno task bench-against --against REV [--rounds 3] [--json FILE] [--only LIST --reps N --batch B
//   --seppo-batch B] (the last four are bench-step's, passed on to both sides)
// Times a git revision against this working tree side by side: bench/train_step.ts runs on a
// temporary worktree of REV (under /tmp, with this tree's bench/ copied in so both sides measure the
// same loops) and on this tree, alternately (round r runs REV first when r is even), and the medians
// over rounds are compared as ratios. An absolute time is not stable on a shared machine; a ratio of
// runs taken minutes apart is.
import { defineCli, flag, type FlagValues } from "../lib/cli/flags.ts";
import { runTask } from "../lib/cli/main.ts";
import { writeJsonAtomic } from "../lib/io/atomic.ts";
import { StoppedError, UsageError } from "../lib/util/errors.ts";
import { median } from "./timing.ts";
import { denoHost } from "../lib/host/deno.ts";

const host = denoHost();

const ROOT = new URL("..", import.meta.url).pathname.replace(/\/$/, "");

/** One bench-step JSON result (the fields compared; see bench/train_step.ts). */
// deno-lint-ignore no-explicit-any
export type StepResult = Record<string, any>;

/** The figures compared: [label, path in the JSON, kind]. time: lower is better; the ratio is a speedup. */
export const METRICS: [string, string, "time" | "rate" | "count" | "share"][] = [
  ["training step (ms)", "train.ms", "time"],
  ["sampling step, DDIM + CFG (ms)", "sample.ms", "time"],
  ["SePPO update with its reference sampler (ms)", "seppo.ms", "time"],
  ["training step, process CPU (ms)", "train.cpu_ms", "time"],
  ["sampling step, process CPU (ms)", "sample.cpu_ms", "time"],
  ["SePPO update, process CPU (ms)", "seppo.cpu_ms", "time"],
  ["training samples/s", "train.samples_per_s", "rate"],
  ["sampling samples/s (one step)", "sample.samples_per_s", "rate"],
  ["SePPO updates/s", "seppo.updates_per_s", "rate"],
  ["dispatches per training step", "train.dispatches", "count"],
  ["submits per training step", "train.submits", "count"],
  ["dispatches per sampling step", "sample.dispatches", "count"],
  ["dispatches per SePPO update", "seppo.dispatches", "count"],
  ["non-GEMM share, training step", "train.profile.non_gemm_share", "share"],
  ["non-GEMM share, sampling step", "sample.profile.non_gemm_share", "share"],
  ["training GFLOP/s (effective)", "peaks.train_effective_gflops", "rate"],
  ["matmul kernel GFLOP/s", "peaks.matmul_gflops", "rate"],
  ["FMA probe GFLOP/s", "peaks.fma_gflops", "rate"],
];

export function pick(r: StepResult, path: string): number | null {
  let x: unknown = r;
  for (const k of path.split(".")) x = x && typeof x === "object" ? (x as Record<string, unknown>)[k] : null;
  return typeof x === "number" && Number.isFinite(x) ? x : null;
}

export interface Summary {
  label: string;
  path: string;
  kind: string;
  against: number | null;
  current: number | null;
  /** time: against / current (a speedup); rate: current / against; count, share: current / against. */
  ratio: number | null;
}

/** Medians over rounds per metric and their ratio. */
export function summarize(against: StepResult[], current: StepResult[]): Summary[] {
  const med = (rs: StepResult[], path: string) => {
    const xs = rs.map((r) => pick(r, path)).filter((x): x is number => x !== null);
    return xs.length ? median(xs) : null;
  };
  // The against revision may not count FLOPs; the work is the same model and shapes, so its effective
  // rate uses this tree's FLOP count.
  const gflop = med(current, "train.gflop");
  const withEff = (rs: StepResult[]) =>
    rs.map((r) => {
      const ms = pick(r, "train.ms");
      if (pick(r, "peaks.train_effective_gflops") !== null || gflop === null || ms === null) return r;
      return { ...r, peaks: { ...r.peaks, train_effective_gflops: gflop / (ms / 1000) } };
    });
  const a = withEff(against), c = withEff(current);
  return METRICS.map(([label, path, kind]) => {
    const x = med(a, path), y = med(c, path);
    const ratio = x === null || y === null || x === 0 || y === 0 ? null : kind === "time" ? x / y : y / x;
    return { label, path, kind, against: x, current: y, ratio };
  });
}

export function formatSummary(rows: Summary[], againstName: string, currentName: string): string {
  const fmt = (x: number | null, kind: string) =>
    x === null ? "-" : kind === "share" ? `${(100 * x).toFixed(1)}%` : x >= 100 ? x.toFixed(0) : x.toFixed(2);
  const cells = rows.map((r) => [
    r.label,
    fmt(r.against, r.kind),
    fmt(r.current, r.kind),
    r.ratio === null ? "-" : `${r.ratio.toFixed(2)}x${r.kind === "time" ? " faster" : ""}`,
  ]);
  const head = ["metric (median of rounds)", againstName, currentName, "ratio"];
  const w = head.map((h, k) => Math.max(h.length, ...cells.map((c) => c[k].length)));
  const line = (c: string[]) => c.map((s, k) => (k === 0 ? s.padEnd(w[k]) : s.padStart(w[k]))).join("  ");
  return [line(head), w.map((n) => "-".repeat(n)).join("  "), ...cells.map(line)].join("\n");
}

async function git(args: string[], cwd = ROOT): Promise<string> {
  const out = await new Deno.Command("git", { args, cwd, stdout: "piped", stderr: "piped" }).output();
  const text = new TextDecoder().decode(out.stdout).trim();
  if (!out.success) {
    throw new Error(`git ${args.join(" ")}: ${new TextDecoder().decode(out.stderr).trim()}`);
  }
  return text;
}

/** A detached worktree of `rev` under /tmp with this tree's bench/ and node_modules; remove() deletes it. */
export async function prepareWorktree(
  rev: string,
): Promise<{ dir: string; sha: string; remove(): Promise<void> }> {
  let sha: string;
  try {
    sha = await git(["rev-parse", "--verify", `${rev}^{commit}`]);
  } catch {
    throw new UsageError(`flag --against: "${rev}" is not a revision of ${ROOT}`);
  }
  const dir = await Deno.makeTempDir({ dir: "/tmp", prefix: `seppo-against-${sha.slice(0, 8)}-` });
  await git(["worktree", "add", "--detach", "--quiet", dir, sha]);
  const remove = async () => {
    await git(["worktree", "remove", "--force", dir]).catch(() => Deno.remove(dir, { recursive: true }));
    await git(["worktree", "prune"]).catch(() => {});
  };
  try {
    for await (const e of Deno.readDir(`${ROOT}/bench`)) {
      if (e.isFile && e.name.endsWith(".ts")) {
        await Deno.copyFile(`${ROOT}/bench/${e.name}`, `${dir}/bench/${e.name}`);
      }
    }
    const nm = `${ROOT}/node_modules`;
    if (await Deno.stat(nm).then(() => true, () => false)) await Deno.symlink(nm, `${dir}/node_modules`);
  } catch (e) {
    await remove();
    throw e;
  }
  return { dir, sha, remove };
}

let child: Deno.ChildProcess | null = null;

/** Runs bench-step in `cwd`, its output passed through, and returns its JSON. */
async function runBench(cwd: string, flags: string[], tag: string): Promise<StepResult> {
  const json = await Deno.makeTempFile({ dir: "/tmp", prefix: "seppo-bench-", suffix: ".json" });
  try {
    console.log(`\n== ${tag} (${cwd})`);
    child = new Deno.Command(Deno.execPath(), {
      // explicit permissions: older revisions and this tree agree on them
      args: [
        "run",
        "-R",
        "-W",
        "-E",
        "-S",
        "--allow-ffi",
        "--allow-run",
        "bench/train_step.ts",
        ...flags,
        "--json",
        json,
      ],
      cwd,
      stdout: "inherit",
      stderr: "inherit",
    }).spawn();
    const status = await child.status;
    child = null;
    if (stopped) throw new StoppedError(0, "bench-against: stopped");
    if (!status.success) throw new Error(`bench-step in ${cwd} failed (exit ${status.code})`);
    return JSON.parse(await Deno.readTextFile(json));
  } finally {
    await Deno.remove(json).catch(() => {});
  }
}

let stopped = false;

export const CLI = defineCli({
  task: "bench-against",
  purpose: "times a git revision against this working tree side by side: bench-step on a temporary " +
    "worktree of the revision (with this tree's bench/) and on this tree, alternately, for --rounds " +
    "rounds; prints the medians and their ratios.",
  usage: "--against REV [flags]",
  flags: {
    against: flag.str("the revision to compare with (a commit, tag or branch)", {
      required: true,
      arg: "REV",
    }),
    rounds: flag.int("rounds (each runs both sides; the first side alternates)", { default: 3, min: 1 }),
    json: flag.str("write both sides' runs and the summary", { arg: "FILE" }),
    only: flag.str("bench-step --only (train, sample, seppo, peaks)", { arg: "LIST" }),
    reps: flag.int("bench-step --reps", { min: 1 }),
    batch: flag.int("bench-step --batch", { min: 1 }),
    "seppo-batch": flag.int("bench-step --seppo-batch", { min: 1 }),
  },
  examples: [
    "deno task bench-against --against fe2e3b8 --json out/against.json",
    "deno task bench-against --against main --rounds 1 --only train,sample --reps 3",
  ],
});

async function main(v: FlagValues<typeof CLI.flags>) {
  const passOn: string[] = [];
  for (const k of ["only", "reps", "batch", "seppo-batch"] as const) {
    if (v[k] !== undefined) passOn.push(`--${k}`, String(v[k]));
  }
  const rounds = v.rounds;
  const head = await git(["rev-parse", "--short", "HEAD"]);
  const dirty = (await git(["status", "--porcelain"])).length > 0;
  const currentName = `${head}${dirty ? "+dirty" : ""}`;
  const wt = await prepareWorktree(v.against);
  const onSignal = () => {
    stopped = true;
    child?.kill("SIGTERM");
  };
  Deno.addSignalListener("SIGINT", onSignal);
  const against: StepResult[] = [], current: StepResult[] = [];
  try {
    for (let r = 0; r < rounds; r++) {
      const order = r % 2 === 0 ? ["against", "current"] : ["current", "against"];
      for (const side of order) {
        const tag = `round ${r + 1}/${rounds}: ${side === "against" ? wt.sha.slice(0, 8) : currentName}`;
        if (side === "against") against.push(await runBench(wt.dir, passOn, tag));
        else current.push(await runBench(ROOT, passOn, tag));
      }
    }
  } finally {
    Deno.removeSignalListener("SIGINT", onSignal);
    await wt.remove();
  }
  const rows = summarize(against, current);
  const againstName = wt.sha.slice(0, 8);
  console.log(`\n${formatSummary(rows, againstName, currentName)}`);
  console.log(`${againstName}: ${against[0]?.backend}`);
  console.log(`${currentName}: ${current[0]?.backend}; ${rounds} rounds, alternating`);
  if (v.json) {
    const out = {
      against: { rev: v.against, sha: wt.sha, runs: against },
      current: { rev: currentName, runs: current },
      rounds,
      bench_flags: passOn,
      summary: rows,
    };
    await writeJsonAtomic(host, v.json, out);
    console.log(`wrote ${v.json}`);
  }
}

if (import.meta.main) await runTask(host, CLI, ({ flags }) => main(flags));
