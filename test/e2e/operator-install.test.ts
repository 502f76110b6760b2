/**
 * End to end on the local cluster: the chart installed with Helm runs the operator's own image on the real node;
 * a film rendered by the CPU runtime image comes out whole and continuous; Prometheus scrapes the operator and
 * every dashboard query returns data; `helm upgrade` rolls the operator without re-rendering anything.
 * The tests run in order and share one release, as a user's session would.
 */
import { execFileSync, spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";
import path from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parse, parseAllDocuments } from "yaml";
import {
  applyFilm,
  chartDir,
  copyFilmOut,
  createReferenceImage,
  ensureRestrictedNamespace,
  grayFrames,
  installOperator,
  kubectl,
  loadImages,
  localClusterValues,
  meanAbsoluteDifference,
  readFilm,
  repoRoot,
  run,
  segmentFilesDirectory,
  videoFacts,
  watchFilm,
  workspaceDirectory,
} from "./film-demo.ts";
import type { FilmView } from "./film-demo.ts";
import { startPrometheus } from "./test-prometheus.ts";
import type { TestPrometheus } from "./test-prometheus.ts";
import { longVideoSpecVerdict } from "../../src/api/long-video.ts";
import { segmentPlan } from "../../src/plan/segment-plan.ts";

const release = { name: "longvideo-operator", namespace: "lv-e2e-system" };
const filmsNamespace = "lv-e2e-films";
const serviceAccount = `system:serviceaccount:${release.namespace}:longvideo-operator`;
const example = path.join(repoRoot, "manifests/examples/film.yaml");
const kubeconfig = process.env.KUBECONFIG ?? path.join(repoRoot, ".cache/cluster/kubeconfig");

/** A version pinned in test/cluster/versions.env. */
function pinnedVersion(name: string): string {
  const versions = readFileSync(path.join(repoRoot, "test/cluster/versions.env"), "utf8");
  const version = new RegExp(`^${name}=(\\S+)$`, "m").exec(versions)?.[1];
  if (!version) throw new Error(`${name} is not pinned in test/cluster/versions.env`);
  return version;
}

/** The ServiceMonitor and PrometheusRule CRDs, from the pinned prometheus-operator Go module. */
function monitoringCrds(): string[] {
  const version = pinnedVersion("PROMETHEUS_OPERATOR_VERSION");
  const downloaded = JSON.parse(
    execFileSync("go", ["mod", "download", "-json", `github.com/prometheus-operator/prometheus-operator@${version}`], {
      encoding: "utf8",
      cwd: path.join(repoRoot, "test"),
    }),
  ) as { Dir: string };
  const dir = path.join(downloaded.Dir, "example/prometheus-operator-crd");
  return ["servicemonitors", "prometheusrules"].map((kind) => path.join(dir, `monitoring.coreos.com_${kind}.yaml`));
}

/** The planner's totals for the example film: what the film must come out as. */
function examplePlan(): { frames: number; seconds: number; segments: number } {
  const verdict = longVideoSpecVerdict((parse(readFileSync(example, "utf8")) as { spec: unknown }).spec);
  if (!verdict.ok) throw new Error(`the example is invalid: ${JSON.stringify(verdict.errors)}`);
  const planned = segmentPlan(verdict.value);
  if (!planned.ok) throw new Error(planned.error.message);
  return planned.plan.totals;
}

const leaseHolder = () =>
  kubectl("get", "lease", "longvideo-operator", "-n", release.namespace, "-o", "jsonpath={.spec.holderIdentity}");

/** The Lease's holder once `accept` takes it (or the last one seen after 30 s). */
async function leaseHeldBy(accept: (holder: string) => boolean): Promise<string> {
  let holder = leaseHolder();
  for (let i = 0; i < 60 && !accept(holder); i++) {
    await sleep(500);
    holder = leaseHolder();
  }
  return holder;
}

interface PodView {
  metadata: { name: string; uid: string };
  spec: {
    securityContext?: Record<string, unknown>;
    containers: { env?: { name: string; value?: string }[]; securityContext?: Record<string, unknown> }[];
  };
  status: { conditions?: { type: string; status: string }[] };
}

const operatorPods = (): PodView[] =>
  (
    JSON.parse(
      kubectl("get", "pods", "-n", release.namespace, "-l", "app.kubernetes.io/name=longvideo-operator", "-o", "json"),
    ) as { items: PodView[] }
  ).items;

const segmentJobNames = (film: string): string[] =>
  kubectl(
    "get",
    "jobs",
    "-n",
    filmsNamespace,
    "-l",
    `longvideo.dev/film=${film},longvideo.dev/kind=segment`,
    "-o",
    "name",
  )
    .split("\n")
    .filter(Boolean)
    .sort();

let prometheus: TestPrometheus | undefined;
let film: FilmView;

beforeAll(() => {
  loadImages();
  for (const crd of monitoringCrds()) kubectl("apply", "--server-side", "--force-conflicts", "-f", crd);
  kubectl("wait", "--for=condition=Established", "crd/servicemonitors.monitoring.coreos.com", "--timeout=60s");
  kubectl("wait", "--for=condition=Established", "crd/prometheusrules.monitoring.coreos.com", "--timeout=60s");
}, 600_000);

afterAll(async () => {
  await prometheus?.stop();
  // Films first, while the operator still runs to release their finalizers; then the operator.
  kubectl("delete", "namespace", filmsNamespace, "--ignore-not-found", "--timeout=120s");
  run("helm", ["uninstall", release.name, "-n", release.namespace, "--wait", "--ignore-not-found"]);
  kubectl("delete", "namespace", release.namespace, "--ignore-not-found", "--wait=false");
}, 300_000);

describe("the operator installed by Helm on the local cluster", () => {
  it("renders every object of the chart, all options on, in a form the API server accepts (server-side dry run)", () => {
    ensureRestrictedNamespace(release.namespace);
    const rendered = run("helm", [
      "template",
      release.name,
      chartDir,
      "--namespace",
      release.namespace,
      "--include-crds",
      "--kube-version",
      pinnedVersion("KUBERNETES_VERSION"),
      ...localClusterValues,
      "--set",
      "metrics.serviceMonitor.enabled=true",
      "--set",
      "metrics.prometheusRule.enabled=true",
    ]);
    const kinds = parseAllDocuments(rendered)
      .map((d) => (d.toJS() as { kind?: string } | null)?.kind)
      .filter((k): k is string => k !== undefined)
      .sort();
    expect(kinds).toEqual(
      expect.arrayContaining([
        "ClusterRole",
        "ClusterRoleBinding",
        "ConfigMap",
        "CustomResourceDefinition",
        "Deployment",
        "PrometheusRule",
        "Role",
        "RoleBinding",
        "Service",
        "ServiceAccount",
        "ServiceMonitor",
      ]),
    );
    const applied = run("kubectl", ["apply", "--dry-run=server", "-f", "-"], rendered);
    expect(applied.trim().split("\n")).toHaveLength(kinds.length);
  });

  it("has plain install YAML (manifests/install.yaml) that the API server accepts as it is (server-side dry run)", () => {
    const install = path.join(repoRoot, "manifests/install.yaml");
    const documents = parseAllDocuments(readFileSync(install, "utf8")).map(
      (d) => d.toJS() as { kind: string; metadata: { name: string; namespace?: string } },
    );
    const namespace = documents.find((d) => d.kind === "Namespace")?.metadata.name;
    if (!namespace) throw new Error("install.yaml creates its namespace");
    // A dry run creates nothing, so the namespaced objects need their namespace to exist already.
    const existed = kubectl("get", "namespace", namespace, "--ignore-not-found", "-o", "name").trim() !== "";
    if (!existed) ensureRestrictedNamespace(namespace);
    try {
      const applied = run("kubectl", ["apply", "--server-side", "--dry-run=server", "-f", install]);
      expect(applied.trim().split("\n")).toHaveLength(documents.length);
    } finally {
      if (!existed) kubectl("delete", "namespace", namespace, "--ignore-not-found", "--wait=false");
    }
  });

  it("installs into a namespace enforcing restricted Pod Security: two ready replicas, exactly one leading", async () => {
    installOperator(release, [
      "--set",
      "metrics.serviceMonitor.enabled=true",
      "--set",
      "metrics.prometheusRule.enabled=true",
    ]);
    const pods = operatorPods();
    expect(pods).toHaveLength(2);
    for (const pod of pods) {
      expect(pod.status.conditions?.find((c) => c.type === "Ready")?.status).toBe("True");
      expect(pod.spec.securityContext).toMatchObject({
        runAsNonRoot: true,
        seccompProfile: { type: "RuntimeDefault" },
      });
    }
    // Relabelling the namespace server-side re-checks every running pod against the level and warns on any
    // that would be rejected; the operator's pods give no warning.
    const check = execFileSync(
      "kubectl",
      [
        "label",
        "namespace",
        release.namespace,
        "--dry-run=server",
        "--overwrite",
        "pod-security.kubernetes.io/enforce=restricted",
      ],
      { env: { ...process.env, KUBECONFIG: kubeconfig }, encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] },
    );
    expect(check).toContain("labeled");
    const holder = await leaseHeldBy((name) => name !== "");
    expect(pods.map((p) => p.metadata.name)).toContain(holder);
  });

  it("grants the operator's service account what it uses and nothing more", () => {
    const can = (verb: string, resource: string, namespace = filmsNamespace) =>
      execFileSync("kubectl", ["auth", "can-i", verb, resource, "-n", namespace, "--as", serviceAccount], {
        env: { ...process.env, KUBECONFIG: kubeconfig },
        encoding: "utf8",
        stdio: ["ignore", "pipe", "ignore"],
      }).trim();
    const answer = (verb: string, resource: string, namespace?: string) => {
      try {
        return can(verb, resource, namespace);
      } catch (error) {
        // `can-i` exits 1 when the answer is no.
        return ((error as { stdout?: string }).stdout ?? "").trim();
      }
    };
    const allowed = [
      ["watch", "longvideos.longvideo.dev"],
      ["patch", "longvideos.longvideo.dev/status"],
      ["create", "jobs.batch"],
      ["delete", "jobs.batch"],
      ["list", "pods"],
      ["create", "persistentvolumeclaims"],
      ["create", "events.events.k8s.io"],
    ];
    const denied = [
      ["get", "secrets"],
      ["list", "configmaps"],
      ["create", "pods"],
      ["delete", "pods"],
      ["update", "longvideos.longvideo.dev"],
      ["delete", "longvideos.longvideo.dev"],
      ["create", "longvideos.longvideo.dev"],
      ["patch", "jobs.batch"],
      ["delete", "nodes"],
      ["create", "rolebindings.rbac.authorization.k8s.io"],
    ];
    expect(allowed.map(([verb = "", resource = ""]) => `${verb} ${resource}: ${answer(verb, resource)}`)).toEqual(
      allowed.map(([verb = "", resource = ""]) => `${verb} ${resource}: yes`),
    );
    expect(denied.map(([verb = "", resource = ""]) => `${verb} ${resource}: ${answer(verb, resource)}`)).toEqual(
      denied.map(([verb = "", resource = ""]) => `${verb} ${resource}: no`),
    );
    // The Lease is the only thing it may write in its own namespace, and only there.
    expect(answer("update", "leases.coordination.k8s.io", release.namespace)).toBe("yes");
    expect(answer("update", "leases.coordination.k8s.io", filmsNamespace)).toBe("no");
  });

  it("has the API server put the operator's Lease requests, and only those, in the leader-election priority level", () => {
    // The API server names the FlowSchema and priority level that classified a request in its response headers;
    // kubectl prints them on stderr at -v=9. Impersonation comes before API Priority and Fairness in its handler
    // chain. The request asked for is kubectl's last (discovery, when not cached, comes first), so its headers are the
    // last of their kind in the trace.
    const classification = (...args: string[]) => {
      const traced = spawnSync("kubectl", [...args, "--as", serviceAccount, "-v=9", "-o", "name"], {
        env: { ...process.env, KUBECONFIG: kubeconfig },
        encoding: "utf8",
        stdio: ["ignore", "ignore", "pipe"],
      });
      expect(traced.status, traced.stderr.slice(-2000)).toBe(0);
      const last = (header: string) =>
        [...traced.stderr.matchAll(new RegExp(`${header}: (\\S+)`, "gi"))].map((m) => m[1]).at(-1);
      return {
        flowSchema: last("X-Kubernetes-Pf-Flowschema-Uid"),
        priorityLevel: last("X-Kubernetes-Pf-Prioritylevel-Uid"),
      };
    };
    const uid = (kind: string, name: string) => kubectl("get", kind, name, "-o", "jsonpath={.metadata.uid}");
    const flowSchema = uid("flowschema", "longvideo-operator-leader-election");
    const leaderElection = uid("prioritylevelconfiguration", "leader-election");
    expect(flowSchema).not.toBe("");
    expect(classification("get", "lease", "longvideo-operator", "-n", release.namespace)).toEqual({
      flowSchema,
      priorityLevel: leaderElection,
    });
    const podList = classification("get", "pods", "-n", filmsNamespace);
    expect(podList.flowSchema).toBeDefined();
    expect(podList.flowSchema).not.toBe(flowSchema);
    expect(podList.priorityLevel).not.toBe(leaderElection);
  });

  it("renders the example film on the real node: frames and duration as planned, every clip continuing the last", async () => {
    prometheus = await startPrometheus({ namespace: release.namespace, serviceName: "longvideo-operator" });
    ensureRestrictedNamespace(filmsNamespace);
    createReferenceImage(filmsNamespace, "harbour-still", "image.png", "832x480");
    const name = applyFilm(filmsNamespace, example);
    const phases: string[] = [];
    film = await watchFilm(filmsNamespace, name, (f) => phases.push(f.status?.phase ?? "Pending"), 600_000);
    expect(film.status?.phase, JSON.stringify(film.status?.conditions)).toBe("Succeeded");
    expect(phases).toEqual(expect.arrayContaining(["Rendering", "Succeeded"]));

    const planned = examplePlan();
    expect(film.status?.output?.frames).toBe(planned.frames);
    expect(film.status?.output?.seconds).toBeCloseTo(planned.seconds, 1);
    // Every segment ran on the real node, in the runtime image.
    expect(film.status?.segments?.map((s) => s.node)).toEqual(Array(planned.segments).fill("lv-local"));

    const out = copyFilmOut(filmsNamespace, film, path.join(repoRoot, ".cache/e2e/out"));
    const facts = videoFacts(out.film);
    expect(facts).toMatchObject({ frames: planned.frames, width: 832, height: 480, fps: 16, codec: "h264" });
    expect(facts.seconds).toBeCloseTo(planned.seconds, 1);
    expect(readFileSync(out.contactSheet).subarray(1, 4).toString()).toBe("PNG");

    // Continuity, in the picture above the caption bar: the step from one clip's last kept frame to the next
    // clip's first frame is no bigger than the camera's steps inside a clip, and far smaller than a whole clip's move.
    const workspace = workspaceDirectory(filmsNamespace, `${name}-workspace`);
    const [w, h] = [208, 120];
    const rows = Math.floor(h * 0.75);
    const records = [...(film.status?.segments ?? [])].sort((a, b) => a.index - b.index);
    expect(records).toHaveLength(planned.segments);
    const clips = records.map((record) =>
      grayFrames(path.join(segmentFilesDirectory(workspace, record), "clip.mp4"), w, h),
    );
    for (let i = 1; i < clips.length; i++) {
      const previous = clips[i - 1] ?? [];
      const current = clips[i] ?? [];
      const last = previous.at(-1);
      const first = current[0];
      if (!last || !first) throw new Error(`clip ${String(i)} or its predecessor has no frames`);
      const join = meanAbsoluteDifference(last, first, w, rows);
      const steps = previous.slice(1).map((f, k) => meanAbsoluteDifference(previous[k] ?? f, f, w, rows));
      const largestStep = Math.max(...steps);
      const wholeClip = meanAbsoluteDifference(previous[0] ?? last, first, w, rows);
      expect(join, `join into clip ${String(i)}`).toBeLessThanOrEqual(largestStep * 1.5 + 1);
      expect(join * 4, `join into clip ${String(i)} vs the clip's whole move`).toBeLessThan(wholeClip);
    }
  });

  it("is scraped by Prometheus on every replica, with the chart's rules healthy and every dashboard query answered", async () => {
    const scraper = prometheus;
    if (!scraper) throw new Error("Prometheus was started by the film test");
    // Rates need two samples after the film's last events; scrapes are every 2s.
    await sleep(6000);
    const up = await scraper.query('up{job="longvideo-operator"}');
    expect(up.map((s) => s.value[1])).toEqual(["1", "1"]);

    const rules = await scraper.rules();
    expect(rules.length).toBeGreaterThan(5);
    expect(rules.filter((r) => r.health !== "ok")).toEqual([]);
    expect(rules.find((r) => r.name === "LongVideoOperatorDown")?.state).toBe("inactive");

    const dashboard = JSON.parse(readFileSync(path.join(chartDir, "files/grafana-dashboard.json"), "utf8")) as {
      panels: { title: string; targets?: { expr: string }[] }[];
    };
    const queries = dashboard.panels.flatMap((p) => (p.targets ?? []).map((t) => ({ panel: p.title, expr: t.expr })));
    expect(queries.length).toBeGreaterThanOrEqual(10);
    const answers = await Promise.all(
      queries.map(async ({ panel, expr }) => {
        const result = await scraper.query(expr.replaceAll("$__rate_interval", "5m"));
        const values = result.map((s) => Number(s.value[1])).filter((v) => !Number.isNaN(v));
        return { panel, expr, series: values.length };
      }),
    );
    expect(answers.filter((a) => a.series === 0)).toEqual([]);
    // What the film did is what the dashboard shows.
    const succeeded = await scraper.query('sum(longvideo_segments_total{result="succeeded"})');
    expect(Number(succeeded[0]?.value[1])).toBe(film.status?.segments?.length);
  });

  it("upgrades in place with helm: new settings roll out, the finished film is kept and nothing is rendered again", async () => {
    const jobsBefore = segmentJobNames(film.metadata.name);
    const podsBefore = operatorPods().map((p) => p.metadata.uid);
    installOperator(release, [
      "--set",
      "metrics.serviceMonitor.enabled=true",
      "--set",
      "metrics.prometheusRule.enabled=true",
      "--set",
      "logLevel=debug",
      "--set",
      "concurrency=2",
    ]);
    // helm --wait returns once the new replicas are ready; the old ones may still be shutting down.
    let pods = operatorPods();
    for (let i = 0; i < 120 && pods.some((p) => podsBefore.includes(p.metadata.uid)); i++) {
      await sleep(500);
      pods = operatorPods();
    }
    expect(
      pods.filter((p) => p.status.conditions?.some((c) => c.type === "Ready" && c.status === "True")),
    ).toHaveLength(2);
    for (const pod of pods) {
      expect(podsBefore).not.toContain(pod.metadata.uid);
      const env = Object.fromEntries((pod.spec.containers[0]?.env ?? []).map((e) => [e.name, e.value]));
      expect(env).toMatchObject({ LV_LOG_LEVEL: "debug", LV_CONCURRENCY: "2" });
    }
    const history = parse(run("helm", ["history", release.name, "-n", release.namespace, "-o", "yaml"])) as {
      revision: number;
      status: string;
    }[];
    expect(history.at(-1)).toMatchObject({ revision: 2, status: "deployed" });
    // Let the new leader resync the film, then check it left everything as it was.
    const holder = await leaseHeldBy((name) => pods.some((p) => p.metadata.name === name));
    expect(pods.map((p) => p.metadata.name)).toContain(holder);
    await sleep(3000);
    expect(readFilm(filmsNamespace, film.metadata.name).status?.phase).toBe("Succeeded");
    expect(segmentJobNames(film.metadata.name)).toEqual(jobsBefore);
  });
});
