/**
 * `make run` on a fresh cluster: an operator run out of cluster, whose Lease's namespace does not exist yet, makes
 * it, leads and renders a film. A unique lease namespace stands in for `longvideo-system`, so the shared cluster's
 * own is left alone; the operator watches only this test's films namespace.
 */
import { spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import path from "node:path";
import { CoordinationV1Api } from "@kubernetes/client-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { leaseNamespaceLabel } from "../../src/kube/lease-namespace.ts";
import { FilmFixture, film } from "../support/film-fixture.ts";
import { kubectl } from "../support/kubectl.ts";
import { startOperator } from "../support/operator-process.ts";
import type { OperatorProcess } from "../support/operator-process.ts";
import { localClusterKubeconfig, testKubeConfig } from "../support/test-kube-config.ts";

const kc = testKubeConfig();
const suffix = randomBytes(3).toString("hex");
const filmsNamespace = `lv-it-local-${suffix}`;
const leaseNamespace = `lv-it-lease-${suffix}`;
let operator: OperatorProcess | undefined;
const films = new FilmFixture(kc, filmsNamespace, () => operator?.logs() ?? "");
const coordination = kc.makeApiClient(CoordinationV1Api);

beforeAll(async () => {
  const crd = path.resolve(import.meta.dirname, "../../crds/longvideo.dev_longvideos.yaml");
  kubectl("apply", "--server-side", "--force-conflicts", "-f", crd);
  kubectl("wait", "--for=condition=Established", "crd/longvideos.longvideo.dev", "--timeout=60s");
  await films.core.createNamespace({ body: { metadata: { name: filmsNamespace } } });
}, 120_000);

afterAll(async () => {
  await operator?.stop();
  await films.core.deleteNamespace({ name: filmsNamespace });
  await films.core.deleteNamespace({ name: leaseNamespace }).catch(() => undefined);
});

describe("an operator run out of cluster on a cluster without its Lease's namespace", () => {
  it("creates the namespace, says so, leads and renders a film", async () => {
    expect(kubectl("get", "namespaces", "-o", "name")).not.toContain(`namespace/${leaseNamespace}\n`);
    // As `make run` starts it: no POD_NAMESPACE, leader election on (the default).
    operator = await startOperator({
      identity: "local-run",
      leaseNamespace,
      env: { LV_WATCH_NAMESPACES: filmsNamespace, LV_LOG_LEVEL: "info" },
    });
    await films.create(film("fresh"));
    const done = await films.until("fresh", (f) => f.status?.phase === "Succeeded");
    expect(done.status?.progress).toBe("3/3");

    const lines = operator
      .logs()
      .split("\n")
      .filter((line) => line.startsWith("{"))
      .map((line) => JSON.parse(line) as { msg: string; namespace?: string });
    const messages = lines.map((l) => l.msg);
    expect(messages).toContain(
      `leader election on Lease ${leaseNamespace}/longvideo-operator; out of cluster, the namespace is created if missing`,
    );
    expect(lines).toContainEqual(
      expect.objectContaining({ msg: "created the Lease's namespace", namespace: leaseNamespace }),
    );
    expect(messages).toContain("leading");
    expect(messages).not.toContain("leader election request failed");

    const namespace = await films.core.readNamespace({ name: leaseNamespace });
    expect(namespace.metadata?.labels?.[leaseNamespaceLabel]).toBe("true");
    const lease = await coordination.readNamespacedLease({ name: "longvideo-operator", namespace: leaseNamespace });
    expect(lease.spec?.holderIdentity).toBe("local-run");
  });

  it("is followed by `longvideo watch` to the end, bars and ETA included, and watch names a film that is not there", async () => {
    await films.create(film("watched", { annotations: { "sim.longvideo.dev/run-for": "3s" } }));
    const watched = longvideo("watch", "watched", "-n", filmsNamespace);
    expect(watched.status, watched.stderr).toBe(0);
    expect(watched.stdout).toBe(`${filmsNamespace}/watched Succeeded 3/3: the film is at /workspace/film.mp4\n`);
    // Printed every 2 s when standard error is not a terminal: while it rendered, with the time left.
    expect(watched.stderr).toMatch(new RegExp(`${filmsNamespace}/watched\\s+[█░]+ [12]/3 Rendering \\| ETA \\d+m`));
    expect(watched.stderr).toMatch(/segment 2\s+[█░]+ rendered in \d+s/);
    const missing = longvideo("watch", "nowhere", "-n", filmsNamespace);
    expect(missing.status).toBe(1);
    expect(missing.stderr).toBe(`longvideo: no such film: LongVideo nowhere in namespace ${filmsNamespace}\n`);
  });
});

/** The CLI, run as a user runs it, against the test cluster. */
function longvideo(...args: string[]) {
  const result = spawnSync(
    process.execPath,
    [path.resolve(import.meta.dirname, "../../src/cli/longvideo.ts"), ...args],
    {
      env: { ...process.env, KUBECONFIG: process.env.KUBECONFIG ?? localClusterKubeconfig },
      encoding: "utf8",
      timeout: 120_000,
    },
  );
  return { status: result.status, stdout: result.stdout, stderr: result.stderr };
}
