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

describe("probeDecision for a model cache", () => {
  const field = "spec.storage.models.claimName";
  const checking: ProbeIntent = {
    ...probe,
    key: "m1",
    env: { LV_WORKSPACE: "/tmp", LV_CHECK_MODELS: "pro", LV_MODELS_DIR: "/models" },
    fields: [field],
    modelsClaim: "weights",
  };
  const problems = `${field}: the model cache at /models has 2 problems for variant pro: a: missing; b: missing`;
  const checkJob = (attempt: number, finished?: "Succeeded" | "Failed", createdAt = now): ObservedJob => ({
    ...probeJob(attempt, finished, "m1"),
    createdAt: createdAt.toISOString(),
  });
  const incomplete = (inputs: NonNullable<FilmStatus["inputs"]>, recheckAt: number): FilmSnapshot["intent"] => ({
    ok: false,
    reason: "ModelCacheIncomplete",
    errors: [{ path: field, message: inputs.unreadable?.message ?? "" }],
    probe: checking,
    recheckAt,
  });
  const at = (s: FilmSnapshot, intent: FilmSnapshot["intent"], when = now): FilmSnapshot => ({
    ...s,
    intent,
    now: when,
  });

  it("says it checks the model cache, and records how many files it found right", () => {
    const first = { ...snapshot(), intent: { ok: false as const, reason: "Probing" as const, probe: checking } };
    expect(statusOf(first)?.conditions?.find((c) => c.type === "Ready")?.message).toBe(
      "checking the model cache weights before planning the film",
    );
    const job = checkJob(0, "Succeeded");
    const report = JSON.stringify({ ok: true, kind: "probe", modelFiles: 17, elapsed: 0.4 });
    const read = { ...first, jobs: [job], pods: [podFor(job, report, 0)], film: { ...first.film, status: {} } };
    expect(statusOf(read)?.inputs).toEqual({ key: "m1", modelFiles: 17 });
    expect(effects(read)).toContainEqual({
      kind: "event",
      type: "Normal",
      reason: "InputsRead",
      message: "read the film's inputs: the model cache holds the 17 files it needs",
    });
  });

  it("records the problems the runtime found as unreadable, counting the check and when it was made", () => {
    const job = checkJob(0, "Failed");
    const message = JSON.stringify({ ok: false, kind: "probe", exitCode: 2, field, error: problems });
    const s = {
      ...snapshot([job], [podFor(job, message, 2)]),
      intent: { ok: false as const, reason: "Probing" as const, probe: checking },
    };
    expect(statusOf(s)?.inputs).toEqual({
      key: "m1",
      unreadable: {
        field,
        message: "the model cache at /models has 2 problems for variant pro: a: missing; b: missing",
      },
      modelChecks: 1,
      checkedAt: now.toISOString(),
    });
    expect(effects(s).map((e) => e.kind)).not.toContain("createProbeJob");
  });

  it("keeps the count of checks that found the cache incomplete once a recheck finds it right", () => {
    const job = checkJob(1, "Succeeded", now);
    const report = JSON.stringify({ ok: true, kind: "probe", modelFiles: 12 });
    const checkedAt = new Date(now.getTime() - 40_000).toISOString();
    const s = {
      ...snapshot([job], [podFor(job, report, 0)], { inputs: { key: "m1", modelChecks: 1, checkedAt } }),
      intent: { ok: false as const, reason: "Probing" as const, probe: checking },
    };
    expect(statusOf(s)?.inputs).toEqual({ key: "m1", modelFiles: 12, modelChecks: 1 });
  });

  it("blames the model cache when a probe that should have checked it reports no files", () => {
    const job = checkJob(0, "Succeeded");
    const s = {
      ...snapshot([job], [podFor(job, JSON.stringify({ ok: true, kind: "probe" }), 0)]),
      intent: { ok: false as const, reason: "Probing" as const, probe: checking },
    };
    expect(statusOf(s)?.inputs?.unreadable).toEqual({ field, message: "the probe did not check it" });
  });

  it("reports the problems and waits for the recheck, then starts a new attempt keeping the count", () => {
    const job = checkJob(0, "Failed");
    const inputs = {
      key: "m1",
      unreadable: { field, message: "2 problems" },
      modelChecks: 1,
      checkedAt: now.toISOString(),
    };
    const recheckAt = now.getTime() + 30_000;
    const reported = at(snapshot([job], [podFor(job, "{}", 2)], { inputs }), incomplete(inputs, recheckAt));
    const before = decide(reported);
    expect(before.requeueAfterMs).toBe(30_000);
    expect(before.then).toContainEqual({
      kind: "event",
      type: "Warning",
      reason: "ModelCacheIncomplete",
      message: `${field}: 2 problems`,
    });
    expect(before.status?.conditions?.find((c) => c.type === "Ready")).toMatchObject({
      reason: "ModelCacheIncomplete",
      message: `${field}: 2 problems`,
    });
    expect(decisionEffects(before).map((e) => e.kind)).not.toContain("createProbeJob");

    const due = at(reported, incomplete(inputs, recheckAt), new Date(recheckAt));
    const after = decide(due);
    expect(decisionEffects(after)).toContainEqual(
      expect.objectContaining({ kind: "createProbeJob", attempt: 1, name: probeJobName(film, "m1", 1) }),
    );
    expect(after.status?.inputs).toEqual({ key: "m1", modelChecks: 1, checkedAt: now.toISOString() });
  });

  it("does not take the recorded attempt's finding for the recheck's, while the new attempt is not yet seen", () => {
    const recorded = checkJob(0, "Failed", new Date(now.getTime() - 60_000));
    const checkedAt = new Date(now.getTime() - 50_000).toISOString();
    const s = {
      ...snapshot([recorded], [podFor(recorded, "{}", 2)], { inputs: { key: "m1", modelChecks: 1, checkedAt } }),
      intent: { ok: false as const, reason: "Probing" as const, probe: checking },
    };
    const decision = decide(s);
    expect(decisionEffects(decision).map((e) => e.kind)).not.toContain("createProbeJob");
    expect(decision.status?.inputs ?? s.film.status.inputs).toEqual({ key: "m1", modelChecks: 1, checkedAt });
    // Once the recheck's attempt has ended, its finding is recorded as the second check.
    const again = checkJob(1, "Failed", now);
    const ended = { ...s, jobs: [recorded, again], pods: [podFor(recorded, "{}", 2), podFor(again, "{}", 2)] };
    expect(statusOf(ended)?.inputs).toMatchObject({ modelChecks: 2, checkedAt: now.toISOString() });
  });
});
