import { describe, expect, it } from "vitest";
import { canonicalJson } from "../plan/canonical-json.ts";
import { filmFinalizer } from "../api/operator-labels.ts";
import { decide, decisionEffects } from "./decide.ts";
import type {
  Effect,
  FilmIntent,
  FilmSnapshot,
  FilmStatus,
  KueueAdmission,
  ObservedJob,
  ObservedPod,
  PlannedSegment,
  SegmentRecord,
} from "./film-snapshot.ts";
import { concatJobName, segmentJobName } from "./object-names.ts";
import { attemptDir } from "../api/runtime-contract.ts";
import { maxUncountedAttempts } from "./segment-record.ts";
import { podTemplateKey } from "./pod-template-key.ts";

const film = { name: "film", uid: "uid" };
const now = new Date("2026-11-25T12:00:00.000Z");
const at = (secondsAgo: number) => new Date(now.getTime() - secondsAgo * 1000).toISOString();

const segments: PlannedSegment[] = [0, 1, 2].map((index) => ({
  index,
  hash: `h${String(index)}`,
  chain: 0,
  chainStart: index === 0,
  keptFrames: 76,
  env: { LV_SEGMENT_INDEX: String(index) },
}));

const intent = (overrides: Partial<FilmIntent> = {}): FilmIntent => ({
  segments,
  chains: [{ first: 0, last: (overrides.segments ?? segments).length - 1 }],
  parallelism: 1,
  suspend: false,
  retry: { limit: 2, baseDelayMs: 10_000, maxDelayMs: 60_000 },
  placement: { resourceName: "nvidia.com/gpu", count: 1, nodeSelector: {}, tolerations: [] },
  podLabels: {},
  podAnnotations: {},
  workspace: { claimName: "film-workspace", size: "10Gi", accessMode: "ReadWriteMany", retainOnDelete: false },
  backend: "animatic",
  deadlineSeconds: 600,
  segmentResources: {
    cpu: { request: "500m", limit: "2" },
    memory: { request: "512Mi", limit: "2Gi" },
    sharedMemory: "64Mi",
  },
  concat: { hash: "c1", env: {}, frames: 233, seconds: 14.56, path: "/workspace/film.mp4" },
  ...overrides,
});

const succeeded = (index: number, input: string, output: string, attempt = 0): SegmentRecord => ({
  index,
  attempt,
  state: "Succeeded",
  hash: `h${String(index)}`,
  inputDigest: input,
  outputDigest: output,
  startTime: at(100),
  finishTime: at(90),
  node: "kwok-h100-0",
});

function jobFor(
  index: number,
  input: string,
  attempt: number,
  finished?: "Succeeded" | "Failed",
  hash?: string,
): ObservedJob {
  const planHash = hash ?? `h${String(index)}`;
  const name = segmentJobName(film, index, planHash, input, attempt);
  return {
    name,
    uid: `uid-${name}`,
    kind: "segment",
    segment: index,
    hash: planHash,
    inputDigest: input,
    attempt,
    createdAt: at(30),
    finished,
    deleting: false,
  };
}

/** Every segment of the three recorded, each consuming its predecessor's latents. */
const done = [
  succeeded(0, "", "sha256:l0"),
  succeeded(1, "sha256:l0", "sha256:l1"),
  succeeded(2, "sha256:l1", "sha256:l2"),
];

/** The first attempt at concatenating the film, ended as given. */
function concatJob(finished: "Succeeded" | "Failed", createdSecondsAgo: number): ObservedJob {
  const name = concatJobName(film, "c1", "sha256:l2", 0);
  return {
    name,
    uid: `uid-${name}`,
    kind: "concat",
    segment: -1,
    hash: "c1",
    inputDigest: "sha256:l2",
    attempt: 0,
    createdAt: at(createdSecondsAgo),
    finished,
    deleting: false,
  };
}

function podFor(job: ObservedJob, message?: string, exitCode?: number): ObservedPod {
  return {
    name: `${job.name}-pod`,
    jobName: job.name,
    nodeName: "kwok-h100-1",
    phase: job.finished ?? "Running",
    startedAt: at(20),
    ...(job.finished ? { finishedAt: at(5) } : {}),
    ...(message === undefined ? {} : { terminationMessage: message }),
    ...(exitCode === undefined ? {} : { exitCode }),
  };
}

function snapshot(overrides: {
  status?: FilmStatus;
  intent?: FilmIntent;
  jobs?: ObservedJob[];
  pods?: ObservedPod[];
  finalizers?: string[];
  deleting?: boolean;
  invalid?: boolean;
  workspace?: boolean;
  workspaceDeleting?: boolean;
  workspaceUid?: string;
}): FilmSnapshot {
  return {
    now,
    film: {
      name: "film",
      namespace: "films",
      uid: "uid",
      generation: 1,
      deleting: overrides.deleting ?? false,
      finalizers: overrides.finalizers ?? [filmFinalizer],
      status: overrides.status ?? {},
    },
    intent: overrides.invalid
      ? { ok: false, reason: "InvalidSpec", errors: [{ path: "spec.render.framesPerClip", message: "must be 4n+1" }] }
      : { ok: true, intent: overrides.intent ?? intent() },
    jobs: overrides.jobs ?? [],
    pods: overrides.pods ?? [],
    workspaceClaim:
      overrides.workspace === false
        ? undefined
        : {
            name: "film-workspace",
            uid: overrides.workspaceUid ?? "",
            ownedByFilm: true,
            deleting: overrides.workspaceDeleting ?? false,
          },
  };
}

const kinds = (actions: readonly Effect[]) => actions.map((a) => a.kind);
const statusOf = (actions: readonly Effect[]): FilmStatus => {
  const update = actions.find((a) => a.kind === "updateStatus");
  if (update?.kind !== "updateStatus") throw new Error("no status update");
  return update.status;
};
const created = (actions: readonly Effect[]) =>
  actions.flatMap((a) =>
    a.kind === "createSegmentJob" ? [{ index: a.segment.index, attempt: a.attempt, input: a.inputDigest }] : [],
  );
const condition = (status: FilmStatus, type: string) => status.conditions?.find((c) => c.type === type);

describe("decide", () => {
  it.each([
    {
      name: "a new film gets its finalizer, its status, then its workspace, in that order",
      input: snapshot({ finalizers: [], workspace: false }),
      kinds: ["addFinalizer", "updateStatus", "createWorkspace"],
      created: [],
      phase: "Pending",
      progress: "0/3",
    },
    {
      name: "a film with its workspace starts its first segment",
      input: snapshot({}),
      kinds: ["updateStatus", "createSegmentJob", "event"],
      created: [{ index: 0, attempt: 0, input: "" }],
      phase: "Rendering",
      progress: "0/3",
    },
    {
      name: "a running segment is left to run",
      input: snapshot({ jobs: [jobFor(0, "", 0)], pods: [podFor(jobFor(0, "", 0))], status: { phase: "Rendering" } }),
      kinds: ["updateStatus"],
      created: [],
      phase: "Rendering",
      progress: "0/3",
    },
    {
      name: "a finished segment is recorded before its successor starts, with the latents it produced",
      input: snapshot({
        jobs: [jobFor(0, "", 0, "Succeeded")],
        pods: [podFor(jobFor(0, "", 0, "Succeeded"), '{"segment":0,"frames":81,"latentsDigest":"sha256:l0"}')],
      }),
      // One event tells the success and the hand-off (handoffEvents).
      kinds: ["updateStatus", "event", "createSegmentJob"],
      created: [{ index: 1, attempt: 0, input: "sha256:l0" }],
      phase: "Rendering",
      progress: "1/3",
    },
    {
      name: "a failed attempt waits out its backoff",
      input: snapshot({
        status: { segments: [succeeded(0, "", "sha256:l0")] },
        jobs: [jobFor(1, "sha256:l0", 0, "Failed")],
        pods: [podFor(jobFor(1, "sha256:l0", 0, "Failed"), '{"error":"CUDA out of memory"}', 4)],
      }),
      kinds: ["updateStatus", "event"],
      created: [],
      phase: "Rendering",
      progress: "1/3",
    },
    {
      name: "after its backoff a failed segment is retried with the next attempt",
      input: snapshot({
        status: {
          segments: [
            succeeded(0, "", "sha256:l0"),
            {
              index: 1,
              attempt: 0,
              state: "Retrying",
              hash: "h1",
              inputDigest: "sha256:l0",
              finishTime: at(11),
              message: "x",
            },
          ],
        },
        jobs: [jobFor(1, "sha256:l0", 0, "Failed")],
        pods: [podFor(jobFor(1, "sha256:l0", 0, "Failed"), '{"error":"x"}', 1)],
      }),
      kinds: ["updateStatus", "createSegmentJob", "event"],
      created: [{ index: 1, attempt: 1, input: "sha256:l0" }],
      phase: "Rendering",
      progress: "1/3",
    },
    {
      name: "a suspended film with nothing running is Suspended and starts nothing",
      input: snapshot({ intent: intent({ suspend: true }), status: { segments: [succeeded(0, "", "sha256:l0")] } }),
      kinds: ["updateStatus"],
      created: [],
      phase: "Suspended",
      progress: "1/3",
    },
    {
      name: "a suspended film lets its running segment finish",
      input: snapshot({
        intent: intent({ suspend: true }),
        jobs: [jobFor(0, "", 0)],
        pods: [podFor(jobFor(0, "", 0))],
      }),
      kinds: ["updateStatus"],
      created: [],
      phase: "Rendering",
      progress: "0/3",
    },
    {
      name: "when every segment is recorded the film is concatenated",
      input: snapshot({
        status: {
          segments: [
            succeeded(0, "", "sha256:l0"),
            succeeded(1, "sha256:l0", "sha256:l1"),
            succeeded(2, "sha256:l1", "sha256:l2"),
          ],
        },
      }),
      kinds: ["updateStatus", "createConcatJob", "event"],
      created: [],
      phase: "Concatenating",
      progress: "3/3",
    },
  ])("$name", ({ input, kinds: expectedKinds, created: expectedCreated, phase, progress }) => {
    const decision = decide(input);
    expect(kinds(decisionEffects(decision))).toEqual(expectedKinds);
    expect(created(decisionEffects(decision))).toEqual(expectedCreated);
    const status = statusOf(decisionEffects(decision));
    expect(status.phase).toBe(phase);
    expect(status.progress).toBe(progress);
    expect(status.observedGeneration).toBe(1);
  });

  it("records the result of a segment with its digests, node and timing, and reports it for metrics", () => {
    const job = jobFor(0, "", 0, "Succeeded");
    const decision = decide(
      snapshot({ jobs: [job], pods: [podFor(job, '{"frames":81,"latentsDigest":"sha256:l0"}')] }),
    );
    const [record] = statusOf(decisionEffects(decision)).segments ?? [];
    expect(record).toMatchObject({
      index: 0,
      state: "Succeeded",
      inputDigest: "",
      outputDigest: "sha256:l0",
      node: "kwok-h100-1",
      startTime: at(20),
      finishTime: at(5),
      frames: 81,
    });
    expect(decision.facts.segmentsEnded).toEqual([{ result: "succeeded", seconds: 15 }]);
    expect(decision.facts.handoffFrom).toBe(0);
  });

  it("writes no status when a pod is only scheduled; its node is recorded once it runs", () => {
    const job = jobFor(0, "", 0);
    const created = snapshot({ jobs: [job] });
    const pending = statusOf(decisionEffects(decide(created)));
    expect(pending.segments?.[0]).toMatchObject({ state: "Pending" });
    const scheduled: ObservedPod = { name: "p", jobName: job.name, phase: "Pending", nodeName: "kwok-h100-1" };
    const film = { ...created.film, status: pending };
    expect(decisionEffects(decide({ ...created, film, pods: [scheduled] }))).toEqual([]);
    const running = statusOf(decisionEffects(decide({ ...created, film, pods: [podFor(job)] })));
    expect(running.segments?.[0]).toMatchObject({ state: "Running", node: "kwok-h100-1" });
  });

  describe("one event per hand-off", () => {
    const events = (actions: readonly Effect[]) =>
      actions.flatMap((a) => (a.kind === "event" ? [{ reason: a.reason, message: a.message }] : []));

    it("tells a segment's success and its successor's start in one event, before the successor's job is made", () => {
      const job = jobFor(0, "", 0, "Succeeded");
      const effects = decisionEffects(
        decide(snapshot({ jobs: [job], pods: [podFor(job, '{"frames":81,"latentsDigest":"sha256:l0"}')] })),
      );
      const successor = effects.find((a) => a.kind === "createSegmentJob");
      expect(events(effects)).toEqual([
        {
          reason: "SegmentSucceeded",
          message: `segment 0 rendered on kwok-h100-1 in 15.0s; segment 1 follows (${successor?.kind === "createSegmentJob" ? successor.name : ""})`,
        },
      ]);
    });

    it("tells the last segment's success and the concatenation's start in one event", () => {
      const job = jobFor(2, "sha256:l1", 0, "Succeeded");
      const effects = decisionEffects(
        decide(
          snapshot({
            status: { segments: [succeeded(0, "", "sha256:l0"), succeeded(1, "sha256:l0", "sha256:l1")] },
            jobs: [job],
            pods: [podFor(job, '{"frames":81,"latentsDigest":"sha256:l2"}')],
          }),
        ),
      );
      expect(kinds(effects)).toEqual(["updateStatus", "event", "createConcatJob"]);
      expect(events(effects)[0]?.message).toMatch(/^segment 2 rendered on .*; the concatenation follows \(.+\)$/);
    });

    it("keeps a start of its own where no success comes with it: a film's first segment, a retry", () => {
      expect(events(decisionEffects(decide(snapshot({}))))).toEqual([
        { reason: "SegmentStarted", message: expect.stringMatching(/^segment 0 of 3 started/) as unknown },
      ]);
      const retry = snapshot({
        status: {
          segments: [
            succeeded(0, "", "sha256:l0"),
            { index: 1, attempt: 0, state: "Retrying", hash: "h1", inputDigest: "sha256:l0", finishTime: at(11) },
          ],
        },
        jobs: [jobFor(1, "sha256:l0", 0, "Failed")],
        pods: [podFor(jobFor(1, "sha256:l0", 0, "Failed"), '{"error":"x"}', 1)],
      });
      expect(events(decisionEffects(decide(retry))).map((e) => e.reason)).toEqual(["SegmentStarted"]);
    });

    it("tells a success alone when its successor may not start yet (suspended)", () => {
      const job = jobFor(0, "", 0, "Succeeded");
      const effects = decisionEffects(
        decide(
          snapshot({
            intent: intent({ suspend: true }),
            jobs: [job],
            pods: [podFor(job, '{"frames":81,"latentsDigest":"sha256:l0"}')],
          }),
        ),
      );
      expect(events(effects)).toEqual([
        { reason: "SegmentSucceeded", message: "segment 0 rendered on kwok-h100-1 in 15.0s" },
      ]);
    });
  });

  it("estimates completion from observed segment times, and the estimate does not move with the clock alone", () => {
    const input = snapshot({
      status: { segments: [succeeded(0, "", "sha256:l0")] },
      jobs: [jobFor(1, "sha256:l0", 0)],
    });
    const status = statusOf(decisionEffects(decide(input)));
    // One segment took 10 s and finished 90 s ago; two remain.
    expect(status.eta).toBe(new Date(now.getTime() - 90_000 + 20_000).toISOString());
    const later = decide({ ...input, now: new Date(now.getTime() + 5_000), film: { ...input.film, status } });
    expect(decisionEffects(later)).toEqual([]);
  });

  it("writes the time left as kubectl's ETA column shows it, and wakes up when its text changes", () => {
    // One segment took 10 minutes and finished 30 s ago; two remain: the ETA is 19.5 minutes away.
    const tenMinutes = { ...succeeded(0, "", "sha256:l0"), startTime: at(630), finishTime: at(30) };
    const input = snapshot({ status: { segments: [tenMinutes] }, jobs: [jobFor(1, "sha256:l0", 0)] });
    const decision = decide(input);
    const status = statusOf(decisionEffects(decision));
    expect(status.eta).toBe(new Date(now.getTime() - 30_000 + 1_200_000).toISOString());
    expect(status.remaining).toBe("20m");
    expect(decision.requeueAfterMs).toBe(30_000);
    // Within the same minute nothing is written; past it, the text and only the text changes.
    const film = { ...input.film, status };
    expect(decisionEffects(decide({ ...input, now: new Date(now.getTime() + 29_000), film }))).toEqual([]);
    const later = statusOf(decisionEffects(decide({ ...input, now: new Date(now.getTime() + 31_000), film })));
    expect(later).toEqual({ ...status, remaining: "19m" });
  });

  it("hands off as soon as the segment's pod succeeded, before the Job controller marks the Job complete", () => {
    const job = jobFor(0, "", 0);
    const pod: ObservedPod = { ...podFor(job, '{"latentsDigest":"sha256:l0"}'), phase: "Succeeded", finishedAt: at(1) };
    expect(created(decisionEffects(decide(snapshot({ jobs: [job], pods: [pod] }))))).toEqual([
      { index: 1, attempt: 0, input: "sha256:l0" },
    ]);
  });

  it("asks to be woken when the backoff ends", () => {
    const job = jobFor(1, "sha256:l0", 0, "Failed");
    const decision = decide(
      snapshot({ status: { segments: [succeeded(0, "", "sha256:l0")] }, jobs: [job], pods: [podFor(job, "{}", 1)] }),
    );
    // Finished 5 s ago, first retry after 10 s.
    expect(decision.requeueAfterMs).toBe(5_000);
    expect(statusOf(decisionEffects(decision)).segments?.[1]?.state).toBe("Retrying");
  });

  it("fails the film once retries are exhausted, naming the segment and the container's message, keeping records", () => {
    const job = jobFor(1, "sha256:l0", 2, "Failed");
    const decision = decide(
      snapshot({
        status: { segments: [succeeded(0, "", "sha256:l0")] },
        jobs: [jobFor(1, "sha256:l0", 0, "Failed"), jobFor(1, "sha256:l0", 1, "Failed"), job],
        pods: [podFor(job, '{"error":"CUDA error: an illegal memory access"}', 1)],
      }),
    );
    const status = statusOf(decisionEffects(decision));
    expect(status.phase).toBe("Failed");
    expect(condition(status, "Failed")).toMatchObject({ status: "True", reason: "RetriesExhausted" });
    expect(condition(status, "Failed")?.message).toBe(
      "segment 1 failed 3 time(s): CUDA error: an illegal memory access (exit code 1)",
    );
    expect(status.segments?.[0]?.state).toBe("Succeeded");
    expect(created(decisionEffects(decision))).toEqual([]);
    expect(decisionEffects(decision)).toContainEqual(expect.objectContaining({ kind: "event", reason: "FilmFailed" }));
  });

  describe("a workspace claim deleted and made again (empty)", () => {
    const rendered = [succeeded(0, "", "sha256:l0"), succeeded(1, "sha256:l0", "sha256:l1")];
    const oldRunning = { ...jobFor(2, "sha256:l1", 0), workspaceUid: "old" };

    it("re-renders from segment 0 into the new claim, letting the old claim's jobs go, and says why", () => {
      const decision = decide(
        snapshot({
          status: {
            segments: rendered,
            workspaceClaimUID: "old",
            output: { path: "/workspace/film.mp4", frames: 1, seconds: 1, hash: "c1" },
          },
          jobs: [{ ...jobFor(0, "", 0, "Succeeded"), workspaceUid: "old" }, oldRunning],
          workspaceUid: "new",
        }),
      );
      const status = statusOf(decisionEffects(decision));
      expect(status.workspaceClaimUID).toBe("new");
      expect(status.segments).toEqual([]);
      expect(status.output).toBeUndefined();
      expect(status.progress).toBe("0/3");
      const create = decision.then.find((a) => a.kind === "createSegmentJob");
      expect(create).toMatchObject({ segment: { index: 0 }, attempt: 0, inputDigest: "", workspaceUid: "new" });
      expect(create?.kind === "createSegmentJob" ? create.name : "").not.toBe(jobFor(0, "", 0).name);
      expect(decision.then).toContainEqual({ kind: "deleteJob", name: oldRunning.name, uid: oldRunning.uid });
      expect(decision.then).toContainEqual(expect.objectContaining({ kind: "event", reason: "WorkspaceReplaced" }));
    });

    it("lets every job go, finished or not, while its own claim is deleted by hand: their pods hold it", () => {
      const finished = { ...jobFor(0, "", 0, "Succeeded"), workspaceUid: "w" };
      const running = { ...jobFor(1, "sha256:l0", 0), workspaceUid: "w" };
      const decision = decide(
        snapshot({
          status: { segments: rendered, workspaceClaimUID: "w" },
          jobs: [finished, running],
          workspaceUid: "w",
          workspaceDeleting: true,
        }),
      );
      const deleted = decision.then.flatMap((a) => (a.kind === "deleteJob" ? [a.name] : []));
      expect(deleted.sort()).toEqual([finished.name, running.name].sort());
      expect(created(decisionEffects(decision))).toEqual([]);
    });

    it("keeps every record while the claim is the one they were rendered into", () => {
      const decision = decide(
        snapshot({ status: { segments: rendered, workspaceClaimUID: "w" }, jobs: [], workspaceUid: "w" }),
      );
      const status = statusOf(decisionEffects(decision));
      expect(status.segments?.map((r) => r.state)).toEqual(["Succeeded", "Succeeded"]);
      expect(decision.then.filter((a) => a.kind === "event" && a.reason === "WorkspaceReplaced")).toEqual([]);
    });

    it("starts nothing while the claim is gone, and records the first claim's UID", () => {
      const gone = decide(snapshot({ status: { segments: rendered, workspaceClaimUID: "w" }, workspace: false }));
      expect(created(decisionEffects(gone))).toEqual([]);
      expect(gone.then).toContainEqual(expect.objectContaining({ kind: "createWorkspace" }));
      const first = statusOf(decisionEffects(decide(snapshot({ workspaceUid: "w1" }))));
      expect(first.workspaceClaimUID).toBe("w1");
    });
  });

  it("re-runs an attempt the cluster ended (a disruption) at once without counting it, up to a cap", () => {
    const disrupted = (attempt: number) => {
      const job = jobFor(0, "", attempt, "Failed");
      return { job, pod: { ...podFor(job, "{}", 143), disruption: "DeletionByPodGC: the node is gone" } };
    };
    const first = disrupted(0);
    const decision = decide(snapshot({ jobs: [first.job], pods: [first.pod] }));
    expect(statusOf(decisionEffects(decision)).segments?.[0]).toMatchObject({ reason: "Disrupted", failures: 0 });
    expect(created(decisionEffects(decision))).toEqual([{ index: 0, attempt: 1, input: "" }]);
    const capped = disrupted(maxUncountedAttempts);
    const late = decide(snapshot({ jobs: [capped.job], pods: [capped.pod] }));
    expect(statusOf(decisionEffects(late)).segments?.[0]).toMatchObject({ reason: "Failed" });
  });

  it("moves a job still waiting to start to an edited placement, counting nothing; a running one stays", () => {
    const before = intent({ placement: { ...intent().placement, nodeSelector: { pool: "b200" } } });
    const job = { ...jobFor(0, "", 0), podTemplate: podTemplateKey(before) };
    const pending: ObservedPod = { name: "p", jobName: job.name, phase: "Pending", unschedulable: "0/9 nodes" };
    const moved = decide(snapshot({ jobs: [job], pods: [pending] }));
    expect(moved.then).toContainEqual({ kind: "deleteJob", name: job.name, uid: job.uid });
    const running = decide(snapshot({ jobs: [job], pods: [podFor(job)] }));
    expect(running.then.filter((a) => a.kind === "deleteJob")).toEqual([]);
    const same = decide(snapshot({ jobs: [{ ...job, podTemplate: podTemplateKey(intent()) }], pods: [pending] }));
    expect(same.then.filter((a) => a.kind === "deleteJob")).toEqual([]);
  });

  it("reports an attempt killed for memory as OOMKilled, with the limit it hit, and counts it", () => {
    const job = { ...jobFor(0, "", 0, "Failed"), memoryLimit: "72Gi" };
    const pod = { ...podFor(job, undefined, 137), reason: "OOMKilled" };
    const status = statusOf(decisionEffects(decide(snapshot({ jobs: [job], pods: [pod] }))));
    expect(status.segments?.[0]).toMatchObject({ reason: "OOMKilled", failures: 1, exitCode: 137 });
    expect(status.segments?.[0]?.message).toBe(
      "the render container was OOMKilled: it used all of its memory limit of 72Gi (spec.resources.limits.memory)",
    );
  });

  describe("re-renders lost or corrupt hand-off data instead of failing", () => {
    const lostInput = (finishedSecondsAgo: number, attempt = 0): [ObservedJob, ObservedPod] => {
      const job = jobFor(1, "sha256:l0", attempt, "Failed");
      const pod = {
        ...podFor(
          job,
          '{"ok":false,"reason":"handoff","missingSegment":0,"error":"no hand-off with digest sha256:l0"}',
          3,
        ),
        finishedAt: at(finishedSecondsAgo),
      };
      return [job, pod];
    };

    it("a successor that cannot read segment 0's latents sends segment 0 back to render, counting nothing", () => {
      const [job, pod] = lostInput(5);
      const decision = decide(
        snapshot({
          status: { segments: [succeeded(0, "", "sha256:l0")] },
          jobs: [jobFor(0, "", 0, "Succeeded"), job],
          pods: [pod],
        }),
      );
      const status = statusOf(decisionEffects(decision));
      expect(status.segments).toHaveLength(1);
      expect(status.segments?.[0]).toMatchObject({
        index: 0,
        state: "Retrying",
        reason: "HandoffLost",
        failures: 0,
        handoffLosses: 1,
      });
      expect(status.segments?.[0]).not.toHaveProperty("outputDigest");
      expect(created(decisionEffects(decision))).toEqual([{ index: 0, attempt: 1, input: "" }]);
      expect(decision.then).toContainEqual(expect.objectContaining({ kind: "event", reason: "SegmentsInvalidated" }));
      expect(status.phase).not.toBe("Failed");
    });

    it("once segment 0 is rendered again, the successor re-runs at once, its failed attempt not counted", () => {
      const [job, pod] = lostInput(5);
      const again = { ...succeeded(0, "", "sha256:l0", 1), finishTime: at(2), handoffLosses: 1 };
      const decision = decide(snapshot({ status: { segments: [again] }, jobs: [job], pods: [pod] }));
      const status = statusOf(decisionEffects(decision));
      expect(status.segments?.[0]).toMatchObject({ state: "Succeeded", attempt: 1 });
      expect(status.segments?.[1]).toMatchObject({ index: 1, attempt: 0, failures: 0, reason: "HandoffLost" });
      expect(created(decisionEffects(decision))).toEqual([{ index: 1, attempt: 1, input: "sha256:l0" }]);
      expect(decision.then).toContainEqual(expect.objectContaining({ kind: "event", reason: "SegmentLost" }));
    });

    it("a hand-off lost more often than the retry budget allows fails the film, saying so", () => {
      const [job, pod] = lostInput(5, 2);
      const twice = { ...succeeded(0, "", "sha256:l0", 2), handoffLosses: 2 };
      const decision = decide(snapshot({ status: { segments: [twice] }, jobs: [job], pods: [pod] }));
      const status = statusOf(decisionEffects(decision));
      expect(status.phase).toBe("Failed");
      expect(condition(status, "Failed")?.message).toContain("hand-off was found missing or corrupt by segment 1");
    });

    it("the concatenation names the first segment whose clip it could not verify, and that one renders again", () => {
      const concat = { ...concatJob("Failed", 10), attempt: 0 };
      const pod = {
        ...podFor(concat, '{"ok":false,"reason":"handoff","missingSegment":1,"error":"clip digest mismatch"}', 3),
        finishedAt: at(5),
      };
      const decision = decide(snapshot({ status: { segments: done }, jobs: [concat], pods: [pod] }));
      const status = statusOf(decisionEffects(decision));
      expect(status.segments?.map((r) => r.state)).toEqual(["Succeeded", "Retrying"]);
      expect(status.segments?.[1]).toMatchObject({ reason: "HandoffLost", failures: 0 });
      expect(created(decisionEffects(decision))).toEqual([{ index: 1, attempt: 1, input: "sha256:l0" }]);
    });
  });

  it("fails the film at once when a segment's input is bad (exit code 2): a retry cannot fix it", () => {
    const job = jobFor(1, "sha256:l0", 0, "Failed");
    const decision = decide(
      snapshot({
        status: { segments: [succeeded(0, "", "sha256:l0")] },
        jobs: [job],
        pods: [podFor(job, '{"error":"LV_PROMPT is required by the svi backend"}', 2)],
      }),
    );
    const status = statusOf(decisionEffects(decision));
    expect(status.phase).toBe("Failed");
    expect(status.segments?.[1]).toMatchObject({ state: "Failed", exitCode: 2, failures: 1 });
    expect(condition(status, "Failed")).toMatchObject({ status: "True", reason: "BadInput" });
    expect(created(decisionEffects(decision))).toEqual([]);
    expect(decision.facts.segmentsEnded).toEqual([{ result: "failed", seconds: 15 }]);
  });

  it("re-renders from the edited segment on: a running job for the old plan is stopped, earlier records kept", () => {
    const edited = segments.map((s) => (s.index >= 1 ? { ...s, hash: `${s.hash}-edited` } : s));
    const oldJob = jobFor(2, "sha256:l1", 0);
    const decision = decide(
      snapshot({
        intent: intent({ segments: edited }),
        status: { segments: [succeeded(0, "", "sha256:l0"), succeeded(1, "sha256:l0", "sha256:l1")] },
        jobs: [jobFor(0, "", 0, "Succeeded"), jobFor(1, "sha256:l0", 0, "Succeeded"), oldJob],
        pods: [podFor(oldJob)],
      }),
    );
    expect(created(decisionEffects(decision))).toEqual([{ index: 1, attempt: 0, input: "sha256:l0" }]);
    expect(decisionEffects(decision)).toContainEqual({ kind: "deleteJob", name: oldJob.name, uid: oldJob.uid });
    const status = statusOf(decisionEffects(decision));
    expect(status.progress).toBe("1/3");
    expect(status.segments?.map((r) => r.index)).toEqual([0]);
  });

  it("re-renders a segment whose recorded input no longer matches its predecessor's output", () => {
    const decision = decide(
      snapshot({ status: { segments: [succeeded(0, "", "sha256:new"), succeeded(1, "sha256:old", "sha256:l1")] } }),
    );
    expect(created(decisionEffects(decision))).toEqual([{ index: 1, attempt: 0, input: "sha256:new" }]);
  });

  it("says an attempt ran out of time when its Job passed its deadline, whatever the pod said when stopped", () => {
    const job: ObservedJob = {
      ...jobFor(0, "", 0, "Failed"),
      failureReason: "DeadlineExceeded",
      failureMessage: "Job was active longer than specified deadline",
    };
    const decision = decide(snapshot({ jobs: [job], pods: [podFor(job, '{"error":"stopped by SIGTERM"}', 143)] }));
    expect(statusOf(decisionEffects(decision)).segments?.[0]).toMatchObject({
      state: "Retrying",
      message: "Job was active longer than specified deadline (DeadlineExceeded)",
    });
  });

  it("treats a successful pod without a result as a failed attempt", () => {
    const job = jobFor(0, "", 0, "Succeeded");
    const decision = decide(snapshot({ jobs: [job], pods: [podFor(job, "")] }));
    const record = statusOf(decisionEffects(decision)).segments?.[0];
    expect(record?.state).toBe("Retrying");
    expect(record?.message).toContain("left no result");
  });

  it("records the film once the concatenation job succeeds", () => {
    const job = concatJob("Succeeded", 10);
    const decision = decide(
      snapshot({ status: { segments: done }, jobs: [job], pods: [podFor(job, '{"frames":233,"seconds":14.5625}')] }),
    );
    const status = statusOf(decisionEffects(decision));
    expect(status.phase).toBe("Succeeded");
    expect(status.output).toEqual({ path: "/workspace/film.mp4", frames: 233, seconds: 14.5625, hash: "c1" });
    expect(condition(status, "Ready")).toMatchObject({ status: "True", reason: "FilmComplete" });
    expect(status.completionTime).toBe(now.toISOString());
    expect(decisionEffects(decision)).toContainEqual(
      expect.objectContaining({ kind: "event", reason: "FilmConcatenated" }),
    );
  });

  it("links the contact sheet the concatenation reports from the film's status and its Ready message", () => {
    const job = concatJob("Succeeded", 10);
    const message = '{"frames":233,"seconds":14.5625,"contactSheet":"/workspace/film.contact.png"}';
    const decision = decide(snapshot({ status: { segments: done }, jobs: [job], pods: [podFor(job, message)] }));
    const status = statusOf(decisionEffects(decision));
    expect(status.output?.contactSheet).toBe("/workspace/film.contact.png");
    expect(condition(status, "Ready")?.message).toBe(
      "the film is at /workspace/film.mp4; its contact sheet at /workspace/film.contact.png",
    );
  });

  it("never records a concatenation of another chain: the last segment re-rendered since, so the film is concatenated again", () => {
    const stale = {
      ...concatJob("Succeeded", 10),
      name: concatJobName(film, "c1", "sha256:old-l2", 0),
      inputDigest: "sha256:old-l2",
    };
    const decision = decide(
      snapshot({ status: { segments: done }, jobs: [stale], pods: [podFor(stale, '{"frames":233,"seconds":14.5}')] }),
    );
    expect(statusOf(decisionEffects(decision)).phase).toBe("Concatenating");
    expect(decision.then).toContainEqual(
      expect.objectContaining({ kind: "createConcatJob", attempt: 0, inputDigest: "sha256:l2" }),
    );
    // A name of its own: the stale job can never stand in for it.
    expect(concatJobName(film, "c1", "sha256:l2", 0)).not.toBe(stale.name);
  });

  it("retries a failed concatenation after its backoff under the same attempt policy, and announces the retry", () => {
    const failedConcat = concatJob("Failed", 30);
    const inBackoff = decide(
      snapshot({ status: { segments: done }, jobs: [failedConcat], pods: [podFor(failedConcat, "{}", 1)] }),
    );
    // Its pod finished 5 s ago; the first retry waits 10 s.
    expect(inBackoff.requeueAfterMs).toBe(5_000);
    expect(kinds(decisionEffects(inBackoff))).toEqual(["updateStatus"]);
    const later = decide({
      ...snapshot({ status: { segments: done }, jobs: [failedConcat], pods: [podFor(failedConcat, "{}", 1)] }),
      now: new Date(now.getTime() + 6_000),
    });
    const [create, event] = later.then;
    expect(create).toEqual({
      kind: "createConcatJob",
      attempt: 1,
      inputDigest: "sha256:l2",
      name: concatJobName(film, "c1", "sha256:l2", 1),
      workspaceUid: "",
    });
    expect(event).toMatchObject({ kind: "event", reason: "ConcatenationStarted" });
    expect(event?.kind === "event" ? event.message : "").toContain("attempt 2");
  });

  describe("a job deleted by hand", () => {
    const running = (attempt: number, failures: number): SegmentRecord => ({
      index: 0,
      attempt,
      failures,
      state: "Running",
      hash: "h0",
      inputDigest: "",
      startTime: at(20),
    });

    it("while its second attempt ran: the next attempt starts at once, and the lost one is not counted", () => {
      const decision = decide(snapshot({ status: { segments: [running(1, 1)] }, jobs: [jobFor(0, "", 0, "Failed")] }));
      expect(created(decisionEffects(decision))).toEqual([{ index: 0, attempt: 2, input: "" }]);
      expect(decision.then).toContainEqual(
        expect.objectContaining({ kind: "event", type: "Warning", reason: "SegmentLost" }),
      );
      // When the new attempt's job is seen, its record still counts one failure.
      const next = jobFor(0, "", 2);
      const later = decide(
        snapshot({
          status: { segments: [running(1, 1)] },
          jobs: [jobFor(0, "", 0, "Failed"), next],
          pods: [podFor(next)],
        }),
      );
      expect(decisionEffects(later).find((e) => e.kind === "updateStatus")).toMatchObject({
        status: { segments: [{ index: 0, attempt: 2, failures: 1, state: "Running" }] },
      });
    });

    it("while its first attempt ran: a second attempt replaces it", () => {
      expect(created(decisionEffects(decide(snapshot({ status: { segments: [running(0, 0)] } }))))).toEqual([
        { index: 0, attempt: 1, input: "" },
      ]);
    });

    it("waits while the deleted job is still going away", () => {
      const going = { ...jobFor(0, "", 0), deleting: true };
      expect(
        created(decisionEffects(decide(snapshot({ status: { segments: [running(0, 0)] }, jobs: [going] })))),
      ).toEqual([]);
    });

    it("after its attempt failed: the retry waits out the backoff as for any failure", () => {
      const failedRecord: SegmentRecord = { ...running(0, 1), state: "Retrying", finishTime: at(5), message: "x" };
      const decision = decide(snapshot({ status: { segments: [failedRecord] } }));
      expect(created(decisionEffects(decision))).toEqual([]);
      expect(decision.requeueAfterMs).toBe(5_000);
    });
  });

  it("starts nothing on a workspace claim that is still being deleted, and says so", () => {
    const decision = decide(snapshot({ workspaceDeleting: true }));
    expect(created(decisionEffects(decision))).toEqual([]);
    expect(decision.setup).toEqual([]);
    const status = statusOf(decisionEffects(decision));
    expect(condition(status, "Progressing")).toMatchObject({ status: "False", reason: "WorkspaceTerminating" });
    expect(status.phase).toBe("Pending");
  });

  it("reports a pod the scheduler cannot place on the film, in the scheduler's words, with one event", () => {
    const job = jobFor(0, "", 0);
    const message = "0/9 nodes are available: 9 node(s) didn't match Pod's node affinity/selector.";
    const pod: ObservedPod = { ...podFor(job), phase: "Pending", unschedulable: message };
    const first = decide(snapshot({ jobs: [job], pods: [pod] }));
    const status = statusOf(decisionEffects(first));
    expect(condition(status, "Progressing")).toMatchObject({
      status: "False",
      reason: "Unschedulable",
      message: `segment 0 waits for a node: ${message}`,
    });
    expect(first.then).toContainEqual(
      expect.objectContaining({ kind: "event", type: "Warning", reason: "SegmentUnschedulable" }),
    );
    const again = decide(snapshot({ jobs: [job], pods: [pod], status }));
    expect(decisionEffects(again)).toEqual([]);
  });

  describe("says on the film what holds it back, as Ready=False and Progressing=False with the cluster's words, and one event", () => {
    const job = jobFor(0, "", 0);
    const running = podFor(job);
    const refusedPod = 'pods "film-s0" is forbidden: no PriorityClass with name nope was found';
    const lostNode = "Ready=Unknown (NodeStatusUnknown): Kubelet stopped posting node status.";
    it.each([
      {
        case: "the Job controller cannot create its pod",
        input: snapshot({ jobs: [{ ...job, podRefused: refusedPod }] }),
        reason: "PodRefused",
        message: `segment 0: its pod cannot be created: ${refusedPod}`,
      },
      {
        case: "the API server refused an object the film needs",
        input: {
          ...snapshot({}),
          refusal: { object: "segment 0's job film-s0", message: 'jobs.batch "film-s0" is forbidden: exceeded quota' },
        },
        reason: "CreateRefused",
        message:
          "the API server refused to create segment 0's job film-s0 (retried with backoff): " +
          'jobs.batch "film-s0" is forbidden: exceeded quota',
      },
      {
        case: "its node is lost",
        input: snapshot({ jobs: [job], pods: [{ ...running, nodeLost: lostNode }] }),
        reason: "NodeLost",
        message: `segment 0 runs on kwok-h100-1, which is lost: ${lostNode}`,
      },
      {
        case: "its container cannot start",
        input: snapshot({
          jobs: [job],
          pods: [{ ...running, phase: "Pending", blocked: { reason: "ErrImagePull", message: "not found" } }],
        }),
        reason: "ContainerCannotStart",
        message: "segment 0: its container cannot start (ErrImagePull): not found",
      },
      {
        case: "a refused pod before anything about a pod (there is none yet)",
        input: snapshot({
          jobs: [{ ...job, podRefused: refusedPod }],
          pods: [{ ...running, phase: "Failed", nodeLost: lostNode }],
        }),
        reason: "PodRefused",
        message: `segment 0: its pod cannot be created: ${refusedPod}`,
      },
    ])("$case", ({ input, reason, message }) => {
      const decision = decide(input);
      const status = statusOf(decisionEffects(decision));
      expect(condition(status, "Ready")).toMatchObject({ status: "False", reason, message });
      expect(condition(status, "Progressing")).toMatchObject({ status: "False", reason, message });
      expect(status.phase).not.toBe("Failed");
      expect(decision.then.filter((a) => a.kind === "event" && a.type === "Warning")).toEqual([
        { kind: "event", type: "Warning", reason, message },
      ]);
      // Said once: the next reconcile of the same state neither writes nor tells again.
      const again = decide({ ...input, film: { ...input.film, status } });
      expect(again.then.filter((a) => a.kind === "event" && a.type === "Warning")).toEqual([]);
      expect(again.status).toBeUndefined();
    });

    it("clears once the obstacle is gone", () => {
      const blocked = statusOf(decisionEffects(decide(snapshot({ jobs: [{ ...job, podRefused: refusedPod }] }))));
      const status = statusOf(decisionEffects(decide(snapshot({ jobs: [job], pods: [running], status: blocked }))));
      expect(condition(status, "Ready")).toMatchObject({ status: "False", reason: "Rendering" });
      expect(condition(status, "Progressing")).toMatchObject({ status: "True" });
    });

    it("lets a job stranded on a lost node go, so that a new attempt re-runs the segment elsewhere", () => {
      const evicted: ObservedPod = { ...running, deleting: true, nodeLost: lostNode };
      const gone: ObservedPod = { ...running, nodeLost: "the node no longer exists", nodeGone: true };
      for (const pod of [evicted, gone]) {
        const decision = decide(snapshot({ jobs: [job], pods: [pod] }));
        // Unless a fresh read finds the pod ended: a node's deletion may be seen before the pod's last status.
        expect(decision.then).toContainEqual({
          kind: "deleteJob",
          name: job.name,
          uid: job.uid,
          unlessPodEnded: pod.name,
        });
      }
      // Merely not Ready (its pods not yet evicted): told, but the attempt is left to the node's return or eviction.
      const notReady = decide(snapshot({ jobs: [job], pods: [{ ...running, nodeLost: lostNode }] }));
      expect(notReady.then.filter((a) => a.kind === "deleteJob")).toEqual([]);
    });
  });

  describe("a Job in a Kueue queue (spec.gpu.queueName)", () => {
    const job = jobFor(0, "", 0);
    const queued = (admission?: KueueAdmission): ObservedJob => ({
      ...job,
      suspended: "Job suspended",
      ...(admission ? { admission } : {}),
    });
    const pending =
      "couldn't assign flavors to pod set main: insufficient unused quota for nvidia.com/gpu in flavor h100, 1 more needed";
    const preempted =
      "Preempted: Preempted to accommodate a workload (UID: u2, JobUID: j2) due to prioritization in the ClusterQueue";
    const workload = "job-film-s0-1a2b3";

    it.each([
      {
        case: "before Kueue made its Workload: says it waits in its queue, and that no Workload is seen yet",
        job: queued(),
        message:
          "segment 0 waits in its queue for admission (its Job is suspended until Kueue admits it); no Kueue Workload is seen for it yet",
      },
      {
        case: "not admitted: the Workload's own words",
        job: queued({ workload, admitted: false, pending, evictions: 0 }),
        message: `segment 0 waits in its queue for admission: Workload ${workload}: ${pending}`,
      },
    ])("$case", ({ job: waiting, message }) => {
      const input = snapshot({ jobs: [waiting] });
      const decision = decide(input);
      const status = statusOf(decisionEffects(decision));
      expect(status.phase).toBe("Queued");
      expect(condition(status, "Ready")).toMatchObject({ status: "False", reason: "Queued", message });
      expect(condition(status, "Progressing")).toMatchObject({ status: "False", reason: "Queued", message });
      // Waiting in a queue is what queues are for: told once, not as a warning.
      expect(decision.then.filter((a) => a.kind === "event")).toEqual([
        { kind: "event", type: "Normal", reason: "Queued", message },
      ]);
      expect(created(decisionEffects(decision))).toEqual([]);
      const again = decide({ ...input, film: { ...input.film, status } });
      expect(again.then.filter((a) => a.kind === "event")).toEqual([]);
      expect(again.status).toBeUndefined();
    });

    it("a later segment waiting for admission: the film is Queued, with what it rendered so far", () => {
      const next = { ...jobFor(1, "sha256:l0", 0), suspended: "Job suspended" };
      const status = statusOf(
        decisionEffects(decide(snapshot({ status: { segments: [succeeded(0, "", "sha256:l0")] }, jobs: [next] }))),
      );
      expect(status.phase).toBe("Queued");
      expect(status.progress).toBe("1/3");
      expect(condition(status, "Ready")?.message).toMatch(/^segment 1 waits in its queue for admission/);
    });

    it("preempted while it ran: Queued again in Kueue's words, the same attempt waits, no retry spent", () => {
      const runningRecord: SegmentRecord = {
        index: 0,
        attempt: 0,
        state: "Running",
        hash: "h0",
        inputDigest: "",
        node: "kwok-h100-1",
        startTime: at(20),
      };
      const evicted = queued({ workload, admitted: false, pending, evicted: preempted, evictions: 1 });
      // Kueue has suspended the Job; the Job controller is deleting its pod.
      const going: ObservedPod = { ...podFor(job), deleting: true };
      const decision = decide(snapshot({ status: { segments: [runningRecord] }, jobs: [evicted], pods: [going] }));
      const status = statusOf(decisionEffects(decision));
      expect(status.phase).toBe("Queued");
      expect(condition(status, "Ready")).toMatchObject({
        reason: "Queued",
        message: `segment 0 was evicted by Kueue (${preempted}) and waits in its queue for admission again: Workload ${workload}: ${pending}`,
      });
      expect(status.segments).toEqual([{ ...runningRecord, state: "Pending", evictions: 1 }]);
      expect(condition(status, "Degraded")?.status).toBe("False");
      // The attempt is not over: its Job stays, and no other is made.
      expect(created(decisionEffects(decision))).toEqual([]);
      expect(decision.then.filter((a) => a.kind === "deleteJob")).toEqual([]);

      // Admitted again: a new pod of the same Job runs; then it succeeds, as attempt 0 with nothing counted.
      const resumed = { ...job, admission: { workload, admitted: true, evictions: 1 } };
      const again = statusOf(
        decisionEffects(
          decide(snapshot({ status, jobs: [resumed], pods: [{ ...podFor(job), name: "pod-2", startedAt: at(2) }] })),
        ),
      );
      expect(again.phase).toBe("Rendering");
      expect(again.segments?.[0]).toMatchObject({ state: "Running", attempt: 0, evictions: 1, startTime: at(2) });
      expect(again.segments?.[0]?.failures).toBeUndefined();
      const finished = { ...resumed, finished: "Succeeded" as const };
      const last = statusOf(
        decisionEffects(
          decide(
            snapshot({
              status: again,
              jobs: [finished],
              pods: [{ ...podFor(finished, '{"latentsDigest":"sha256:l0","frames":77}'), name: "pod-2" }],
            }),
          ),
        ),
      );
      expect(last.segments?.[0]).toMatchObject({ state: "Succeeded", attempt: 0, evictions: 1 });
      expect(last.segments?.[0]?.failures).toBeUndefined();
    });

    it("keeps the eviction count it recorded when Kueue's count is lower (a Workload made again)", () => {
      const record: SegmentRecord = {
        index: 0,
        attempt: 0,
        state: "Running",
        hash: "h0",
        inputDigest: "",
        evictions: 2,
      };
      const status = statusOf(
        decisionEffects(
          decide(
            snapshot({
              status: { segments: [record] },
              jobs: [{ ...job, admission: { workload, admitted: true, evictions: 0 } }],
              pods: [podFor(job)],
            }),
          ),
        ),
      );
      expect(status.segments?.[0]).toMatchObject({ state: "Running", evictions: 2 });
    });
  });

  it("creates nothing for an invalid spec and reports the field, keeping what was rendered", () => {
    const decision = decide(snapshot({ invalid: true, status: { segments: [succeeded(0, "", "sha256:l0")] } }));
    expect(kinds(decisionEffects(decision))).toEqual(["updateStatus", "event"]);
    const status = statusOf(decisionEffects(decision));
    expect(condition(status, "Ready")).toMatchObject({
      status: "False",
      reason: "InvalidSpec",
      message: "spec.render.framesPerClip: must be 4n+1",
    });
    expect(status.segments).toHaveLength(1);
  });

  it("creates nothing for a film its policy refuses, saying so as PolicyRefused, keeping what was rendered", () => {
    const message = `priority class "system-node-critical" is not allowed by the operator's film policy (none are allowed)`;
    const refused: FilmSnapshot = {
      ...snapshot({ status: { segments: [succeeded(0, "", "sha256:l0")] } }),
      intent: { ok: false, reason: "PolicyRefused", errors: [{ path: "spec.gpu.priorityClassName", message }] },
    };
    const effects = decisionEffects(decide(refused));
    expect(kinds(effects)).toEqual(["updateStatus", "event"]);
    expect(effects[1]).toMatchObject({ type: "Warning", reason: "PolicyRefused" });
    const status = statusOf(effects);
    for (const type of ["Ready", "Progressing"]) {
      expect(condition(status, type)).toMatchObject({
        status: "False",
        reason: "PolicyRefused",
        message: `spec.gpu.priorityClassName: ${message}`,
      });
    }
    expect(status.segments).toHaveLength(1);
    expect(kinds(decisionEffects(decide({ ...refused, film: { ...refused.film, status } })))).toEqual([]);
  });

  it("does not repeat the invalid-spec event once it is reported for this generation", () => {
    const first = statusOf(decisionEffects(decide(snapshot({ invalid: true }))));
    expect(kinds(decisionEffects(decide(snapshot({ invalid: true, status: first }))))).toEqual([]);
  });

  it("writes no status when nothing changed, whatever order the API server returns its fields in", () => {
    const job = jobFor(0, "", 0);
    const input = snapshot({ jobs: [job], pods: [podFor(job)] });
    const status = statusOf(decisionEffects(decide(input)));
    const reordered = JSON.parse(canonicalJson(status)) as FilmStatus;
    expect(Object.keys(reordered)).not.toEqual(Object.keys(status));
    expect(decisionEffects(decide({ ...input, film: { ...input.film, status: reordered } }))).toEqual([]);
  });

  it.each([
    { retain: true, expected: ["releaseWorkspace", "event", "removeFinalizer"] },
    { retain: false, expected: ["deleteWorkspace", "removeFinalizer"] },
  ])(
    "on deletion removes every job, running or finished, and honours retain=$retain for the workspace",
    ({ retain, expected }) => {
      const running = jobFor(1, "sha256:l0", 0);
      const decision = decide(
        snapshot({
          deleting: true,
          intent: intent({ workspace: { ...intent().workspace, retainOnDelete: retain } }),
          jobs: [jobFor(0, "", 0, "Succeeded"), running],
        }),
      );
      expect(kinds(decisionEffects(decision))).toEqual(["deleteJob", "deleteJob", ...expected]);
    },
  );

  it("names the UID of every job and claim it deletes, so one made again under the name is never deleted instead", () => {
    const jobs = [jobFor(0, "", 0, "Succeeded"), jobFor(1, "sha256:l0", 0)];
    const decision = decide(
      snapshot({
        deleting: true,
        intent: intent({ workspace: { ...intent().workspace, retainOnDelete: false } }),
        jobs,
        workspaceUid: "claim-uid",
      }),
    );
    expect(decision.then.filter((a) => a.kind === "deleteJob" || a.kind === "deleteWorkspace")).toEqual([
      { kind: "deleteJob", name: jobs[0]?.name, uid: jobs[0]?.uid },
      { kind: "deleteJob", name: jobs[1]?.name, uid: jobs[1]?.uid },
      { kind: "deleteWorkspace", claimName: "film-workspace", uid: "claim-uid" },
    ]);
  });

  it("gives deterministic job names that stay within Kubernetes' 63 characters", () => {
    const long = "a".repeat(80);
    const name = segmentJobName({ name: long, uid: "uid" }, 12, "hash", "sha256:x", 3);
    expect(name.length).toBeLessThanOrEqual(63);
    expect(segmentJobName({ name: long, uid: "uid" }, 12, "hash", "sha256:x", 3)).toBe(name);
    expect(segmentJobName({ name: long, uid: "uid" }, 12, "hash", "sha256:y", 3)).not.toBe(name);
  });
});

describe("decide: chains from keyframes", () => {
  // Three chains: segments 0-1 (the reference image), 2-3 and 4 (keyframed scenes).
  const chainOf = (index: number) => (index < 2 ? 0 : index < 4 ? 1 : 2);
  const chained: PlannedSegment[] = [0, 1, 2, 3, 4].map((index) => ({
    index,
    hash: `h${String(index)}`,
    chain: chainOf(index),
    chainStart: index === 0 || index === 2 || index === 4,
    keptFrames: 76,
    env: { LV_SEGMENT_INDEX: String(index) },
  }));
  const chains = [
    { first: 0, last: 1 },
    { first: 2, last: 3 },
    { first: 4, last: 4 },
  ];
  const chainIntent = (parallelism: number) => intent({ segments: chained, chains, parallelism });
  const running = (index: number, input: string) => {
    const job = jobFor(index, input, 0);
    return { job, pod: podFor(job) };
  };

  it("starts every chain's first segment at once, up to the parallelism, earlier chains first", () => {
    const decision = decide(snapshot({ intent: chainIntent(2) }));
    const effects = decisionEffects(decision);
    expect(created(effects)).toEqual([
      { index: 0, attempt: 0, input: "" },
      { index: 2, attempt: 0, input: "" },
    ]);
    const status = statusOf(effects);
    expect(status.phase).toBe("Rendering");
    expect(status.chains).toEqual([
      { first: 0, last: 1, progress: "0/2" },
      { first: 2, last: 3, progress: "0/2" },
      { first: 4, last: 4, progress: "0/1" },
    ]);
    // A chain's start follows nothing: no hand-off to time.
    expect(decision.facts.handoffFrom).toBeUndefined();
  });

  it("hands each chain off within itself, and never runs more segments than the parallelism", () => {
    const two = running(2, "");
    const decision = decide(
      snapshot({
        intent: chainIntent(2),
        status: { segments: [succeeded(0, "", "sha256:l0")] },
        jobs: [jobFor(0, "", 0, "Succeeded"), two.job],
        pods: [two.pod],
      }),
    );
    // Segment 1 continues chain 0 from its own predecessor; chain 2 waits for a free slot.
    expect(created(decisionEffects(decision))).toEqual([{ index: 1, attempt: 0, input: "sha256:l0" }]);
    expect(decision.then.filter((a) => a.kind === "deleteJob")).toEqual([]);
    expect(decision.facts.handoffFrom).toBe(0);
    expect(statusOf(decisionEffects(decision)).chains?.map((c) => c.progress)).toEqual(["1/2", "0/2", "0/1"]);
  });

  it("keeps running what runs when the parallelism is lowered, and starts nothing until a slot frees", () => {
    const zero = running(0, "");
    const two = running(2, "");
    const decision = decide(snapshot({ intent: chainIntent(1), jobs: [zero.job, two.job], pods: [zero.pod, two.pod] }));
    expect(created(decisionEffects(decision))).toEqual([]);
    expect(decision.then.filter((a) => a.kind === "deleteJob")).toEqual([]);
  });

  it("fails the film when one chain fails for good, starting nothing more and letting the other chains' pods finish", () => {
    const two = running(2, "");
    const failed = jobFor(4, "", 2, "Failed");
    const decision = decide(
      snapshot({
        intent: chainIntent(3),
        status: { segments: [succeeded(0, "", "sha256:l0")] },
        jobs: [jobFor(4, "", 0, "Failed"), jobFor(4, "", 1, "Failed"), failed, two.job],
        pods: [two.pod, podFor(failed, '{"error":"CUDA error"}', 1)],
      }),
    );
    const effects = decisionEffects(decision);
    const status = statusOf(effects);
    expect(status.phase).toBe("Failed");
    expect(condition(status, "Failed")?.message).toMatch(/^segment 4 failed 3 time\(s\)/);
    expect(created(effects)).toEqual([]);
    expect(decision.then.filter((a) => a.kind === "deleteJob")).toEqual([]);
  });

  it("concatenates once every chain is complete, walking each back from its own last segment", () => {
    const records = [
      succeeded(0, "", "sha256:l0"),
      succeeded(1, "sha256:l0", "sha256:l1"),
      succeeded(2, "", "sha256:l2"),
      succeeded(3, "sha256:l2", "sha256:l3"),
      succeeded(4, "", "sha256:l4"),
    ];
    const decision = decide(snapshot({ intent: chainIntent(2), status: { segments: records } }));
    expect(statusOf(decisionEffects(decision)).phase).toBe("Concatenating");
    expect(decision.then).toContainEqual(
      expect.objectContaining({ kind: "createConcatJob", inputDigest: "1:sha256:l1,3:sha256:l3,4:sha256:l4" }),
    );
  });

  it("keeps the other chains' clips when one chain's record no longer links, re-rendering that chain alone", () => {
    const records = [
      succeeded(0, "", "sha256:l0"),
      succeeded(1, "sha256:l0", "sha256:l1"),
      // Made from another input than chain 1's start hands off now: no longer part of the film.
      succeeded(3, "sha256:stale", "sha256:l3"),
      succeeded(2, "", "sha256:l2"),
      succeeded(4, "", "sha256:l4"),
    ];
    const decision = decide(snapshot({ intent: chainIntent(2), status: { segments: records } }));
    expect(created(decisionEffects(decision))).toEqual([{ index: 3, attempt: 0, input: "sha256:l2" }]);
    expect(statusOf(decisionEffects(decision)).progress).toBe("4/5");
  });

  it("never blames a chain's start's lost hand-off on the segment before it, which belongs to another chain", () => {
    const start = jobFor(2, "", 0, "Failed");
    const decision = decide(
      snapshot({
        intent: chainIntent(2),
        status: { segments: [succeeded(0, "", "sha256:l0"), succeeded(1, "sha256:l0", "sha256:l1")] },
        jobs: [start],
        pods: [podFor(start, '{"error":"handoff"}', 3)],
      }),
    );
    const status = statusOf(decisionEffects(decision));
    expect(status.segments?.find((r) => r.index === 1)?.state).toBe("Succeeded");
  });
});

describe("decide: warm start", () => {
  const warm = { maxLeadMs: 600_000, marginMs: 5_000, maxAhead: 3 };
  const warmIntent = (overrides: Partial<FilmIntent> = {}) => intent({ warm, ...overrides });
  // Segment 0 rendered in 20 s: ready 6 s after its process started, denoising 10 s to its commit.
  const timed = (record: SegmentRecord): SegmentRecord => ({
    ...record,
    phases: { ready: 6, wait: 0, denoise: 9, decode: 1, encode: 2 },
    denoiseStartedAt: at(200),
    committedAt: at(190),
  });
  const zero = timed(succeeded(0, "", "sha256:l0"));
  /** Segment 1 running, its pod started `secondsAgo`. */
  const runningOne = (secondsAgo: number) => {
    const job = jobFor(1, "sha256:l0", 0);
    return { job, pod: { ...podFor(job), startedAt: at(secondsAgo) } };
  };
  const followed = attemptDir(1, "h1", "sha256:l0", 0);
  const warmJob = (finished?: "Succeeded" | "Failed"): ObservedJob => {
    const name = segmentJobName(film, 2, "h2", `from:${followed}`, 0);
    return { ...jobFor(2, "", 0, finished), name, uid: `uid-${name}`, inputFrom: followed };
  };

  it("starts the next segment while the running one renders, when its lead time has come", () => {
    // Expected commit: started 14 s ago + 6 s ready + 10 s work = in 2 s; lead 6 s + 5 s margin: start now.
    const one = runningOne(14);
    const decision = decide(
      snapshot({ intent: warmIntent(), status: { segments: [zero] }, jobs: [one.job], pods: [one.pod] }),
    );
    const create = decision.then.find((a) => a.kind === "createSegmentJob");
    expect(create).toMatchObject({ segment: { index: 2 }, attempt: 0, inputDigest: "", inputFrom: followed });
    expect(create?.kind === "createSegmentJob" && create.name).toBe(warmJob().name);
    expect(decision.then.filter((a) => a.kind === "deleteJob")).toEqual([]);
  });

  it("starts it as early as its predecessor's Job, when a clip is shorter than a pod start and a model load", () => {
    // Segment 1's Job was made 30 s ago and its pod has not started: its commit is due 14 s ago by the clock.
    const one = jobFor(1, "sha256:l0", 0);
    const decision = decide(snapshot({ intent: warmIntent(), status: { segments: [zero] }, jobs: [one] }));
    expect(decision.then).toContainEqual(expect.objectContaining({ kind: "createSegmentJob", inputFrom: followed }));
    // Not for a Job Kueue still holds: it may wait for quota for hours.
    const held = decide(
      snapshot({ intent: warmIntent(), status: { segments: [zero] }, jobs: [{ ...one, suspended: "queued" }] }),
    );
    expect(held.then.filter((a) => a.kind === "createSegmentJob" && a.inputFrom !== undefined)).toEqual([]);
  });

  /** A film of five clips of one chain, and its segment 0's timing: clips of 1 s of work after 6 s of loading. */
  const five: PlannedSegment[] = [0, 1, 2, 3, 4].map((index) => ({
    index,
    hash: `h${String(index)}`,
    chain: 0,
    chainStart: index === 0,
    keptFrames: 76,
    env: {},
  }));
  const quick = { ...zero, denoiseStartedAt: at(200), committedAt: at(199) };

  it("keeps warm pods a few clips ahead when a clip is shorter than a model load, each following the one before", () => {
    const one = runningOne(1);
    const two = warmJob();
    const ahead = (maxAhead: number) =>
      decide(
        snapshot({
          intent: warmIntent({ segments: five, chains: [{ first: 0, last: 4 }], warm: { ...warm, maxAhead } }),
          status: { segments: [quick] },
          jobs: [one.job, two],
          pods: [one.pod, podFor(two)],
        }),
      );
    const decision = ahead(3);
    const create = decision.then.find((a) => a.kind === "createSegmentJob");
    // Segment 3 follows segment 2's warm attempt, whose directory is keyed by what segment 2 follows.
    const twoDir = attemptDir(2, "h2", `from:${followed}`, 0);
    expect(create).toMatchObject({ segment: { index: 3 }, attempt: 0, inputFrom: twoDir });
    expect(decision.then.filter((a) => a.kind === "deleteJob")).toEqual([]);
    // The operator's maxAhead bounds them: with 1, segment 2's warm pod is kept and nothing more is started.
    const bounded = ahead(1);
    expect(bounded.then.filter((a) => a.kind === "createSegmentJob" || a.kind === "deleteJob")).toEqual([]);
  });

  it("deletes warm pods beyond the operator's maxAhead, the farthest first", () => {
    const one = runningOne(1);
    const two = warmJob();
    const twoDir = attemptDir(2, "h2", `from:${followed}`, 0);
    const threeName = segmentJobName(film, 3, "h3", `from:${twoDir}`, 0);
    const three: ObservedJob = { ...jobFor(3, "", 0), name: threeName, uid: `uid-${threeName}`, inputFrom: twoDir };
    const decision = decide(
      snapshot({
        intent: warmIntent({ segments: five, chains: [{ first: 0, last: 4 }], warm: { ...warm, maxAhead: 1 } }),
        status: { segments: [quick] },
        jobs: [one.job, two, three],
        pods: [one.pod, podFor(two), podFor(three)],
      }),
    );
    expect(decision.then.filter((a) => a.kind === "createSegmentJob")).toEqual([]);
    expect(decision.then.filter((a) => a.kind === "deleteJob")).toEqual([
      { kind: "deleteJob", name: threeName, uid: three.uid },
    ]);
  });

  it("starts the first hand-off warm from another film's timing of the same shape, its own timing once it has one", () => {
    // Segment 0 runs, started 14 s ago; nothing of this film is timed yet.
    const job = jobFor(0, "", 0);
    const pod = { ...podFor(job), startedAt: at(14) };
    const zeroDir = attemptDir(0, "h0", "", 0);
    const seeded = (shapeTiming: readonly SegmentRecord[]) =>
      decide({ ...snapshot({ intent: warmIntent(), jobs: [job], pods: [pod] }), shapeTiming });
    // Another film of the shape: ready 6 s, 10 s of work; commit expected in 2 s, lead 11 s: start now.
    expect(seeded([zero]).then).toContainEqual(
      expect.objectContaining({
        kind: "createSegmentJob",
        segment: expect.objectContaining({ index: 1 }) as unknown,
        inputFrom: zeroDir,
      }),
    );
    // Without one, the first hand-off stays serial.
    expect(created(decisionEffects(seeded([])))).toEqual([]);
    // Its own timing wins: clips of 100 s of work put the commit 92 s away, beyond the 11 s lead: it waits.
    const slow = { ...zero, denoiseStartedAt: at(300), committedAt: at(200) };
    const one = runningOne(14);
    const own = decide({
      ...snapshot({ intent: warmIntent(), status: { segments: [slow] }, jobs: [one.job], pods: [one.pod] }),
      shapeTiming: [zero],
    });
    expect(created(decisionEffects(own))).toEqual([]);
    expect(own.requeueAfterMs).toBe(81_000);
  });

  it("waits for the lead time, and asks to be woken then", () => {
    // Expected commit in 16 s; lead 11 s: start in 5 s.
    const one = runningOne(0);
    const decision = decide(
      snapshot({ intent: warmIntent(), status: { segments: [zero] }, jobs: [one.job], pods: [one.pod] }),
    );
    expect(created(decisionEffects(decision))).toEqual([]);
    expect(decision.requeueAfterMs).toBe(5_000);
  });

  it("stays serial without what it learns from (a film's first hand-off, kwok's pods) and when turned off", () => {
    const one = runningOne(60);
    const untimed = succeeded(0, "", "sha256:l0");
    for (const input of [
      snapshot({ intent: warmIntent(), status: { segments: [untimed] }, jobs: [one.job], pods: [one.pod] }),
      snapshot({ intent: intent(), status: { segments: [zero] }, jobs: [one.job], pods: [one.pod] }),
      snapshot({
        intent: warmIntent({ suspend: true }),
        status: { segments: [zero] },
        jobs: [one.job],
        pods: [one.pod],
      }),
    ]) {
      expect(created(decisionEffects(decide(input)))).toEqual([]);
    }
  });

  it("keeps a waiting warm pod while the attempt it follows runs, and deletes it once that attempt failed", () => {
    const one = runningOne(14);
    const kept = decide(
      snapshot({
        intent: warmIntent(),
        status: { segments: [zero] },
        jobs: [one.job, warmJob()],
        pods: [one.pod, podFor(warmJob())],
      }),
    );
    expect(kept.then.filter((a) => a.kind === "deleteJob" || a.kind === "createSegmentJob")).toEqual([]);
    const failed = jobFor(1, "sha256:l0", 0, "Failed");
    const dropped = decide(
      snapshot({
        intent: warmIntent(),
        status: { segments: [zero] },
        jobs: [failed, warmJob()],
        pods: [podFor(failed, '{"error":"CUDA error"}', 1), podFor(warmJob())],
      }),
    );
    expect(dropped.then).toContainEqual(expect.objectContaining({ kind: "deleteJob", name: warmJob().name }));
  });

  it("does not tell a warm pod that cannot be placed yet as the film's wait, until it is the segment's attempt", () => {
    const one = runningOne(14);
    const unplaced = { ...podFor(warmJob()), phase: "Pending", unschedulable: "0/3 nodes have a free nvidia.com/gpu" };
    const rendering = decide(
      snapshot({
        intent: warmIntent(),
        status: { segments: [zero] },
        jobs: [one.job, warmJob()],
        pods: [one.pod, unplaced],
      }),
    );
    const progressing = rendering.status?.conditions?.find((c) => c.type === "Progressing");
    expect(progressing?.reason).not.toBe("Unschedulable");
    expect(rendering.then.filter((a) => a.kind === "event" && a.reason === "SegmentUnschedulable")).toEqual([]);

    // Once segment 1 succeeded the warm Job is segment 2's attempt: now the film does wait for it.
    const done = jobFor(1, "sha256:l0", 0, "Succeeded");
    const waiting = decide(
      snapshot({
        intent: warmIntent(),
        status: { segments: [zero] },
        jobs: [done, warmJob()],
        pods: [podFor(done, '{"latentsDigest":"sha256:l1"}'), unplaced],
      }),
    );
    expect(waiting.status?.conditions?.find((c) => c.type === "Progressing")).toMatchObject({
      reason: "Unschedulable",
      message: expect.stringContaining("0/3 nodes have a free nvidia.com/gpu") as string,
    });
  });

  it("takes the warm attempt as the next segment's once its predecessor succeeded, consuming the recorded output", () => {
    const one = jobFor(1, "sha256:l0", 0, "Succeeded");
    const decision = decide(
      snapshot({
        intent: warmIntent(),
        status: { segments: [zero] },
        jobs: [one, warmJob()],
        pods: [podFor(one, '{"latentsDigest":"sha256:l1"}'), podFor(warmJob())],
      }),
    );
    expect(created(decisionEffects(decision))).toEqual([]);
    const record = statusOf(decisionEffects(decision)).segments?.find((r) => r.index === 2);
    expect(record).toMatchObject({ state: "Running", inputDigest: "sha256:l1", inputFrom: followed, attempt: 0 });
  });

  it("reports a warm hand-off's gap, from the predecessor's commit to the successor's denoising, for metrics", () => {
    const one = { ...succeeded(1, "sha256:l0", "sha256:l1"), committedAt: at(30) };
    const job = { ...warmJob("Succeeded"), inputDigest: "" };
    const decision = decide(
      snapshot({
        intent: warmIntent(),
        status: { segments: [zero, one] },
        jobs: [jobFor(1, "sha256:l0", 0, "Succeeded"), job],
        pods: [
          podFor(jobFor(1, "sha256:l0", 0, "Succeeded"), '{"latentsDigest":"sha256:l1"}'),
          podFor(
            job,
            JSON.stringify({
              latentsDigest: "sha256:l2",
              inputDigest: "sha256:l1",
              committedAt: at(10),
              denoiseStartedAt: new Date(Date.parse(at(30)) + 40).toISOString(),
              phases: { ready: 5, wait: 12.5, denoise: 15, decode: 1, encode: 2 },
            }),
          ),
        ],
      }),
    );
    expect(decision.facts.segmentsEnded).toEqual([
      { result: "succeeded", seconds: expect.any(Number) as number, gap: { seconds: 0.04, mode: "warm" } },
    ]);
    const record = statusOf(decisionEffects(decision)).segments?.find((r) => r.index === 2);
    expect(record).toMatchObject({ state: "Succeeded", inputFrom: followed, phases: { wait: 12.5 } });
  });

  it("renders again, serially and uncounted, a warm attempt that consumed another hand-off or waited in vain", () => {
    const one = jobFor(1, "sha256:l0", 0, "Succeeded");
    const base = [zero, succeeded(1, "sha256:l0", "sha256:l1")];
    const ended = (message: string, exitCode?: number) =>
      decide(
        snapshot({
          intent: warmIntent(),
          status: { segments: base },
          jobs: [one, warmJob(exitCode === undefined ? "Succeeded" : "Failed")],
          pods: [podFor(one, '{"latentsDigest":"sha256:l1"}'), podFor(warmJob("Succeeded"), message, exitCode)],
        }),
      );
    for (const decision of [
      ended('{"latentsDigest":"sha256:l2","inputDigest":"sha256:other"}'),
      ended('{"error":"no hand-off in 3600 s"}', 6),
    ]) {
      const record = statusOf(decisionEffects(decision)).segments?.find((r) => r.index === 2);
      expect(record).toMatchObject({ state: "Retrying", reason: "HandoffWait", failures: 0 });
      expect(created(decisionEffects(decision))).toEqual([{ index: 2, attempt: 1, input: "sha256:l1" }]);
    }
  });
});
