import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { longVideoSpecSchema } from "../api/long-video-spec.ts";
import type { LongVideoSpec, LongVideoSpecInput } from "../api/long-video-spec.ts";
import {
  clipRenderSecondsEstimate,
  clipsForSeconds,
  criticalPath,
  gpuSecondsEstimate,
  resolvedRender,
  segmentHash,
  segmentPlan,
} from "./segment-plan.ts";
import type { SegmentPlan } from "./segment-plan.ts";

const image = { configMap: { name: "still", key: "image.png" } };

function spec(input: Omit<LongVideoSpecInput, "referenceImage"> & Partial<Pick<LongVideoSpecInput, "referenceImage">>) {
  return longVideoSpecSchema.parse({
    referenceImage: image,
    ...input,
    render: { backend: "animatic", ...input.render },
  });
}

function plan(s: LongVideoSpec): SegmentPlan {
  const result = segmentPlan(s);
  if (!result.ok) throw new Error(`${result.error.field}: ${result.error.message}`);
  return result.plan;
}

describe("segmentPlan: tables", () => {
  it.each([
    // variant, scenes, fps, segments, frames per segment kept, total frames
    { name: "film, one 81-frame clip", variant: "film", storyline: [{ clips: 1 }], fps: 16, kept: [81] },
    {
      name: "film trims the tail of all but the last",
      variant: "film",
      storyline: [{ clips: 3 }],
      fps: 16,
      kept: [76, 76, 81],
    },
    { name: "shot hands over one frame", variant: "shot", storyline: [{ clips: 3 }], fps: 16, kept: [80, 80, 81] },
    {
      name: "pro trims the head of all but the first",
      variant: "pro",
      storyline: [{ clips: 3 }],
      fps: 16,
      kept: [81, 76, 76],
    },
    // 10 s at 16 fps = 160 frames: 76 + 81 = 157 is short, so three clips.
    { name: "film, 10 seconds", variant: "film", storyline: [{ seconds: 10 }], fps: 16, kept: [76, 76, 81] },
    // 81 frames exactly at 16 fps: the last clip keeps its overlap, one clip is enough.
    {
      name: "shot, exactly one clip of seconds",
      variant: "shot",
      storyline: [{ seconds: 81 / 16 }],
      fps: 16,
      kept: [81],
    },
    // A seconds scene before another scene has no overlap bonus: 5 s = 80 frames > 76, two clips.
    {
      name: "film, seconds scene then clips scene",
      variant: "film",
      storyline: [{ seconds: 5 }, { clips: 1 }],
      fps: 16,
      kept: [76, 76, 81],
    },
  ] as const)("$name", ({ variant, storyline, fps, kept }) => {
    const p = plan(
      spec({ variant, storyline: storyline.map((s, i) => ({ prompt: `scene ${String(i)}`, ...s })), render: { fps } }),
    );
    expect(p.segments.map((s) => s.framesKept)).toEqual(kept);
    expect(p.totals.frames).toBe(kept.reduce((a, b) => a + b, 0));
    expect(p.totals.seconds).toBeCloseTo(p.totals.frames / fps, 9);
  });

  it("gives each segment its scene's prompt, its seed and its place in the film", () => {
    const p = plan(
      spec({
        variant: "film",
        storyline: [
          { prompt: "dawn", clips: 2 },
          { prompt: "dusk", clips: 1 },
        ],
        render: { seed: 7, fps: 19 },
      }),
    );
    expect(
      p.segments.map(({ index, scene, clipInScene, prompt, seed, startFrame }) => ({
        index,
        scene,
        clipInScene,
        prompt,
        seed,
        startFrame,
      })),
    ).toEqual([
      { index: 0, scene: 0, clipInScene: 0, prompt: "dawn", seed: 0, startFrame: 0 },
      { index: 1, scene: 0, clipInScene: 1, prompt: "dawn", seed: 7, startFrame: 76 },
      { index: 2, scene: 1, clipInScene: 0, prompt: "dusk", seed: 14, startFrame: 152 },
    ]);
    expect(p.segments[2]?.startSeconds).toBeCloseTo(152 / 19, 12);
    expect(p.scenes.map((s) => ({ clips: s.clips, frames: s.frames }))).toEqual([
      { clips: 2, frames: 152 },
      { clips: 1, frames: 81 },
    ]);
  });

  it("resolves per-variant defaults and keeps explicit settings", () => {
    const film = resolvedRender("film", spec({ variant: "film", storyline: [{ prompt: "x", clips: 1 }] }).render);
    expect(film).toMatchObject({ motionFrames: 5, overlapFrames: 5, padding: "zeros", guidanceScale: 5 });
    const pro = resolvedRender("pro", spec({ variant: "pro", storyline: [{ prompt: "x", clips: 1 }] }).render);
    expect(pro).toMatchObject({ motionFrames: 1, motionUnit: "latent", overlapFrames: 5, padding: "anchor" });
    const shot = resolvedRender(
      "shot",
      spec({ variant: "shot", storyline: [{ prompt: "x", clips: 1 }], render: { guidanceScale: 3.5, motionFrames: 2 } })
        .render,
    );
    expect(shot).toMatchObject({ motionFrames: 2, overlapFrames: 2, padding: "reference", guidanceScale: 3.5 });
  });

  it("estimates GPU-seconds from the clip time and the GPUs per segment", () => {
    const s = spec({ storyline: [{ prompt: "x", clips: 4 }], gpu: { count: 2 } });
    expect(gpuSecondsEstimate(plan(s), 600, s.gpu.count)).toBe(4 * 600 * 2);
    expect(gpuSecondsEstimate(plan(s), (segment) => 100 * (segment.index + 1), s.gpu.count)).toBe(1000 * 2);
  });

  it("estimates a clip's render time from its own steps, and one pass a step at guidance 1", () => {
    const s = spec({
      storyline: [
        { prompt: "x", clips: 1 },
        { prompt: "y", clips: 1, steps: 4, guidanceScale: 1 },
      ],
      render: { backend: "svi", steps: 50, guidanceScale: 5 },
    });
    const p = plan(s);
    const [guided, fast] = p.segments.map((segment) => clipRenderSecondsEstimate(p.render, segment));
    // SVI's reported 720 s for 50 guided steps of an 81-frame 480x832 clip; 4 unguided steps are 4/50 x 1/2 of it.
    expect(guided).toBe(720);
    expect(fast).toBe(Math.round((720 * 4) / 50 / 2));
    expect(clipRenderSecondsEstimate(p.render)).toBe(720);
  });

  it("refuses a storyline longer than a status can record", () => {
    const s = spec({
      variant: "film",
      storyline: Array.from({ length: 64 }, () => ({ prompt: "x", seconds: 300 })),
      render: { fps: 60, framesPerClip: 17, motionFrames: 13 },
    });
    const result = segmentPlan(s);
    expect(result.ok).toBe(false);
    if (!result.ok) expect(result.error).toMatchObject({ field: "spec.storyline" });
  });

  it("hashes the reference image by content, not by the order its fields were written in", () => {
    const a = spec({ storyline: [{ prompt: "x", clips: 1 }], referenceImage: { configMap: { name: "a", key: "b" } } });
    const b = spec({ storyline: [{ prompt: "x", clips: 1 }], referenceImage: { configMap: { key: "b", name: "a" } } });
    expect(plan(a).segments[0]?.hash).toBe(plan(b).segments[0]?.hash);
  });

  it("leaves hashes alone when only save-time or placement settings change", () => {
    const base = spec({ storyline: [{ prompt: "x", clips: 3 }] });
    const moved = spec({
      storyline: [{ prompt: "x", clips: 3 }],
      render: { fps: 25 },
      gpu: { count: 2, nodeSelector: { "longvideo.dev/pool": "h100" } },
      retry: { limit: 7 },
      output: { path: "elsewhere.mp4" },
    });
    expect(plan(moved).segments.map((s) => s.hash)).toEqual(plan(base).segments.map((s) => s.hash));
  });
});

// ---- properties ----

const framesPerClip = fc.integer({ min: 4, max: 30 }).map((n) => 4 * n + 1);
const scene = fc.oneof(
  fc.record({
    prompt: fc.string({ minLength: 1, maxLength: 12 }).map((s) => `p ${s}`),
    clips: fc.integer({ min: 1, max: 6 }),
  }),
  fc.record({
    prompt: fc.string({ minLength: 1, maxLength: 12 }).map((s) => `p ${s}`),
    seconds: fc.double({ min: 0.05, max: 40, noNaN: true }),
  }),
);

/** Valid specs with defaults applied: whatever the generator draws that the schema rejects is discarded. */
const validSpec = fc
  .record({
    variant: fc.constantFrom("shot", "film", "pro"),
    storyline: fc.array(scene, { minLength: 1, maxLength: 6 }),
    fps: fc.integer({ min: 1, max: 60 }),
    framesPerClip,
    motionFrames: fc.option(fc.integer({ min: 1, max: 12 }), { nil: undefined }),
    seed: fc.integer({ min: 1, max: 100_000 }),
  })
  .map(({ variant, storyline, fps, framesPerClip, motionFrames, seed }) =>
    longVideoSpecSchema.safeParse({
      variant,
      referenceImage: image,
      storyline: variant === "shot" ? storyline.slice(0, 1) : storyline,
      render: {
        fps,
        framesPerClip,
        seed,
        backend: "animatic",
        ...(motionFrames === undefined ? {} : { motionFrames }),
      },
    }),
  )
  .filter((parsed) => parsed.success)
  .map((parsed) => parsed.data);

describe("segmentPlan: properties", () => {
  it("adds up: segments, frames, seconds and start times agree with each other", () => {
    fc.assert(
      fc.property(validSpec, (s) => {
        const p = plan(s);
        expect(p.totals.segments).toBe(p.segments.length);
        expect(p.scenes.reduce((n, sc) => n + sc.clips, 0)).toBe(p.segments.length);
        expect(p.segments.reduce((n, sg) => n + sg.framesKept, 0)).toBe(p.totals.frames);
        expect(p.scenes.reduce((n, sc) => n + sc.frames, 0)).toBe(p.totals.frames);
        expect(p.totals.seconds).toBeCloseTo(p.totals.frames / p.render.fps, 9);
        let start = 0;
        for (const sg of p.segments) {
          expect(sg.startFrame).toBe(start);
          expect(sg.framesKept).toBe(sg.framesGenerated - sg.trimHead - sg.trimTail);
          expect(sg.framesKept).toBeGreaterThan(0);
          start += sg.framesKept;
        }
        // Exactly one clip keeps its overlap frames: the last (tail trimming) or the first (head trimming).
        expect(p.segments.filter((sg) => sg.trimHead + sg.trimTail === 0)).toHaveLength(1);
      }),
    );
  });

  it("chains every hash through its predecessor's", () => {
    fc.assert(
      fc.property(validSpec, (s) => {
        const p = plan(s);
        let previous = "";
        for (const sg of p.segments) {
          expect(sg.hash).toMatch(/^[0-9a-f]{64}$/);
          expect(sg.hash).toBe(segmentHash(previous, p.render, s.referenceImage, sg));
          previous = sg.hash;
        }
        expect(new Set(p.segments.map((sg) => sg.hash)).size).toBe(p.segments.length);
      }),
    );
  });

  it("seeds every clip differently, with index x seed multiplier", () => {
    fc.assert(
      fc.property(validSpec, (s) => {
        const seeds = plan(s).segments.map((sg) => sg.seed);
        expect(seeds).toEqual(seeds.map((_, i) => i * s.render.seed));
        expect(new Set(seeds).size).toBe(seeds.length);
      }),
    );
  });

  it("never delivers a seconds scene short, and never a whole clip too long", () => {
    fc.assert(
      fc.property(validSpec, (s) => {
        const p = plan(s);
        const perClip = p.render.framesPerClip - p.render.overlapFrames;
        for (const sc of p.scenes) {
          if (!("seconds" in sc.requested)) continue;
          const asked = sc.requested.seconds * p.render.fps;
          expect(sc.frames).toBeGreaterThanOrEqual(asked - 1e-6);
          if (sc.clips > 1) expect(sc.frames - perClip).toBeLessThan(asked);
        }
      }),
    );
  });

  it("changes, when one scene's prompt is edited, that scene's hashes and every later one, and nothing before", () => {
    fc.assert(
      fc.property(validSpec, fc.nat(), fc.string({ minLength: 1, maxLength: 8 }), (s, pick, suffix) => {
        const edited = pick % s.storyline.length;
        const before = plan(s);
        const after = plan({
          ...s,
          storyline: s.storyline.map((sc, i) => (i === edited ? { ...sc, prompt: `${sc.prompt} / ${suffix}` } : sc)),
        });
        const first = before.segments.findIndex((sg) => sg.scene === edited);
        expect(after.segments).toHaveLength(before.segments.length);
        for (const [i, sg] of before.segments.entries()) {
          const hash = after.segments[i]?.hash;
          if (i < first) expect(hash).toBe(sg.hash);
          else expect(hash).not.toBe(sg.hash);
        }
      }),
    );
  });

  it("keeps every hash when a scene is appended", () => {
    fc.assert(
      fc.property(validSpec, scene, (s, extra) => {
        fc.pre(s.variant !== "shot");
        const before = plan(s);
        const after = plan({ ...s, storyline: [...s.storyline, extra] });
        expect(after.segments.slice(0, before.segments.length).map((sg) => sg.hash)).toEqual(
          before.segments.map((sg) => sg.hash),
        );
      }),
    );
  });

  it("converts seconds with the clip that carries the overlap in mind", () => {
    fc.assert(
      fc.property(validSpec, fc.double({ min: 0.05, max: 300, noNaN: true }), fc.boolean(), (s, seconds, carries) => {
        const render = resolvedRender(s.variant, s.render);
        const clips = clipsForSeconds(seconds, render, carries);
        const frames = clips * (render.framesPerClip - render.overlapFrames) + (carries ? render.overlapFrames : 0);
        expect(frames).toBeGreaterThanOrEqual(seconds * render.fps - 1e-6);
        expect(clips).toBeGreaterThanOrEqual(1);
      }),
    );
  });
});

describe("segmentPlan: talk and dance", () => {
  const voice = { url: "https://example.com/voice.wav" };
  const skeleton = { pvc: { claimName: "poses", path: "dance.mp4" } };

  function planned(s: LongVideoSpec, audioSeconds?: number): SegmentPlan {
    const result = segmentPlan(s, audioSeconds === undefined ? {} : { inputs: { audioSeconds } });
    if (!result.ok) throw new Error(`${result.error.field}: ${result.error.message}`);
    return result.plan;
  }

  it("follows the audio's duration when the storyline gives no length: whole 81-frame clips at 25 fps", () => {
    // 10 s at 25 fps = 250 frames: three clips cover 243, a fourth is needed.
    const p = planned(spec({ variant: "talk", audio: voice, storyline: [{ prompt: "speak" }] }), 10);
    expect(p.render).toMatchObject({ fps: 25, width: 640, height: 368, guidanceScale: 2, audioGuidanceScale: 5 });
    expect(p.segments.map((s) => s.framesKept)).toEqual([81, 81, 81, 81]);
    expect(p.segments.map((s) => [s.trimHead, s.trimTail])).toEqual([
      [0, 0],
      [0, 0],
      [0, 0],
      [0, 0],
    ]);
    expect(p.totals).toEqual({ segments: 4, frames: 324, seconds: 324 / 25 });
    expect(p.audioTrack).toEqual({ startFrame: 0, frames: 324, loop: false });
  });

  it("slices each clip's audio exactly as SVI does: i * frames - motionFrames, clip 0 from 0", () => {
    const p = planned(spec({ variant: "talk", audio: voice, storyline: [{ prompt: "speak", clips: 4 }] }));
    expect(p.segments.map((s) => s.audioWindow)).toEqual([
      { startFrame: 0, frames: 81, loop: false },
      { startFrame: 80, frames: 81, loop: false },
      { startFrame: 161, frames: 81, loop: false },
      { startFrame: 242, frames: 81, loop: false },
    ]);
    expect(p.segments.every((s) => s.poseWindow === undefined)).toBe(true);
  });

  it("shifts every window and the muxed track by the offset, in whole frames", () => {
    const s = spec({
      variant: "talk",
      audio: { ...voice, offsetSeconds: 1.02 },
      render: { framesPerClip: 41, motionFrames: 2 },
      storyline: [{ prompt: "speak" }],
    });
    // 1.02 s = 25.5 frames: the nearest frame is 26 (rounding half up); 4 s leave 100 - 26 = 74 frames, two clips.
    const p = planned(s, 4);
    expect(p.segments.map((x) => x.audioWindow?.startFrame)).toEqual([26, 26 + 41 - 2]);
    expect(p.audioTrack).toEqual({ startFrame: 26, frames: 82, loop: false });
  });

  it("gives the scenes without a length an equal share of the audio, after those with one", () => {
    const s = spec({
      variant: "talk",
      audio: voice,
      storyline: [{ prompt: "a" }, { prompt: "b", clips: 2 }, { prompt: "c" }],
    });
    // 30 s = 750 frames = 10 clips of 81 (810 >= 750 > 729): b takes 2, a and c share 8.
    expect(planned(s, 30).scenes.map((x) => x.clips)).toEqual([4, 2, 4]);
    // 21 s = 525 frames = 7 clips: 5 left for two scenes, the earlier takes the remainder.
    expect(planned(s, 21).scenes.map((x) => x.clips)).toEqual([3, 2, 2]);
    // Audio shorter than the given scenes: each open scene still gets one clip.
    expect(planned(s, 1).scenes.map((x) => x.clips)).toEqual([1, 2, 1]);
  });

  it("waits for the probe, and refuses an offset past the audio's end, naming the field", () => {
    const s = spec({ variant: "talk", audio: { ...voice, offsetSeconds: 12 }, storyline: [{ prompt: "x" }] });
    expect(segmentPlan(s)).toEqual({
      ok: false,
      error: { field: "spec.audio", message: "not read yet: the operator probes it before planning" },
    });
    const past = segmentPlan(s, { inputs: { audioSeconds: 11.9 } });
    expect(past.ok).toBe(false);
    if (!past.ok) expect(past.error.field).toBe("spec.audio.offsetSeconds");
  });

  it("gives each dance clip the film's own frames of the skeleton video, looping, and trims tails", () => {
    const p = planned(spec({ variant: "dance", pose: skeleton, storyline: [{ prompt: "dance", clips: 3 }] }));
    expect(p.render).toMatchObject({ fps: 25, width: 640, guidanceScale: 2, audioGuidanceScale: 1 });
    expect(p.segments.map((s) => s.framesKept)).toEqual([80, 80, 81]);
    expect(p.segments.map((s) => s.poseWindow)).toEqual([
      { startFrame: 0, frames: 81, loop: true },
      { startFrame: 80, frames: 81, loop: true },
      { startFrame: 160, frames: 81, loop: true },
    ]);
    // The motion frame at the head of clip i is the frame clip i-1 rendered last, with the same skeleton frame.
    for (const s of p.segments) expect(s.poseWindow?.startFrame).toBe(s.startFrame);
    expect(p.audioTrack).toBeUndefined();
  });

  it("mixes a dance film's music track over the whole film from its offset", () => {
    const s = spec({
      variant: "dance",
      pose: skeleton,
      audio: { url: "https://example.com/music.mp3", offsetSeconds: 2 },
      storyline: [{ prompt: "dance", seconds: 6 }],
    });
    const p = planned(s);
    expect(p.audioTrack).toEqual({ startFrame: 50, frames: p.totals.frames, loop: false });
    expect(p.segments.every((x) => x.audioWindow === undefined)).toBe(true);
  });

  it("hashes the windows and their sources, so a new audio or pose re-renders, and leaves text films' hashes alone", () => {
    const base = spec({ variant: "talk", audio: voice, storyline: [{ prompt: "x", clips: 2 }] });
    const other = spec({ ...base, audio: { url: "https://example.com/other.wav" } });
    const shifted = spec({ ...base, audio: { ...voice, offsetSeconds: 1 } });
    const hashes = (s: LongVideoSpec) => planned(s).segments.map((x) => x.hash);
    expect(hashes(other)[0]).not.toBe(hashes(base)[0]);
    expect(hashes(shifted)[0]).not.toBe(hashes(base)[0]);
    const dance = spec({ variant: "dance", pose: skeleton, storyline: [{ prompt: "x", clips: 2 }] });
    const otherPose = spec({ ...dance, pose: { url: "https://example.com/p.mp4" } });
    expect(hashes(otherPose)[0]).not.toBe(hashes(dance)[0]);
    // A film's first segment hash, computed without any conditioning keys, is unchanged by the new fields.
    const film = spec({ variant: "film", storyline: [{ prompt: "x", clips: 1 }] });
    const render = resolvedRender("film", film.render);
    expect(planned(film).segments[0]?.hash).toBe(
      segmentHash("", render, film.referenceImage, {
        index: 0,
        prompt: "x",
        seed: 0,
        steps: render.steps,
        guidanceScale: render.guidanceScale,
        negativePrompt: "",
        loras: [],
      }),
    );
  });
});

describe("segmentPlan: per-scene settings and extra LoRAs", () => {
  const storyline = [
    { prompt: "a fox runs", clips: 2 },
    { prompt: "it rests", clips: 2 },
    { prompt: "night falls", clips: 1 },
  ];
  const base = spec({ variant: "pro", storyline, render: { backend: "svi", steps: 8, guidanceScale: 3 } });
  const hashes = (s: LongVideoSpec) => plan(s).segments.map((x) => x.hash);
  type SceneExtra = Partial<LongVideoSpecInput["storyline"][number]>;
  const scenesWith = (i: number, extra: SceneExtra) =>
    storyline.map((scene, j) => (j === i ? { ...scene, ...extra } : scene));
  const withScene = (i: number, extra: SceneExtra) => spec({ ...base, storyline: scenesWith(i, extra) });

  it("keeps the hashes films had before these settings existed (pinned from the earlier planner)", () => {
    // Computed by the planner before scenes could carry settings: an upgraded operator re-renders nothing.
    expect(hashes(spec({ ...base, referenceImage: { url: "https://example.com/a.png" } })).slice(0, 2)).toEqual([
      "fceb2e43b1bc771a05120497a0bfed8d01d08eed1af782e89aa126796e5ae26c",
      "f74c1b60e04160882db465f567ef4de9856f278d7e840cc1ce5713f1319b739c",
    ]);
  });

  it("gives each segment its scene's steps, guidance and negative prompt over the film's", () => {
    const s = spec({
      ...base,
      render: { ...base.render, negativePrompt: "blurry" },
      storyline: scenesWith(1, { steps: 4, guidanceScale: 1, negativePrompt: "" }),
    });
    expect(plan(s).segments.map((x) => [x.steps, x.guidanceScale, x.negativePrompt])).toEqual([
      [8, 3, "blurry"],
      [8, 3, "blurry"],
      [4, 1, ""],
      [4, 1, ""],
      [8, 3, "blurry"],
    ]);
  });

  it("merges the film's LoRAs, then the scene's, each with its strength and expert", () => {
    const distilled = { path: "loras/lightx2v-4step.safetensors", strength: 0.5, expert: "highNoise" as const };
    const style = { path: "loras/ink.safetensors" };
    const s = spec({
      ...base,
      render: { ...base.render, loras: [distilled] },
      storyline: scenesWith(1, { loras: [style] }),
    });
    const loras = plan(s).segments.map((x) => x.loras);
    expect(loras[0]).toEqual([distilled]);
    expect(loras[2]).toEqual([distilled, { ...style, strength: 1 }]);
    expect(loras[4]).toEqual([distilled]);
  });

  it("seeds a scene with a seed from it, one more per clip, leaving other scenes' seeds alone", () => {
    const seeds = plan(withScene(1, { seed: 1234 })).segments.map((x) => x.seed);
    expect(seeds).toEqual([0, 42, 1234, 1235, 4 * 42]);
    // Scene 0's first clip can be re-rolled too: index 0 times any multiplier is always 0.
    expect(plan(withScene(0, { seed: 7 })).segments[0]?.seed).toBe(7);
  });

  it.each([
    ["seed", { seed: 99 }],
    ["steps", { steps: 4 }],
    ["guidanceScale", { guidanceScale: 1 }],
    ["negativePrompt", { negativePrompt: "text, watermark" }],
    ["loras", { loras: [{ path: "loras/ink.safetensors" }] }],
  ])("re-renders from the first clip of a scene whose %s is set, and nothing before it", (_, extra) => {
    const before = hashes(base);
    expect(hashes(withScene(1, extra)).map((h, i) => h !== before[i])).toEqual([false, false, true, true, true]);
  });

  it("re-renders when a LoRA's strength or expert changes", () => {
    const at = (lora: { strength?: number; expert?: "highNoise" | "lowNoise" }) =>
      hashes(withScene(2, { loras: [{ path: "loras/ink.safetensors", ...lora }] }))[4];
    expect(new Set([at({}), at({ strength: 0.7 }), at({ expert: "lowNoise" })]).size).toBe(3);
    // The default strength is the one written out: the same clip either way.
    expect(at({ strength: 1 })).toBe(at({}));
  });
});

describe("segmentPlan: chains from keyframes", () => {
  const still = (key: string) => ({ configMap: { name: "keys", key } });
  const storyline = [
    { prompt: "a fox runs", clips: 2 },
    { prompt: "it rests", clips: 2 },
    { prompt: "a city at night", clips: 3, keyframe: still("city.png") },
    { prompt: "the lights go out", clips: 1 },
    { prompt: "dawn at sea", clips: 2, keyframe: still("sea.png") },
  ];
  const film = (variant: "film" | "pro" | "shot" = "film", scenes: LongVideoSpecInput["storyline"] = storyline) =>
    spec({ variant, storyline: scenes, render: { framesPerClip: 33 } });
  const hashes = (s: LongVideoSpec) => plan(s).segments.map((x) => x.hash);

  it("starts a chain at the first scene and at each keyframed scene, and tells the plan where each runs", () => {
    const p = plan(film());
    expect(p.chains).toEqual([
      { index: 0, firstSegment: 0, lastSegment: 3, firstScene: 0, lastScene: 1, segments: 4 },
      { index: 1, firstSegment: 4, lastSegment: 7, firstScene: 2, lastScene: 3, segments: 4 },
      { index: 2, firstSegment: 8, lastSegment: 9, firstScene: 4, lastScene: 4, segments: 2 },
    ]);
    expect(p.segments.map((x) => [x.chain, x.chainStart])).toEqual([
      [0, true],
      [0, false],
      [0, false],
      [0, false],
      [1, true],
      [1, false],
      [1, false],
      [1, false],
      [2, true],
      [2, false],
    ]);
    expect(p.segments.map((x) => x.keyframe?.configMap?.key)).toEqual([
      ...Array<undefined>(4),
      ...Array<string>(4).fill("city.png"),
      "sea.png",
      "sea.png",
    ]);
  });

  it("keeps each chain's overlap once: tails trimmed but at each chain's end (film), heads but at its start (pro)", () => {
    const tails = plan(film()).segments.map((x) => x.trimTail);
    expect(tails).toEqual([5, 5, 5, 0, 5, 5, 5, 0, 5, 0]);
    expect(plan(film()).segments.every((x) => x.trimHead === 0)).toBe(true);
    const heads = plan(film("pro")).segments.map((x) => x.trimHead);
    expect(heads).toEqual([0, 5, 5, 5, 0, 5, 5, 5, 0, 5]);
    // Each chain counts as a film of its own: its clips' new frames, plus its one overlap.
    const p = plan(film());
    expect(p.totals.frames).toBe(10 * (33 - 5) + 3 * 5);
    expect(p.segments.reduce((sum, x) => sum + x.framesKept, 0)).toBe(p.totals.frames);
  });

  it("rounds a seconds scene up with its own chain's overlap in mind", () => {
    // 33-frame clips with 5 overlapping: a scene ending a chain keeps 5 more frames from its last clip.
    const scenes = [
      { prompt: "a", seconds: 56 / 16 },
      { prompt: "b", seconds: 61 / 16, keyframe: still("b.png") },
    ];
    expect(plan(film("film", scenes)).scenes.map((x) => x.clips)).toEqual([2, 2]);
    expect(plan(film("film", scenes)).scenes.map((x) => x.frames)).toEqual([61, 61]);
  });

  it("restarts the hash chain at each chain's start", () => {
    const p = plan(film());
    const again = (i: number) => {
      const x = p.segments[i];
      if (!x) throw new Error(`no segment ${String(i)}`);
      const render = p.render;
      return segmentHash("", render, x.keyframe ?? image, x);
    };
    expect(again(4)).toBe(p.segments[4]?.hash);
    expect(again(8)).toBe(p.segments[8]?.hash);
  });

  it("re-renders only the chain an edit touches", () => {
    const before = hashes(film());
    const edited = (i: number, extra: Record<string, unknown>) =>
      hashes(
        film(
          "film",
          storyline.map((scene, j) => (j === i ? { ...scene, ...extra } : scene)),
        ),
      );
    const changed = (after: string[]) => after.map((h, i) => h !== before[i]);
    // A prompt in the second chain: its later clips change, the first and third chains do not.
    expect(changed(edited(3, { prompt: "the lights flicker" }))).toEqual([
      false,
      false,
      false,
      false,
      false,
      false,
      false,
      true,
      false,
      false,
    ]);
    // A new keyframe image: that chain only.
    expect(changed(edited(2, { keyframe: still("harbour.png") }))).toEqual([
      false,
      false,
      false,
      false,
      true,
      true,
      true,
      true,
      false,
      false,
    ]);
    // The film's reference image belongs to the first chain alone.
    const other = hashes(spec({ ...film(), referenceImage: still("other.png") }));
    expect(changed(other)).toEqual([true, true, true, true, false, false, false, false, false, false]);
  });

  it("keeps every hash of a film without keyframes", () => {
    const plain = storyline.map(({ prompt, clips }) => ({ prompt, clips }));
    const p = plan(film("film", plain));
    expect(p.chains).toHaveLength(1);
    expect(p.segments.slice(1).every((x, i) => !x.chainStart && x.chain === 0 && i >= 0)).toBe(true);
    expect(p.segments.map((x) => x.trimTail)).toEqual([...Array<number>(9).fill(5), 0]);
  });

  it("finds the critical path: the chain that takes longest one clip after another", () => {
    const p = plan(film());
    expect(criticalPath(p, () => 60)).toEqual({ chain: 0, seconds: 240 });
    // Slow clips in the third chain make it the critical one.
    expect(criticalPath(p, (x) => (x.chain === 2 ? 200 : 60))).toEqual({ chain: 2, seconds: 400 });
  });

  it("starts a talk chain's audio where its first clip lands, without a predecessor's motion frames", () => {
    const talk = spec({
      variant: "talk",
      audio: { configMap: { name: "voice", key: "a.wav" } },
      storyline: [
        { prompt: "she speaks", clips: 2 },
        { prompt: "in the garden", clips: 2, keyframe: still("garden.png") },
      ],
    });
    const p = plan(talk);
    const m = p.render.motionFrames;
    expect(p.segments.map((x) => x.audioWindow?.startFrame)).toEqual([0, 81 - m, 162, 3 * 81 - m]);
  });
});
