/** The segment plan as text for a terminal: a summary, then one row per segment. */
import { criticalPath, gpuSecondsEstimate } from "../plan/segment-plan.ts";
import type { SegmentPlan, SegmentSpec } from "../plan/segment-plan.ts";

/** Columns padded to their widest cell, separated by two spaces, like `kubectl get`. */
export function textTable(rows: readonly (readonly string[])[]): string {
  const widths: number[] = [];
  for (const row of rows) row.forEach((cell, i) => (widths[i] = Math.max(widths[i] ?? 0, cell.length)));
  return rows
    .map((row) =>
      row
        .map((cell, i) => (i === row.length - 1 ? cell : cell.padEnd(widths[i] ?? 0)))
        .join("  ")
        .trimEnd(),
    )
    .join("\n");
}

function clipped(text: string, width: number): string {
  const line = text.replace(/\s+/g, " ").trim();
  return line.length <= width ? line : `${line.slice(0, width - 1)}…`;
}

const secondsText = (seconds: number) => `${seconds.toFixed(2)}s`;

/** A duration for people: 5400 -> "1h30m", 95 -> "1m35s". */
export function durationText(seconds: number): string {
  const s = Math.round(seconds);
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const rest = s % 60;
  if (h > 0) return `${String(h)}h${String(m).padStart(2, "0")}m`;
  if (m > 0) return `${String(m)}m${String(rest).padStart(2, "0")}s`;
  return `${String(rest)}s`;
}

/**
 * The whole report for one LongVideo: a summary, the scenes, the chains when keyframes start more than one (with
 * the critical path, and the wall time at `parallelism` segments at once), then the segments.
 */
export function planTable(
  name: string,
  plan: SegmentPlan,
  clipRenderSeconds: (segment: SegmentSpec) => number,
  gpus: number,
  parallelism = 1,
): string {
  const { render, totals } = plan;
  const gpuSeconds = gpuSecondsEstimate(plan, clipRenderSeconds, gpus);
  const perClip = plan.segments.map(clipRenderSeconds);
  const [fastest, slowest] = [Math.min(...perClip), Math.max(...perClip)];
  const clipText = fastest === slowest ? `${String(fastest)}s` : `${String(fastest)}-${String(slowest)}s`;
  const unit = render.motionUnit === "latent" ? "latent" : "decoded";
  const summary = [
    `LongVideo ${name}: ${render.variant}, ${String(plan.scenes.length)} scene(s), ${String(totals.segments)} segment(s), ${String(totals.frames)} frames = ${secondsText(totals.seconds)} at ${String(render.fps)} fps`,
    `render: ${String(render.width)}x${String(render.height)}, ${String(render.framesPerClip)} frames per clip, ${String(render.motionFrames)} ${unit} motion frame(s) (${String(render.overlapFrames)} overlap), padding ${render.padding}, guidance ${String(render.guidanceScale)}, ${String(render.steps)} steps, backend ${render.backend}`,
    `estimate: ${String(gpuSeconds)} GPU-seconds (${durationText(gpuSeconds)}): ${clipText} per clip x ${String(gpus)} GPU(s) x ${String(totals.segments)} segment(s)`,
  ];
  const scenes = textTable([
    ["SCENE", "ASKED", "CLIPS", "FRAMES", "SECONDS", "PROMPT"],
    ...plan.scenes.map((scene) => [
      String(scene.index),
      "clips" in scene.requested
        ? `${String(scene.requested.clips)} clip${scene.requested.clips === 1 ? "" : "s"}`
        : "seconds" in scene.requested
          ? secondsText(scene.requested.seconds)
          : "audio",
      String(scene.clips),
      String(scene.frames),
      secondsText(scene.seconds),
      clipped(scene.prompt, 60),
    ]),
  ]);
  const chained = plan.chains.length > 1;
  const segments = textTable([
    [
      "SEGMENT",
      ...(chained ? ["CHAIN"] : []),
      "SCENE",
      "SEED",
      "STEPS",
      "CFG",
      "LORAS",
      "FRAMES",
      "TRIM",
      "KEPT",
      "START",
      "HASH",
      "PROMPT",
    ],
    ...plan.segments.map((s) => [
      String(s.index),
      ...(chained ? [String(s.chain)] : []),
      `${String(s.scene)}.${String(s.clipInScene)}`,
      String(s.seed),
      String(s.steps),
      String(s.guidanceScale),
      String(s.loras.length),
      String(s.framesGenerated),
      `${String(s.trimHead)}/${String(s.trimTail)}`,
      String(s.framesKept),
      secondsText(s.startSeconds),
      s.hash.slice(0, 12),
      clipped(s.prompt, 48),
    ]),
  ]);
  const chains = chained ? `${chainTable(plan, clipRenderSeconds, parallelism)}\n\n` : "";
  return `${summary.join("\n")}\n\n${scenes}\n\n${chains}${segments}\n`;
}

/**
 * The chains, each with its render time one clip after another; the critical path; and the film's render time at
 * `parallelism` at once: at least the critical path, and at least all the clips shared between the slots.
 */
function chainTable(plan: SegmentPlan, clipRenderSeconds: (segment: SegmentSpec) => number, parallelism: number) {
  const critical = criticalPath(plan, clipRenderSeconds);
  const serial = plan.segments.reduce((sum, segment) => sum + clipRenderSeconds(segment), 0);
  const wall = Math.max(critical.seconds, Math.ceil(serial / parallelism));
  const rows = plan.chains.map((chain) => {
    const seconds = plan.segments
      .slice(chain.firstSegment, chain.lastSegment + 1)
      .reduce((sum, segment) => sum + clipRenderSeconds(segment), 0);
    const scenes =
      chain.firstScene === chain.lastScene
        ? String(chain.firstScene)
        : `${String(chain.firstScene)}-${String(chain.lastScene)}`;
    return [
      String(chain.index),
      scenes,
      `${String(chain.firstSegment)}-${String(chain.lastSegment)}`,
      String(chain.segments),
      durationText(seconds),
      chain.index === critical.chain ? "critical" : "",
    ];
  });
  const summary = `chains: ${String(plan.chains.length)}, ${String(parallelism)} segment(s) at once: about ${durationText(wall)} of rendering (critical path: chain ${String(critical.chain)}, ${durationText(critical.seconds)}; one after another: ${durationText(serial)})`;
  return `${summary}\n${textTable([["CHAIN", "SCENES", "SEGMENTS", "CLIPS", "RENDER", "PATH"], ...rows])}`;
}
