/**
 * End to end on the local cluster: the example talk and dance films (manifests/examples/talk.yaml, dance.yaml),
 * with inputs made by scripts/example-inputs.sh, rendered by the animatic backend on the real node (lv-local) in
 * the CPU runtime image, by the operator installed with Helm. The operator first probes each film's audio and
 * skeleton video (a probe Job), plans the talk film's clips from the audio's duration, gives each segment its
 * window, and the concatenation muxes the audio: each film Succeeds with the planned frames and duration, its
 * audio stream starts with the video and lasts as long, and at every clip boundary the film plays the source's
 * sample of that moment (found by matching samples). Each segment's result records the window it consumed.
 *
 * Like the other suites with a release of their own, it refuses to start while another release's operator exists.
 */
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parse } from "yaml";
import {
  applyFilm,
  copyFilmOut,
  ensureRestrictedNamespace,
  installOperator,
  kubectl,
  loadImages,
  otherOperators,
  repoRoot,
  run,
  segmentFilesDirectory,
  videoFacts,
  watchFilm,
  workspaceDirectory,
} from "./film-demo.ts";
import type { FilmView } from "./film-demo.ts";
import { longVideoSpecVerdict } from "../../src/api/long-video.ts";
import { segmentPlan } from "../../src/plan/segment-plan.ts";
import type { SegmentPlan } from "../../src/plan/segment-plan.ts";

const release = { name: "lv-talk", namespace: "lv-e2e-talk-system" };
const filmsNamespace = "lv-e2e-talk-films";
const realNode = "lv-local";
const audioRate = 48_000;

const say = (line: string) => {
  process.stdout.write(`[talk-dance e2e ${new Date().toISOString().slice(11, 19)}] ${line}\n`);
};

type Film = FilmView & {
  readonly status?: FilmView["status"] & {
    readonly inputs?: { readonly key: string; readonly audioSeconds?: number; readonly poseFrames?: number };
  };
};

function planOf(spec: unknown, audioSeconds: number | undefined): SegmentPlan {
  const verdict = longVideoSpecVerdict(spec);
  if (!verdict.ok) throw new Error(`the film is invalid: ${JSON.stringify(verdict.errors)}`);
  const planned = segmentPlan(verdict.value, audioSeconds === undefined ? {} : { inputs: { audioSeconds } });
  if (!planned.ok) throw new Error(planned.error.message);
  return planned.plan;
}

/** A file of a ConfigMap's binaryData, written to `dir`. */
function configMapFile(name: string, key: string, dir: string): string {
  const data = kubectl(
    "get",
    "configmap",
    name,
    "-n",
    filmsNamespace,
    "-o",
    `jsonpath={.binaryData.${key.replace(".", "\\.")}}`,
  );
  const file = path.join(dir, key);
  writeFileSync(file, Buffer.from(data, "base64"));
  return file;
}

/** The first audio channel of a file, at 48 kHz mono float. */
function monoSamples(file: string): Float32Array {
  const raw = execFileSync(
    "ffmpeg",
    ["-v", "error", "-i", file, "-vn", "-ac", "1", "-ar", String(audioRate), "-f", "f32le", "-"],
    { maxBuffer: 512 * 1024 * 1024 },
  );
  return new Float32Array(raw.buffer, raw.byteOffset, raw.byteLength / 4);
}

/** The offset from `around` (in samples, within ±search) where `piece` best matches `track`. */
function lagOf(piece: Float32Array, track: Float32Array, around: number, search = 480): number {
  let best = -Infinity;
  let bestLag = 0;
  for (let lag = -search; lag <= search; lag++) {
    const start = around + lag;
    if (start < 0 || start + piece.length > track.length) continue;
    let score = 0;
    for (let i = 0; i < piece.length; i++) score += (piece[i] ?? 0) * (track[start + i] ?? 0);
    if (score > best) {
      best = score;
      bestLag = lag;
    }
  }
  return bestLag;
}

interface StreamTiming {
  readonly codec: string;
  readonly start: number;
  readonly duration: number;
}

function streams(file: string): Record<string, StreamTiming> {
  const probed = JSON.parse(
    run("ffprobe", [
      "-v",
      "error",
      "-show_entries",
      "stream=codec_type,codec_name,start_time,duration",
      "-of",
      "json",
      file,
    ]),
  ) as { streams: { codec_type: string; codec_name: string; start_time: string; duration: string }[] };
  return Object.fromEntries(
    probed.streams.map((s) => [
      s.codec_type,
      { codec: s.codec_name, start: Number(s.start_time), duration: Number(s.duration) },
    ]),
  );
}

/** The env of each segment pod, by segment index. */
function segmentEnvs(film: string): Map<number, Record<string, string>> {
  const pods = JSON.parse(
    kubectl(
      "get",
      "pods",
      "-n",
      filmsNamespace,
      "-l",
      `longvideo.dev/film=${film},longvideo.dev/kind=segment`,
      "-o",
      "json",
    ),
  ) as {
    items: {
      metadata: { labels: Record<string, string> };
      spec: { containers: { env?: { name: string; value?: string }[] }[] };
    }[];
  };
  return new Map(
    pods.items.map((pod) => [
      Number(pod.metadata.labels["longvideo.dev/segment"]),
      Object.fromEntries((pod.spec.containers[0]?.env ?? []).map((e) => [e.name, e.value ?? ""])),
    ]),
  );
}

/** What the probe job of a film left: its node and its termination message. */
function probePod(film: string): { node: string; message: Record<string, unknown> } {
  const pods = JSON.parse(
    kubectl(
      "get",
      "pods",
      "-n",
      filmsNamespace,
      "-l",
      `longvideo.dev/film=${film},longvideo.dev/kind=probe`,
      "-o",
      "json",
    ),
  ) as {
    items: {
      spec: { nodeName?: string };
      status: { containerStatuses?: { state: { terminated?: { message?: string } } }[] };
    }[];
  };
  const pod = pods.items[0];
  if (!pod) throw new Error(`no probe pod for ${film}`);
  const message = pod.status.containerStatuses?.[0]?.state.terminated?.message ?? "{}";
  return { node: pod.spec.nodeName ?? "", message: JSON.parse(message) as Record<string, unknown> };
}

const manifestOf = (file: string) => parse(readFileSync(path.join(repoRoot, file), "utf8")) as { spec: unknown };
const figures: string[] = [];
let scratch = "";

beforeAll(() => {
  const others = otherOperators(release.namespace);
  if (others.length > 0)
    throw new Error(`another LongVideo operator is installed and would act on these films too: ${others.join(", ")}`);
  loadImages();
  // Helm installs a chart's CRD only where none exists: this tree's (talk and dance are new in it) is applied.
  kubectl(
    "apply",
    "--server-side",
    "--force-conflicts",
    "-f",
    path.join(repoRoot, "crds/longvideo.dev_longvideos.yaml"),
  );
  installOperator(release, ["--set", "replicaCount=1"]);
  ensureRestrictedNamespace(filmsNamespace);
  run("bash", [path.join(repoRoot, "scripts/example-inputs.sh"), filmsNamespace]);
  scratch = mkdtempSync(path.join(os.tmpdir(), "lv-talk-e2e-"));
}, 900_000);

afterAll(() => {
  kubectl("delete", "namespace", filmsNamespace, "--ignore-not-found", "--timeout=120s");
  run("helm", ["uninstall", release.name, "-n", release.namespace, "--wait", "--ignore-not-found"]);
  kubectl("delete", "namespace", release.namespace, "--ignore-not-found", "--wait=false");
  if (scratch) rmSync(scratch, { recursive: true, force: true });
  for (const line of figures) say(line);
}, 300_000);

/** Renders an example film and checks what every example shares: probe, plan, frames, duration, audio in step. */
async function renderExample(file: string, audioKey: { map: string; key: string; offsetSeconds: number }) {
  const manifest = manifestOf(file);
  const name = applyFilm(filmsNamespace, path.join(repoRoot, file));
  const film = (await watchFilm(
    filmsNamespace,
    name,
    (f) => {
      say(`${name}: ${f.status?.phase ?? "Pending"} ${f.status?.progress ?? ""}`);
    },
    900_000,
  )) as Film;
  expect(film.status?.phase, JSON.stringify(film.status?.conditions)).toBe("Succeeded");

  // The probe ran on the real node and reported the audio's duration, which status.inputs records.
  const source = configMapFile(audioKey.map, audioKey.key, scratch);
  const sourceSeconds = Number(
    run("ffprobe", ["-v", "error", "-show_entries", "format=duration", "-of", "csv=p=0", source]),
  );
  const probe = probePod(name);
  expect(probe.node).toBe(realNode);
  expect(probe.message).toMatchObject({ ok: true, kind: "probe" });
  expect(film.status?.inputs?.audioSeconds).toBeCloseTo(sourceSeconds, 2);

  const plan = planOf(manifest.spec, film.status?.inputs?.audioSeconds);
  expect(film.status?.output?.frames).toBe(plan.totals.frames);
  expect(film.status?.segments?.map((s) => s.node)).toEqual(Array(plan.totals.segments).fill(realNode));

  const out = copyFilmOut(filmsNamespace, film, path.join(repoRoot, ".cache/e2e/out"));
  const facts = videoFacts(out.film);
  expect(facts).toMatchObject({ frames: plan.totals.frames, width: 640, height: 368, fps: 25, codec: "h264" });
  expect(readFileSync(out.contactSheet).subarray(1, 4).toString()).toBe("PNG");

  // The audio stream: AAC, starting with the video and as long, within one AAC frame.
  const timing = streams(out.film);
  expect(timing.audio?.codec).toBe("aac");
  expect(timing.audio?.start).toBeCloseTo(timing.video?.start ?? -1, 3);
  expect(Math.abs((timing.audio?.duration ?? 0) - plan.totals.seconds)).toBeLessThanOrEqual(1024 / audioRate + 1e-3);

  // At each clip's first frame, the film plays the source from the offset plus that moment, to a few samples.
  const filmAudio = monoSamples(out.film);
  const original = monoSamples(source);
  const offset = Math.round(audioKey.offsetSeconds * plan.render.fps);
  let matched = 0;
  for (const segment of plan.segments) {
    const at = Math.round((segment.startFrame / plan.render.fps) * audioRate) + 200;
    const expected = Math.round(((offset + segment.startFrame) / plan.render.fps) * audioRate) + 200;
    if (expected + 9600 > original.length) continue; // past the source's end the film is silent
    const piece = filmAudio.subarray(at, at + 9600);
    // A pause in the voice matches anything: only a stretch with sound can say where it came from.
    if (Math.sqrt(piece.reduce((sum, v) => sum + v * v, 0) / piece.length) < 0.01) continue;
    expect(Math.abs(lagOf(piece, original, expected)), `clip ${String(segment.index)}`).toBeLessThanOrEqual(2);
    matched++;
  }
  expect(matched).toBeGreaterThan(0);

  const workspace = workspaceDirectory(filmsNamespace, `${name}-workspace`);
  const results = [...(film.status?.segments ?? [])]
    .sort((a, b) => a.index - b.index)
    .map((record) => {
      const dir = segmentFilesDirectory(workspace, record);
      return JSON.parse(readFileSync(path.join(dir, "result.json"), "utf8")) as Record<string, unknown> & {
        timings: Record<string, number>;
        seconds: number;
      };
    });
  const conditioning = results.map((r) => r.timings.conditioning_seconds ?? Number.NaN);
  figures.push(
    `${name}: ${String(plan.totals.segments)} segments, ${String(plan.totals.frames)} frames; audio/pose stage per ` +
      `segment ${conditioning.map((s) => s.toFixed(3)).join(", ")} s of ${results.map((r) => r.seconds.toFixed(1)).join(", ")} s`,
  );
  return { name, plan, results };
}

describe("talk and dance films on the real node (animatic)", () => {
  it("renders the talk example: clips from the audio's duration, each segment's audio window as planned, voice muxed in step", async () => {
    const { name, plan, results } = await renderExample("manifests/examples/talk.yaml", {
      map: "talk-inputs",
      key: "voice.wav",
      offsetSeconds: 0,
    });
    // 7.6 s of voice at 25 fps: three whole 81-frame clips.
    expect(plan.totals.segments).toBe(3);
    expect(plan.segments.map((s) => s.framesKept)).toEqual([81, 81, 81]);
    const envs = segmentEnvs(name);
    for (const segment of plan.segments) {
      const window = segment.audioWindow;
      if (!window) throw new Error(`segment ${String(segment.index)} has no audio window`);
      expect(envs.get(segment.index)?.LV_AUDIO_WINDOW).toBe(`${String(window.startFrame)}:${String(window.frames)}`);
      expect(results[segment.index]?.audioWindow).toMatchObject({ startFrame: window.startFrame, frames: 81 });
    }
    expect(plan.segments.map((s) => s.audioWindow?.startFrame)).toEqual([0, 80, 161]);
  }, 900_000);

  it("renders the dance example: each segment follows its skeleton frames (looping), music muxed from its offset", async () => {
    const { name, plan, results } = await renderExample("manifests/examples/dance.yaml", {
      map: "dance-inputs",
      key: "music.wav",
      offsetSeconds: 0.5,
    });
    expect(plan.totals.frames).toBe(161);
    const envs = segmentEnvs(name);
    for (const segment of plan.segments) {
      expect(envs.get(segment.index)?.LV_POSE_WINDOW).toBe(`${String(segment.startFrame)}:81:true`);
      expect(envs.get(segment.index)?.LV_AUDIO).toBeUndefined();
      expect(results[segment.index]?.poseWindow).toMatchObject({ startFrame: segment.startFrame, loop: true });
    }
  }, 900_000);
});
