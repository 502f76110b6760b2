/**
 * The Jobs a film's decisions create: one per segment attempt and one per concatenation attempt, each with the
 * labels and annotations the operator reads back, the runtime contract's environment, the film's placement and
 * volumes, and resources sized for the work.
 */
import { operatorAnnotations, operatorLabels } from "../api/operator-labels.ts";
import { referenceFetchPolicyJson } from "../api/reference-fetch-policy.ts";
import type { ReferenceFetchPolicy } from "../api/reference-fetch-policy.ts";
import type { FilmIntent, FollowUpAction } from "../reconcile/film-snapshot.ts";
import { podTemplateKey } from "../reconcile/pod-template-key.ts";
import { filmLabels, filmOwner } from "./film-owner.ts";
import type { FilmRef } from "./film-owner.ts";
import { renderJob } from "./render-job.ts";
import type { RenderJobInput } from "./render-job.ts";

/** The runtime image every render pod runs, and how segment pods may fetch, from the operator's configuration. */
export interface RuntimeImage {
  readonly image: string;
  readonly pullPolicy: RenderJobInput["imagePullPolicy"];
  /** Where a segment may fetch a url reference image from: its LV_FETCH_POLICY. */
  readonly fetchPolicy: ReferenceFetchPolicy;
}

/**
 * Resources of a concatenation, a stream copy of the clips: requests hold a node's share for the work, limits leave
 * room for peaks, and it needs no /dev/shm of its own. A segment's come from the film's intent (its spec over the
 * variant's and backend's defaults, `src/api/segment-resources.ts`).
 */
export const concatResources = {
  cpu: { request: "250m", limit: "2" },
  memory: { request: "256Mi", limit: "2Gi" },
} as const;

type CreateSegmentJob = Extract<FollowUpAction, { kind: "createSegmentJob" }>;
type CreateConcatJob = Extract<FollowUpAction, { kind: "createConcatJob" }>;

/** The Job of one attempt at one segment. */
export function segmentJob(
  film: FilmRef,
  intent: FilmIntent,
  action: CreateSegmentJob,
  runtime: RuntimeImage,
): Record<string, unknown> {
  const { segment } = action;
  return renderJob({
    ...common(film, intent, runtime),
    name: action.name,
    labels: jobLabels(film, intent, "segment", String(segment.index), action.attempt),
    jobAnnotations: {
      [operatorAnnotations.hash]: segment.hash,
      [operatorAnnotations.inputDigest]: action.inputDigest,
      [operatorAnnotations.workspaceUid]: action.workspaceUid,
      [operatorAnnotations.memoryLimit]: intent.segmentResources.memory.limit,
      [operatorAnnotations.podTemplate]: podTemplateKey(intent),
      ...(action.inputFrom === undefined ? {} : { [operatorAnnotations.inputFrom]: action.inputFrom }),
    },
    args: ["segment"],
    env: {
      ...segment.env,
      LV_INPUT_DIGEST: action.inputDigest,
      // A warm pod waits for its predecessor's hand-off for as long as one attempt may take.
      ...(action.inputFrom === undefined
        ? {}
        : { LV_INPUT_FROM: action.inputFrom, LV_WAIT_SECONDS: String(intent.deadlineSeconds) }),
      LV_ATTEMPT: String(action.attempt),
      LV_FETCH_POLICY: referenceFetchPolicyJson(runtime.fetchPolicy),
    },
    placement: intent.placement,
    ...(intent.modelsClaim ? { modelsClaim: intent.modelsClaim } : {}),
    ...(segment.reference ? { reference: segment.reference } : {}),
    ...(intent.inputVolumes ? { inputVolumes: intent.inputVolumes } : {}),
    ...intent.segmentResources,
  });
}

type CreateProbeJob = Extract<FollowUpAction, { kind: "createProbeJob" }>;

/**
 * The Job of one attempt at reading a film's audio and skeleton video and checking its model cache before it is
 * planned: a short CPU job beside the film's other pods, with the inputs' volumes and the model cache (read-only)
 * and no workspace (a url is fetched into its scratch directory).
 */
export function probeJob(film: FilmRef, action: CreateProbeJob, runtime: RuntimeImage): Record<string, unknown> {
  const { probe } = action;
  return renderJob({
    namespace: film.namespace,
    owner: filmOwner(film),
    name: action.name,
    labels: {
      ...probe.podLabels,
      ...filmLabels(film),
      [operatorLabels.kind]: "probe",
      [operatorLabels.segment]: "probe",
      [operatorLabels.attempt]: String(action.attempt),
    },
    jobAnnotations: { [operatorAnnotations.hash]: probe.key },
    podAnnotations: probe.podAnnotations,
    image: runtime.image,
    imagePullPolicy: runtime.pullPolicy,
    activeDeadlineSeconds: probe.deadlineSeconds,
    args: ["probe"],
    env: { ...probe.env, LV_FETCH_POLICY: referenceFetchPolicyJson(runtime.fetchPolicy) },
    placement: probe.placement,
    inputVolumes: probe.inputVolumes,
    ...(probe.modelsClaim ? { modelsClaim: probe.modelsClaim } : {}),
    ...concatResources,
  });
}

/** The Job of one attempt at concatenating the film. */
export function concatJob(
  film: FilmRef,
  intent: FilmIntent,
  action: CreateConcatJob,
  runtime: RuntimeImage,
): Record<string, unknown> {
  return renderJob({
    ...common(film, intent, runtime),
    name: action.name,
    labels: jobLabels(film, intent, "concat", "concat", action.attempt),
    jobAnnotations: {
      [operatorAnnotations.hash]: intent.concat.hash,
      [operatorAnnotations.inputDigest]: action.inputDigest,
      [operatorAnnotations.workspaceUid]: action.workspaceUid,
      [operatorAnnotations.podTemplate]: podTemplateKey(intent),
    },
    args: ["concat"],
    env: {
      ...intent.concat.env,
      LV_FINAL_DIGEST: action.inputDigest,
      LV_FETCH_POLICY: referenceFetchPolicyJson(runtime.fetchPolicy),
    },
    // Concatenation needs no GPU, but it runs where the film's pods may run: next to its workspace.
    placement: { ...intent.placement, count: 0 },
    ...(intent.concat.audioVolume ? { inputVolumes: { audio: intent.concat.audioVolume } } : {}),
    ...concatResources,
  });
}

function common(film: FilmRef, intent: FilmIntent, runtime: RuntimeImage) {
  return {
    namespace: film.namespace,
    owner: filmOwner(film),
    podAnnotations: intent.podAnnotations,
    image: runtime.image,
    imagePullPolicy: runtime.pullPolicy,
    workspaceClaim: intent.workspace.claimName,
    activeDeadlineSeconds: intent.deadlineSeconds,
  };
}

/** The film's own pod labels first, so the operator's labels (which the API reserves) always win. */
function jobLabels(
  film: FilmRef,
  intent: FilmIntent,
  kind: "segment" | "concat",
  segment: string,
  attempt: number,
): Record<string, string> {
  return {
    ...intent.podLabels,
    ...filmLabels(film),
    [operatorLabels.kind]: kind,
    [operatorLabels.segment]: segment,
    [operatorLabels.attempt]: String(attempt),
  };
}
