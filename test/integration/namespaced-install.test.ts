/**
 * Namespaced installs on the real API server: the RBAC the chart renders for `watchNamespaces` is applied as Helm
 * would apply it, and each operator runs as a local process authenticated as its release's service account (a
 * token from the TokenRequest API), so it works with exactly those rights. One release watches namespace a, a
 * second watches namespace b: each renders its own films on kwok and leaves the other's alone.
 */
import { execFileSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { randomBytes } from "node:crypto";
import { setTimeout as sleep } from "node:timers/promises";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { stringify } from "yaml";
import { FilmFixture, film } from "../support/film-fixture.ts";
import { kubectl, run } from "../support/kubectl.ts";
import { startOperator } from "../support/operator-process.ts";
import type { OperatorProcess } from "../support/operator-process.ts";
import { helmTemplate } from "../support/pinned-helm.ts";
import { localClusterKubeconfig, testKubeConfig } from "../support/test-kube-config.ts";
import { filmFinalizer } from "../../src/api/operator-labels.ts";

const suffix = randomBytes(3).toString("hex");
const kc = testKubeConfig();

interface Release {
  readonly name: string;
  /** The release's namespace: its service account and Lease. */
  readonly namespace: string;
  /** The one namespace it watches. */
  readonly watched: string;
  /** The chart's full name: service account, Roles, Lease. */
  readonly fullname: string;
  /** The operator's identity in the Lease. */
  readonly identity: string;
}

const release = (team: string): Release => ({
  name: `films-${team}`,
  namespace: `lv-it-ns-${suffix}-ops-${team}`,
  watched: `lv-it-ns-${suffix}-${team}`,
  fullname: `films-${team}-longvideo-operator`,
  identity: `namespaced-operator-${team}`,
});
const first = release("a");
const second = release("b");
const namespaces = [first.namespace, first.watched, second.namespace, second.watched];

const operators = new Map<Release, OperatorProcess>();
const logsOf = (r: Release) => operators.get(r)?.logs() ?? "";
const allLogs = () => [...operators.values()].map((o) => o.logs().slice(-2000)).join("\n");
const filmsIn = (r: Release) => new FilmFixture(kc, r.watched, allLogs);

const workDir = mkdtempSync(path.join(os.tmpdir(), "lv-namespaced-"));
const serviceAccountOf = (r: Release) => `system:serviceaccount:${r.namespace}:${r.fullname}`;

/** The service account and RBAC the chart renders for a release watching one namespace, as Helm would apply them. */
function applyReleaseRbac(r: Release): void {
  const rendered = helmTemplate(
    { name: r.name, namespace: r.namespace },
    [`watchNamespaces={${r.watched}}`],
    ["--show-only", "templates/serviceaccount.yaml", "--show-only", "templates/rbac.yaml"],
  );
  run("kubectl", ["apply", "-f", "-"], rendered);
}

/** A kubeconfig for the local cluster that authenticates as a release's service account, with a fresh token. */
function serviceAccountKubeconfig(r: Release): string {
  const token = kubectl("create", "token", r.fullname, "-n", r.namespace, "--duration=1h").trim();
  const cluster = kc.getCurrentCluster();
  if (!cluster) throw new Error("the test kubeconfig has no current cluster");
  const file = path.join(workDir, `${r.name}.kubeconfig`);
  writeFileSync(
    file,
    stringify({
      apiVersion: "v1",
      kind: "Config",
      clusters: [
        {
          name: "local",
          cluster: {
            server: cluster.server,
            ...(cluster.caData ? { "certificate-authority-data": cluster.caData } : {}),
            ...(cluster.caFile ? { "certificate-authority": cluster.caFile } : {}),
          },
        },
      ],
      users: [{ name: r.fullname, user: { token } }],
      contexts: [{ name: r.name, context: { cluster: "local", user: r.fullname } }],
      "current-context": r.name,
    }),
    { mode: 0o600 },
  );
  return file;
}

/** `kubectl auth can-i` for a release's service account (by impersonation): "yes" or "no". */
function canI(r: Release, verb: string, resource: string, where: { namespace: string } | "everywhere"): string {
  const scope = where === "everywhere" ? ["--all-namespaces"] : ["-n", where.namespace];
  try {
    return execFileSync("kubectl", ["auth", "can-i", verb, resource, ...scope, "--as", serviceAccountOf(r)], {
      env: { ...process.env, KUBECONFIG: process.env.KUBECONFIG ?? localClusterKubeconfig },
      encoding: "utf8",
      stdio: ["ignore", "pipe", "pipe"],
    }).trim();
  } catch (error) {
    // `can-i` exits 1 when the answer is no, and still prints it.
    const answer = ((error as { stdout?: string }).stdout ?? "").trim();
    if (answer === "no") return answer;
    throw error;
  }
}

/** Starts a release's operator as its service account, watching its namespace, and waits until it is ready. */
async function startReleaseOperator(r: Release, kubeconfig: string): Promise<OperatorProcess> {
  const operator = await startOperator({
    identity: r.identity,
    leaseNamespace: r.namespace,
    env: {
      KUBECONFIG: kubeconfig,
      LV_WATCH_NAMESPACES: r.watched,
      LV_WATCH_NODES: "true",
      LV_LEASE_NAME: r.fullname,
    },
  });
  operators.set(r, operator);
  for (let i = 0; i < 120; i++) {
    if ((await operator.get("/readyz")).status === 200) return operator;
    await sleep(250);
  }
  throw new Error(`the operator of ${r.name} did not get ready:\n${operator.logs().slice(-3000)}`);
}

const leaseHolder = (r: Release) =>
  kubectl("get", "lease", r.fullname, "-n", r.namespace, "-o", "jsonpath={.spec.holderIdentity}");

/** Log lines that mention a namespace (film keys, paths). */
const mentions = (logs: string, namespace: string) => logs.split("\n").filter((line) => line.includes(namespace));

const kubeconfigs = new Map<Release, string>();

beforeAll(() => {
  kubectl("apply", "--server-side", "--force-conflicts", "-f", "crds/longvideo.dev_longvideos.yaml");
  kubectl("wait", "--for=condition=Established", "crd/longvideos.longvideo.dev", "--timeout=60s");
  // The watched namespaces exist before the release, as the chart needs for its Roles there.
  for (const namespace of namespaces) kubectl("create", "namespace", namespace);
  for (const r of [first, second]) {
    applyReleaseRbac(r);
    kubeconfigs.set(r, serviceAccountKubeconfig(r));
  }
}, 120_000);

afterAll(async () => {
  // Films first, while their operators still run to release the finalizers; then the operators.
  for (const r of [first, second]) {
    try {
      kubectl("delete", "lv", "--all", "-n", r.watched, "--wait=true", "--timeout=60s");
    } catch {
      // An operator that is not running leaves its finalizer: removed below.
    }
  }
  for (const operator of operators.values()) await operator.stop();
  for (const r of [first, second]) {
    const left = kubectl("get", "lv", "-n", r.watched, "-o", "name", "--ignore-not-found").split("\n").filter(Boolean);
    for (const name of left) {
      kubectl("patch", name, "-n", r.watched, "--type=merge", "-p", '{"metadata":{"finalizers":null}}');
    }
  }
  kubectl("delete", "namespace", ...namespaces, "--ignore-not-found", "--wait=false");
  for (const r of [first, second]) {
    kubectl("delete", "clusterrole,clusterrolebinding", `${r.fullname}-nodes`, "--ignore-not-found");
  }
  rmSync(workDir, { recursive: true, force: true });
}, 180_000);

describe("a release watching one namespace", () => {
  it("grants its service account the operator's rights in that namespace only, nodes read-only, its Lease", () => {
    const a = { namespace: first.watched };
    expect(canI(first, "create", "jobs.batch", a)).toBe("yes");
    expect(canI(first, "watch", "longvideos.longvideo.dev", a)).toBe("yes");
    expect(canI(first, "patch", "longvideos.longvideo.dev/status", a)).toBe("yes");
    expect(canI(first, "create", "persistentvolumeclaims", a)).toBe("yes");
    expect(canI(first, "list", "pods", a)).toBe("yes");
    // Not in the other release's namespace, nor in its own release namespace, nor cluster-wide.
    for (const elsewhere of [{ namespace: second.watched }, { namespace: first.namespace }]) {
      expect(canI(first, "create", "jobs.batch", elsewhere), elsewhere.namespace).toBe("no");
      expect(canI(first, "list", "longvideos.longvideo.dev", elsewhere), elsewhere.namespace).toBe("no");
    }
    for (const resource of ["jobs.batch", "longvideos.longvideo.dev", "pods", "persistentvolumeclaims", "events"]) {
      expect(canI(first, "list", resource, "everywhere"), resource).toBe("no");
      expect(canI(first, "watch", resource, "everywhere"), resource).toBe("no");
    }
    // Nodes: list and watch, nothing else.
    expect(canI(first, "watch", "nodes", "everywhere")).toBe("yes");
    expect(canI(first, "get", "nodes", "everywhere")).toBe("no");
    expect(canI(first, "patch", "nodes", "everywhere")).toBe("no");
    // The Lease: in the release's namespace only.
    expect(canI(first, "update", "leases.coordination.k8s.io", { namespace: first.namespace })).toBe("yes");
    expect(canI(first, "update", "leases.coordination.k8s.io", a)).toBe("no");
    // The second release mirrors it.
    expect(canI(second, "create", "jobs.batch", { namespace: second.watched })).toBe("yes");
    expect(canI(second, "create", "jobs.batch", a)).toBe("no");
  });

  it("authenticates its operator as the service account itself, not as an administrator", () => {
    const whoami = run("kubectl", [
      "--kubeconfig",
      kubeconfigs.get(first) ?? "",
      "auth",
      "whoami",
      "-o",
      "jsonpath={.status.userInfo.username}",
    ]);
    expect(whoami).toBe(serviceAccountOf(first));
  });

  it("renders a film in its namespace and leaves one elsewhere alone: no finalizer, no status, no Job", async () => {
    const inA = filmsIn(first);
    const inB = filmsIn(second);
    await inB.create(film("elsewhere", { scenes: [{ prompt: "a gull over the pier", clips: 1 }] }));
    await startReleaseOperator(first, kubeconfigs.get(first) ?? "");
    expect(leaseHolder(first)).toBe(first.identity);
    await inA.create(film("watched"));

    const done = await inA.until("watched", (f) => f.status?.phase === "Succeeded", 120_000);
    expect(done.status?.progress).toBe("3/3");
    for (const pod of await inA.pods("watched")) expect(pod.spec?.nodeName).toMatch(/^kwok-h100-/);

    const ignored = await inB.read("elsewhere");
    expect(ignored.metadata).not.toHaveProperty("finalizers");
    expect(ignored.status).toBeUndefined();
    expect(await inB.jobs("elsewhere")).toEqual([]);
    const logs = logsOf(first);
    // It never tried the other namespace, and its Roles refused it nothing it asked for.
    expect(mentions(logs, second.watched)).toEqual([]);
    expect(logs).not.toContain('"Forbidden"');
  }, 180_000);

  it("a second release watching the other namespace renders that film while the first still ignores it", async () => {
    const inB = filmsIn(second);
    await startReleaseOperator(second, kubeconfigs.get(second) ?? "");
    const done = await inB.until("elsewhere", (f) => f.status?.phase === "Succeeded", 120_000);
    expect(done.status?.progress).toBe("1/1");
    expect(done.metadata).toHaveProperty("finalizers", [filmFinalizer]);

    // Both lead at once, each holding its own Lease in its own namespace.
    expect(leaseHolder(first)).toBe(first.identity);
    expect(leaseHolder(second)).toBe(second.identity);
    expect(mentions(logsOf(first), second.watched)).toEqual([]);
    expect(mentions(logsOf(second), first.watched)).toEqual([]);
    expect(logsOf(second)).toMatch(new RegExp(`"film":"${second.watched}/elsewhere"`));
    expect(logsOf(second)).not.toContain('"Forbidden"');
    expect((await operators.get(first)?.get("/readyz"))?.status).toBe(200);
  }, 180_000);
});
