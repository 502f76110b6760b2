/**
 * The parts of a core/v1 PodSpec that place a render pod on a GPU pool: tolerations and affinity. They are typed
 * here rather than passed through as free-form objects, so a mistake is rejected when the LongVideo is applied,
 * not minutes later when the first Job is created. Bounds are generous for real placements and small enough to
 * keep the CRD's validation cheap.
 */
import * as z from "zod";
import { celValidated } from "./cel-rules.ts";
import { labelValue, maxLabelLength, qualifiedName, qualifiedNameMap } from "./kubernetes-formats.ts";

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
  ],
);

const valueList = z.array(labelValue).max(64);

const nodeSelectorRequirement = z.strictObject({
  key: qualifiedName.meta({ description: "Node label key." }),
  operator: z.enum(["In", "NotIn", "Exists", "DoesNotExist", "Gt", "Lt"]),
  values: valueList.exactOptional(),
});

const nodeSelectorTerm = z.strictObject({
  matchExpressions: z.array(nodeSelectorRequirement).max(16).exactOptional(),
  matchFields: z.array(nodeSelectorRequirement).max(16).exactOptional(),
});

const labelSelectorRequirement = z.strictObject({
  key: qualifiedName,
  operator: z.enum(["In", "NotIn", "Exists", "DoesNotExist"]),
  values: valueList.exactOptional(),
});

const labelSelector = z.strictObject({
  matchLabels: qualifiedNameMap(labelValue, 16).exactOptional(),
  matchExpressions: z.array(labelSelectorRequirement).max(16).exactOptional(),
});

const podAffinityTerm = z.strictObject({
  labelSelector: labelSelector.exactOptional(),
  namespaceSelector: labelSelector.exactOptional(),
  namespaces: z.array(z.string().min(1).max(maxLabelLength)).max(16).exactOptional(),
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
