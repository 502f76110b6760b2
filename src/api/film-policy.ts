/**
 * What a film may ask of the cluster on behalf of whoever created it. Creating a LongVideo creates pods with the
 * operator's rights, so scheduling privileges (priority classes, tolerations, node and pod affinity, extended
 * resources) and pod metadata (labels match NetworkPolicy selectors; some annotations are honoured by the kubelet)
 * are granted by the platform team's policy, not by the film. The policy is operator configuration (the chart's
 * `filmPolicy` value), with narrower or wider policies per namespace; see docs/adr/0016-film-policy.md. Pure.
 */
import * as z from "zod";
import { dnsLabel, dnsSubdomain, qualifiedName } from "./kubernetes-formats.ts";
import type { Affinity, Toleration } from "./pod-scheduling.ts";

const effects = ["NoSchedule", "PreferNoSchedule", "NoExecute"] as const;
type Effect = (typeof effects)[number];

/** A label or annotation key prefix: `example.com/`, `team-`; "" allows every key. */
const keyPrefix = z.string().max(253);

/** One namespace's policy: every list names what a film may ask for; anything else is refused. */
export const filmPolicySchema = z.strictObject({
  priorityClassNames: z
    .array(dnsSubdomain)
    .default([])
    .meta({ description: "PriorityClasses a film may give its pods (spec.gpu.priorityClassName)." }),
  tolerations: z
    .array(
      z.strictObject({
        key: qualifiedName,
        effects: z
          .array(z.enum(effects))
          .min(1)
          .default([...effects]),
      }),
    )
    .default([])
    .meta({
      description:
        "Taint keys (and effects) a film's tolerations may name. A toleration without a key tolerates every taint " +
        "(control-plane and reserved nodes too) and is never allowed.",
    }),
  nodeLabelKeys: z
    .array(qualifiedName)
    .default(["nvidia.com/gpu.product", "nvidia.com/gpu.memory", "node.kubernetes.io/instance-type"])
    .meta({
      description:
        "Node label keys a film may select on: spec.gpu.nodeSelector, node affinity expressions and pod " +
        "(anti-)affinity topology keys. metadata.name fields are refused unless listed.",
    }),
  extendedResources: z
    .array(qualifiedName)
    .default(["nvidia.com/gpu"])
    .meta({ description: "Extended resources a film may count its GPUs in (spec.gpu.resourceName)." }),
  podLabelPrefixes: z
    .array(keyPrefix)
    .default(["app.kubernetes.io/"])
    .meta({ description: "Prefixes of the label keys a film may put on its pods (spec.podMetadata.labels)." }),
  podAnnotationPrefixes: z.array(keyPrefix).default([]).meta({
    description: "Prefixes of the annotation keys a film may put on its pods (spec.podMetadata.annotations).",
  }),
  crossNamespacePodAffinity: z
    .boolean()
    .default(false)
    .meta({
      description:
        "Whether pod (anti-)affinity may look at pods of other namespaces (namespaces, namespaceSelector): it " +
        "tells a film where other tenants' pods run.",
    }),
});

/** The operator's policy: the default for every namespace, and whole replacements for some. */
export const operatorFilmPolicySchema = filmPolicySchema.extend({
  namespaces: z
    .record(dnsLabel, filmPolicySchema)
    .default({})
    .meta({ description: "Policies replacing the default in these namespaces (narrower or wider)." }),
});

export type FilmPolicy = z.output<typeof filmPolicySchema>;
export type OperatorFilmPolicy = z.output<typeof operatorFilmPolicySchema>;

/** The policy with every default: what an operator given no policy enforces. */
export const defaultOperatorFilmPolicy: OperatorFilmPolicy = operatorFilmPolicySchema.parse({});

/** What the operator itself puts on films that leave placement unset: always allowed, whatever the policy. */
export interface OperatorPlacementDefaults {
  readonly nodeSelector: Readonly<Record<string, string>>;
  readonly tolerations: readonly Toleration[];
}

/**
 * The policy a film in `namespace` is held to: the namespace's own policy or the default, widened by what the
 * operator's own defaults use (a film may name explicitly what it would get by leaving the field unset).
 */
export function namespaceFilmPolicy(
  policy: OperatorFilmPolicy,
  namespace: string,
  defaults: OperatorPlacementDefaults,
): FilmPolicy & { readonly source: string } {
  const own = policy.namespaces[namespace];
  const base: FilmPolicy = own ?? policy;
  const defaultTolerations = defaults.tolerations.flatMap((t) =>
    t.key ? [{ key: t.key, effects: t.effect ? [t.effect] : [...effects] }] : [],
  );
  return {
    priorityClassNames: base.priorityClassNames,
    tolerations: [...base.tolerations, ...defaultTolerations],
    nodeLabelKeys: [...base.nodeLabelKeys, ...Object.keys(defaults.nodeSelector)],
    extendedResources: base.extendedResources,
    podLabelPrefixes: base.podLabelPrefixes,
    podAnnotationPrefixes: base.podAnnotationPrefixes,
    crossNamespacePodAffinity: base.crossNamespacePodAffinity,
    source: own ? `the film policy of namespace ${namespace}` : "the operator's film policy",
  };
}

/** What a film asks for that its policy does not allow. */
export interface PolicyViolation {
  readonly path: string;
  readonly message: string;
}

/** The parts of a spec the policy governs. */
export interface PolicedSpec {
  readonly gpu: {
    readonly nodeSelector?: Readonly<Record<string, string>>;
    readonly tolerations?: readonly Toleration[];
    readonly affinity?: Affinity;
    readonly resourceName: string;
    readonly priorityClassName?: string;
  };
  readonly podMetadata?: {
    readonly labels?: Readonly<Record<string, string>>;
    readonly annotations?: Readonly<Record<string, string>>;
  };
}

const quoted = (value: string) => JSON.stringify(value);
const allowedList = (values: readonly string[]) =>
  values.length === 0 ? "none are allowed" : `allowed: ${values.map(quoted).join(", ")}`;

/** Every field of `spec` its policy refuses, each with the policy and the reason; empty when the film may run. */
export function filmPolicyViolations(
  spec: PolicedSpec,
  policy: FilmPolicy & { readonly source: string },
): PolicyViolation[] {
  const violations: PolicyViolation[] = [];
  const refuse = (path: string, what: string, allowed: string) => {
    violations.push({ path, message: `${what} is not allowed by ${policy.source} (${allowed})` });
  };
  const { gpu } = spec;

  if (gpu.priorityClassName !== undefined && !policy.priorityClassNames.includes(gpu.priorityClassName)) {
    refuse(
      "spec.gpu.priorityClassName",
      `priority class ${quoted(gpu.priorityClassName)}`,
      allowedList(policy.priorityClassNames),
    );
  }
  if (!policy.extendedResources.includes(gpu.resourceName)) {
    refuse("spec.gpu.resourceName", `resource ${quoted(gpu.resourceName)}`, allowedList(policy.extendedResources));
  }
  (gpu.tolerations ?? []).forEach((toleration, i) => {
    const path = `spec.gpu.tolerations[${String(i)}]`;
    const allowedKeys = allowedList(policy.tolerations.map((t) => t.key));
    if (!toleration.key) {
      refuse(path, "a toleration without a key (it tolerates every taint)", allowedKeys);
      return;
    }
    const wanted: readonly Effect[] = toleration.effect ? [toleration.effect] : effects;
    const granted = new Set(policy.tolerations.filter((t) => t.key === toleration.key).flatMap((t) => t.effects));
    const missing = wanted.filter((e) => !granted.has(e));
    if (granted.size === 0) refuse(path, `a toleration of taint ${quoted(toleration.key)}`, allowedKeys);
    else if (missing.length > 0) {
      refuse(
        path,
        `a toleration of taint ${quoted(toleration.key)} with effect ${missing.join(", ")}` +
          (toleration.effect ? "" : " (no effect tolerates every effect)"),
        `allowed effects: ${[...granted].join(", ")}`,
      );
    }
  });
  const nodeKey = (path: string, key: string) => {
    if (!policy.nodeLabelKeys.includes(key))
      refuse(path, `node label key ${quoted(key)}`, allowedList(policy.nodeLabelKeys));
  };
  for (const key of Object.keys(gpu.nodeSelector ?? {})) nodeKey(`spec.gpu.nodeSelector[${quoted(key)}]`, key);
  for (const [path, term] of nodeSelectorTerms(gpu.affinity)) {
    (term.matchExpressions ?? []).forEach((e, i) => {
      nodeKey(`${path}.matchExpressions[${String(i)}].key`, e.key);
    });
    (term.matchFields ?? []).forEach((e, i) => {
      nodeKey(`${path}.matchFields[${String(i)}].key`, e.key);
    });
  }
  for (const [path, term] of podAffinityTerms(gpu.affinity)) {
    nodeKey(`${path}.topologyKey`, term.topologyKey);
    if (policy.crossNamespacePodAffinity) continue;
    if (term.namespaceSelector !== undefined) {
      refuse(`${path}.namespaceSelector`, "pod affinity across namespaces", "only the film's own namespace");
    }
    if ((term.namespaces ?? []).length > 0) {
      refuse(`${path}.namespaces`, "pod affinity across namespaces", "only the film's own namespace");
    }
  }
  const metadataKeys = (path: string, kind: string, keys: readonly string[], prefixes: readonly string[]) => {
    for (const key of keys) {
      if (prefixes.some((prefix) => key.startsWith(prefix))) continue;
      const allowed =
        prefixes.length === 0 ? "none are allowed" : `allowed prefixes: ${prefixes.map(quoted).join(", ")}`;
      refuse(`${path}[${quoted(key)}]`, `pod ${kind} ${quoted(key)}`, allowed);
    }
  };
  metadataKeys(
    "spec.podMetadata.labels",
    "label",
    Object.keys(spec.podMetadata?.labels ?? {}),
    policy.podLabelPrefixes,
  );
  metadataKeys(
    "spec.podMetadata.annotations",
    "annotation",
    Object.keys(spec.podMetadata?.annotations ?? {}),
    policy.podAnnotationPrefixes,
  );
  return violations;
}

type NodeSelectorTerm = NonNullable<
  NonNullable<
    NonNullable<Affinity["nodeAffinity"]>["requiredDuringSchedulingIgnoredDuringExecution"]
  >["nodeSelectorTerms"][number]
>;
type PodAffinityTerm = NonNullable<
  NonNullable<Affinity["podAffinity"]>["requiredDuringSchedulingIgnoredDuringExecution"]
>[number];

/** Every node selector term of an affinity, with its path. */
function nodeSelectorTerms(affinity: Affinity | undefined): [string, NodeSelectorTerm][] {
  const node = affinity?.nodeAffinity;
  const base = "spec.gpu.affinity.nodeAffinity";
  return [
    ...(node?.requiredDuringSchedulingIgnoredDuringExecution?.nodeSelectorTerms ?? []).map(
      (term, i): [string, NodeSelectorTerm] => [
        `${base}.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms[${String(i)}]`,
        term,
      ],
    ),
    ...(node?.preferredDuringSchedulingIgnoredDuringExecution ?? []).map((preferred, i): [string, NodeSelectorTerm] => [
      `${base}.preferredDuringSchedulingIgnoredDuringExecution[${String(i)}].preference`,
      preferred.preference,
    ]),
  ];
}

/** Every pod affinity and anti-affinity term of an affinity, with its path. */
function podAffinityTerms(affinity: Affinity | undefined): [string, PodAffinityTerm][] {
  return (["podAffinity", "podAntiAffinity"] as const).flatMap((kind) => {
    const rules = affinity?.[kind];
    const base = `spec.gpu.affinity.${kind}`;
    return [
      ...(rules?.requiredDuringSchedulingIgnoredDuringExecution ?? []).map((term, i): [string, PodAffinityTerm] => [
        `${base}.requiredDuringSchedulingIgnoredDuringExecution[${String(i)}]`,
        term,
      ]),
      ...(rules?.preferredDuringSchedulingIgnoredDuringExecution ?? []).map(
        (preferred, i): [string, PodAffinityTerm] => [
          `${base}.preferredDuringSchedulingIgnoredDuringExecution[${String(i)}].podAffinityTerm`,
          preferred.podAffinityTerm,
        ],
      ),
    ];
  });
}
