/**
 * `longvideo plan FILE`: validates the LongVideo manifests in FILE the way the API server would and prints each
 * one's segment plan. Exit status 1 when one is invalid.
 */
import { invalidObjectMessage } from "../api/field-errors.ts";
import { longVideoResource, longVideoVerdict } from "../api/long-video.ts";
import { clipRenderSecondsEstimate, segmentPlan } from "../plan/segment-plan.ts";
import type { SegmentSpec } from "../plan/segment-plan.ts";
import { ExitStatus } from "./cli-output.ts";
import type { CliOutput } from "./cli-output.ts";
import { filmManifests } from "./film-manifests.ts";
import { planTable } from "./plan-table.ts";

/** The report of every LongVideo in a YAML text, and the exit status. */
export function planCommand(
  text: string,
  file: string,
  options: { readonly clipSeconds?: number; readonly audioSeconds?: number },
  output: CliOutput,
): number {
  const found = filmManifests(text, file);
  if (!found.ok) {
    output.err(`longvideo: ${found.error}\n`);
    return found.invalidYaml ? ExitStatus.usage : ExitStatus.failed;
  }
  let status: number = ExitStatus.ok;
  const reports: string[] = [];
  for (const { name, manifest } of found.films) {
    const verdict = longVideoVerdict(manifest);
    if (!verdict.ok) {
      output.err(`${invalidObjectMessage(longVideoResource.kind, name, verdict.errors)}\n`);
      status = ExitStatus.failed;
      continue;
    }
    const { spec } = verdict.value;
    // A talk film's storyline without lengths follows its audio, which the operator probes; here the user says it.
    const planned = segmentPlan(
      spec,
      options.audioSeconds === undefined ? {} : { inputs: { audioSeconds: options.audioSeconds } },
    );
    if (!planned.ok) {
      const error = { field: planned.error.field, type: "Invalid value", detail: planned.error.message } as const;
      output.err(`${invalidObjectMessage(longVideoResource.kind, name, [error])}\n`);
      status = ExitStatus.failed;
      continue;
    }
    const namespace = verdict.value.metadata.namespace;
    const qualified = namespace === undefined ? name : `${namespace}/${name}`;
    // Unless the user gives one figure, each segment's own: a scene may sample with other steps or guidance.
    const { clipSeconds } = options;
    const render = planned.plan.render;
    const clipRenderSeconds =
      clipSeconds === undefined
        ? (segment: SegmentSpec) => clipRenderSecondsEstimate(render, segment)
        : () => clipSeconds;
    reports.push(planTable(qualified, planned.plan, clipRenderSeconds, spec.gpu.count, spec.render.parallelism));
  }
  if (reports.length > 0) output.out(reports.join("\n"));
  return status;
}
