/**
 * Films the cluster holds back, on the real API server, controller-manager and scheduler with kwok nodes: each
 * obstacle shows on the film within seconds, as Ready=False with a reason and the cluster's own words, an event
 * and the `kubectl get` Reason column; once the obstacle goes, the film finishes. Nodes lost under a running
 * segment re-run it elsewhere without spending its retries.
 */
import { randomBytes } from "node:crypto";
import { setTimeout as sleep } from "node:timers/promises";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { FilmFixture, conditionOf, film, segmentJobs } from "../support/film-fixture.ts";
import type { Film } from "../support/film-fixture.ts";
import { kubectl, run } from "../support/kubectl.ts";
import { makeKwokPool } from "../support/kwok-pool.ts";
import { startOperator, testFilmPolicy } from "../support/operator-process.ts";
import type { OperatorProcess } from "../support/operator-process.ts";
import { testKubeConfig } from "../support/test-kube-config.ts";

const suffix = randomBytes(3).toString("hex");
const namespace = `lv-it-blocked-${suffix}`;
let operator: OperatorProcess;
const missingPriorityClass = `lv-it-missing-${suffix}`;
const films = new FilmFixture(testKubeConfig(), namespace, () => operator.logs());
const { core } = films;

/** Ready's reason once it is `reason`, within `seconds`. */
async function blockedBy(name: string, reason: string, seconds = 20): Promise<Film> {
  return films.until(name, (f) => conditionOf(f, "Ready")?.reason === reason, seconds * 1000);
}

/** What `kubectl get lv -o wide` prints for a film: the printer columns, as the API server fills them. */
function printed(name: string): string {
  return kubectl("-n", namespace, "get", "lv", name, "-o", "wide", "--no-headers");
}

beforeAll(async () => {
  kubectl("apply", "--server-side", "--force-conflicts", "-f", "crds/longvideo.dev_longvideos.yaml");
  await core.createNamespace({ body: { metadata: { name: namespace } } });
  // The missing priority class is one the policy allows: what holds the film back is the cluster, not the policy.
  operator = await startOperator({
    identity: "operator-blocked",
    leaseNamespace: namespace,
    env: { LV_FILM_POLICY: JSON.stringify({ ...testFilmPolicy, priorityClassNames: [missingPriorityClass] }) },
  });
}, 120_000);

afterAll(async () => {
  await operator.stop();
  await core.deleteNamespace({ name: namespace });
});

describe("a film the cluster holds back says why, and finishes once it no longer is", () => {
  it("a pod the Job controller cannot create (a missing priority class): PodRefused, in its words", async () => {
    const priorityClass = missingPriorityClass;
    const gpu = {
      nodeSelector: { "longvideo.dev/pool": "h100" },
      tolerations: [{ key: "nvidia.com/gpu", operator: "Exists", effect: "NoSchedule" }],
      priorityClassName: priorityClass,
    };
    await films.create(film("no-class", { scenes: [{ prompt: "a bell rings", clips: 1 }], gpu }));
    const blocked = await blockedBy("no-class", "PodRefused");
    expect(conditionOf(blocked, "Ready")?.message).toContain(`no PriorityClass with name ${priorityClass} was found`);
    expect(conditionOf(blocked, "Ready")?.message).toMatch(/^segment 0: its pod cannot be created: /);
    expect(conditionOf(blocked, "Progressing")).toMatchObject({ status: "False", reason: "PodRefused" });
    expect(conditionOf(blocked, "Failed")?.status).toBe("False");
    expect(printed("no-class")).toContain("PodRefused");
    expect((await films.eventReasons("no-class")).filter((r) => r === "PodRefused")).toHaveLength(1);

    kubectl("create", "priorityclass", priorityClass, "--value=1000");
    try {
      const done = await films.until("no-class", (f) => f.status?.phase === "Succeeded", 120_000);
      expect(done.status?.segments?.[0]).toMatchObject({ state: "Succeeded", attempt: 0 });
    } finally {
      kubectl("delete", "priorityclass", priorityClass, "--ignore-not-found");
    }
  }, 180_000);

  it("a Job suspended in a Kueue queue that never admits it (Kueue not installed here): Queued, saying so", async () => {
    const gpu = {
      nodeSelector: { "longvideo.dev/pool": "h100" },
      tolerations: [{ key: "nvidia.com/gpu", operator: "Exists", effect: "NoSchedule" }],
      queueName: "gpu-queue",
    };
    await films.create(film("queued", { scenes: [{ prompt: "a queue of boats", clips: 1 }], gpu }));
    const queued = await blockedBy("queued", "Queued");
    expect(conditionOf(queued, "Ready")?.message).toMatch(
      /^segment 0 waits in its queue for admission .*; no Kueue Workload is seen for it yet$/,
    );
    expect(queued.status?.phase).toBe("Queued");
    expect(printed("queued")).toContain("Queued");
    expect((await films.eventReasons("queued")).filter((r) => r === "Queued")).toHaveLength(1);
  });

  it("an object the API server refuses (quota on claims, then on jobs): CreateRefused, in its words", async () => {
    const quota = (hard: Record<string, string>) =>
      run(
        "kubectl",
        ["-n", namespace, "apply", "--server-side", "--force-conflicts", "-f", "-"],
        JSON.stringify({ apiVersion: "v1", kind: "ResourceQuota", metadata: { name: "tight" }, spec: { hard } }),
      );
    quota({ persistentvolumeclaims: "0", "count/jobs.batch": "0" });
    // Admission counts against the quota's status, which the quota controller fills in.
    for (let i = 0; i < 60; i++) {
      const status = JSON.parse(kubectl("-n", namespace, "get", "resourcequota", "tight", "-o", "json")) as {
        status?: { hard?: Record<string, string> };
      };
      if (status.status?.hard?.["count/jobs.batch"] !== undefined) break;
      await sleep(250);
    }
    await films.create(film("quota", { scenes: [{ prompt: "a kettle boils", clips: 1 }] }));
    const noClaim = await blockedBy("quota", "CreateRefused");
    expect(noClaim.status?.phase).not.toBe("Failed");
    expect(conditionOf(noClaim, "Ready")?.message).toMatch(
      /^the API server refused to create the workspace claim quota-workspace \(retried with backoff\): .*exceeded quota: tight/,
    );
    expect(printed("quota")).toContain("CreateRefused");

    quota({ persistentvolumeclaims: "50", "count/jobs.batch": "0" });
    const noJob = await films.until(
      "quota",
      (f) => /segment 0's job .*exceeded quota: tight/.test(conditionOf(f, "Ready")?.message ?? ""),
      30_000,
    );
    expect(conditionOf(noJob, "Ready")?.reason).toBe("CreateRefused");

    kubectl("-n", namespace, "delete", "resourcequota", "tight");
    const done = await films.until("quota", (f) => f.status?.phase === "Succeeded", 120_000);
    expect(conditionOf(done, "Ready")).toMatchObject({ status: "True", reason: "FilmComplete" });
    const reasons = await films.eventReasons("quota");
    // Told once per message: the claim's refusal, then the job's.
    expect(reasons.filter((r) => r === "CreateRefused")).toHaveLength(2);
  }, 180_000);
});

describe("a node lost under a running segment", () => {
  /** Two kwok nodes of a pool of their own, so that a lost one leaves somewhere to re-run. */
  const makePool = (pool: string) => makeKwokPool(pool, 2);

  function poolFilm(name: string, pool: string): Film {
    return film(name, {
      scenes: [{ prompt: "a train crosses the plain", clips: 1 }],
      annotations: { "sim.longvideo.dev/run-for": "10s" },
      gpu: {
        nodeSelector: { "longvideo.dev/pool": pool },
        tolerations: [
          { key: "nvidia.com/gpu", operator: "Exists", effect: "NoSchedule" },
          // Evicted two seconds after its node is lost, rather than the default five minutes.
          { key: "node.kubernetes.io/not-ready", operator: "Exists", effect: "NoExecute", tolerationSeconds: 2 },
          { key: "node.kubernetes.io/unreachable", operator: "Exists", effect: "NoExecute", tolerationSeconds: 2 },
        ],
      },
    });
  }

  /** The node segment 0's running pod is on. */
  async function runningOn(name: string): Promise<string> {
    await films.until(name, (f) => f.status?.segments?.[0]?.state === "Running", 60_000);
    for (;;) {
      const pod = (await films.pods(name)).find((p) => p.status?.phase === "Running");
      if (pod?.spec?.nodeName) return pod.spec.nodeName;
      await sleep(250);
    }
  }

  it("not Ready: NodeLost at once, in the node's words; once evicted, re-run on another node, not counted", async () => {
    const pool = `lost-${suffix}`;
    const nodes = makePool(pool);
    try {
      await films.create(poolFilm("lost-node", pool));
      const node = await runningOn("lost-node");
      // The node's agent stops (kwok lets go of it) and its last word is that it is not ready.
      kubectl("annotate", "node", node, "kwok.x-k8s.io/node-");
      const now = new Date().toISOString();
      const ready = {
        type: "Ready",
        status: "False",
        reason: "KubeletNotReady",
        message: "container runtime is down",
        lastHeartbeatTime: now,
        lastTransitionTime: now,
      };
      kubectl("patch", "node", node, "--subresource=status", "-p", JSON.stringify({ status: { conditions: [ready] } }));
      const lost = await blockedBy("lost-node", "NodeLost", 15);
      expect(conditionOf(lost, "Ready")?.message).toBe(
        `segment 0 runs on ${node}, which is lost: Ready=False (KubeletNotReady): container runtime is down`,
      );
      expect(printed("lost-node")).toContain("NodeLost");

      const done = await films.until("lost-node", (f) => f.status?.phase === "Succeeded", 120_000);
      const record = done.status?.segments?.[0];
      expect(record).toMatchObject({ state: "Succeeded", attempt: 1 });
      expect(record?.failures ?? 0).toBe(0);
      expect(record?.node).not.toBe(node);
      expect(await films.eventReasons("lost-node")).toEqual(expect.arrayContaining(["NodeLost", "SegmentLost"]));
      expect(
        segmentJobs(await films.jobs("lost-node")).map((j) => j.metadata?.labels?.["longvideo.dev/attempt"]),
      ).toEqual(["1"]);
    } finally {
      kubectl("delete", "node", ...nodes, "--ignore-not-found", "--wait=false");
    }
  }, 180_000);

  it("deleted: re-run on another node at once, not counted", async () => {
    const pool = `gone-${suffix}`;
    const nodes = makePool(pool);
    try {
      await films.create(poolFilm("gone-node", pool));
      const node = await runningOn("gone-node");
      kubectl("delete", "node", node, "--wait=false");
      const done = await films.until("gone-node", (f) => f.status?.phase === "Succeeded", 120_000);
      const record = done.status?.segments?.[0];
      expect(record).toMatchObject({ state: "Succeeded", attempt: 1 });
      expect(record?.failures ?? 0).toBe(0);
      expect(record?.node).not.toBe(node);
    } finally {
      kubectl("delete", "node", ...nodes, "--ignore-not-found", "--wait=false");
    }
  }, 180_000);
});
