import { describe, expect, it } from "vitest";
import { filmFinalizer } from "../api/operator-labels.ts";
import { decide, decisionEffects } from "./decide.ts";
import type { Effect, FilmSnapshot, FilmStatus, ObservedJob, ObservedPod, ProbeIntent } from "./film-snapshot.ts";
import { probeJobName } from "./object-names.ts";
import { probeReport } from "./probe-step.ts";

const film = { name: "talk", uid: "uid" };
const now = new Date("2026-12-02T03:00:00.000Z");

const probe: ProbeIntent = {
  key: "k1",
  env: { LV_WORKSPACE: "/tmp", LV_AUDIO: '{"url":"https://example.com/v.wav"}' },
  inputVolumes: {},
  fields: ["spec.audio"],
  placement: { resourceName: "nvidia.com/gpu", count: 0, nodeSelector: {}, tolerations: [] },
  podLabels: {},
  podAnnotations: {},
  retryLimit: 1,
  deadlineSeconds: 600,
};

function probeJob(attempt: number, finished?: "Succeeded" | "Failed", key = "k1"): ObservedJob {
  const name = probeJobName(film, key, attempt);
  return {
    name,
    uid: `uid-${name}`,
    kind: "probe",
    segment: -1,
    hash: key,
    inputDigest: "",
    attempt,
    createdAt: now.toISOString(),
    finished,
    deleting: false,
  };
}

function podFor(job: ObservedJob, message?: string, exitCode?: number): ObservedPod {
  return {
    name: `${job.name}-pod`,
    jobName: job.name,
    phase: job.finished ?? "Running",
    ...(message === undefined ? {} : { terminationMessage: message }),
    ...(exitCode === undefined ? {} : { exitCode }),
  };
}

function snapshot(jobs: ObservedJob[] = [], pods: ObservedPod[] = [], status: FilmStatus = {}): FilmSnapshot {
  return {
    now,
    film: { ...film, namespace: "studio", generation: 2, deleting: false, finalizers: [filmFinalizer], status },
    intent: { ok: false, reason: "Probing", probe },
    jobs,
    pods,
    workspaceClaim: undefined,
  };
}

const effects = (s: FilmSnapshot): Effect[] => decisionEffects(decide(s));
const statusOf = (s: FilmSnapshot): FilmStatus | undefined => decide(s).status;

describe("probeDecision", () => {
  it("starts a probe job before anything else, and says the film is reading its inputs", () => {
    const out = effects(snapshot());
    expect(out.map((e) => e.kind)).toEqual(["updateStatus", "createProbeJob"]);
    const created = out.find((e) => e.kind === "createProbeJob");
    expect(created).toMatchObject({ attempt: 0, name: probeJobName(film, "k1", 0), probe });
    const status = statusOf(snapshot());
    expect(status?.phase).toBe("Pending");
    expect(status?.inputs).toEqual({ key: "k1" });
    expect(status?.conditions?.find((c) => c.type === "Ready")).toMatchObject({
      status: "False",
      reason: "ProbingInputs",
      message: "reading spec.audio before planning the film",
    });
  });

  it("waits for a running probe, and creates no second one", () => {
    const job = probeJob(0);
    expect(effects(snapshot([job], [podFor(job)], { inputs: { key: "k1" } })).map((e) => e.kind)).not.toContain(
      "createProbeJob",
    );
  });

  it("records what a successful probe read, with an event", () => {
    const job = probeJob(0, "Succeeded");
    const message = JSON.stringify({ ok: true, kind: "probe", audioSeconds: 12.48, elapsed: 0.2 });
    const s = snapshot([job], [podFor(job, message, 0)], { inputs: { key: "k1" } });
    expect(statusOf(s)?.inputs).toEqual({ key: "k1", audioSeconds: 12.48 });
    expect(effects(s)).toContainEqual({
      kind: "event",
      type: "Normal",
      reason: "InputsRead",
      message: "read the film's inputs: spec.audio lasts 12.48 s",
    });
  });

  it("records an input the runtime refuses (exit code 2) as unreadable, naming the field, and starts nothing", () => {
    const job = probeJob(0, "Failed");
    const message = JSON.stringify({
      ok: false,
      exitCode: 2,
      reason: "bad-input",
      field: "spec.audio",
      error: "spec.audio: the audio has no audio stream",
    });
    const s = snapshot([job], [podFor(job, message, 2)], {
      inputs: { key: "k1" },
      segments: [{ index: 0, attempt: 0, state: "Succeeded", hash: "h0" }],
    });
    const status = statusOf(s);
    expect(status?.inputs).toEqual({
      key: "k1",
      unreadable: { field: "spec.audio", message: "the audio has no audio stream" },
    });
    // What was rendered before the audio changed is kept.
    expect(status?.segments).toHaveLength(1);
    expect(effects(s).map((e) => e.kind)).toEqual(["updateStatus"]);
  });

  it("retries a probe that failed for another reason, then gives up naming the field", () => {
    const first = probeJob(0, "Failed");
    const timedOut = JSON.stringify({
      ok: false,
      exitCode: 1,
      reason: "internal",
      error: "the audio could not be fetched (timed out after 30 s)",
    });
    const retry = snapshot([first], [podFor(first, timedOut, 1)], { inputs: { key: "k1" } });
    expect(effects(retry).find((e) => e.kind === "createProbeJob")).toMatchObject({ attempt: 1 });
    expect(statusOf(retry)?.inputs).toEqual({ key: "k1", failures: 1 });
    const second = probeJob(1, "Failed");
    const exhausted = snapshot([first, second], [podFor(first, timedOut, 1), podFor(second, timedOut, 1)], {
      inputs: { key: "k1", failures: 1 },
    });
    expect(effects(exhausted).map((e) => e.kind)).not.toContain("createProbeJob");
    expect(statusOf(exhausted)?.inputs?.unreadable).toEqual({
      field: "spec.audio",
      message: "could not be read after 2 attempts: the audio could not be fetched (timed out after 30 s)",
    });
  });

  it("treats a successful probe that measured nothing as unreadable", () => {
    const job = probeJob(0, "Succeeded");
    const s = snapshot([job], [podFor(job, JSON.stringify({ ok: true, kind: "probe" }), 0)], { inputs: { key: "k1" } });
    expect(statusOf(s)?.inputs?.unreadable?.field).toBe("spec.audio");
  });

  it("ignores probes of other sources (an edited audio is read again)", () => {
    const old = probeJob(0, "Succeeded", "k0");
    const message = JSON.stringify({ ok: true, audioSeconds: 3 });
    const s = snapshot([old], [podFor(old, message, 0)], { inputs: { key: "k0", audioSeconds: 3 } });
    expect(effects(s).find((e) => e.kind === "createProbeJob")).toMatchObject({ name: probeJobName(film, "k1", 0) });
    expect(statusOf(s)?.inputs).toEqual({ key: "k1" });
  });
});

describe("probeReport", () => {
  it("reads the contract's fields and nothing else", () => {
    expect(probeReport('{"audioSeconds":2.5,"poseFrames":60,"poseFps":25,"other":1}')).toEqual({
      audioSeconds: 2.5,
      poseFrames: 60,
      poseFps: 25,
    });
    expect(probeReport("not json")).toEqual({ error: "not json" });
    expect(probeReport('{"audioSeconds":-1}')).toEqual({});
    expect(probeReport(undefined)).toEqual({});
  });
});
