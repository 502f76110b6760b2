/**
 * The parts of a core/v1 PodSpec that place a render pod on a GPU pool: tolerations and affinity. They are typed
 * here rather than passed through as free-form objects, so a mistake is rejected when the LongVideo is applied,
 * not minutes later when the first Job is created. Bounds are generous for real placements and small enough to
 * keep the CRD's validation cheap.
 */
import * as z from "zod";
import { celValidated } from "./cel-rules.ts";
import type { CelRule } from "./cel-rules.ts";
import { dnsLabel, labelValue, qualifiedName, qualifiedNameMap } from "./kubernetes-formats.ts";

/** A core/v1 Toleration. */
export const tolerationSchema = celValidated(
  z.strictObject({
    key: qualifiedName
      .exactOptional()
      .meta({ description: "Taint key the toleration applies to; empty matches all keys." }),
    operator: z
      .enum(["Exists", "Equal"])
      .exactOptional()
      .meta({ description: "Exists matches any value; Equal (Kubernetes' default) matches `value`." }),
    value: labelValue.exactOptional().meta({ description: "Taint value to match when the operator is Equal." }),
    effect: z
      .enum(["NoSchedule", "PreferNoSchedule", "NoExecute"])
      .exactOptional()
      .meta({ description: "Taint effect to match; empty matches all effects." }),
    tolerationSeconds: z
      .int()
      .min(0)
      .max(31_536_000)
      .exactOptional()
      .meta({ description: "How long a NoExecute taint is tolerated before eviction." }),
  }),
  [
    {
      rule: "!has(self.operator) || self.operator != 'Exists' || !has(self.value) || self.value == ''",
      message: "a toleration with operator Exists takes no value",
      fieldPath: ".value",
      holds: (t) => t.operator !== "Exists" || t.value === undefined || t.value === "",
    },
    {
      rule: "(has(self.key) && self.key != '') || (has(self.operator) && self.operator == 'Exists')",
      message: "a toleration without a key must use operator Exists (it then tolerates every taint)",
      fieldPath: ".operator",
      holds: (t) => (t.key !== undefined && t.key !== "") || t.operator === "Exists",
    },
    {
      // The Pod API refuses it at Job creation; the film would wait for a Job that never comes.
      rule: "!has(self.tolerationSeconds) || (has(self.effect) && self.effect == 'NoExecute')",
      message: "tolerationSeconds applies only to effect NoExecute",
      fieldPath: ".tolerationSeconds",
      holds: (t) => t.tolerationSeconds === undefined || t.effect === "NoExecute",
    },
  ],
);

/** A node or label selector requirement, as the rules on its values read it. */
interface Requirement {
  readonly operator: string;
  readonly values?: readonly string[];
}

/** The rules the Pod API applies to a selector requirement's values, by operator (Gt and Lt for nodes only). */
function requirementRules(withOrder: boolean): CelRule<Requirement>[] {
  const count = (r: Requirement) => r.values?.length ?? 0;
  const rules = [
    {
      rule: "!(self.operator in ['In', 'NotIn']) || (has(self.values) && size(self.values) > 0)",
      message: "operators In and NotIn need at least one value",
      fieldPath: ".values",
      holds: (r: Requirement) => !["In", "NotIn"].includes(r.operator) || count(r) > 0,
    },
    {
      rule: "!(self.operator in ['Exists', 'DoesNotExist']) || !has(self.values) || size(self.values) == 0",
      message: "operators Exists and DoesNotExist take no values",
      fieldPath: ".values",
      holds: (r: Requirement) => !["Exists", "DoesNotExist"].includes(r.operator) || count(r) === 0,
    },
  ];
  if (!withOrder) return rules;
  return [
    ...rules,
    {
      rule: "!(self.operator in ['Gt', 'Lt']) || (has(self.values) && size(self.values) == 1 && self.values[0].matches('^-?[0-9]+$'))",
      message: "operators Gt and Lt take exactly one integer value",
      fieldPath: ".values",
      holds: (r: Requirement) =>
        !["Gt", "Lt"].includes(r.operator) || (count(r) === 1 && /^-?[0-9]+$/.test(r.values?.[0] ?? "")),
    },
  ];
}

const valueList = z.array(labelValue).max(64);

const nodeSelectorRequirement = celValidated(
  z.strictObject({
    key: qualifiedName.meta({ description: "Node label key." }),
    operator: z.enum(["In", "NotIn", "Exists", "DoesNotExist", "Gt", "Lt"]),
    values: valueList.exactOptional(),
  }),
  requirementRules(true),
);

const nodeSelectorTerm = z.strictObject({
  matchExpressions: z.array(nodeSelectorRequirement).max(16).exactOptional(),
  matchFields: z.array(nodeSelectorRequirement).max(16).exactOptional(),
});

const labelSelectorRequirement = celValidated(
  z.strictObject({
    key: qualifiedName,
    operator: z.enum(["In", "NotIn", "Exists", "DoesNotExist"]),
    values: valueList.exactOptional(),
  }),
  requirementRules(false),
);

const labelSelector = z.strictObject({
  matchLabels: qualifiedNameMap(labelValue, 16).exactOptional(),
  matchExpressions: z.array(labelSelectorRequirement).max(16).exactOptional(),
});

const podAffinityTerm = z.strictObject({
  labelSelector: labelSelector.exactOptional(),
  namespaceSelector: labelSelector.exactOptional(),
  namespaces: z.array(dnsLabel).max(16).exactOptional(),
  topologyKey: qualifiedName.meta({ description: "Node label whose value defines a topology domain." }),
  matchLabelKeys: z.array(qualifiedName).max(16).exactOptional(),
  mismatchLabelKeys: z.array(qualifiedName).max(16).exactOptional(),
});

const weight = z.int().min(1).max(100);

const podAffinity = z.strictObject({
  requiredDuringSchedulingIgnoredDuringExecution: z.array(podAffinityTerm).max(8).exactOptional(),
  preferredDuringSchedulingIgnoredDuringExecution: z
    .array(z.strictObject({ weight, podAffinityTerm }))
    .max(8)
    .exactOptional(),
});

/** A core/v1 Affinity: node affinity and pod (anti-)affinity rules for the render pods. */
export const affinitySchema = z.strictObject({
  nodeAffinity: z
    .strictObject({
      requiredDuringSchedulingIgnoredDuringExecution: z
        .strictObject({ nodeSelectorTerms: z.array(nodeSelectorTerm).min(1).max(8) })
        .exactOptional(),
      preferredDuringSchedulingIgnoredDuringExecution: z
        .array(z.strictObject({ weight, preference: nodeSelectorTerm }))
        .max(8)
        .exactOptional(),
    })
    .exactOptional(),
  podAffinity: podAffinity.exactOptional(),
  podAntiAffinity: podAffinity.exactOptional(),
});

export type Toleration = z.output<typeof tolerationSchema>;
export type Affinity = z.output<typeof affinitySchema>;
