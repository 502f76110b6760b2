/**
 * Reading a film's inputs before planning, on the real API server with the real runtime image on the real node:
 * the operator (its own process) starts a probe Job for a talk film's audio and a dance film's skeleton video,
 * records what the runtime measured in status.inputs and plans from it (the talk film's clip count follows its
 * audio); an audio the runtime cannot decode fails the film with InputUnreadable naming spec.audio, one event and
 * no segment job, until the source is fixed. The films are suspended, so nothing renders: the plan is what counts.
 */
import { execFileSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { BatchV1Api, CoreV1Api, CustomObjectsApi, EventsV1Api } from "@kubernetes/client-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { FilmStatus } from "../../src/reconcile/film-snapshot.ts";
import { startOperator } from "../support/operator-process.ts";
import type { OperatorProcess } from "../support/operator-process.ts";
import { localClusterKubeconfig, testKubeConfig } from "../support/test-kube-config.ts";

const repoRoot = path.resolve(import.meta.dirname, "../..");
const kc = testKubeConfig();
const core = kc.makeApiClient(CoreV1Api);
const batch = kc.makeApiClient(BatchV1Api);
const events = kc.makeApiClient(EventsV1Api);
const custom = kc.makeApiClient(CustomObjectsApi);
const namespace = `lv-it-probe-${randomBytes(3).toString("hex")}`;
const api = { group: "longvideo.dev", version: "v1alpha1", namespace, plural: "longvideos" };
let operator: OperatorProcess | undefined;

/** 2 s of tone (16 kHz mono wav), a 30-frame skeleton video, and bytes that are no audio at all. */
function inputFiles(): Record<string, string> {
  const dir = mkdtempSync(path.join(os.tmpdir(), "lv-probe-inputs-"));
  try {
    const ffmpeg = (...args: string[]) => execFileSync("ffmpeg", ["-v", "error", "-nostdin", "-y", ...args]);
    ffmpeg("-f", "lavfi", "-i", "sine=frequency=330:sample_rate=16000:duration=2", path.join(dir, "voice.wav"));
    execFileSync("python3", [
      path.join(repoRoot, "scripts/draw-skeleton-video.py"),
      path.join(dir, "skeleton.mp4"),
      "--frames",
      "30",
      "--size",
      "64x64",
    ]);
    ffmpeg("-f", "lavfi", "-i", "testsrc2=size=256x256", "-frames:v", "1", path.join(dir, "face.png"));
    const read = (name: string) => readFileSync(path.join(dir, name)).toString("base64");
    return {
      "voice.wav": read("voice.wav"),
      "skeleton.mp4": read("skeleton.mp4"),
      "face.png": read("face.png"),
      "noise.wav": Buffer.from("this is not a sound file").toString("base64"),
    };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

function film(name: string, spec: Record<string, unknown>) {
  return {
    apiVersion: "longvideo.dev/v1alpha1",
    kind: "LongVideo",
    metadata: { name },
    spec: {
      referenceImage: { configMap: { name: "inputs", key: "face.png" } },
      render: { backend: "animatic", framesPerClip: 17, resolution: { width: 256, height: 256 } },
      // The probe runs in the runtime image, so on the real node.
      gpu: { nodeSelector: { "longvideo.dev/pool": "local" }, tolerations: [] },
      suspend: true,
      ...spec,
    },
  };
}

async function statusOf(name: string): Promise<FilmStatus | undefined> {
  return ((await custom.getNamespacedCustomObject({ ...api, name })) as { status?: FilmStatus }).status;
}

async function until<T>(what: string, read: () => Promise<T>, done: (value: T) => boolean, ms = 120_000): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const value = await read();
    if (done(value)) return value;
    if (Date.now() > deadline) throw new Error(`${what}: still ${JSON.stringify(value)}`);
    await sleep(250);
  }
}

async function jobsOf(name: string, kind: string) {
  return (
    await batch.listNamespacedJob({ namespace, labelSelector: `longvideo.dev/film=${name},longvideo.dev/kind=${kind}` })
  ).items;
}

beforeAll(async () => {
  // This tree's CRD (talk and dance are new in it) and runtime image (the probe command).
  execFileSync(
    "kubectl",
    ["apply", "--server-side", "--force-conflicts", "-f", path.join(repoRoot, "crds/longvideo.dev_longvideos.yaml")],
    { env: { ...process.env, KUBECONFIG: process.env.KUBECONFIG ?? localClusterKubeconfig } },
  );
  execFileSync("bash", [path.join(repoRoot, "test/images/load-images.sh"), "runtime"], { stdio: "inherit" });
  await core.createNamespace({ body: { metadata: { name: namespace } } });
  await core.createNamespacedConfigMap({ namespace, body: { metadata: { name: "inputs" }, binaryData: inputFiles() } });
  operator = await startOperator({
    identity: "operator-probe",
    leaseNamespace: namespace,
    env: { LV_RUNTIME_IMAGE: "localhost/longvideo/runtime:dev", LV_RUNTIME_IMAGE_PULL_POLICY: "Never" },
  });
}, 900_000);

afterAll(async () => {
  await operator?.stop();
  await core.deleteNamespace({ name: namespace });
}, 60_000);

describe("a film's audio and skeleton video, read before planning", () => {
  it("probes a talk film's audio on the real node, records its duration and plans the clips from it", async () => {
    await custom.createNamespacedCustomObject({
      ...api,
      body: film("voice", {
        variant: "talk",
        audio: { configMap: { name: "inputs", key: "voice.wav" } },
        storyline: [{ prompt: "she speaks" }],
      }),
    });
    const status = await until(
      "the plan",
      () => statusOf("voice"),
      (s) => s?.progress !== undefined,
    );
    expect(status?.inputs?.audioSeconds).toBeCloseTo(2, 2);
    // 2 s at 25 fps = 50 frames: three whole 17-frame clips.
    expect(status?.progress).toBe("0/3");
    const [probe] = await jobsOf("voice", "probe");
    expect(probe?.spec?.template.spec?.containers[0]?.args).toEqual(["probe"]);
    const pods = await core.listNamespacedPod({
      namespace,
      labelSelector: "longvideo.dev/film=voice,longvideo.dev/kind=probe",
    });
    expect(pods.items.map((p) => p.spec?.nodeName)).toEqual(["lv-local"]);
    const read = (await events.listNamespacedEvent({ namespace })).items.filter((e) => e.reason === "InputsRead");
    expect(read.map((e) => e.note)).toContain("read the film's inputs: spec.audio lasts 2.00 s");
    // Suspended: planned, nothing rendered.
    expect(await jobsOf("voice", "segment")).toEqual([]);
  });

  it("probes a dance film's skeleton video and its frame count", async () => {
    await custom.createNamespacedCustomObject({
      ...api,
      body: film("steps", {
        variant: "dance",
        pose: { configMap: { name: "inputs", key: "skeleton.mp4" } },
        storyline: [{ prompt: "he dances", clips: 2 }],
      }),
    });
    const status = await until(
      "the plan",
      () => statusOf("steps"),
      (s) => s?.progress !== undefined,
    );
    expect(status?.inputs).toMatchObject({ poseFrames: 30, poseFps: 25 });
    expect(status?.progress).toBe("0/2");
  });

  it("fails a film whose audio cannot be read, naming spec.audio, with one event and no segment; a fixed source is read", async () => {
    await custom.createNamespacedCustomObject({
      ...api,
      body: film("mute", {
        variant: "talk",
        audio: { configMap: { name: "inputs", key: "noise.wav" } },
        storyline: [{ prompt: "she speaks" }],
      }),
    });
    const ready = await until(
      "InputUnreadable",
      async () => (await statusOf("mute"))?.conditions?.find((c) => c.type === "Ready"),
      (c) => c?.reason === "InputUnreadable",
    );
    expect(ready).toMatchObject({ status: "False", reason: "InputUnreadable" });
    expect(ready?.message).toMatch(/^spec\.audio: /);
    await sleep(2_000);
    const warnings = (await events.listNamespacedEvent({ namespace })).items.filter(
      (e) => e.reason === "InputUnreadable" && e.regarding?.name === "mute",
    );
    expect(warnings).toHaveLength(1);
    expect(warnings[0]?.note).toContain("spec.audio");
    expect(await jobsOf("mute", "segment")).toEqual([]);
    // The probe failed once, as bad input: not retried.
    expect(await jobsOf("mute", "probe")).toHaveLength(1);

    execFileSync(
      "kubectl",
      [
        "patch",
        "longvideo",
        "mute",
        "-n",
        namespace,
        "--type",
        "merge",
        "-p",
        JSON.stringify({ spec: { audio: { configMap: { name: "inputs", key: "voice.wav" } } } }),
      ],
      { env: { ...process.env, KUBECONFIG: process.env.KUBECONFIG ?? localClusterKubeconfig } },
    );
    const fixed = await until(
      "the fixed plan",
      () => statusOf("mute"),
      (s) => s?.progress !== undefined,
    );
    expect(fixed?.inputs?.unreadable).toBeUndefined();
    expect(fixed?.inputs?.audioSeconds).toBeCloseTo(2, 2);
    expect(fixed?.conditions?.find((c) => c.type === "Ready")?.reason).not.toBe("InputUnreadable");
  });
});
