/**
 * The LongVideo CustomResourceDefinition, derived from the zod schemas. `scripts/generate.ts` writes it to
 * `crds/`; a unit test and `npm run generate:check` fail when the committed copy is stale.
 */
import { maxNameLength, longVideoResource } from "./long-video.ts";
import { longVideoSpecSchema } from "./long-video-spec.ts";
import { longVideoStatusSchema } from "./long-video-status.ts";
import { structuralSchema } from "./structural-schema.ts";
import type { StructuralSchema } from "./structural-schema.ts";

/** `kubectl get lv` columns (NAME comes first on its own). */
export const printerColumns = [
  { name: "Variant", type: "string", jsonPath: ".spec.variant", description: "SVI variant." },
  { name: "Phase", type: "string", jsonPath: ".status.phase", description: "Where the film is in its life." },
  { name: "Progress", type: "string", jsonPath: ".status.progress", description: "Segments rendered / planned." },
  // Relative, written by the operator: kubectl's `date` type renders a future time as "<invalid>" (ADR 0018).
  {
    name: "ETA",
    type: "string",
    jsonPath: ".status.remaining",
    description: "Time left until the film is expected to be finished, while rendering (4m, 2h10m).",
  },
  {
    name: "Reason",
    type: "string",
    jsonPath: '.status.conditions[?(@.type=="Ready")].reason',
    description:
      "Why the film is not ready: its phase, or what holds it back (Unschedulable, PodRefused, NodeLost...).",
  },
  { name: "Age", type: "date", jsonPath: ".metadata.creationTimestamp" },
  // `-o wide`: the absolute ETA, and the message, long, last.
  {
    name: "Expected",
    type: "string",
    priority: 1,
    jsonPath: ".status.eta",
    description: "When the film is expected to be finished (RFC 3339), while rendering.",
  },
  {
    name: "Message",
    type: "string",
    priority: 1,
    jsonPath: '.status.conditions[?(@.type=="Ready")].message',
    description: "The Ready condition's message: the cluster's own words when something holds the film back.",
  },
] as const;

/** The whole openAPIV3Schema: the standard object envelope around the generated spec and status. */
export function longVideoOpenApiSchema(): StructuralSchema {
  return {
    description:
      "LongVideo renders a long video with Stable Video Infinity: a reference image and a storyline of scenes, planned into clips rendered one after another on GPU nodes and concatenated into one film.",
    type: "object",
    required: ["spec"],
    properties: {
      apiVersion: {
        description: "Versioned schema of this representation of an object.",
        type: "string",
      },
      kind: {
        description: "REST resource this object represents.",
        type: "string",
      },
      metadata: {
        type: "object",
        properties: {
          // The name becomes a label value on every pod of the film.
          name: { type: "string", maxLength: maxNameLength },
        },
      },
      spec: structuralSchema(longVideoSpecSchema, "spec"),
      status: structuralSchema(longVideoStatusSchema, "status"),
    },
  };
}

/** The CRD object. */
export function longVideoCrd(): Record<string, unknown> {
  const { group, version, kind, listKind, plural, singular, shortNames } = longVideoResource;
  return {
    apiVersion: "apiextensions.k8s.io/v1",
    kind: "CustomResourceDefinition",
    metadata: { name: `${plural}.${group}` },
    spec: {
      group,
      names: { kind, listKind, plural, singular, shortNames: [...shortNames] },
      scope: "Namespaced",
      versions: [
        {
          name: version,
          served: true,
          storage: true,
          subresources: { status: {} },
          additionalPrinterColumns: printerColumns.map((column) => ({ ...column })),
          selectableFields: [{ jsonPath: ".spec.variant" }],
          schema: { openAPIV3Schema: longVideoOpenApiSchema() },
        },
      ],
    },
  };
}
