import { describe, expect, it } from "vitest";
import type { KubeObject } from "../api/kubernetes-objects.ts";
import { Informer } from "./informer.ts";
import type { InformerClient, InformerLog } from "./informer.ts";
import type { KubeResult, WatchEvent } from "./kube-client.ts";

const notFound = {
  ok: false as const,
  error: { kind: "NotFound" as const, status: 404, message: "404 page not found" },
};

/**
 * An API server on which a CRD comes and goes: while `served` is false every list and watch of the resource is a
 * 404, as for a resource nobody installed. Watches stay open and quiet until aborted or `served` changes.
 */
function crdClient(items: () => KubeObject[]) {
  const state = { served: false, lists: 0 };
  const client: InformerClient = {
    get: <T>(): Promise<KubeResult<T>> => {
      state.lists += 1;
      if (!state.served) return Promise.resolve(notFound);
      return Promise.resolve({ ok: true, value: { metadata: { resourceVersion: "1" }, items: items() } as T });
    },
    watch: <T>(
      _path: string,
      _query: unknown,
      signal: AbortSignal,
    ): Promise<KubeResult<AsyncIterable<WatchEvent<T>>>> => {
      if (!state.served) return Promise.resolve(notFound);
      const events: AsyncIterable<WatchEvent<T>> = {
        async *[Symbol.asyncIterator]() {
          while (!signal.aborted && state.served) await new Promise((resolve) => setTimeout(resolve, 5));
          // The resource went away under the watch: the server ends it.
          yield* [];
        },
      };
      return Promise.resolve({ ok: true, value: events });
    },
  };
  return { client, state };
}

async function until(condition: () => boolean): Promise<void> {
  for (let i = 0; i < 400 && !condition(); i++) await new Promise((resolve) => setTimeout(resolve, 5));
  expect(condition()).toBe(true);
}

describe("Informer of a resource that may not be served (a CRD not installed)", () => {
  const workload: KubeObject = { metadata: { name: "w", namespace: "films", resourceVersion: "1" } };

  it("is synced and empty while it gets 404s, says so once, then fills once served, and empties when it goes", async () => {
    const { client, state } = crdClient(() => [workload]);
    const failures: string[] = [];
    const log: InformerLog = {
      relisted: () => undefined,
      watchFailed: (resource, error) => failures.push(`${resource}: ${error.kind}`),
    };
    const informer = new Informer(
      client,
      {
        path: "/apis/kueue.x-k8s.io/v1beta2/workloads",
        resyncMs: 60_000,
        watchdogMs: 60_000,
        backoffBaseMs: 2,
        backoffMaxMs: 5,
        watchTimeoutSeconds: 60,
        mayBeAbsent: true,
      },
      log,
    );
    const seen: string[] = [];
    informer.onChange((object, event) => seen.push(`${event} ${object.metadata?.name ?? ""}`));
    const stop = new AbortController();
    const running = informer.run(stop.signal);
    try {
      await until(() => state.lists >= 3);
      expect(informer.hasSynced()).toBe(true);
      expect(informer.list()).toEqual([]);
      expect(failures).toEqual(["/apis/kueue.x-k8s.io/v1beta2/workloads: NotFound"]);

      state.served = true;
      await until(() => informer.list().length === 1);
      expect(seen).toEqual(["add w"]);

      state.served = false;
      await until(() => informer.list().length === 0);
      expect(seen).toEqual(["add w", "delete w"]);
      expect(informer.hasSynced()).toBe(true);
      // Gone again: said again, once.
      expect(failures).toHaveLength(2);
    } finally {
      stop.abort();
      await running;
    }
  });

  it("without mayBeAbsent, a 404 is a failure: not synced, and said at every retry", async () => {
    const { client, state } = crdClient(() => []);
    const failures: string[] = [];
    const informer = new Informer(
      client,
      {
        path: "/apis/example.com/v1/things",
        resyncMs: 60_000,
        watchdogMs: 60_000,
        backoffBaseMs: 2,
        backoffMaxMs: 5,
        watchTimeoutSeconds: 60,
      },
      { relisted: () => undefined, watchFailed: (_resource, error) => failures.push(error.kind) },
    );
    const stop = new AbortController();
    const running = informer.run(stop.signal);
    await until(() => state.lists >= 3);
    stop.abort();
    await running;
    expect(informer.hasSynced()).toBe(false);
    expect(failures.length).toBeGreaterThanOrEqual(3);
  });
});
