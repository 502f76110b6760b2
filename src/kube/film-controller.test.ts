import { referenceFetchPolicySchema } from "../api/reference-fetch-policy.ts";
import { describe, expect, it } from "vitest";
import { ClusterCredentials } from "./cluster-credentials.ts";
import { FilmController } from "./film-controller.ts";
import type { FilmControllerOptions } from "./film-controller.ts";
import { KubeClient } from "./kube-client.ts";
import { silentQueueObserver } from "./work-queue.ts";

/** A controller that is never run: only what it would list and watch is read. */
function controller(watch: Pick<FilmControllerOptions, "watchNamespaces" | "watchNodes">): FilmController {
  const credentials = new ClusterCredentials({
    server: "https://127.0.0.1:1",
    source: "test",
    tls: { rejectUnauthorized: true },
    authenticator: { kind: "none" },
  });
  const client = new KubeClient(credentials, { requestDone: () => undefined });
  const nothing = () => undefined;
  return new FilmController(
    client,
    {
      concurrency: 1,
      resyncMs: 60_000,
      watchdogMs: 60_000,
      ...watch,
      runtime: { image: "runtime:test", pullPolicy: "Never", fetchPolicy: referenceFetchPolicySchema.parse({}) },
      intentOf: () => {
        throw new Error("never reconciled");
      },
      now: () => new Date(0),
    },
    {
      log: { relisted: nothing, watchFailed: nothing, reconciled: nothing, actionFailed: nothing },
      queue: silentQueueObserver,
      controller: {
        reconciled: nothing,
        segmentEnded: nothing,
        handedOff: nothing,
        handoffGap: nothing,
        filmsByPhase: nothing,
        filmProgress: nothing,
      },
    },
  );
}

describe("FilmController: what it lists and watches", () => {
  it("watching every namespace: each resource's cluster-wide path, and nodes", () => {
    expect(controller({ watchNamespaces: [], watchNodes: true }).watchedPaths()).toEqual([
      "/apis/longvideo.dev/v1alpha1/longvideos",
      "/apis/batch/v1/jobs",
      "/api/v1/pods",
      "/api/v1/persistentvolumeclaims",
      "/api/v1/events",
      "/api/v1/events",
      "/apis/kueue.x-k8s.io/v1beta2/workloads",
      "/api/v1/nodes",
    ]);
  });

  it("watching some namespaces: each resource in each of them, and no namespaced resource cluster-wide", () => {
    const paths = controller({ watchNamespaces: ["team-a", "team-b"], watchNodes: false }).watchedPaths();
    expect(paths).toHaveLength(14);
    for (const path of paths) expect(path).toMatch(/^\/apis?\/.*\/namespaces\/team-[ab]\/[a-z]+$/);
    expect(paths).toContain("/apis/longvideo.dev/v1alpha1/namespaces/team-a/longvideos");
    expect(paths).toContain("/apis/batch/v1/namespaces/team-b/jobs");
    expect(paths).toContain("/api/v1/namespaces/team-b/persistentvolumeclaims");
    expect(paths).toContain("/apis/kueue.x-k8s.io/v1beta2/namespaces/team-a/workloads");
  });

  it("watching some namespaces and nodes: nodes are the one cluster-wide path", () => {
    const paths = controller({ watchNamespaces: ["team-a"], watchNodes: true }).watchedPaths();
    expect(paths.filter((path) => !path.includes("/namespaces/team-a/"))).toEqual(["/api/v1/nodes"]);
  });
});
