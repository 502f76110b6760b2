/**
 * The chart's `watchNamespaces` and `watchNodes`: what RBAC each renders, that two releases render no object in
 * common but the CRD, and that the chart grants what the plain install generator grants for the same scope.
 * Runs the pinned helm; without it these tests fail rather than skip.
 */
import { describe, expect, it } from "vitest";
import { operatorConfig } from "../../src/config/operator-config.ts";
import { installObjects } from "../../src/install/install-yaml.ts";
import { operatorInstall, scopedInstall } from "../../src/install/operator-install.ts";
import { helmTemplate, renderedObjects } from "../support/pinned-helm.ts";

interface Rule {
  apiGroups: string[];
  resources: string[];
  verbs: string[];
}

interface ObjectView {
  kind: string;
  metadata: { name: string; namespace?: string };
  rules?: Rule[];
  roleRef?: { kind: string; name: string };
  subjects?: { kind: string; name: string; namespace?: string }[];
  spec?: { template?: { spec?: { containers: { env?: { name: string; value?: string }[] }[] } } };
}

const release = { name: "films", namespace: "films-system" };
const fullname = "films-longvideo-operator";
const serviceAccount = { kind: "ServiceAccount", name: fullname, namespace: release.namespace };
const render = (...values: string[]) => renderedObjects<ObjectView>(helmTemplate(release, values));
const ofKind = (objects: ObjectView[], kind: string) => objects.filter((object) => object.kind === kind);
const plain = (rules: typeof operatorInstall.namespacedRules): Rule[] =>
  rules.map(({ apiGroups, resources, verbs }) => ({
    apiGroups: [...apiGroups],
    resources: [...resources],
    verbs: [...verbs],
  }));
const clusterScopedResources = new Set(["nodes"]);

/** The operator's configuration from a rendered Deployment's environment (downward API values filled in). */
function configOf(objects: ObjectView[]) {
  const env = ofKind(objects, "Deployment")[0]?.spec?.template?.spec?.containers[0]?.env ?? [];
  const parsed = operatorConfig(Object.fromEntries(env.map((e) => [e.name, e.value ?? "from-the-pod"])));
  if (!parsed.ok) throw new Error(parsed.errors.join("\n"));
  return parsed.config;
}

describe("the chart's watchNamespaces", () => {
  it("by default (every namespace), renders one ClusterRole with every rule, and no Role but the Lease's", () => {
    const objects = render();
    const clusterRoles = ofKind(objects, "ClusterRole");
    expect(clusterRoles.map((r) => r.metadata.name)).toEqual([fullname]);
    expect(clusterRoles[0]?.rules).toEqual(plain([...operatorInstall.namespacedRules, ...operatorInstall.nodeRules]));
    expect(ofKind(objects, "ClusterRoleBinding")[0]?.subjects).toEqual([serviceAccount]);
    expect(ofKind(objects, "Role").map((r) => `${r.metadata.namespace ?? ""}/${r.metadata.name}`)).toEqual([
      `${release.namespace}/${fullname}-leader-election`,
    ]);
    expect(configOf(objects)).toMatchObject({ watchNamespaces: [], watchNodes: true });
  });

  it("with [a, b], renders a Role and RoleBinding in a and in b, and no ClusterRole granting a namespaced resource", () => {
    const objects = render("watchNamespaces={team-a,team-b}");
    const roles = ofKind(objects, "Role").filter((r) => r.metadata.name === fullname);
    expect(roles.map((r) => r.metadata.namespace).sort()).toEqual(["team-a", "team-b"]);
    for (const role of roles) expect(role.rules).toEqual(plain(operatorInstall.namespacedRules));
    const bindings = ofKind(objects, "RoleBinding").filter((b) => b.metadata.name === fullname);
    expect(bindings.map((b) => b.metadata.namespace).sort()).toEqual(["team-a", "team-b"]);
    for (const binding of bindings) {
      expect(binding.roleRef).toMatchObject({ kind: "Role", name: fullname });
      expect(binding.subjects).toEqual([serviceAccount]);
    }
    // Cluster-wide, only nodes, read-only.
    const clusterRoles = ofKind(objects, "ClusterRole");
    expect(clusterRoles.map((r) => r.metadata.name)).toEqual([`${fullname}-nodes`]);
    for (const rule of clusterRoles.flatMap((r) => r.rules ?? [])) {
      for (const resource of rule.resources) expect(clusterScopedResources.has(resource), resource).toBe(true);
      expect(rule.verbs).toEqual(["list", "watch"]);
    }
    expect(ofKind(objects, "ClusterRoleBinding").map((b) => b.roleRef?.name)).toEqual([`${fullname}-nodes`]);
    // The Lease stays in the release's namespace.
    const lease = ofKind(objects, "Role").find((r) => r.metadata.name === `${fullname}-leader-election`);
    expect(lease?.metadata.namespace).toBe(release.namespace);
    expect(configOf(objects)).toMatchObject({ watchNamespaces: ["team-a", "team-b"], watchNodes: true });
  });

  it("with watchNodes=false as well, renders nothing cluster-wide", () => {
    const objects = render("watchNamespaces={team-a}", "watchNodes=false");
    expect(ofKind(objects, "ClusterRole")).toEqual([]);
    expect(ofKind(objects, "ClusterRoleBinding")).toEqual([]);
    expect(configOf(objects)).toMatchObject({ watchNamespaces: ["team-a"], watchNodes: false });
  });

  it("with watchNodes=false over every namespace, leaves nodes out of the ClusterRole", () => {
    const objects = render("watchNodes=false");
    expect(ofKind(objects, "ClusterRole")[0]?.rules).toEqual(plain(operatorInstall.namespacedRules));
  });

  it("refuses a namespace name that is not a DNS-1123 label, and a namespace named twice", () => {
    expect(() => render("watchNamespaces={Team_A}")).toThrow(/watchNamespaces/);
    expect(() => render("watchNamespaces={team-a,team-a}")).toThrow(/watchNamespaces/);
  });

  it("grants what the plain install generator grants for the same scope", () => {
    const chart = renderedObjects<ObjectView>(
      helmTemplate({ name: operatorInstall.name, namespace: operatorInstall.namespace }, [
        "watchNamespaces={team-a,team-b}",
      ]),
    );
    const generated = installObjects(
      scopedInstall(operatorInstall, { watchNamespaces: ["team-a", "team-b"], watchNodes: true }),
    ) as unknown as ObjectView[];
    const grants = (objects: ObjectView[]) =>
      objects
        .filter((o) => ["Role", "RoleBinding", "ClusterRole", "ClusterRoleBinding"].includes(o.kind))
        .map(({ kind, metadata, rules, roleRef, subjects }) => ({
          kind,
          name: metadata.name,
          namespace: metadata.namespace,
          rules,
          roleRef,
          subjects,
        }))
        .sort((a, b) =>
          `${a.kind}/${a.namespace ?? ""}/${a.name}`.localeCompare(`${b.kind}/${b.namespace ?? ""}/${b.name}`),
        );
    expect(grants(chart)).toEqual(grants(generated));
  });
});

describe("two releases of the chart in one cluster", () => {
  const keys = (name: string, namespace: string, watched: string) =>
    renderedObjects<ObjectView>(
      helmTemplate({ name, namespace }, [`watchNamespaces={${watched}}`], ["--include-crds"]),
    ).map((o) => `${o.kind} ${o.metadata.namespace ?? "-"}/${o.metadata.name}`);

  it("share no object but the CRD, which Helm installs from crds/ only when it is absent", () => {
    const first = keys("films-a", "team-a-system", "team-a");
    const second = keys("films-b", "team-b-system", "team-b");
    expect(first.length).toBeGreaterThan(5);
    expect(first.filter((key) => second.includes(key))).toEqual([
      "CustomResourceDefinition -/longvideos.longvideo.dev",
    ]);
  });

  it("share no object but the CRD even when installed in one namespace", () => {
    const first = keys("films-a", "films-system", "team-a");
    const second = keys("films-b", "films-system", "team-b");
    expect(first.filter((key) => second.includes(key))).toEqual([
      "CustomResourceDefinition -/longvideos.longvideo.dev",
    ]);
  });
});
