import { describe, expect, it } from "vitest";
import {
  defaultOperatorFilmPolicy,
  filmPolicyViolations,
  namespaceFilmPolicy,
  operatorFilmPolicySchema,
} from "./film-policy.ts";
import type { PolicedSpec } from "./film-policy.ts";

const chartDefaults = {
  nodeSelector: { "longvideo.dev/pool": "h100" },
  tolerations: [{ key: "nvidia.com/gpu", operator: "Exists" as const, effect: "NoSchedule" as const }],
};
const plain: PolicedSpec = { gpu: { resourceName: "nvidia.com/gpu" } };
const underDefault = (spec: PolicedSpec) =>
  filmPolicyViolations(spec, namespaceFilmPolicy(defaultOperatorFilmPolicy, "studio", chartDefaults));
const paths = (violations: readonly { path: string }[]) => violations.map((v) => v.path);

describe("the default film policy", () => {
  it("lets a film ask for what the chart's own GPU pool uses, named explicitly", () => {
    expect(
      underDefault({
        gpu: {
          resourceName: "nvidia.com/gpu",
          nodeSelector: { "longvideo.dev/pool": "h100", "nvidia.com/gpu.product": "NVIDIA-H100-80GB-HBM3" },
          tolerations: [{ key: "nvidia.com/gpu", operator: "Exists", effect: "NoSchedule" }],
        },
        podMetadata: { labels: { "app.kubernetes.io/part-of": "trailer" } },
      }),
    ).toEqual([]);
    expect(underDefault(plain)).toEqual([]);
  });

  it("refuses system priority classes, naming the field, the policy and what is allowed", () => {
    const [violation, ...rest] = underDefault({ gpu: { ...plain.gpu, priorityClassName: "system-node-critical" } });
    expect(rest).toEqual([]);
    expect(violation?.path).toBe("spec.gpu.priorityClassName");
    expect(violation?.message).toBe(
      `priority class "system-node-critical" is not allowed by the operator's film policy (none are allowed)`,
    );
  });

  it("refuses a key-less toleration (it tolerates control-plane taints) and taints outside the pool", () => {
    const violations = underDefault({
      gpu: {
        ...plain.gpu,
        tolerations: [
          { operator: "Exists" },
          { key: "node-role.kubernetes.io/control-plane", operator: "Exists", effect: "NoSchedule" },
          { key: "nvidia.com/gpu", operator: "Exists" },
          { key: "nvidia.com/gpu", operator: "Exists", effect: "NoExecute", tolerationSeconds: 60 },
        ],
      },
    });
    expect(paths(violations)).toEqual([
      "spec.gpu.tolerations[0]",
      "spec.gpu.tolerations[1]",
      "spec.gpu.tolerations[2]",
      "spec.gpu.tolerations[3]",
    ]);
    expect(violations[0]?.message).toContain("a toleration without a key (it tolerates every taint)");
    expect(violations[1]?.message).toContain(`taint "node-role.kubernetes.io/control-plane"`);
    expect(violations[2]?.message).toContain("no effect tolerates every effect");
    expect(violations[3]?.message).toContain("with effect NoExecute");
  });

  it("refuses node keys that pin pods to chosen nodes, in selectors and in every affinity term", () => {
    const violations = underDefault({
      gpu: {
        ...plain.gpu,
        nodeSelector: { "kubernetes.io/hostname": "control-plane-0" },
        affinity: {
          nodeAffinity: {
            requiredDuringSchedulingIgnoredDuringExecution: {
              nodeSelectorTerms: [{ matchFields: [{ key: "metadata.name", operator: "In", values: ["cp-0"] }] }],
            },
            preferredDuringSchedulingIgnoredDuringExecution: [
              {
                weight: 1,
                preference: {
                  matchExpressions: [{ key: "node-role.kubernetes.io/control-plane", operator: "Exists" }],
                },
              },
            ],
          },
          podAntiAffinity: {
            preferredDuringSchedulingIgnoredDuringExecution: [
              { weight: 10, podAffinityTerm: { topologyKey: "nvidia.com/gpu.product", namespaces: ["payments"] } },
            ],
          },
        },
      },
    });
    expect(paths(violations)).toEqual([
      `spec.gpu.nodeSelector["kubernetes.io/hostname"]`,
      "spec.gpu.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms[0].matchFields[0].key",
      "spec.gpu.affinity.nodeAffinity.preferredDuringSchedulingIgnoredDuringExecution[0].preference.matchExpressions[0].key",
      "spec.gpu.affinity.podAntiAffinity.preferredDuringSchedulingIgnoredDuringExecution[0].podAffinityTerm.namespaces",
    ]);
  });

  it("refuses other extended resources and pod labels and annotations outside the allowed prefixes", () => {
    const violations = underDefault({
      gpu: { resourceName: "example.com/fpga" },
      podMetadata: {
        labels: { "app.kubernetes.io/name": "ok", "networking.example.com/allow-egress": "true" },
        annotations: { "kubernetes.io/psp": "privileged" },
      },
    });
    expect(paths(violations)).toEqual([
      "spec.gpu.resourceName",
      `spec.podMetadata.labels["networking.example.com/allow-egress"]`,
      `spec.podMetadata.annotations["kubernetes.io/psp"]`,
    ]);
    expect(violations[1]?.message).toContain(`allowed prefixes: "app.kubernetes.io/"`);
  });
});

describe("policies by namespace", () => {
  const policy = operatorFilmPolicySchema.parse({
    priorityClassNames: ["render-batch"],
    namespaces: {
      trusted: { priorityClassNames: ["render-batch", "render-urgent"], podAnnotationPrefixes: [""] },
      locked: { nodeLabelKeys: [], extendedResources: ["nvidia.com/gpu"], podLabelPrefixes: [] },
    },
  });
  const wants = { gpu: { ...plain.gpu, priorityClassName: "render-urgent" } };

  it("a namespace's own policy replaces the default: wider", () => {
    const trusted = namespaceFilmPolicy(policy, "trusted", chartDefaults);
    expect(filmPolicyViolations({ ...wants, podMetadata: { annotations: { "any/key": "v" } } }, trusted)).toEqual([]);
    const elsewhere = filmPolicyViolations(wants, namespaceFilmPolicy(policy, "studio", chartDefaults));
    expect(elsewhere[0]?.message).toBe(
      `priority class "render-urgent" is not allowed by the operator's film policy (allowed: "render-batch")`,
    );
  });

  it("a namespace's own policy replaces the default: narrower, but never below the chart's own defaults", () => {
    const locked = namespaceFilmPolicy(policy, "locked", chartDefaults);
    const violations = filmPolicyViolations(
      {
        gpu: { ...plain.gpu, nodeSelector: { "longvideo.dev/pool": "h100", "nvidia.com/gpu.product": "H100" } },
        podMetadata: { labels: { "app.kubernetes.io/name": "x" } },
      },
      locked,
    );
    expect(violations.map((v) => v.message)).toEqual([
      `node label key "nvidia.com/gpu.product" is not allowed by the film policy of namespace locked (allowed: "longvideo.dev/pool")`,
      `pod label "app.kubernetes.io/name" is not allowed by the film policy of namespace locked (none are allowed)`,
    ]);
  });

  it("rejects a malformed policy with the field named", () => {
    const parsed = operatorFilmPolicySchema.safeParse({ tolerations: [{ key: "nvidia.com/gpu", effects: ["Never"] }] });
    expect(parsed.success).toBe(false);
    expect(parsed.error?.issues[0]?.path).toEqual(["tolerations", 0, "effects", 0]);
  });
});
