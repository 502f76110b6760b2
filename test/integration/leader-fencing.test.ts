/**
 * Leadership that cannot act twice, on the real API server: a leader whose connection to the API server freezes
 * (a local TCP proxy stops forwarding, keeping the sockets open) stops at its renew deadline while its requests
 * hang, a standby leads within the lease duration, and the frozen one writes nothing after the connection
 * thaws; a reconcile in flight when leadership ends starts no new write; deletes name the UID they mean.
 */
import { operatorFilmPolicySchema } from "../../src/api/film-policy.ts";
import { referenceFetchPolicySchema } from "../../src/api/reference-fetch-policy.ts";
import { randomBytes } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parse, stringify } from "yaml";
import { FencedClient } from "../../src/kube/fenced-client.ts";
import { FilmController } from "../../src/kube/film-controller.ts";
import { KubeClient } from "../../src/kube/kube-client.ts";
import type { KubeResult, KubeWriter, PatchOptions, PatchType } from "../../src/kube/kube-client.ts";
import { leadershipUntil } from "../../src/kube/leader-election.ts";
import { deleteOptions } from "../../src/manifests/delete-options.ts";
import { filmIntent } from "../../src/reconcile/film-intent.ts";
import { FilmFixture, film } from "../support/film-fixture.ts";
import { kubectl } from "../support/kubectl.ts";
import { startOperator, testFilmPolicy } from "../support/operator-process.ts";
import type { OperatorProcess } from "../support/operator-process.ts";
import { startTcpProxy } from "../support/tcp-proxy.ts";
import type { TcpProxy } from "../support/tcp-proxy.ts";
import { localClusterKubeconfig, testClusterCredentials, testKubeConfig } from "../support/test-kube-config.ts";

const kc = testKubeConfig();
const client = new KubeClient(await testClusterCredentials(), { requestDone: () => undefined });
const namespace = `lv-it-fence-${randomBytes(3).toString("hex")}`;
const operators: OperatorProcess[] = [];
const films = new FilmFixture(kc, namespace, () => operators.map((o) => `${o.identity}:\n${o.logs()}`).join("\n"));
/**
 * The operators' lease settings: test/support/operator-process.ts's, with a retry period (and so a request
 * timeout) of 1.2 s. Renewals then start 2.4 s apart once requests hang, and the renew deadline falls while one
 * hangs: only a timer ends leadership on time; the renew loop would see it 0.8 s late.
 */
const lease = { durationMs: 6_000, renewDeadlineMs: 4_000, retryPeriodMs: 1_200 };
const leaseEnv = { LV_RETRY_PERIOD_SECONDS: String(lease.retryPeriodMs / 1000) };
const leasePath = `/apis/coordination.k8s.io/v1/namespaces/${namespace}/leases/longvideo-operator`;

interface LeaseObject {
  spec: { holderIdentity?: string; renewTime?: string; leaseTransitions?: number };
}

interface LogLine {
  time: number;
  msg: string;
  reason?: string;
  method?: string;
  path?: string;
}

/** An operator's JSON log lines. */
function logLines(operator: OperatorProcess): LogLine[] {
  return operator
    .logs()
    .split("\n")
    .flatMap((line) => {
      try {
        return [JSON.parse(line) as LogLine];
      } catch {
        return [];
      }
    });
}

async function eventually<T>(what: string, check: () => T | undefined | Promise<T | undefined>, timeoutMs = 30_000) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(100);
  }
}

async function leaseHolder(): Promise<LeaseObject["spec"] | undefined> {
  const current = await client.get<LeaseObject>(leasePath);
  return current.ok ? current.value.spec : undefined;
}

/** The local kubeconfig with its cluster's server moved to the proxy (the API server's certificate names 127.0.0.1). */
function kubeconfigThrough(proxy: TcpProxy, directory: string): string {
  const source = process.env.KUBECONFIG ?? localClusterKubeconfig;
  const config = parse(readFileSync(source, "utf8")) as { clusters: { cluster: { server: string } }[] };
  for (const { cluster } of config.clusters) cluster.server = `https://127.0.0.1:${String(proxy.port)}`;
  const file = path.join(directory, "kubeconfig");
  writeFileSync(file, stringify(config), { mode: 0o600 });
  return file;
}

/** Every object of the namespace a write of the operator could touch, by kind and name, at its resourceVersion. */
async function namespaceState(): Promise<Record<string, string>> {
  const collections = {
    film: `/apis/longvideo.dev/v1alpha1/namespaces/${namespace}/longvideos`,
    job: `/apis/batch/v1/namespaces/${namespace}/jobs`,
    claim: `/api/v1/namespaces/${namespace}/persistentvolumeclaims`,
    event: `/apis/events.k8s.io/v1/namespaces/${namespace}/events`,
  };
  const state: Record<string, string> = {};
  for (const [kind, collection] of Object.entries(collections)) {
    const list = await client.get<{ items: { metadata: { name: string; resourceVersion: string } }[] }>(collection);
    if (!list.ok) throw new Error(`cannot list ${collection}: ${list.error.message}`);
    for (const item of list.value.items) state[`${kind}/${item.metadata.name}`] = item.metadata.resourceVersion;
  }
  return state;
}

beforeAll(async () => {
  const crd = path.resolve(import.meta.dirname, "../../crds/longvideo.dev_longvideos.yaml");
  kubectl("apply", "--server-side", "--force-conflicts", "-f", crd);
  kubectl("wait", "--for=condition=Established", "crd/longvideos.longvideo.dev", "--timeout=60s");
  await films.core.createNamespace({ body: { metadata: { name: namespace } } });
}, 120_000);

afterAll(async () => {
  await Promise.all(operators.map((operator) => operator.stop()));
  await films.core.deleteNamespace({ name: namespace });
  await client.close();
});

describe("a leader whose connection to the API server freezes", () => {
  let proxy: TcpProxy | undefined;
  let directory: string | undefined;
  let frozen: OperatorProcess;
  let standby: OperatorProcess;

  beforeAll(async () => {
    const server = new URL(kc.getCurrentCluster()?.server ?? "");
    const started = await startTcpProxy({ host: server.hostname, port: Number(server.port || 443) });
    proxy = started;
    directory = mkdtempSync(path.join(os.tmpdir(), "lv-fence-"));
    frozen = await startOperator({
      identity: "operator-frozen",
      leaseNamespace: namespace,
      env: { ...leaseEnv, KUBECONFIG: kubeconfigThrough(started, directory) },
    });
    operators.push(frozen);
    await eventually("the proxied operator to lead", async () =>
      (await leaseHolder())?.holderIdentity === "operator-frozen" ? true : undefined,
    );
    standby = await startOperator({ identity: "operator-standby", leaseNamespace: namespace, env: leaseEnv });
    operators.push(standby);
  }, 120_000);

  afterAll(async () => {
    proxy?.resume();
    await Promise.all(operators.map((operator) => operator.stop()));
    await proxy?.close();
    if (directory) rmSync(directory, { recursive: true, force: true });
  });

  it("stops at its deadline, a standby leads within the lease duration, and it writes nothing after it thaws", async () => {
    if (!proxy) throw new Error("no proxy");
    // The proxied leader acts: it renders a film.
    await films.create(film("before", { scenes: [{ prompt: "a lighthouse at dawn", clips: 1 }] }));
    await films.until("before", (f) => f.status?.phase === "Succeeded");
    await eventually("the leader to stop writing", () => {
      const writes = logLines(frozen).filter((l) => l.msg === "write");
      return writes.length > 0 && Date.now() - (writes.at(-1)?.time ?? 0) > 2_000 ? true : undefined;
    });
    expect(logLines(standby).filter((l) => l.msg === "write")).toEqual([]);

    const frozenAt = Date.now();
    proxy.pause();
    // A renewal forwarded just before the pause lands within moments; its answer, if any, stays frozen. The last
    // renewal to land started no earlier than the leader's last successful one, which its deadline counts from.
    await sleep(500);
    const lastRenewal = Date.parse((await leaseHolder())?.renewTime ?? "");
    expect(lastRenewal).toBeLessThanOrEqual(frozenAt);

    // The standby leads within the lease duration (counted from its last sight of a renewal), plus its polling.
    await eventually(
      "the standby to take the lease",
      async () => ((await leaseHolder())?.holderIdentity === "operator-standby" ? true : undefined),
      20_000,
    );
    const tookOver = Date.now();
    // Within a retry period (with its jitter) of the last renewal it saw a lease duration begins; one more to notice.
    expect(tookOver - frozenAt).toBeLessThan(lease.durationMs + 2.4 * lease.retryPeriodMs + 1_000);

    // The frozen leader stopped at its renew deadline, by its timer, while its requests hung; before the standby led.
    const stopped = await eventually("the frozen leader to log that it stopped leading", () =>
      logLines(frozen).find((l) => l.msg === "stopped leading"),
    );
    expect(stopped.reason).toBe("could not renew the lease within the renew deadline");
    expect(stopped.time).toBeLessThanOrEqual(lastRenewal + lease.renewDeadlineMs + 500);
    const led = logLines(standby).find((l) => l.msg === "leading");
    console.log("TIMINGS", {
      frozenAt,
      lastRenewal,
      tookOverAfter: tookOver - frozenAt,
      stoppedAfterRenewal: stopped.time - lastRenewal,
      ledAfterStopped: (led?.time ?? 0) - stopped.time,
    });
    expect(stopped.time).toBeLessThan(led?.time ?? 0);

    // The new leader acts.
    await films.create(film("after", { scenes: [{ prompt: "waves crash on the rocks", clips: 1 }] }));
    await films.until("after", (f) => f.status?.phase === "Succeeded");
    const jobs = await films.jobs("after");
    expect(jobs.length).toBeGreaterThan(0);
    for (const job of jobs) {
      expect(job.metadata?.creationTimestamp?.getTime()).toBeGreaterThanOrEqual(Math.floor(tookOver / 1000) * 1000);
    }

    // A replica that lost its lease exits (to restart as a clean standby); its hung requests do not keep it.
    const exitCode = await eventually("the frozen leader to exit", () => frozen.child.exitCode ?? undefined, 15_000);
    expect(exitCode).toBe(0);

    // Once the standby has settled, thaw the connection: whatever the frozen replica had sent arrives now.
    let before = await namespaceState();
    for (let settled = false, tries = 0; !settled; tries++) {
      if (tries > 15) throw new Error("the namespace did not settle");
      await sleep(2_000);
      const now = await namespaceState();
      settled = JSON.stringify(now) === JSON.stringify(before);
      before = now;
    }
    const holder = await leaseHolder();
    proxy.resume();
    await sleep(5_000);
    expect(await namespaceState()).toEqual(before);
    expect(await leaseHolder()).toMatchObject({
      holderIdentity: "operator-standby",
      leaseTransitions: holder?.leaseTransitions,
    });
    // It started no write after it stopped leading.
    const lateWrites = logLines(frozen).filter((l) => l.msg === "write" && l.time >= stopped.time);
    expect(lateWrites).toEqual([]);
  });
});

/** Holds the first status write of one film until told, then sends it as a write already on the wire would go. */
class HeldStatusWrite implements KubeWriter {
  readonly sent: string[] = [];
  readonly #client: KubeClient;
  readonly #path: string;
  #held = false;
  readonly arrived = Promise.withResolvers<undefined>();
  readonly release = Promise.withResolvers<undefined>();

  constructor(kubeClient: KubeClient, path: string) {
    this.#client = kubeClient;
    this.#path = path;
  }

  create<T>(path: string, body: unknown, fieldManager: string, signal?: AbortSignal): Promise<KubeResult<T>> {
    this.sent.push(`POST ${path}`);
    return this.#client.create<T>(path, body, fieldManager, signal);
  }

  async patch<T>(
    path: string,
    patch: unknown,
    type: PatchType,
    fieldManager: string,
    options?: PatchOptions,
  ): Promise<KubeResult<T>> {
    if (path === this.#path && !this.#held) {
      this.#held = true;
      this.arrived.resolve(undefined);
      await this.release.promise;
      // On the wire already: the end of leadership can no longer call it back.
      this.sent.push(`PATCH ${path}`);
      return this.#client.patch<T>(path, patch, type, fieldManager);
    }
    this.sent.push(`PATCH ${path}`);
    return this.#client.patch<T>(path, patch, type, fieldManager, options);
  }

  delete<T>(path: string, body?: unknown, signal?: AbortSignal): Promise<KubeResult<T>> {
    this.sent.push(`DELETE ${path}`);
    return this.#client.delete<T>(path, body, signal);
  }
}

describe("a reconcile in flight when leadership ends", () => {
  it("lets the write already on its way land, and starts no new one", async () => {
    // Only this test's controller may act on its film: the operators of the tests above are stopped.
    await Promise.all(operators.map((operator) => operator.stop()));
    const failures: string[] = [];
    const controller = new FilmController(
      client,
      {
        concurrency: 2,
        resyncMs: 300_000,
        watchdogMs: 180_000,
        watchNamespaces: [],
        watchNodes: true,
        runtime: {
          image: "localhost/longvideo/runtime:dev",
          pullPolicy: "IfNotPresent",
          fetchPolicy: referenceFetchPolicySchema.parse({}),
        },
        intentOf: (f) =>
          filmIntent(
            { name: f.metadata.name ?? "", namespace: f.metadata.namespace ?? "", spec: f.spec },
            {
              nodeSelector: {},
              tolerations: [],
              modelCacheClaim: "",
              checkModelCache: true,
              backend: "svi",
              policy: operatorFilmPolicySchema.parse(testFilmPolicy),
            },
          ),
        now: () => new Date(),
      },
      {
        queue: {
          added: () => undefined,
          depth: () => undefined,
          queued: () => undefined,
          retried: () => undefined,
          worked: () => undefined,
        },
        controller: {
          reconciled: () => undefined,
          segmentEnded: () => undefined,
          handedOff: () => undefined,
          handoffGap: () => undefined,
          filmsByPhase: () => undefined,
          filmProgress: () => undefined,
        },
        log: {
          relisted: () => undefined,
          watchFailed: () => undefined,
          reconciled: () => undefined,
          actionFailed: (key, action, error) => {
            if (key === `${namespace}/gated`) failures.push(`${action}: ${error.kind}`);
          },
        },
      },
    );
    const stop = new AbortController();
    const informers = controller.runInformers(stop.signal);
    const held = new HeldStatusWrite(
      client,
      `/apis/longvideo.dev/v1alpha1/namespaces/${namespace}/longvideos/gated/status`,
    );
    const leading = new AbortController();
    const refused: string[] = [];
    const fenced = new FencedClient(held, leadershipUntil(leading.signal), {
      writing: () => undefined,
      refused: (method, path) => refused.push(`${method} ${path}`),
    });
    try {
      await eventually("the caches to sync", () => (controller.hasSynced() ? true : undefined));
      const workers = controller.runWorkers(fenced);
      await films.create(film("gated", { scenes: [{ prompt: "a paper boat", clips: 1 }] }));
      await held.arrived.promise;
      leading.abort();
      const sentBefore = held.sent.length;
      held.release.resolve(undefined);
      await workers;

      // The status write that was on its way landed (its resourceVersion still matched)...
      const gated = await films.read("gated");
      expect(gated.status?.phase).toBeDefined();
      // ...and nothing after it was sent: the workspace claim's create was refused without a request.
      expect(held.sent.slice(sentBefore)).toEqual([
        `PATCH /apis/longvideo.dev/v1alpha1/namespaces/${namespace}/longvideos/gated/status`,
      ]);
      expect(refused).toContain(`POST /api/v1/namespaces/${namespace}/persistentvolumeclaims`);
      expect(failures).toContain("createWorkspace: NotLeader");
      await sleep(1_000);
      const claims = await films.core.listNamespacedPersistentVolumeClaim({ namespace });
      expect(claims.items.filter((c) => c.metadata?.name === "gated-workspace")).toEqual([]);
      expect(await films.jobs("gated")).toEqual([]);
    } finally {
      leading.abort();
      held.release.resolve(undefined);
      stop.abort();
      await informers;
    }
  });
});

describe("deletes that name a UID", () => {
  it.each([
    { kind: "Job", collection: `/apis/batch/v1/namespaces/${namespace}/jobs`, propagation: "Background" as const },
    { kind: "claim", collection: `/api/v1/namespaces/${namespace}/persistentvolumeclaims`, propagation: undefined },
  ])("delete nothing when the $kind was made again under its name, and delete it by its own UID", async (target) => {
    const name = `replaced-${target.kind.toLowerCase()}`;
    const manifest =
      target.kind === "Job"
        ? {
            apiVersion: "batch/v1",
            kind: "Job",
            metadata: { name },
            spec: {
              suspend: true,
              template: {
                spec: { restartPolicy: "Never", containers: [{ name: "c", image: "localhost/none:0" }] },
              },
            },
          }
        : {
            apiVersion: "v1",
            kind: "PersistentVolumeClaim",
            metadata: { name },
            spec: { accessModes: ["ReadWriteOnce"], resources: { requests: { storage: "1Mi" } } },
          };
    const uidOf = async () => {
      const current = await client.get<{ metadata: { uid: string } }>(`${target.collection}/${name}`);
      return current.ok ? current.value.metadata.uid : undefined;
    };
    const create = async () => {
      const created = await client.create<{ metadata: { uid: string } }>(target.collection, manifest, "test");
      if (!created.ok) throw new Error(created.error.message);
      return created.value.metadata.uid;
    };
    const first = await create();
    const removed = await client.delete(`${target.collection}/${name}`, deleteOptions(first, target.propagation));
    expect(removed.ok).toBe(true);
    await eventually("the first to be gone", async () => ((await uidOf()) === undefined ? true : undefined));
    const second = await create();

    const stale = await client.delete(`${target.collection}/${name}`, deleteOptions(first, target.propagation));
    expect(stale.ok ? "deleted" : stale.error.kind).toBe("Conflict");
    expect(await uidOf()).toBe(second);

    const own = await client.delete(`${target.collection}/${name}`, deleteOptions(second, target.propagation));
    expect(own.ok).toBe(true);
  });
});
