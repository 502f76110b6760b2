/**
 * `longvideo render FILE [-o DIR]`: renders a LongVideo on this machine with the runtime worker, in the project's
 * Python environment (`runtime-image/install-dev.sh` makes it and prints where), one segment after another, each
 * consuming its predecessor's hand-off, then concatenates the film and its contact sheet. The plan is
 * {@link localRenderPlan}'s; this module only runs it.
 */
import { spawn, execFileSync } from "node:child_process";
import { mkdirSync, createWriteStream } from "node:fs";
import path from "node:path";
import { SingleBar, Presets } from "cli-progress";
import { CliError, ExitStatus } from "./cli-output.ts";
import type { CliOutput } from "./cli-output.ts";
import { durationText } from "./plan-table.ts";
import { concatRunEnv, segmentRunEnv } from "./local-render.ts";
import type { LocalRender } from "./local-render.ts";
import type { RuntimeEnv } from "../reconcile/film-snapshot.ts";

const repoRoot = path.resolve(import.meta.dirname, "../..");

/** The Python that runs the worker: given, or the project's virtualenv (made on first use, then cached). */
export function runtimePython(given: string | undefined): string {
  if (given !== undefined) return given;
  const script = path.join(repoRoot, "runtime-image/install-dev.sh");
  const printed = execFileSync("bash", [script], { encoding: "utf8", stdio: ["ignore", "pipe", "inherit"] });
  const venv = printed.trim().split("\n").at(-1);
  if (!venv) throw new CliError(`${script} printed no virtualenv`);
  return path.join(venv, "bin", "python");
}

/** The worker's one-line JSON result (its termination message), from the last line of its standard output. */
interface WorkerResult {
  readonly ok?: boolean;
  readonly latentsDigest?: string;
  readonly error?: string;
  readonly reason?: string;
  readonly exitCode?: number;
  readonly contactSheet?: string | null;
  readonly frames?: number;
  readonly seconds?: number;
}

function resultOf(stdout: string): WorkerResult {
  const last = stdout.trim().split("\n").at(-1) ?? "";
  try {
    return JSON.parse(last) as WorkerResult;
  } catch {
    return {};
  }
}

/** Runs one worker command, its log appended to `logFile`; resolves with its exit code and result. */
function runWorker(
  python: string,
  command: "segment" | "concat",
  env: RuntimeEnv,
  logFile: string,
): Promise<{ code: number; result: WorkerResult }> {
  return new Promise((resolve, reject) => {
    const log = createWriteStream(logFile, { flags: "a" });
    const child = spawn(python, ["-m", "longvideo_runtime", command], {
      env: {
        ...process.env,
        ...env,
        PYTHONPATH: path.join(repoRoot, "runtime-image/src"),
        // Not a pod: no termination log file to write.
        LV_TERMINATION_LOG: "",
      },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let stdout = "";
    child.stdout.on("data", (chunk: Buffer) => {
      stdout += chunk.toString();
      log.write(chunk);
    });
    child.stderr.pipe(log);
    child.once("error", reject);
    child.once("close", (code) => {
      log.end();
      resolve({ code: code ?? 1, result: resultOf(stdout) });
    });
  });
}

function failure(what: string, code: number, result: WorkerResult, logFile: string): CliError {
  const why = result.error ?? `exit code ${String(code)}`;
  return new CliError(`${what} failed (${result.reason ?? "exit code " + String(code)}): ${why}; its log: ${logFile}`);
}

/** Renders every segment, then the film; prints where the film and contact sheet are. */
export async function renderCommand(render: LocalRender, python: string, output: CliOutput): Promise<number> {
  mkdirSync(path.join(render.workspace, "logs"), { recursive: true });
  const total = render.segments.length;
  output.err(
    `rendering ${render.name}: ${String(total)} segment(s), ${String(render.frames)} frames, ${render.backend} backend, in ${render.workspace}\n`,
  );
  const bar = new SingleBar(
    { format: "{bar} {value}/{total} segments | {step} | {duration_formatted}", hideCursor: true },
    Presets.shades_classic,
  );
  const started = Date.now();
  bar.start(total, 0, { step: "segment 0" });
  let inputDigest = "";
  try {
    for (const segment of render.segments) {
      bar.update({ step: `segment ${String(segment.index)}` });
      const logFile = path.join(render.workspace, "logs", `segment-${String(segment.index)}.log`);
      const { code, result } = await runWorker(python, "segment", segmentRunEnv(segment, inputDigest), logFile);
      if (code !== 0 || !result.latentsDigest) throw failure(`segment ${String(segment.index)}`, code, result, logFile);
      inputDigest = result.latentsDigest;
      bar.increment({ step: `segment ${String(segment.index)} done` });
    }
    bar.update({ step: "concatenating" });
    const logFile = path.join(render.workspace, "logs", "concat.log");
    const { code, result } = await runWorker(python, "concat", concatRunEnv(render, inputDigest), logFile);
    if (code !== 0) throw failure("concatenation", code, result, logFile);
    bar.update({ step: "done" });
  } finally {
    bar.stop();
  }
  output.err(`rendered in ${durationText((Date.now() - started) / 1000)}\n`);
  output.out(`film:          ${render.film} (${String(render.frames)} frames, ${render.seconds.toFixed(2)}s)\n`);
  output.out(`contact sheet: ${render.contactSheet}\n`);
  return ExitStatus.ok;
}
