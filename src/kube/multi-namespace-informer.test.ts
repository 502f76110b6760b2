import { describe, expect, it } from "vitest";
import type { KubeObject } from "../api/kubernetes-objects.ts";
import type { InformerClient, InformerLog } from "./informer.ts";
import type { KubeResult, WatchEvent } from "./kube-client.ts";
import { MultiNamespaceInformer, collectionPath } from "./multi-namespace-informer.ts";

type Job = KubeObject & { metadata: { name: string; namespace: string; labels?: Record<string, string> } };

const job = (namespace: string, name: string, film: string): Job => ({
  metadata: { name, namespace, resourceVersion: "1", labels: { film } },
});

/**
 * An API server as a namespace-scoped service account sees it: each namespace's collection lists the jobs there,
 * a cluster-wide list or watch is forbidden. Watches stay open, quiet, until aborted. Records every path asked.
 */
function rbacLimitedClient(jobs: readonly Job[], granted: readonly string[]) {
  const asked: string[] = [];
  const forbidden = { ok: false as const, error: { kind: "Forbidden" as const, status: 403, message: "forbidden" } };
  const grantedPaths = new Map(
    granted.map((namespace) => [collectionPath("/apis/batch/v1", "jobs", namespace), namespace]),
  );
  const client: InformerClient = {
    get: <T>(path: string): Promise<KubeResult<T>> => {
      asked.push(`list ${path}`);
      const namespace = grantedPaths.get(path);
      if (namespace === undefined) return Promise.resolve(forbidden);
      const items = jobs.filter((j) => j.metadata.namespace === namespace);
      return Promise.resolve({ ok: true, value: { metadata: { resourceVersion: "1" }, items } as T });
    },
    watch: <T>(
      path: string,
      _query: unknown,
      signal: AbortSignal,
    ): Promise<KubeResult<AsyncIterable<WatchEvent<T>>>> => {
      asked.push(`watch ${path}`);
      if (!grantedPaths.has(path)) return Promise.resolve(forbidden);
      const events: AsyncIterable<WatchEvent<T>> = {
        async *[Symbol.asyncIterator]() {
          if (!signal.aborted) {
            await new Promise((resolve) => {
              signal.addEventListener("abort", resolve, { once: true });
            });
          }
          yield* [];
        },
      };
      return Promise.resolve({ ok: true, value: events });
    },
  };
  return { client, asked };
}

const failures: string[] = [];
const log: InformerLog = {
  relisted: () => undefined,
  watchFailed: (resource, error) => {
    failures.push(`${resource}: ${error.kind}`);
  },
};

const options = {
  apiPath: "/apis/batch/v1",
  resource: "jobs",
  resyncMs: 60_000,
  watchdogMs: 60_000,
  backoffBaseMs: 10,
  backoffMaxMs: 10,
  watchTimeoutSeconds: 60,
  indexBy: (j: Job) => `${j.metadata.namespace}/${j.metadata.labels?.film ?? ""}`,
};

async function synced(informer: MultiNamespaceInformer<Job>, signal: AbortSignal): Promise<void> {
  for (let i = 0; i < 200 && !informer.hasSynced() && !signal.aborted; i++) {
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

describe("MultiNamespaceInformer", () => {
  const jobs = [job("team-a", "a-0", "one"), job("team-a", "a-1", "one"), job("team-b", "b-0", "two")];

  it("given namespaces, lists and watches each namespace's own path and never the cluster-wide one", async () => {
    failures.length = 0;
    const { client, asked } = rbacLimitedClient(jobs, ["team-a", "team-b"]);
    const informer = new MultiNamespaceInformer<Job>(client, { ...options, namespaces: ["team-a", "team-b"] }, log);
    const seen: string[] = [];
    informer.onChange((object, event) => seen.push(`${event} ${object.metadata.namespace}/${object.metadata.name}`));
    const stop = new AbortController();
    const running = informer.run(stop.signal);
    await synced(informer, stop.signal);
    expect(informer.hasSynced()).toBe(true);
    stop.abort();
    await running;

    expect(informer.paths()).toEqual([
      "/apis/batch/v1/namespaces/team-a/jobs",
      "/apis/batch/v1/namespaces/team-b/jobs",
    ]);
    expect(new Set(asked)).toEqual(
      new Set([
        "list /apis/batch/v1/namespaces/team-a/jobs",
        "watch /apis/batch/v1/namespaces/team-a/jobs",
        "list /apis/batch/v1/namespaces/team-b/jobs",
        "watch /apis/batch/v1/namespaces/team-b/jobs",
      ]),
    );
    expect(failures).toEqual([]);
    expect(seen.sort()).toEqual(["add team-a/a-0", "add team-a/a-1", "add team-b/b-0"]);
    expect(informer.get("team-b/b-0")?.metadata.name).toBe("b-0");
    expect(informer.get("team-c/b-0")).toBeUndefined();
    expect(informer.list()).toHaveLength(3);
    expect(
      informer
        .listIndexed("team-a/one")
        .map((j) => j.metadata.name)
        .sort(),
    ).toEqual(["a-0", "a-1"]);
    expect(informer.listIndexed("team-b/two").map((j) => j.metadata.name)).toEqual(["b-0"]);
  });

  it("is not synced while one namespace's list is refused", async () => {
    failures.length = 0;
    const { client } = rbacLimitedClient(jobs, ["team-a"]);
    const informer = new MultiNamespaceInformer<Job>(client, { ...options, namespaces: ["team-a", "team-b"] }, log);
    const stop = new AbortController();
    const running = informer.run(stop.signal);
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(informer.hasSynced()).toBe(false);
    stop.abort();
    await running;
    expect(failures).toContain("/apis/batch/v1/namespaces/team-b/jobs: Forbidden");
  });

  it("without namespaces, is one informer over the cluster-wide path", () => {
    const { client } = rbacLimitedClient(jobs, []);
    const informer = new MultiNamespaceInformer<Job>(client, { ...options, namespaces: [] }, log);
    expect(informer.paths()).toEqual(["/apis/batch/v1/jobs"]);
  });

  it("watches a namespace named twice once", () => {
    const { client } = rbacLimitedClient(jobs, []);
    const informer = new MultiNamespaceInformer<Job>(client, { ...options, namespaces: ["team-a", "team-a"] }, log);
    expect(informer.paths()).toEqual(["/apis/batch/v1/namespaces/team-a/jobs"]);
  });
});
