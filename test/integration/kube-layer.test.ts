/**
 * The operator's I/O layer against the real API server: typed errors, the informer's watch/relist behaviour and
 * leader election between two candidates.
 */
import { randomBytes } from "node:crypto";
import diagnosticsChannel from "node:diagnostics_channel";
import { setTimeout as sleep } from "node:timers/promises";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Informer } from "../../src/kube/informer.ts";
import type { InformerEvent } from "../../src/kube/informer.ts";
import { KubeClient } from "../../src/kube/kube-client.ts";
import type { KubeError } from "../../src/kube/kube-client.ts";
import { LeaderElector } from "../../src/kube/leader-election.ts";
import { testClusterCredentials } from "../support/test-kube-config.ts";

const requests: string[] = [];
const client = new KubeClient(await testClusterCredentials(), {
  requestDone: (method, code) => {
    requests.push(`${method} ${code}`);
  },
});
const namespace = `lv-it-kube-${randomBytes(3).toString("hex")}`;
const configMaps = `/api/v1/namespaces/${namespace}/configmaps`;

/** Informer timings for these tests; each test overrides what it is about. */
const timings = {
  resyncMs: 60_000,
  watchdogMs: 30_000,
  backoffBaseMs: 100,
  backoffMaxMs: 1_000,
  watchTimeoutSeconds: 300,
};

async function eventually(what: string, check: () => boolean, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(50);
  }
}

beforeAll(async () => {
  const created = await client.create("/api/v1/namespaces", { metadata: { name: namespace } }, "test");
  expect(created.ok).toBe(true);
});

afterAll(async () => {
  await client.delete(`/api/v1/namespaces/${namespace}`);
});

describe("KubeClient", () => {
  it("turns API failures into typed values and counts every request", async () => {
    const before = requests.length;
    const missing = await client.get(`${configMaps}/absent`);
    expect(missing.ok ? undefined : missing.error.kind).toBe("NotFound");

    const body = { metadata: { name: "twice" }, data: { a: "1" } };
    expect((await client.create(configMaps, body, "test")).ok).toBe(true);
    const again = await client.create(configMaps, body, "test");
    expect(again.ok ? undefined : again.error.kind).toBe("AlreadyExists");

    const stale = await client.request("PUT", `${configMaps}/twice`, {
      body: { ...body, metadata: { name: "twice", resourceVersion: "1" } },
    });
    expect(stale.ok ? undefined : stale.error.kind).toBe("Conflict");

    const invalid = await client.create(configMaps, { metadata: { name: "Not_A_Name" } }, "test");
    expect(invalid.ok ? undefined : invalid.error).toMatchObject({ kind: "Invalid", status: 422 });
    expect(invalid.ok ? "" : invalid.error.message).toContain("Not_A_Name");

    expect(requests.slice(before)).toEqual(["GET 404", "POST 201", "POST 409", "PUT 409", "POST 422"]);
  });

  it("keeps its connections: many requests, one TLS handshake per concurrent stream, every request timed", async () => {
    // undici reports each new connection on this channel; client-node's per-request agents made one per request.
    let connections = 0;
    const onConnected = () => {
      connections += 1;
    };
    diagnosticsChannel.subscribe("undici:client:connected", onConnected);
    const timed: number[] = [];
    const fresh = new KubeClient(await testClusterCredentials(), {
      requestDone: (_method, _code, seconds) => {
        timed.push(seconds);
      },
    });
    try {
      for (let i = 0; i < 40; i++) expect((await fresh.get(configMaps)).ok).toBe(true);
      await Promise.all(Array.from({ length: 4 }, () => fresh.get(configMaps)));
    } finally {
      diagnosticsChannel.unsubscribe("undici:client:connected", onConnected);
      await fresh.close();
    }
    expect(connections).toBeGreaterThanOrEqual(1);
    expect(connections).toBeLessThanOrEqual(4);
    expect(timed).toHaveLength(44);
    expect(timed.every((seconds) => seconds > 0 && seconds < 30)).toBe(true);
  });
});

describe("Informer", () => {
  it("delivers adds, updates and deletes, and resumes after the server ends a watch", async () => {
    const relists: string[] = [];
    const failures: KubeError[] = [];
    const informer = new Informer<{ metadata?: { name?: string; namespace?: string; resourceVersion?: string } }>(
      client,
      {
        path: configMaps,
        labelSelector: "watched=yes",
        ...timings,
        watchdogMs: 4_000,
        // The server ends each watch after a second: the informer must carry on from its resourceVersion.
        watchTimeoutSeconds: 1,
      },
      {
        relisted: (_resource, reason) => relists.push(reason),
        watchFailed: (_resource, error) => failures.push(error),
      },
    );
    const events: string[] = [];
    informer.onChange((object, event: InformerEvent) => events.push(`${event} ${object.metadata?.name ?? ""}`));
    const stop = new AbortController();
    const running = informer.run(stop.signal);
    try {
      await eventually("the first list", () => informer.hasSynced());
      const labels = { watched: "yes" };
      await client.create(configMaps, { metadata: { name: "one", labels }, data: { v: "1" } }, "test");
      await client.create(configMaps, { metadata: { name: "ignored" }, data: { v: "1" } }, "test");
      await eventually("the add", () => events.includes("add one"));
      // Outlive a few server-side watch timeouts before changing anything.
      await sleep(2_500);
      await client.patch(`${configMaps}/one`, { data: { v: "2" } }, "merge", "test");
      await eventually("the update", () => events.includes("update one"));
      await client.delete(`${configMaps}/one`);
      await eventually("the delete", () => events.includes("delete one"));
      expect(informer.get(`${namespace}/one`)).toBeUndefined();
      expect(events.some((e) => e.endsWith("ignored"))).toBe(false);
      expect(relists).toEqual(["start"]);
      expect(failures).toEqual([]);
    } finally {
      stop.abort();
      await running;
    }
  });

  it("caches trimmed objects and stays quiet about updates that change nothing it keeps", async () => {
    interface Trimmed {
      metadata?: { name?: string; namespace?: string; resourceVersion?: string };
      data?: Record<string, string>;
    }
    const informer = new Informer<Trimmed>(
      client,
      {
        path: configMaps,
        labelSelector: "trimmed=yes",
        ...timings,
        // Keeps name, namespace, resourceVersion and data: annotations and managed fields go.
        trim: ({ metadata, data }) => ({
          metadata: {
            ...(metadata?.name ? { name: metadata.name } : {}),
            ...(metadata?.namespace ? { namespace: metadata.namespace } : {}),
            ...(metadata?.resourceVersion ? { resourceVersion: metadata.resourceVersion } : {}),
          },
          ...(data ? { data } : {}),
        }),
      },
      { relisted: () => undefined, watchFailed: () => undefined },
    );
    const seen: string[] = [];
    informer.onChange((object, kind: InformerEvent) => seen.push(`${kind} ${object.data?.v ?? ""}`));
    const stop = new AbortController();
    const running = informer.run(stop.signal);
    try {
      await eventually("the first list", () => informer.hasSynced());
      const labels = { trimmed: "yes" };
      await client.create(configMaps, { metadata: { name: "slim", labels }, data: { v: "1" } }, "test");
      await eventually("the add", () => seen.includes("add 1"));
      await client.patch(`${configMaps}/slim`, { metadata: { annotations: { note: "ignored" } } }, "merge", "test");
      await client.patch(`${configMaps}/slim`, { data: { v: "2" } }, "merge", "test");
      await eventually("the update", () => seen.includes("update 2"));
      // The annotation-only update was cached (its resourceVersion is the newer one) but not delivered.
      expect(seen).toEqual(["add 1", "update 2"]);
      const cached = informer.get(`${namespace}/slim`);
      expect(cached?.metadata?.name).toBe("slim");
      expect(cached?.data).toEqual({ v: "2" });
      expect(Object.keys(cached ?? {}).sort()).toEqual(["data", "metadata"]);
      expect(JSON.stringify(cached)).not.toContain("managedFields");
    } finally {
      stop.abort();
      await running;
    }
  });

  it("keeps its index in step with adds, relabels and deletes", async () => {
    interface Labelled {
      metadata?: { name?: string; namespace?: string; labels?: Record<string, string> };
    }
    const informer = new Informer<Labelled>(
      client,
      {
        path: configMaps,
        labelSelector: "indexed=yes",
        ...timings,
        indexBy: (object) => object.metadata?.labels?.group,
      },
      { relisted: () => undefined, watchFailed: () => undefined },
    );
    const names = (group: string) =>
      informer
        .listIndexed(group)
        .map((o) => o.metadata?.name)
        .sort();
    const stop = new AbortController();
    const running = informer.run(stop.signal);
    try {
      await eventually("the first list", () => informer.hasSynced());
      const make = (name: string, group: string) =>
        client.create(configMaps, { metadata: { name, labels: { indexed: "yes", group } } }, "test");
      await make("i1", "a");
      await make("i2", "a");
      await make("i3", "b");
      await eventually("three objects", () => informer.list().length === 3);
      expect(names("a")).toEqual(["i1", "i2"]);
      expect(names("b")).toEqual(["i3"]);
      await client.patch(`${configMaps}/i2`, { metadata: { labels: { group: "b" } } }, "merge", "test");
      await eventually("the relabel", () => names("b").length === 2);
      expect(names("a")).toEqual(["i1"]);
      await client.delete(`${configMaps}/i1`);
      await eventually("the delete", () => informer.list().length === 2);
      expect(names("a")).toEqual([]);
      expect(names("b")).toEqual(["i2", "i3"]);
    } finally {
      stop.abort();
      await running;
    }
  });

  it("relists when a long watch stays silent past the watchdog, keeping its cache", async () => {
    await client.create(configMaps, { metadata: { name: "kept", labels: { quiet: "yes" } } }, "test");
    const relists: string[] = [];
    const informer = new Informer(
      client,
      {
        path: configMaps,
        labelSelector: "quiet=yes",
        ...timings,
        watchdogMs: 1_500,
      },
      { relisted: (_resource, reason) => relists.push(reason), watchFailed: () => undefined },
    );
    const stop = new AbortController();
    const running = informer.run(stop.signal);
    try {
      // A silently dead connection looks exactly like this: an open watch that delivers nothing.
      await eventually("a watchdog relist", () => relists.some((r) => r.startsWith("no events")), 10_000);
      expect(relists[0]).toBe("start");
      expect(informer.get(`${namespace}/kept`)).toBeDefined();
    } finally {
      stop.abort();
      await running;
    }
  });
});

describe("Informer on an expired resourceVersion", () => {
  // Events are the one resource the API server serves from etcd rather than its watch cache, so compacting etcd
  // really expires an informer's resourceVersion: its next watch gets 410 Gone, as after a long disconnect.
  const events = `/api/v1/namespaces/${namespace}/events`;
  const etcd = `http://127.0.0.1:${process.env.LV_ETCD_PORT ?? "23790"}`;
  const event = (name: string, labels: Record<string, string> = {}) => ({
    metadata: { name, labels },
    involvedObject: { kind: "Namespace", name: namespace, namespace },
    reason: "Test",
    message: name,
    type: "Normal",
  });
  /** Compacts etcd's history up to its current revision through its JSON gateway; returns that revision. */
  async function compactEtcd(): Promise<number> {
    const range = await fetch(`${etcd}/v3/kv/range`, {
      method: "POST",
      body: JSON.stringify({ key: Buffer.from("/").toString("base64") }),
    });
    const revision = Number(((await range.json()) as { header: { revision: string } }).header.revision);
    const compacted = await fetch(`${etcd}/v3/kv/compaction`, {
      method: "POST",
      body: JSON.stringify({ revision: String(revision), physical: true }),
    });
    expect(compacted.ok).toBe(true);
    return revision;
  }

  it("relists on 410 Gone, reporting it, and its cache ends up exactly as the server has it", async () => {
    const relists: string[] = [];
    const informer = new Informer<{ metadata?: { name?: string; namespace?: string; resourceVersion?: string } }>(
      client,
      {
        path: events,
        labelSelector: "expiry=yes",
        ...timings,
        // Each watch ends after a second and resumes from the last resourceVersion seen.
        watchTimeoutSeconds: 1,
      },
      { relisted: (_resource, reason) => relists.push(reason), watchFailed: () => undefined },
    );
    const seen: string[] = [];
    informer.onChange((object, kind: InformerEvent) => seen.push(`${kind} ${object.metadata?.name ?? ""}`));
    const stop = new AbortController();
    const running = informer.run(stop.signal);
    try {
      await eventually("the first list", () => informer.hasSynced());
      expect((await client.create(events, event("kept", { expiry: "yes" }), "test")).ok).toBe(true);
      expect((await client.create(events, event("gone", { expiry: "yes" }), "test")).ok).toBe(true);
      await eventually("both adds", () => seen.includes("add kept") && seen.includes("add gone"));
      // What the informer last saw falls behind: unwatched writes move etcd on, then history is compacted.
      for (let i = 0; i < 3; i++) await client.create(events, event(`other-${String(i)}`), "test");
      await compactEtcd();
      await eventually("a relist after 410 Gone", () => relists.some((r) => r.includes("410")), 15_000);
      expect(relists[0]).toBe("start");
      // After the relist it watches again from the list's fresh resourceVersion.
      await client.delete(`${events}/gone`);
      expect((await client.create(events, event("after", { expiry: "yes" }), "test")).ok).toBe(true);
      await eventually(
        "the delete and the add after the relist",
        () => seen.includes("delete gone") && seen.includes("add after"),
      );
      expect(informer.get(`${namespace}/kept`)).toBeDefined();
      expect(informer.get(`${namespace}/gone`)).toBeUndefined();
      expect(relists.filter((r) => r.includes("410")).length).toBeGreaterThanOrEqual(1);
    } finally {
      stop.abort();
      await running;
    }
  });
});

describe("LeaderElector", () => {
  it("lets exactly one of two candidates lead, and hands over promptly when the leader steps down", async () => {
    const options = { namespace, name: "election", leaseDurationMs: 4_000, renewDeadlineMs: 3_000, retryPeriodMs: 300 };
    const quiet = { acquired: () => undefined, lost: () => undefined, failed: () => undefined };
    const a = new LeaderElector(client, { ...options, identity: "a" }, quiet);
    const b = new LeaderElector(client, { ...options, identity: "b" }, quiet);
    const stopA = new AbortController();
    const stopB = new AbortController();
    const leaders: string[] = [];
    let bothLeading = false;
    const watch = setInterval(() => {
      if (a.isLeader && b.isLeader) bothLeading = true;
    }, 20);
    const runA = a.run(stopA.signal, () => leaders.push("a"));
    await eventually("a to lead", () => a.isLeader);
    const runB = b.run(stopB.signal, () => leaders.push("b"));
    try {
      await sleep(3_000);
      expect(b.isLeader).toBe(false);
      const handover = Date.now();
      stopA.abort();
      await runA;
      await eventually("b to take over", () => b.isLeader, 10_000);
      // A released lease is taken within a few retry periods, not after the lease duration.
      expect(Date.now() - handover).toBeLessThan(options.leaseDurationMs);
      expect(leaders).toEqual(["a", "b"]);
      expect(bothLeading).toBe(false);
      const lease = await client.get<{ spec: { holderIdentity: string; leaseTransitions: number } }>(
        `/apis/coordination.k8s.io/v1/namespaces/${namespace}/leases/election`,
      );
      expect(lease.ok && lease.value.spec).toMatchObject({ holderIdentity: "b", leaseTransitions: 1 });
    } finally {
      clearInterval(watch);
      stopA.abort();
      stopB.abort();
      await Promise.all([runA, runB]);
    }
  });
});
