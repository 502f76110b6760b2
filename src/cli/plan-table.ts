/** The segment plan as text for a terminal: a summary, then one row per segment. */
import { gpuSecondsEstimate } from "../plan/segment-plan.ts";
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

/** The whole report for one LongVideo. */
export function planTable(
  name: string,
  plan: SegmentPlan,
  clipRenderSeconds: (segment: SegmentSpec) => number,
  gpus: number,
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
  const segments = textTable([
    ["SEGMENT", "SCENE", "SEED", "STEPS", "CFG", "LORAS", "FRAMES", "TRIM", "KEPT", "START", "HASH", "PROMPT"],
    ...plan.segments.map((s) => [
      String(s.index),
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
  return `${summary.join("\n")}\n\n${scenes}\n\n${segments}\n`;
}
