import { describe, expect, it } from "vitest";
import { attemptDir } from "../api/runtime-contract.ts";
import { fetchPlan, fetchPod } from "./film-fetch.ts";
import { filmLine, filmView } from "./film-progress.ts";
import type { WatchedFilm } from "./film-progress.ts";
import { segmentPod } from "./segment-logs.ts";
import { clusterErrorKind, clusterErrorMessage } from "./cluster-errors.ts";

const now = Date.parse("2026-12-02T03:00:00Z");
const at = (secondsAgo: number) => new Date(now - secondsAgo * 1000).toISOString();

const rendering: WatchedFilm = {
  metadata: { name: "harbour", namespace: "demo" },
  status: {
    phase: "Rendering",
    progress: "2/4",
    eta: new Date(now + 230_000).toISOString(),
    segments: [
      { index: 0, attempt: 0, state: "Succeeded", hash: "h0", startTime: at(100), finishTime: at(80), node: "n1" },
      { index: 1, attempt: 0, state: "Succeeded", hash: "h1", startTime: at(80), finishTime: at(60), node: "n1" },
      { index: 2, attempt: 0, state: "Running", hash: "h2", startTime: at(10), node: "n1" },
    ],
    conditions: [
      {
        type: "Ready",
        status: "False",
        reason: "Rendering",
        message: "2/4 segments rendered",
        lastTransitionTime: at(100),
      },
    ],
  },
};

describe("filmView", () => {
  it("counts segments, counts the ETA down live, and judges a running segment by the mean of the rendered", () => {
    const view = filmView(rendering, now);
    expect(view).toMatchObject({ key: "demo/harbour", phase: "Rendering", rendered: 2, planned: 4, eta: "4m" });
    expect(view.segments.map((s) => [s.state, s.fraction, s.detail])).toEqual([
      ["Succeeded", 1, "rendered in 20s"],
      ["Succeeded", 1, "rendered in 20s"],
      ["Running", 0.5, "running 10s"],
      ["Pending", 0, "pending"],
    ]);
    expect(filmView(rendering, now + 60_000).eta).toBe("3m");
    expect(filmLine(view)).toBe("demo/harbour Rendering 2/4 ETA 4m: 2/4 segments rendered");
  });

  it("shows each chain's progress on the film's line when keyframes start more than one", () => {
    const chained: WatchedFilm = {
      ...rendering,
      status: {
        ...rendering.status,
        chains: [
          { first: 0, last: 1, progress: "2/2" },
          { first: 2, last: 3, progress: "0/2" },
        ],
      },
    };
    expect(filmLine(filmView(chained, now))).toBe(
      "demo/harbour Rendering 2/4 (chains 2/2 0/2) ETA 4m: 2/4 segments rendered",
    );
  });

  it("says why a segment waits for a retry", () => {
    const retrying: WatchedFilm = {
      ...rendering,
      status: {
        ...rendering.status,
        segments: [{ index: 0, attempt: 1, state: "Retrying", hash: "h0", message: "out of memory" }],
      },
    };
    expect(filmView(retrying, now).segments[0]?.detail).toBe("retrying: out of memory");
  });

  it("holds a slow segment below done, and shows no ETA once the film is not rendering", () => {
    expect(filmView(rendering, now + 600_000).segments[2]?.fraction).toBe(0.95);
    const done = { ...rendering, status: { ...rendering.status, phase: "Succeeded" as const, progress: "4/4" } };
    expect(filmView(done, now)).toMatchObject({ eta: "", finished: true, failed: false });
  });
});

describe("fetchPlan", () => {
  it("refuses a film that is not finished, saying where it is", () => {
    expect(fetchPlan(rendering, now)).toEqual({
      ok: false,
      error: "harbour is not finished yet: demo/harbour Rendering 2/4 ETA 4m: 2/4 segments rendered",
    });
  });

  it("lists the film, its contact sheet and every clip, on the node its last segment ran on", () => {
    const film: WatchedFilm = {
      ...rendering,
      status: {
        ...rendering.status,
        phase: "Succeeded",
        output: {
          path: "/workspace/film.mp4",
          frames: 10,
          seconds: 1,
          hash: "c",
          contactSheet: "/workspace/film.contact.png",
        },
        // Segment 1 started warm: its files are in the directory keyed by the attempt it followed.
        segments: (rendering.status?.segments?.slice(0, 2) ?? []).map((r) =>
          r.index === 1 ? { ...r, inputFrom: attemptDir(0, "h0", "", 0) } : r,
        ),
      },
    };
    const plan = fetchPlan(film, now);
    if (!plan.ok) throw new Error(plan.error);
    expect(plan.node).toBe("n1");
    expect(plan.files).toEqual([
      { source: "/workspace/film.mp4", target: "harbour.mp4", what: "film" },
      { source: "/workspace/film.contact.png", target: "harbour.contact.png", what: "contact sheet" },
      {
        source: `/workspace/${attemptDir(0, "h0", "", 0)}/clip.mp4`,
        target: "clips/harbour-segment-000.mp4",
        what: "clip",
      },
      {
        source: `/workspace/${attemptDir(1, "h1", `from:${attemptDir(0, "h0", "", 0)}`, 0)}/clip.mp4`,
        target: "clips/harbour-segment-001.mp4",
        what: "clip",
      },
    ]);
  });
});

describe("fetchPod", () => {
  it("is restricted: non-root, no privilege, read-only root and workspace, no token, a deadline", () => {
    const pod = fetchPod(
      { name: "harbour", namespace: "demo" },
      { podName: "harbour-fetch-1", image: "busybox", node: "n1", lifetimeSeconds: 180 },
    ) as {
      spec: {
        nodeName: string;
        automountServiceAccountToken: boolean;
        activeDeadlineSeconds: number;
        securityContext: Record<string, unknown>;
        containers: { securityContext: Record<string, unknown>; volumeMounts: { readOnly: boolean }[] }[];
        volumes: { persistentVolumeClaim: { claimName: string; readOnly: boolean } }[];
      };
    };
    expect(pod.spec).toMatchObject({ nodeName: "n1", automountServiceAccountToken: false, activeDeadlineSeconds: 180 });
    expect(pod.spec.securityContext).toMatchObject({ runAsNonRoot: true, seccompProfile: { type: "RuntimeDefault" } });
    expect(pod.spec.containers[0]?.securityContext).toEqual({
      allowPrivilegeEscalation: false,
      readOnlyRootFilesystem: true,
      capabilities: { drop: ["ALL"] },
    });
    expect(pod.spec.containers[0]?.volumeMounts[0]?.readOnly).toBe(true);
    expect(pod.spec.volumes[0]?.persistentVolumeClaim).toEqual({ claimName: "harbour-workspace", readOnly: true });
  });
});

describe("segmentPod", () => {
  const pod = (name: string, segment: string, attempt: string, createdAt: string) => ({
    name,
    createdAt,
    labels: { "longvideo.dev/kind": "segment", "longvideo.dev/segment": segment, "longvideo.dev/attempt": attempt },
  });
  const pods = [pod("a0", "1", "0", at(50)), pod("a1", "1", "1", at(40)), pod("b0", "2", "0", at(30))];

  it("reads the latest attempt", () => {
    expect(segmentPod("harbour", 4, 1, pods, true)).toEqual({ ok: true, pod: "a1" });
  });

  it("names the range, or why there is no pod", () => {
    expect(segmentPod("harbour", 4, 4, pods, false)).toEqual({
      ok: false,
      error: "harbour has 4 segment(s): --segment takes 0 to 3",
    });
    expect(segmentPod("harbour", 4, 3, pods, false)).toEqual({
      ok: false,
      error: "segment 3 of harbour has no pod yet: it has not started",
    });
    expect(segmentPod("harbour", 4, 0, pods, true).ok).toBe(false);
  });
});

describe("cluster errors", () => {
  it("say no permission, naming what was refused", () => {
    expect(clusterErrorKind(403)).toBe("Forbidden");
    expect(
      clusterErrorMessage({ kind: "Forbidden", message: "pods is forbidden" }, "create the fetch pod in demo"),
    ).toBe("no permission to create the fetch pod in demo: pods is forbidden");
  });
});
