/**
 * The film policy on the real API server, as a tenant meets it: a user who may only create and read LongVideos in
 * her namespace asks for scheduling privileges through a film, and gets a `PolicyRefused` film, an event, and no
 * pod; what the policy allows renders; a namespace given a wider policy may ask for more.
 */
import { randomBytes } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { stringify } from "yaml";
import { FilmFixture, conditionOf, film } from "../support/film-fixture.ts";
import type { Film } from "../support/film-fixture.ts";
import { kubectl, run } from "../support/kubectl.ts";
import { makeKwokPool } from "../support/kwok-pool.ts";
import { startOperator, testFilmPolicy } from "../support/operator-process.ts";
import type { OperatorProcess } from "../support/operator-process.ts";
import { testKubeConfig } from "../support/test-kube-config.ts";

const suffix = randomBytes(3).toString("hex");
const tenant = `lv-it-tenant-${suffix}`;
const trusted = `lv-it-trusted-${suffix}`;
const pool = `policy-${suffix}`;
const user = `alice-${suffix}`;
const urgent = `lv-it-urgent-${suffix}`;
let operator: OperatorProcess;
let nodes: string[] = [];
const films = new FilmFixture(testKubeConfig(), tenant, () => operator.logs());
const trustedFilms = new FilmFixture(testKubeConfig(), trusted, () => operator.logs());

/** A film on this test's kwok pool. */
const onPool = (name: string, spec: Record<string, unknown> = {}): Film => {
  const base = film(name);
  const gpu = { ...(base.spec.gpu as Record<string, unknown>), nodeSelector: { "longvideo.dev/pool": pool } };
  return { ...base, spec: { ...base.spec, gpu, ...spec } };
};

/** `kubectl apply` of a film as the tenant user, who may do nothing else. */
function applyAsTenant(namespace: string, body: Film): void {
  const manifest = { apiVersion: "longvideo.dev/v1alpha1", kind: "LongVideo", ...body };
  run("kubectl", [`--as=${user}`, "-n", namespace, "apply", "-f", "-"], stringify(manifest));
}

beforeAll(async () => {
  kubectl("apply", "--server-side", "--force-conflicts", "-f", "crds/longvideo.dev_longvideos.yaml");
  for (const namespace of [tenant, trusted]) {
    kubectl("create", "namespace", namespace);
    kubectl(
      "-n",
      namespace,
      "create",
      "role",
      "longvideo-author",
      "--verb=get,list,watch,create,patch,update",
      "--resource=longvideos.longvideo.dev",
    );
    kubectl("-n", namespace, "create", "rolebinding", "longvideo-author", "--role=longvideo-author", `--user=${user}`);
  }
  kubectl("create", "priorityclass", urgent, "--value=1000");
  nodes = makeKwokPool(pool, 2);
  const policy = {
    ...testFilmPolicy,
    namespaces: { [trusted]: { ...testFilmPolicy, priorityClassNames: [urgent] } },
  };
  operator = await startOperator({
    identity: "operator-policy",
    leaseNamespace: tenant,
    env: { LV_FILM_POLICY: JSON.stringify(policy) },
  });
}, 120_000);

afterAll(async () => {
  await operator.stop();
  kubectl("delete", "namespace", tenant, trusted, "--wait=false");
  kubectl("delete", "priorityclass", urgent, "--ignore-not-found");
  if (nodes.length > 0) kubectl("delete", "node", ...nodes, "--ignore-not-found", "--wait=false");
});

describe("a tenant who may only create LongVideos", () => {
  it("cannot create pods or Jobs herself", () => {
    const canI = (verb: string, resource: string) => {
      try {
        return kubectl("auth", "can-i", verb, resource, `--as=${user}`, "-n", tenant).trim();
      } catch (error) {
        // kubectl says "no" and exits 1.
        return error instanceof Error && /\bno\b/.test(error.message) ? "no" : String(error);
      }
    };
    expect(canI("create", "longvideos.longvideo.dev")).toBe("yes");
    for (const resource of ["pods", "jobs.batch", "persistentvolumeclaims"])
      expect(canI("create", resource)).toBe("no");
  });

  it("gets PolicyRefused, naming each field and the policy, an event and no pod, for scheduling privileges", async () => {
    applyAsTenant(
      tenant,
      onPool("grab", {
        gpu: {
          priorityClassName: "system-node-critical",
          tolerations: [{ operator: "Exists" }],
          nodeSelector: { "kubernetes.io/hostname": "control-plane-0" },
        },
        podMetadata: { labels: { "egress.example.com/allowed": "true" } },
      }),
    );
    const refused = await films.until("grab", (f) => conditionOf(f, "Ready")?.reason === "PolicyRefused", 20_000);
    const message = conditionOf(refused, "Ready")?.message ?? "";
    expect(conditionOf(refused, "Progressing")).toMatchObject({ status: "False", reason: "PolicyRefused" });
    for (const line of [
      `spec.gpu.priorityClassName: priority class "system-node-critical" is not allowed by the operator's film policy (none are allowed)`,
      "spec.gpu.tolerations[0]: a toleration without a key (it tolerates every taint) is not allowed",
      `spec.gpu.nodeSelector["kubernetes.io/hostname"]: node label key "kubernetes.io/hostname" is not allowed`,
      `spec.podMetadata.labels["egress.example.com/allowed"]: pod label "egress.example.com/allowed" is not allowed`,
    ]) {
      expect(message).toContain(line);
    }
    expect(await films.eventReasons("grab")).toContain("PolicyRefused");
    // Refused before anything exists: no Job, no pod, not even the workspace claim's Jobs later.
    await new Promise((resolve) => setTimeout(resolve, 2000));
    expect(await films.jobs("grab")).toEqual([]);
    expect(await films.pods("grab")).toEqual([]);
    expect(kubectl("get", "lv", "grab", "-n", tenant, "--no-headers")).toContain("PolicyRefused");
  });

  it("renders once she asks only for what the policy allows", async () => {
    // Applied again without the refused fields: kubectl apply removes what its last apply set and this one omits.
    applyAsTenant(tenant, onPool("grab"));
    const done = await films.until("grab", (f) => f.status?.phase === "Succeeded", 90_000);
    expect(conditionOf(done, "Ready")).toMatchObject({ status: "True" });
  });

  it("may ask for more in a namespace the platform team gave a wider policy, and only there", async () => {
    const wantsUrgent = (name: string) =>
      onPool(name, { gpu: { ...(onPool(name).spec.gpu as object), priorityClassName: urgent } });
    applyAsTenant(tenant, wantsUrgent("urgent"));
    applyAsTenant(trusted, wantsUrgent("urgent"));
    const refused = await films.until("urgent", (f) => conditionOf(f, "Ready")?.reason === "PolicyRefused", 20_000);
    expect(conditionOf(refused, "Ready")?.message).toContain(`priority class "${urgent}" is not allowed`);
    const done = await trustedFilms.until("urgent", (f) => f.status?.phase === "Succeeded", 90_000);
    expect(done.status?.phase).toBe("Succeeded");
    const pods = await trustedFilms.pods("urgent");
    expect(pods.length).toBeGreaterThan(0);
    expect(pods.every((p) => p.spec?.priorityClassName === urgent)).toBe(true);
  });
});
