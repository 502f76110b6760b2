/**
 * `longvideo plan FILE`: validates the LongVideo manifests in FILE the way the API server would and prints each
 * one's segment plan. Runs on Node 24 without a build: `node src/cli/longvideo.ts plan FILE` or
 * `npm run plan -- FILE`.
 *
 * Exit status: 0 when every LongVideo in FILE is valid and planned, 1 when one is not, 2 on a usage or read error.
 */
import { readFileSync } from "node:fs";
import process from "node:process";
import { parseAllDocuments } from "yaml";
import { invalidObjectMessage } from "../api/field-errors.ts";
import { longVideoResource, longVideoVerdict } from "../api/long-video.ts";
import { clipRenderSecondsEstimate, resolvedRender, segmentPlan } from "../plan/segment-plan.ts";
import { planTable } from "./plan-table.ts";

const usage = `usage: longvideo plan FILE [--clip-seconds SECONDS] [--audio-seconds SECONDS]

Validates every LongVideo in FILE (YAML, several documents allowed) as the API server would and prints its
segment plan. --clip-seconds sets the render time per clip used for the GPU-seconds estimate (default: scaled
from SVI's reported 12 minutes per 81-frame clip at 50 steps; 1 for the animatic backend). --audio-seconds is the
duration of a talk film's spec.audio (the operator probes it; ffprobe tells it), which a storyline without lengths
follows.`;

type Args =
  { readonly file: string; readonly clipSeconds?: number; readonly audioSeconds?: number } | { readonly error: string };

function parsedArgs(argv: readonly string[]): Args {
  const [command, ...rest] = argv;
  if (command !== "plan") return { error: command === undefined ? "no command" : `unknown command ${command}` };
  let file: string | undefined;
  const seconds: { clipSeconds?: number; audioSeconds?: number } = {};
  for (let i = 0; i < rest.length; i++) {
    const arg = rest[i];
    if (arg === "--clip-seconds" || arg === "--audio-seconds") {
      const value = Number(rest[++i]);
      if (!Number.isFinite(value) || value <= 0) return { error: `${arg} takes a positive number` };
      seconds[arg === "--clip-seconds" ? "clipSeconds" : "audioSeconds"] = value;
    } else if (arg !== undefined && !arg.startsWith("--") && file === undefined) file = arg;
    else return { error: `unexpected argument ${arg ?? ""}` };
  }
  if (file === undefined) return { error: "no FILE" };
  return { file, ...seconds };
}

function objectName(manifest: unknown, position: number): string {
  const metadata = (manifest as { metadata?: { name?: unknown; generateName?: unknown } } | null)?.metadata;
  const name = metadata?.name ?? metadata?.generateName;
  return typeof name === "string" ? name : `document ${String(position + 1)}`;
}

function main(argv: readonly string[]): number {
  const args = parsedArgs(argv);
  if ("error" in args) {
    process.stderr.write(`longvideo: ${args.error}\n${usage}\n`);
    return 2;
  }
  let text: string;
  try {
    text = readFileSync(args.file, "utf8");
  } catch (error) {
    process.stderr.write(
      `longvideo: cannot read ${args.file}: ${error instanceof Error ? error.message : String(error)}\n`,
    );
    return 2;
  }
  // YAML 1.1, as kubectl reads it: `yes`, `no`, `on` and `off` are booleans there.
  const documents = parseAllDocuments(text, { version: "1.1" });
  const manifests: unknown[] = [];
  for (const document of Array.isArray(documents) ? documents : [documents]) {
    if (document.errors.length > 0) {
      process.stderr.write(
        `longvideo: ${args.file} is not valid YAML: ${document.errors.map((e) => e.message).join("; ")}\n`,
      );
      return 2;
    }
    const manifest: unknown = document.toJS();
    if (manifest === null || manifest === undefined) continue;
    if ((manifest as { kind?: unknown }).kind !== longVideoResource.kind) continue;
    manifests.push(manifest);
  }
  if (manifests.length === 0) {
    process.stderr.write(`longvideo: no ${longVideoResource.kind} in ${args.file}\n`);
    return 1;
  }

  let status = 0;
  const reports: string[] = [];
  for (const [position, manifest] of manifests.entries()) {
    const name = objectName(manifest, position);
    const verdict = longVideoVerdict(manifest);
    if (!verdict.ok) {
      process.stderr.write(`${invalidObjectMessage(longVideoResource.kind, name, verdict.errors)}\n`);
      status = 1;
      continue;
    }
    const { spec } = verdict.value;
    const clipRenderSeconds = args.clipSeconds ?? clipRenderSecondsEstimate(resolvedRender(spec.variant, spec.render));
    const planned = segmentPlan(
      spec,
      args.audioSeconds === undefined ? {} : { inputs: { audioSeconds: args.audioSeconds } },
    );
    if (!planned.ok) {
      const error = { field: planned.error.field, type: "Invalid value", detail: planned.error.message } as const;
      process.stderr.write(`${invalidObjectMessage(longVideoResource.kind, name, [error])}\n`);
      status = 1;
      continue;
    }
    const namespace = verdict.value.metadata.namespace;
    const qualified = namespace === undefined ? name : `${namespace}/${name}`;
    reports.push(planTable(qualified, planned.plan, clipRenderSeconds, spec.gpu.count));
  }
  if (reports.length > 0) process.stdout.write(reports.join("\n"));
  return status;
}

process.exitCode = main(process.argv.slice(2));
