import { readFileSync } from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { parseAllDocuments } from "yaml";
import { longVideoCrd } from "../api/long-video-crd.ts";
import { operatorConfig } from "../config/operator-config.ts";
import { installObjects, installYaml, rbacRulesYaml } from "./install-yaml.ts";
import { operatorInstall, scopedInstall } from "./operator-install.ts";

const repoRoot = path.resolve(import.meta.dirname, "../..");
const committed = (file: string) => readFileSync(path.join(repoRoot, file), "utf8");

interface ObjectView {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string> };
  spec?: Record<string, unknown>;
  rules?: unknown[];
  roleRef?: { kind: string; name: string };
  subjects?: { kind: string; name: string; namespace?: string }[];
}

interface ContainerView {
  name: string;
  image: string;
  env: { name: string; value?: string; valueFrom?: { fieldRef?: { fieldPath: string } } }[];
  ports: { name: string; containerPort: number; hostPort?: number }[];
  livenessProbe: { httpGet: { path: string; port: string | number } };
  readinessProbe: { httpGet: { path: string; port: string | number } };
  resources: { requests?: Record<string, string>; limits?: Record<string, string> };
  securityContext?: {
    privileged?: boolean;
    allowPrivilegeEscalation?: boolean;
    readOnlyRootFilesystem?: boolean;
    runAsNonRoot?: boolean;
    runAsUser?: number;
    capabilities?: { drop?: string[]; add?: string[] };
    seccompProfile?: { type: string };
  };
}

interface DeploymentView {
  spec: {
    replicas: number;
    selector: { matchLabels: Record<string, string> };
    template: {
      metadata: { labels: Record<string, string> };
      spec: {
        serviceAccountName: string;
        hostNetwork?: boolean;
        hostPID?: boolean;
        hostIPC?: boolean;
        volumes?: Record<string, unknown>[];
        securityContext: {
          runAsNonRoot?: boolean;
          runAsUser?: number;
          seccompProfile?: { type: string };
        };
        initContainers?: ContainerView[];
        containers: ContainerView[];
      };
    };
  };
}

interface ServiceView {
  spec: { selector: Record<string, string>; ports: { name: string; port: number; targetPort: string | number }[] };
}

const objects = parseAllDocuments(committed("manifests/install.yaml")).map((document) => {
  if (document.errors.length > 0) throw new Error(document.errors.map((e) => e.message).join("\n"));
  return document.toJS() as ObjectView;
});

function only(kind: string): ObjectView {
  const found = objects.filter((object) => object.kind === kind);
  const [first] = found;
  if (!first || found.length > 1)
    throw new Error(`install.yaml has ${String(found.length)} ${kind} objects, expected 1`);
  return first;
}

const deployment = only("Deployment") as ObjectView & DeploymentView;
const podSpec = deployment.spec.template.spec;
const containers = [...(podSpec.initContainers ?? []), ...podSpec.containers];
const operator = podSpec.containers[0];

describe("manifests/install.yaml", () => {
  it("is committed as generated (run `npm run generate` when this fails), and so are the chart's RBAC rules", () => {
    expect(committed("manifests/install.yaml")).toBe(installYaml());
    expect(committed("charts/longvideo-operator/files/rbac-rules.yaml")).toBe(rbacRulesYaml());
  });

  it("holds the operator's objects, the namespace first so that `kubectl apply -f` can create the rest in it", () => {
    expect(objects.map((object) => `${object.apiVersion} ${object.kind}`)).toEqual([
      "v1 Namespace",
      "apiextensions.k8s.io/v1 CustomResourceDefinition",
      "v1 ServiceAccount",
      "rbac.authorization.k8s.io/v1 ClusterRole",
      "rbac.authorization.k8s.io/v1 ClusterRoleBinding",
      "rbac.authorization.k8s.io/v1 Role",
      "rbac.authorization.k8s.io/v1 RoleBinding",
      "flowcontrol.apiserver.k8s.io/v1 FlowSchema",
      "apps/v1 Deployment",
      "policy/v1 PodDisruptionBudget",
      "v1 Service",
    ]);
    const clusterScoped = new Set([
      "Namespace",
      "CustomResourceDefinition",
      "ClusterRole",
      "ClusterRoleBinding",
      "FlowSchema",
    ]);
    for (const object of objects) {
      const where = `${object.kind} ${object.metadata.name}`;
      if (clusterScoped.has(object.kind)) expect(object.metadata.namespace, where).toBeUndefined();
      else expect(object.metadata.namespace, where).toBe("longvideo-system");
    }
    expect(only("Namespace").metadata.name).toBe("longvideo-system");
  });

  it("installs the generated CRD unchanged", () => {
    const crd = only("CustomResourceDefinition");
    expect(crd.metadata.name).toBe("longvideos.longvideo.dev");
    expect(crd.spec).toEqual(longVideoCrd().spec);
  });

  it("enforces the restricted Pod Security level on its namespace", () => {
    expect(only("Namespace").metadata.labels).toMatchObject({ "pod-security.kubernetes.io/enforce": "restricted" });
  });

  it("runs a Deployment that satisfies the restricted Pod Security level, field by field", () => {
    // Baseline: no host namespaces, no host ports, no privileged containers, no hostPath volumes.
    expect(podSpec.hostNetwork ?? false).toBe(false);
    expect(podSpec.hostPID ?? false).toBe(false);
    expect(podSpec.hostIPC ?? false).toBe(false);
    for (const volume of podSpec.volumes ?? []) expect(volume).not.toHaveProperty("hostPath");
    // Restricted: non-root, RuntimeDefault seccomp, no escalation, every capability dropped.
    expect(podSpec.securityContext.runAsNonRoot).toBe(true);
    expect(podSpec.securityContext.runAsUser).toBeGreaterThan(0);
    expect(podSpec.securityContext.seccompProfile?.type).toBe("RuntimeDefault");
    expect(containers.length).toBeGreaterThan(0);
    for (const container of containers) {
      const context = container.securityContext;
      expect(context?.privileged ?? false, container.name).toBe(false);
      expect(context?.allowPrivilegeEscalation, container.name).toBe(false);
      expect(context?.capabilities?.drop, container.name).toContain("ALL");
      expect(context?.capabilities?.add ?? [], container.name).toEqual([]);
      expect(context?.runAsNonRoot ?? true, container.name).toBe(true);
      expect(context?.runAsUser ?? 1, container.name).not.toBe(0);
      expect(context?.readOnlyRootFilesystem, container.name).toBe(true);
      for (const port of container.ports) expect(port.hostPort, container.name).toBeUndefined();
    }
  });

  it("runs two leader-elected replicas with probes on the metrics port, resources, and their identity from the downward API", () => {
    if (!operator) throw new Error("no container");
    expect(deployment.spec.replicas).toBe(2);
    expect(operator.image).toBe(`ghcr.io/longvideo/operator:${operatorInstall.version}`);
    expect(operator.ports).toEqual([{ name: "http-metrics", containerPort: 8080, protocol: "TCP" }]);
    expect(operator.livenessProbe.httpGet).toEqual({ path: "/healthz", port: "http-metrics" });
    expect(operator.readinessProbe.httpGet).toEqual({ path: "/readyz", port: "http-metrics" });
    expect(operator.resources.requests).toEqual({ cpu: "100m", memory: "128Mi" });
    expect(operator.resources.limits).toEqual({ cpu: "1", memory: "512Mi" });
    const fieldOf = (name: string) => operator.env.find((e) => e.name === name)?.valueFrom?.fieldRef?.fieldPath;
    expect(fieldOf("POD_NAME")).toBe("metadata.name");
    expect(fieldOf("POD_NAMESPACE")).toBe("metadata.namespace");
    expect(operator.env.find((e) => e.name === "LV_LEADER_ELECTION")?.value).toBe("true");
  });

  it("gives the operator an environment its configuration accepts, listening where the probes look", () => {
    if (!operator) throw new Error("no container");
    // The downward API's values, as the kubelet would fill them in.
    const downward: Record<string, string> = { "metadata.name": "longvideo-operator-0", "metadata.namespace": "ns" };
    const environment = Object.fromEntries(
      operator.env.map((e) => [e.name, e.value ?? downward[e.valueFrom?.fieldRef?.fieldPath ?? ""]]),
    );
    const parsed = operatorConfig(environment);
    if (!parsed.ok) throw new Error(parsed.errors.join("\n"));
    expect(parsed.config).toMatchObject({
      namespace: "ns",
      identity: "longvideo-operator-0",
      httpHost: "0.0.0.0",
      httpPort: 8080,
      leaderElection: true,
      leaseName: "longvideo-operator",
      defaultTolerations: [{ key: "nvidia.com/gpu", operator: "Exists", effect: "NoSchedule" }],
      watchNamespaces: [],
      watchNodes: true,
    });
  });

  it("binds the ServiceAccount the Deployment runs as to the ClusterRole and the leader-election Role", () => {
    const serviceAccount = only("ServiceAccount").metadata;
    expect(podSpec.serviceAccountName).toBe(serviceAccount.name);
    const subject = { kind: "ServiceAccount", name: serviceAccount.name, namespace: serviceAccount.namespace };
    expect(only("ClusterRoleBinding").roleRef).toMatchObject({
      kind: "ClusterRole",
      name: only("ClusterRole").metadata.name,
    });
    expect(only("ClusterRoleBinding").subjects).toEqual([subject]);
    expect(only("RoleBinding").roleRef).toMatchObject({ kind: "Role", name: only("Role").metadata.name });
    expect(only("RoleBinding").subjects).toEqual([subject]);
    expect(only("Role").rules).toEqual([
      { apiGroups: ["coordination.k8s.io"], resources: ["leases"], verbs: ["get", "create", "update"] },
    ]);
  });

  it("exposes the metrics port through a Service that selects exactly the Deployment's pods", () => {
    const service = only("Service") as ObjectView & ServiceView;
    expect(service.spec.selector).toEqual(deployment.spec.selector.matchLabels);
    expect(deployment.spec.template.metadata.labels).toMatchObject(service.spec.selector);
    expect(service.spec.ports).toEqual([
      { name: "http-metrics", port: 8080, targetPort: "http-metrics", protocol: "TCP" },
    ]);
  });
});

describe("an install watching some namespaces (scopedInstall)", () => {
  const plain = (rules: typeof operatorInstall.namespacedRules) =>
    rules.map(({ apiGroups, resources, verbs }) => ({ apiGroups, resources, verbs }));
  const scoped = (watchNamespaces: string[], watchNodes: boolean) =>
    installObjects(scopedInstall(operatorInstall, { watchNamespaces, watchNodes })) as unknown as ObjectView[];
  const { name, namespace } = operatorInstall;
  const subject = { kind: "ServiceAccount", name, namespace };

  it("grants the operator's rules by a Role in each watched namespace, bound to its ServiceAccount", () => {
    const objects = scoped(["team-a", "team-b"], true);
    const roles = objects.filter((o) => o.kind === "Role" && o.metadata.name === name);
    expect(roles.map((r) => r.metadata.namespace)).toEqual(["team-a", "team-b"]);
    for (const role of roles) expect(role.rules).toEqual(plain(operatorInstall.namespacedRules));
    const bindings = objects.filter((o) => o.kind === "RoleBinding" && o.metadata.name === name);
    expect(bindings.map((b) => b.metadata.namespace)).toEqual(["team-a", "team-b"]);
    for (const binding of bindings) {
      expect(binding.roleRef).toMatchObject({ kind: "Role", name });
      expect(binding.subjects).toEqual([subject]);
    }
  });

  it("grants nothing cluster-wide but reading nodes, and that by a ClusterRole of its own", () => {
    const objects = scoped(["team-a"], true);
    const clusterRoles = objects.filter((o) => o.kind === "ClusterRole");
    expect(clusterRoles.map((r) => r.metadata.name)).toEqual([`${name}-nodes`]);
    expect(clusterRoles[0]?.rules).toEqual([{ apiGroups: [""], resources: ["nodes"], verbs: ["list", "watch"] }]);
    const binding = objects.find((o) => o.kind === "ClusterRoleBinding");
    expect(binding?.roleRef).toMatchObject({ kind: "ClusterRole", name: `${name}-nodes` });
    expect(binding?.subjects).toEqual([subject]);
  });

  it("without nodes, grants nothing cluster-wide at all", () => {
    const kinds = scoped(["team-a"], false).map((o) => o.kind);
    expect(kinds).not.toContain("ClusterRole");
    expect(kinds).not.toContain("ClusterRoleBinding");
  });

  it("keeps the leader-election Role where the operator runs", () => {
    const role = scoped(["team-a"], true).find((o) => o.metadata.name === operatorInstall.leaderElectionRoleName);
    expect(role?.metadata.namespace).toBe(namespace);
  });

  it("tells the operator the same scope its RBAC grants", () => {
    const scopedDeployment = scoped(["team-a", "team-b"], false).find((o) => o.kind === "Deployment") as
      (ObjectView & DeploymentView) | undefined;
    const env = scopedDeployment?.spec.template.spec.containers[0]?.env ?? [];
    const parsed = operatorConfig(Object.fromEntries(env.map((e) => [e.name, e.value ?? "x"])));
    if (!parsed.ok) throw new Error(parsed.errors.join("\n"));
    expect(parsed.config.watchNamespaces).toEqual(["team-a", "team-b"]);
    expect(parsed.config.watchNodes).toBe(false);
  });
});
