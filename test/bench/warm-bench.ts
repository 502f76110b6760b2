/**
 * Warm start benchmark (issue 14, docs/adr/0026), on the local cluster's real node: the same film rendered serially
 * (`spec.render.warmStart: false`) and warm, one after the other in one run, with the animatic backend and with
 * the svi backend on tiny random-weight models, in the CPU runtime image installed by the chart. Prints, per film,
 * from what the workers reported (status.segments[].phases and instants):
 *
 * - wall time (status start to completion), and warm over serial;
 * - hand-off gap (successor's denoise start minus predecessor's commit) p50 / p99, goal p99 <= 100 ms;
 * - idle share: the part of the rendering span (first denoise start to last denoise end) in which no segment is
 *   denoising, goal <= 2%;
 * - GPU-seconds held per GPU-second denoising (the worker's phases from its start to its clip encoded, over its
 *   denoising, summed), goal <= 1.10.
 *
 * Each warm hand-off's gap is split, from the instants each worker wrote in its result.json on the workspace, into:
 * the successor still loading after the commit (its `ready` later than the commit), seeing the commit (polling), and
 * its own work from seeing it to denoising (reading and verifying the hand-off, and for shot and film the VAE encode
 * of the condition video made from the predecessor's motion frames: `condition_seconds`).
 *
 * The svi film is also rendered as SVI-Pro (variant pro), serial and warm: it hands over latents, committed before
 * its decode, so its successor has no condition video to encode.
 *
 * The svi film is rendered warm twice: with the chart's default `warmStart.maxAhead` (3 warm pods ahead), then with 1,
 * since on this node every pod's model load shares the same two cores.
 *
 * Environment: LV_WARM_CLIPS_ANIMATIC (8), LV_WARM_CLIPS_SVI (5). `make bench-warm` starts a cluster and runs this.
 */
import { readFileSync } from "node:fs";
import path from "node:path";
import {
  applyFilmObject,
  createReferenceImage,
  installOperator,
  kubectl,
  loadImages,
  otherOperators,
  repoRoot,
  run,
  segmentFilesDirectory,
  watchFilm,
  workspaceDirectory,
} from "../e2e/film-demo.ts";
import type { FilmView } from "../e2e/film-demo.ts";
import { buildTinyModelCache, modelCacheObjects } from "../e2e/tiny-model-cache.ts";
import { workspaceClaimName } from "../../src/reconcile/object-names.ts";

const release = { name: "lv-bench-warm", namespace: "lv-bench-warm-system" };
const namespace = "lv-bench-warm-films";
const reference = { name: "bench-still", key: "image.png" };
const modelsDir = path.join(repoRoot, ".cache/bench/warm-models");
const modelsVolume = "lv-bench-warm-models";
const modelsClaim = "tiny-models";
const clips = {
  animatic: Number(process.env.LV_WARM_CLIPS_ANIMATIC ?? 8),
  svi: Number(process.env.LV_WARM_CLIPS_SVI ?? 5),
};

type Backend = keyof typeof clips;
type Records = NonNullable<NonNullable<FilmView["status"]>["segments"]>;

function film(name: string, backend: Backend, warmStart: boolean, variant: "film" | "pro") {
  const render =
    backend === "svi"
      ? { backend, resolution: { width: 256, height: 256 }, framesPerClip: 17, steps: 2, warmStart }
      : { backend, resolution: { width: 320, height: 256 }, framesPerClip: 33, warmStart };
  return {
    apiVersion: "longvideo.dev/v1alpha1",
    kind: "LongVideo",
    metadata: { name },
    spec: {
      variant,
      referenceImage: { configMap: reference },
      storyline: [{ prompt: "A harbour wakes: boats leave one by one into the morning mist.", clips: clips[backend] }],
      render,
      storage: { workspace: { size: "1Gi" }, ...(backend === "svi" ? { models: { claimName: modelsClaim } } : {}) },
      resources: { requests: { cpu: "250m", memory: "512Mi" }, limits: { cpu: "2", memory: "4Gi" } },
      retry: { limit: 0 },
    },
  };
}

const ms = (iso: string | undefined) => (iso === undefined ? Number.NaN : Date.parse(iso));

const quantile = (values: readonly number[], q: number) => {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.ceil(q * sorted.length) - 1)] ?? Number.NaN;
};

interface Figures {
  readonly wall: number;
  readonly gapP50: number;
  readonly gapP99: number;
  readonly idleShare: number;
  readonly heldPerDenoising: number;
  readonly warmSegments: number;
  /** Mean seconds per segment of each phase the worker reported: where a clip's time goes. */
  readonly phases: Readonly<Record<PhaseName, number>>;
  /** The warm hand-offs' gaps split by where they went (ms, p50 each), and how many were still loading. */
  readonly split: HandoffSplit | undefined;
}

interface HandoffSplit {
  readonly count: number;
  readonly stillLoading: number;
  readonly loadingP50: number;
  readonly seeingP50: number;
  readonly ownWorkP50: number;
  readonly conditionP50: number;
}

/** The instants and timings a worker wrote in its result.json. */
interface ResultTimes {
  readonly instants?: Readonly<Record<string, string>>;
  readonly timings?: Readonly<Record<string, number>>;
}

/** Each warm hand-off's gap split into the successor's load after the commit, seeing it, and its own work. */
function handoffSplit(records: Records, results: readonly ResultTimes[]): HandoffSplit | undefined {
  const parts = records.slice(1).flatMap((record, i) => {
    const before = records[i];
    const times = results[i + 1]?.instants;
    if (record.inputFrom === undefined || !before || !times) return [];
    const commit = ms(before.committedAt);
    const ready = ms(times.ready);
    const seen = ms(times.seen);
    const loading = Math.max(0, ready - commit);
    return [
      {
        loading,
        seeing: seen - Math.max(commit, ready),
        ownWork: ms(record.denoiseStartedAt) - seen,
        condition: (results[i + 1]?.timings?.condition_seconds ?? 0) * 1000,
      },
    ];
  });
  if (parts.length === 0) return undefined;
  const p50 = (part: keyof (typeof parts)[number]) =>
    quantile(
      parts.map((p) => p[part]),
      0.5,
    );
  return {
    count: parts.length,
    stillLoading: parts.filter((p) => p.loading > 0).length,
    loadingP50: p50("loading"),
    seeingP50: p50("seeing"),
    ownWorkP50: p50("ownWork"),
    conditionP50: p50("condition"),
  };
}

const phaseNames = ["ready", "wait", "denoise", "decode", "encode"] as const;
type PhaseName = (typeof phaseNames)[number];

/** Seconds the film's segments spent in one phase, summed, as their workers reported them. */
const secondsIn = (records: Records, name: PhaseName) => records.reduce((sum, r) => sum + (r.phases?.[name] ?? 0), 0);

/** The figures of one finished film, from its records and its workers' result files. */
function figures(done: FilmView, results: readonly ResultTimes[]): Figures {
  const records: Records = [...(done.status?.segments ?? [])].sort((a, b) => a.index - b.index);
  const gaps = records.slice(1).map((r, i) => ms(r.denoiseStartedAt) - ms(records[i]?.committedAt));
  const denoising = records.map((r) => {
    const start = ms(r.denoiseStartedAt);
    return [start, start + (r.phases?.denoise ?? 0) * 1000] as const;
  });
  const span = Math.max(...denoising.map(([, end]) => end)) - Math.min(...denoising.map(([start]) => start));
  // The union of the denoising intervals: they may overlap (they do not within one chain, but clocks are coarse).
  let covered = 0;
  let reach = Number.NEGATIVE_INFINITY;
  for (const [start, end] of [...denoising].sort((a, b) => a[0] - b[0])) {
    if (end <= reach) continue;
    covered += end - Math.max(start, reach);
    reach = end;
  }
  // A GPU is held from the worker's start to its clip encoded, as the worker timed it in ms. The pod's own start and
  // finish are whole seconds in its status, as coarse as a tiny clip, and would make a serial clip seem held for 0 s.
  const held = phaseNames.reduce((sum, name) => sum + secondsIn(records, name) * 1000, 0);
  const denoised = secondsIn(records, "denoise") * 1000;
  return {
    wall: (ms(done.status?.completionTime) - ms(done.status?.startTime)) / 1000,
    gapP50: quantile(gaps, 0.5),
    gapP99: quantile(gaps, 0.99),
    idleShare: span > 0 ? (span - covered) / span : Number.NaN,
    heldPerDenoising: denoised > 0 ? held / denoised : Number.NaN,
    warmSegments: records.filter((r) => r.inputFrom !== undefined).length,
    phases: Object.fromEntries(phaseNames.map((name) => [name, secondsIn(records, name) / records.length])) as Record<
      PhaseName,
      number
    >,
    split: handoffSplit(records, results),
  };
}

async function render(
  name: string,
  backend: Backend,
  warm: boolean,
  variant: "film" | "pro" = "film",
): Promise<Figures> {
  applyFilmObject(namespace, film(name, backend, warm, variant));
  const done = await watchFilm(namespace, name, () => undefined, 900_000);
  if (done.status?.phase !== "Succeeded") throw new Error(`${name}: ${JSON.stringify(done.status?.conditions)}`);
  const workspace = workspaceDirectory(namespace, workspaceClaimName(name));
  const records = [...(done.status.segments ?? [])].sort((a, b) => a.index - b.index);
  const results = records.map(
    (record) =>
      JSON.parse(
        readFileSync(path.join(segmentFilesDirectory(workspace, record), "result.json"), "utf8"),
      ) as ResultTimes,
  );
  return figures(done, results);
}

async function main(): Promise<void> {
  const others = otherOperators(release.namespace);
  if (others.length > 0) throw new Error(`another LongVideo operator is installed: ${others.join(", ")}`);
  loadImages();
  kubectl(
    "apply",
    "--server-side",
    "--force-conflicts",
    "-f",
    path.join(repoRoot, "crds/longvideo.dev_longvideos.yaml"),
  );
  installOperator(release, ["--set", "replicaCount=1"]);
  kubectl("create", "namespace", namespace);
  createReferenceImage(namespace, reference.name, reference.key, "320x256");
  buildTinyModelCache(modelsDir);
  run("kubectl", ["apply", "-f", "-"], modelCacheObjects(modelsDir, modelsVolume, modelsClaim, namespace));
  const rows: [string, Figures][] = [];
  try {
    for (const backend of ["animatic", "svi"] as const) {
      rows.push([`${backend} serial`, await render(`${backend}-serial`, backend, false)]);
      rows.push([`${backend} warm`, await render(`${backend}-warm`, backend, true)]);
    }
    rows.push(["svi pro serial", await render("svi-pro-serial", "svi", false, "pro")]);
    rows.push(["svi pro warm", await render("svi-pro-warm", "svi", true, "pro")]);
    installOperator(release, ["--set", "replicaCount=1", "--set", "warmStart.maxAhead=1"]);
    rows.push(["svi warm, 1 ahead", await render("svi-warm-one-ahead", "svi", true)]);
  } finally {
    kubectl("delete", "namespace", namespace, "--ignore-not-found", "--timeout=180s");
    run("helm", ["uninstall", release.name, "-n", release.namespace, "--wait", "--ignore-not-found"]);
    kubectl("delete", "namespace", release.namespace, "--ignore-not-found", "--wait=false");
    kubectl("delete", "persistentvolume", modelsVolume, "--ignore-not-found", "--timeout=60s");
  }
  const pct = (x: number) => `${(x * 100).toFixed(1)}%`;
  console.log(
    `\nwarm start benchmark on the real node (CPU image): ${String(clips.animatic)} animatic clips, ${String(clips.svi)} tiny svi clips`,
  );
  console.log("  film               wall     gap p50 / p99        idle share   held/denoising   warm segments");
  for (const [label, f] of rows) {
    console.log(
      `  ${label.padEnd(17)}  ${f.wall.toFixed(1).padStart(6)} s  ${f.gapP50.toFixed(0).padStart(6)} / ${f.gapP99.toFixed(0).padStart(6)} ms  ${pct(f.idleShare).padStart(10)}   ${f.heldPerDenoising.toFixed(2).padStart(14)}   ${String(f.warmSegments).padStart(13)}`,
    );
  }
  console.log("  mean seconds per segment, as the workers reported them:");
  for (const [label, f] of rows) {
    console.log(
      `  ${label.padEnd(17)}  ${phaseNames.map((name) => `${name} ${f.phases[name].toFixed(2)}`).join("  ")}`,
    );
  }
  console.log("  warm hand-offs' gaps split (p50): the successor still loading, seeing the commit, its own work:");
  for (const [label, f] of rows) {
    if (!f.split) continue;
    const s = f.split;
    console.log(
      `  ${label.padEnd(17)}  ${String(s.count)} warm, ${String(s.stillLoading)} still loading at the commit; loading ${s.loadingP50.toFixed(0)} ms, seeing ${s.seeingP50.toFixed(0)} ms, own work ${s.ownWorkP50.toFixed(0)} ms (of which the condition encode ${s.conditionP50.toFixed(0)} ms)`,
    );
  }
  for (const [backend, warmLabel] of [
    ["animatic", "animatic warm"],
    ["svi", "svi warm"],
    ["svi", "svi warm, 1 ahead"],
    ["svi pro", "svi pro warm"],
  ] as const) {
    const serial = rows.find(([l]) => l === `${backend} serial`)?.[1];
    const warm = rows.find(([l]) => l === warmLabel)?.[1];
    if (serial && warm) {
      console.log(
        `  ${warmLabel}: wall / serial wall ${(warm.wall / serial.wall).toFixed(3)}; gap p99 ${warm.gapP99.toFixed(0)} ms vs ${serial.gapP99.toFixed(0)} ms`,
      );
    }
  }
  console.log(
    "  goals: gap p99 <= 100 ms, idle share <= 2%, held/denoising <= 1.10 (docs/adr/0026 says why they are or are not met)",
  );
}

await main();
