/**
 * The LongVideo resource as a whole: its names in the API and the schema of a complete object, used to validate a
 * manifest before it reaches the cluster with the verdict and the wording the API server would give.
 */
import * as z from "zod";
import { fieldErrors } from "./field-errors.ts";
import { maxLabelLength } from "./kubernetes-formats.ts";
import type { FieldError } from "./field-errors.ts";
import { longVideoSpecSchema } from "./long-video-spec.ts";
import type { LongVideoSpec } from "./long-video-spec.ts";
import { longVideoStatusSchema } from "./long-video-status.ts";
import type { LongVideoStatus } from "./long-video-status.ts";

/** The names of the resource in the API (fixed by the design; extend, never rename). */
export const longVideoResource = {
  group: "longvideo.dev",
  version: "v1alpha1",
  kind: "LongVideo",
  listKind: "LongVideoList",
  plural: "longvideos",
  singular: "longvideo",
  shortNames: ["lv"],
} as const;

export const longVideoApiVersion = `${longVideoResource.group}/${longVideoResource.version}` as const;

/**
 * The longest LongVideo name: the name becomes the `longvideo.dev/film` label on every pod the operator creates,
 * and a label value has at most 63 characters.
 */
export const maxNameLength = maxLabelLength;

const metadataSchema = z.looseObject({
  name: z.string().min(1).max(maxNameLength).exactOptional(),
  generateName: z.string().min(1).max(maxNameLength).exactOptional(),
  namespace: z.string().min(1).max(maxLabelLength).exactOptional(),
});

/** A complete LongVideo object, as written in a manifest. */
export const longVideoSchema = z.strictObject({
  apiVersion: z.literal(longVideoApiVersion),
  kind: z.literal(longVideoResource.kind),
  metadata: metadataSchema,
  spec: longVideoSpecSchema,
  status: longVideoStatusSchema.exactOptional(),
});

export interface LongVideo {
  readonly apiVersion: typeof longVideoApiVersion;
  readonly kind: typeof longVideoResource.kind;
  readonly metadata: z.output<typeof metadataSchema>;
  readonly spec: LongVideoSpec;
  readonly status?: LongVideoStatus;
}

/** The outcome of validating a manifest: the object with defaults applied, or what is wrong with it. */
export type LongVideoVerdict =
  { readonly ok: true; readonly value: LongVideo } | { readonly ok: false; readonly errors: readonly FieldError[] };

/** Validates a parsed manifest as the API server would, applying the same defaults. */
export function longVideoVerdict(manifest: unknown): LongVideoVerdict {
  const parsed = longVideoSchema.safeParse(manifest);
  if (parsed.success) {
    const { status, ...rest } = parsed.data;
    return { ok: true, value: status === undefined ? rest : { ...rest, status } };
  }
  return { ok: false, errors: fieldErrors(parsed.error.issues, manifest) };
}

/** Validates a spec alone (the reconciler's view: metadata and status are the API server's business). */
export function longVideoSpecVerdict(
  spec: unknown,
):
  | { readonly ok: true; readonly value: LongVideoSpec }
  | { readonly ok: false; readonly errors: readonly FieldError[] } {
  const parsed = longVideoSpecSchema.safeParse(spec);
  return parsed.success
    ? { ok: true, value: parsed.data }
    : { ok: false, errors: fieldErrors(parsed.error.issues, spec, ["spec"]) };
}
