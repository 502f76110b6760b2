/**
 * The Helm chart and `manifests/install.yaml` install the same operator: what the chart renders with its default
 * values, for a release named like the chart in the install's namespace, grants the same rules and runs the same
 * pod. Runs the pinned helm (`make binaries` builds it); without it these tests fail rather than skip.
 */
import { readFileSync } from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { operatorConfig } from "../../src/config/operator-config.ts";
import { operatorInstall } from "../../src/install/operator-install.ts";
import { chartDir, helm, helmTemplate, pinnedVersion, renderedObjects } from "../support/pinned-helm.ts";

const repoRoot = path.resolve(import.meta.dirname, "../..");

interface ObjectView {
  kind: string;
  metadata: { name: string };
  rules?: unknown[];
  spec?: { template?: { spec?: PodSpecView } } & Record<string, unknown>;
}

interface PodSpecView {
  containers: { name: string; image: string; env?: { name: string; value?: string }[] }[];
}

function find(objects: readonly ObjectView[], kind: string, name: string, source: string): ObjectView {
  const found = objects.find((object) => object.kind === kind && object.metadata.name === name);
  if (!found) throw new Error(`${source} has no ${kind} ${name}`);
  return found;
}

const podSpec = (deployment: ObjectView): PodSpecView => {
  const spec = deployment.spec?.template?.spec;
  if (!spec) throw new Error(`Deployment ${deployment.metadata.name} has no pod template`);
  return spec;
};

const { name, namespace, leaderElectionRoleName } = operatorInstall;
const install = renderedObjects<ObjectView>(readFileSync(path.join(repoRoot, "manifests/install.yaml"), "utf8"));

// Rendered on first use rather than in beforeAll, so that a missing helm fails every test instead of skipping them.
let rendered: ObjectView[] | undefined;
function chartObjects(): ObjectView[] {
  rendered ??= renderedObjects<ObjectView>(helmTemplate({ name, namespace }));
  return rendered;
}

describe("the Helm chart and manifests/install.yaml", () => {
  it("pass `helm lint --strict`", () => {
    const output = helm("lint", "--strict", chartDir);
    expect(output).toContain("0 chart(s) failed");
  });

  it("grant the same ClusterRole rules", () => {
    const rules = (objects: ObjectView[], source: string) => find(objects, "ClusterRole", name, source).rules;
    expect(rules(install, "install.yaml")).toEqual(rules(chartObjects(), "the chart"));
    expect(rules(chartObjects(), "the chart")?.length).toBe(
      operatorInstall.namespacedRules.length + operatorInstall.nodeRules.length,
    );
  });

  it("grant the same leader-election Role rules", () => {
    const rules = (objects: ObjectView[], source: string) =>
      find(objects, "Role", leaderElectionRoleName, source).rules;
    expect(rules(install, "install.yaml")).toEqual(rules(chartObjects(), "the chart"));
    expect(rules(chartObjects(), "the chart")?.length).toBe(operatorInstall.leaderElectionRules.length);
  });

  it("put the same Lease requests, of the operator's service account only, in the leader-election priority level", () => {
    const flowSchema = (objects: ObjectView[], source: string) =>
      find(objects, "FlowSchema", leaderElectionRoleName, source).spec;
    const spec = flowSchema(chartObjects(), "the chart");
    expect(flowSchema(install, "install.yaml")).toEqual(spec);
    expect(spec).toMatchObject({
      priorityLevelConfiguration: { name: operatorInstall.leaseFlowSchema.priorityLevel },
      matchingPrecedence: operatorInstall.leaseFlowSchema.matchingPrecedence,
      rules: [
        {
          subjects: [{ kind: "ServiceAccount", serviceAccount: { name, namespace } }],
          resourceRules: operatorInstall.leaderElectionRules.map((rule) => ({
            apiGroups: rule.apiGroups,
            resources: rule.resources,
            verbs: rule.verbs,
            namespaces: [namespace],
          })),
        },
      ],
    });
    const off = renderedObjects<ObjectView>(helmTemplate({ name, namespace }, ["leaderElection.flowSchema=false"]));
    expect(off.filter((object) => object.kind === "FlowSchema")).toEqual([]);
  });

  it("set the same environment variables on the operator", () => {
    const names = (objects: ObjectView[], source: string) =>
      podSpec(find(objects, "Deployment", name, source)).containers.flatMap((c) => (c.env ?? []).map((e) => e.name));
    expect(names(install, "install.yaml")).toEqual(names(chartObjects(), "the chart"));
  });

  it("run the same pod by default: image, env values, probes, ports, resources, security contexts", () => {
    const pod = (objects: ObjectView[], source: string) => podSpec(find(objects, "Deployment", name, source));
    expect(pod(install, "install.yaml")).toEqual(pod(chartObjects(), "the chart"));
  });

  it("install everything the chart renders by default, the Grafana dashboard aside", () => {
    const kinds = (objects: ObjectView[]) => objects.map((object) => object.kind);
    // The dashboard ConfigMap is only picked up by a Grafana sidecar; a plain install leaves it to the user.
    const expected = kinds(chartObjects()).filter((kind) => kind !== "ConfigMap");
    expect(kinds(install)).toEqual(expect.arrayContaining(expected));
  });

  it("pass by default a fetch policy that opens nothing, with the contract's limits", () => {
    const env = podSpec(find(chartObjects(), "Deployment", name, "the chart")).containers.flatMap((c) => c.env ?? []);
    const parsed = operatorConfig({ LV_FETCH_POLICY: env.find((e) => e.name === "LV_FETCH_POLICY")?.value });
    if (!parsed.ok) throw new Error(parsed.errors.join("; "));
    expect(parsed.config.fetchPolicy).toEqual({
      allowCidrs: [],
      refuseCidrs: [],
      maxBytes: 64 * 1024 * 1024,
      timeoutSeconds: 30,
    });
  });

  it("pass the fetch values on as one policy the operator accepts: cluster and other ranges refused", () => {
    const rendered = renderedObjects<ObjectView>(
      helm(
        "template",
        name,
        chartDir,
        "--namespace",
        namespace,
        "--kube-version",
        pinnedVersion("KUBERNETES_VERSION"),
        "--set-json",
        'fetch.allowCidrs=["10.88.0.1/32"]',
        "--set-json",
        'fetch.clusterCidrs=["100.64.0.0/16","fd00:10:96::/112"]',
        "--set-json",
        'fetch.refuseCidrs=["203.0.113.0/24"]',
        "--set-json",
        "fetch.maxBytes=1048576",
        "--set-json",
        "fetch.timeoutSeconds=7.5",
      ),
    );
    const env = podSpec(find(rendered, "Deployment", name, "the chart")).containers.flatMap((c) => c.env ?? []);
    const policy = env.find((e) => e.name === "LV_FETCH_POLICY")?.value;
    const parsed = operatorConfig({ LV_FETCH_POLICY: policy });
    if (!parsed.ok) throw new Error(parsed.errors.join("; "));
    expect(parsed.config.fetchPolicy).toEqual({
      allowCidrs: ["10.88.0.1/32"],
      refuseCidrs: ["100.64.0.0/16", "fd00:10:96::/112", "203.0.113.0/24"],
      maxBytes: 1048576,
      timeoutSeconds: 7.5,
    });
  });

  it("refuse a fetch range that is not in CIDR notation", () => {
    expect(() => helm("template", name, chartDir, "--set-json", 'fetch.clusterCidrs=["cluster.local"]')).toThrow(
      /'\/fetch\/clusterCidrs\/0': 'cluster.local' does not match/,
    );
  });
});
