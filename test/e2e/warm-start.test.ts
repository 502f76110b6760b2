/**
 * End to end on the real node: warm start (docs/adr/0026). The chart installed with Helm renders the same animatic
 * film three times in the CPU runtime image: first with warm start (the default), then with
 * `spec.render.warmStart: false`, then warm again. Warm, each segment after the first hand-off is started while its
 * predecessor renders, loads, waits on the workspace for the committed hand-off and consumes it; serial, each starts
 * after its predecessor ended. The first film learns its lead time from its own first hand-off, which is serial; the
 * third learns it from the films of the same shape before it, so its first hand-off is warm too. Both films
 * must come out as planned, every link verified. The hand-off gaps (successor's denoise start minus predecessor's
 * commit, as the workers report them) are printed for both, not asserted: timing goes to benchmarks.
 *
 * The operator watches every namespace, so this file's release must never run beside another one: the e2e project
 * runs files one at a time (vitest.config.ts), this file refuses to start while another release's operator exists,
 * and it uninstalls its own in afterAll.
 */
import { existsSync, readFileSync } from "node:fs";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  applyFilmObject,
  createReferenceImage,
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

const release = { name: "lv-warm", namespace: "lv-e2e-warm-system" };
const filmsNamespace = "lv-e2e-warm-films";
const reference = { name: "warm-still", key: "image.png" };

const say = (line: string) => {
  process.stdout.write(`[warm e2e ${new Date().toISOString().slice(11, 19)}] ${line}\n`);
};

/** Six clips of one scene, small enough for the real node's two cores, large enough that a clip takes a while. */
function film(name: string, warmStart: boolean) {
  return {
    apiVersion: "longvideo.dev/v1alpha1",
    kind: "LongVideo",
    metadata: { name },
    spec: {
      variant: "film",
      referenceImage: { configMap: reference },
      storyline: [{ prompt: "A harbour wakes: boats leave one by one into the morning mist.", clips: 6 }],
      render: { backend: "animatic", resolution: { width: 320, height: 256 }, framesPerClip: 33, warmStart },
      storage: { workspace: { size: "1Gi" } },
      resources: { requests: { cpu: "250m", memory: "512Mi" }, limits: { cpu: "2", memory: "2Gi" } },
      retry: { limit: 0 },
    },
  };
}

type Records = NonNullable<NonNullable<FilmView["status"]>["segments"]>;

/** Each hand-off's gap in ms: the successor's denoise start minus its predecessor's commit. */
function gaps(records: Records): number[] {
  return records.slice(1).flatMap((record, i) => {
    const before = records[i];
    if (!before?.committedAt || !record.denoiseStartedAt) return [];
    return [Date.parse(record.denoiseStartedAt) - Date.parse(before.committedAt)];
  });
}

const quantile = (values: readonly number[], q: number) => {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? Number.NaN;
};

beforeAll(() => {
  const others = otherOperators(release.namespace);
  if (others.length > 0)
    throw new Error(`another LongVideo operator is installed and would act on these films too: ${others.join(", ")}`);
  loadImages();
  kubectl(
    "apply",
    "--server-side",
    "--force-conflicts",
    "-f",
    path.join(repoRoot, "crds/longvideo.dev_longvideos.yaml"),
  );
}, 900_000);

afterAll(() => {
  kubectl("delete", "namespace", filmsNamespace, "--ignore-not-found", "--timeout=120s");
  run("helm", ["uninstall", release.name, "-n", release.namespace, "--wait", "--ignore-not-found"]);
  kubectl("delete", "namespace", release.namespace, "--ignore-not-found", "--wait=false");
}, 300_000);

describe("warm start on the real node", () => {
  const rendered = new Map<string, { film: FilmView; wall: number }>();

  it("installs the chart (one replica) with warm start on, as it ships", () => {
    installOperator(release, ["--set", "replicaCount=1"]);
    ensureRestrictedNamespace(filmsNamespace);
    createReferenceImage(filmsNamespace, reference.name, reference.key, "320x256");
    const values = run("helm", ["get", "values", release.name, "-n", release.namespace, "--all", "-o", "json"]);
    expect((JSON.parse(values) as { warmStart: { maxLeadSeconds: number } }).warmStart.maxLeadSeconds).toBeGreaterThan(
      0,
    );
  });

  for (const { name, warm, learned } of [
    { name: "warm-harbour", warm: true, learned: false },
    { name: "serial-harbour", warm: false, learned: false },
    { name: "warm-harbour-again", warm: true, learned: true },
  ]) {
    it(`renders ${name} (${warm ? "warm" : "serial"}): every link verified, the film as planned`, async () => {
      const manifest = film(name, warm);
      const started = Date.now();
      applyFilmObject(filmsNamespace, manifest);
      const done = await watchFilm(
        filmsNamespace,
        name,
        (f) => {
          say(`${name}: ${f.status?.phase ?? "Pending"} ${f.status?.progress ?? ""}`);
        },
        420_000,
      );
      rendered.set(name, { film: done, wall: (Date.now() - started) / 1000 });
      expect(done.status?.phase, JSON.stringify(done.status?.conditions)).toBe("Succeeded");
      const verdict = longVideoSpecVerdict(manifest.spec);
      if (!verdict.ok) throw new Error(JSON.stringify(verdict.errors));
      const planned = segmentPlan(verdict.value);
      if (!planned.ok) throw new Error(planned.error.message);
      const records = [...(done.status?.segments ?? [])].sort((a, b) => a.index - b.index);
      expect(records.map((r) => [r.index, r.state, r.attempt])).toEqual(
        planned.plan.segments.map((s) => [s.index, "Succeeded", 0]),
      );
      // Each segment consumed exactly what its predecessor produced, warm or not.
      expect(records[0]?.inputDigest ?? "").toBe("");
      for (const [i, record] of records.entries()) {
        if (i > 0) expect(record.inputDigest, `segment ${String(i)}`).toBe(records[i - 1]?.outputDigest);
      }
      const workspace = workspaceDirectory(filmsNamespace, `${name}-workspace`);
      for (const record of records) {
        const dir = segmentFilesDirectory(workspace, record);
        const result = JSON.parse(readFileSync(path.join(dir, "result.json"), "utf8")) as Record<string, unknown>;
        expect(result.latentsDigest).toBe(record.outputDigest);
        expect(result.inputDigest).toBe(record.inputDigest ?? "");
        // The hand-off was committed before the clip was finished: the commit marker names the same latents.
        const commit = JSON.parse(readFileSync(path.join(dir, "handoff.json"), "utf8")) as Record<string, unknown>;
        expect(commit.latentsDigest).toBe(record.outputDigest);
      }
      const warmRecords = records.filter((r) => r.inputFrom !== undefined);
      if (warm) {
        // The first film's first hand-off is serial (nothing learned yet); later ones start warm when the operator
        // sees the predecessor under way in time (a tiny clip may end before it does: that one is serial, and fine).
        // The film after it learns from the films of its shape before it: segment 1 is started while segment 0's pod
        // starts, seconds before its hand-off.
        if (learned) expect(records[1]?.inputFrom, "segment 1 started warm").toBeDefined();
        else expect(records[1]?.inputFrom).toBeUndefined();
        expect(records.slice(2).some((r) => r.inputFrom !== undefined)).toBe(true);
        for (const record of warmRecords) {
          const before = records[record.index - 1];
          if (!before) throw new Error(`segment ${String(record.index)} has no predecessor record`);
          // It followed its predecessor's recorded attempt, and saw its commit on the workspace (at once, when it
          // became ready after the commit: then it waited 0 s).
          expect(record.inputFrom).toBe(path.relative(workspace, segmentFilesDirectory(workspace, before)));
          const dir = segmentFilesDirectory(workspace, record);
          const result = JSON.parse(readFileSync(path.join(dir, "result.json"), "utf8")) as { handoffSeenAt?: string };
          expect(Date.parse(result.handoffSeenAt ?? "")).toBeGreaterThanOrEqual(Date.parse(before.committedAt ?? ""));
          expect(record.phases?.wait).toBeGreaterThanOrEqual(0);
        }
      } else {
        expect(warmRecords).toEqual([]);
      }
      const output = done.status?.output;
      const file = path.join(workspace, path.relative("/workspace", output?.path ?? "/workspace/none"));
      expect(existsSync(file)).toBe(true);
      expect(videoFacts(file).frames).toBe(planned.plan.totals.frames);
    }, 480_000);
  }

  it("prints the hand-off gaps and wall times of the films", () => {
    for (const [name, { film: done, wall }] of rendered) {
      const records = [...(done.status?.segments ?? [])].sort((a, b) => a.index - b.index);
      const measured = gaps(records);
      expect(measured.length).toBe(records.length - 1);
      say(
        `${name}: wall ${wall.toFixed(1)} s; hand-off gap p50 ${String(quantile(measured, 0.5))} ms, max ${String(Math.max(...measured))} ms (${measured.join(", ")} ms)`,
      );
    }
    expect(rendered.size).toBe(3);
  });
});
