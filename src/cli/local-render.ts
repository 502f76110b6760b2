/**
 * `longvideo render`'s plan: a LongVideo rendered on this machine, without a cluster, by the runtime worker the
 * cluster runs. Pure: the same intent the operator derives (segment and concat environments from
 * `filmIntent`), with the cluster's mounts replaced by local paths. The command runs the steps.
 */
import path from "node:path";
import { invalidObjectMessage } from "../api/field-errors.ts";
import { longVideoResource, longVideoVerdict } from "../api/long-video.ts";
import type { Backend } from "../api/long-video-spec.ts";
import { defaultOperatorFilmPolicy } from "../api/film-policy.ts";
import { referenceFetchPolicySchema, referenceFetchPolicyJson } from "../api/reference-fetch-policy.ts";
import { filmIntent } from "../reconcile/film-intent.ts";
import type { PlannedSegment, RuntimeEnv } from "../reconcile/film-snapshot.ts";

export interface LocalRenderOptions {
  /** Where the film, its contact sheet and its workspace go. */
  readonly outDir: string;
  /** The first frame, a local file; required unless the film's reference image is a URL. */
  readonly referenceImage?: string;
  /** A directory holding the SVI and Wan weights: given, the svi backend renders; else the animatic one. */
  readonly modelsDir?: string;
}

/** One segment to render: its contract environment, waiting for the digest of its predecessor's hand-off. */
export interface LocalSegment {
  readonly index: number;
  readonly frames: number;
  readonly env: RuntimeEnv;
}

export interface LocalRender {
  readonly name: string;
  readonly backend: Backend;
  readonly workspace: string;
  readonly segments: readonly LocalSegment[];
  /** The concatenation's environment, waiting for the last segment's hand-off digest. */
  readonly concatEnv: RuntimeEnv;
  readonly film: string;
  readonly contactSheet: string;
  readonly frames: number;
  readonly seconds: number;
}

export type LocalRenderPlan =
  { readonly ok: true; readonly render: LocalRender } | { readonly ok: false; readonly error: string };

/**
 * What rendering a LongVideo manifest here takes. Placement (`spec.gpu`) and pod metadata mean nothing off the
 * cluster and are dropped, so no film policy applies; the backend follows `modelsDir`.
 */
export function localRenderPlan(name: string, manifest: unknown, options: LocalRenderOptions): LocalRenderPlan {
  const verdict = longVideoVerdict(manifest);
  if (!verdict.ok) return { ok: false, error: invalidObjectMessage(longVideoResource.kind, name, verdict.errors) };
  const backend: Backend = options.modelsDir === undefined ? "animatic" : "svi";
  const { spec } = verdict.value;
  const keyframed = spec.storyline.findIndex((scene) => scene.keyframe !== undefined);
  if (keyframed >= 0) {
    // One --reference file stands for one image; keyframes live in the cluster (or behind URLs the film fetches).
    return {
      ok: false,
      error: `spec.storyline[${String(keyframed)}].keyframe of ${name} starts a chain of its own: render keyframed films on a cluster`,
    };
  }
  const reference = spec.referenceImage;
  if (options.referenceImage === undefined && reference.url === undefined) {
    const where = reference.configMap
      ? `ConfigMap ${reference.configMap.name} (key ${reference.configMap.key})`
      : `claim ${reference.pvc?.claimName ?? ""} (path ${reference.pvc?.path ?? ""})`;
    return {
      ok: false,
      error: `spec.referenceImage of ${name} is in the cluster, in ${where}: give the image with --reference FILE`,
    };
  }
  const given = (manifest as { spec?: Record<string, unknown> }).spec ?? {};
  const kept = Object.fromEntries(Object.entries(given).filter(([key]) => key !== "gpu" && key !== "podMetadata"));
  const localSpec = { ...kept, render: { ...(given.render as Record<string, unknown> | undefined), backend } };
  const intent = filmIntent(
    { name, namespace: "local", spec: localSpec },
    {
      nodeSelector: {},
      tolerations: [],
      modelCacheClaim: backend === "svi" ? "local" : "",
      checkModelCache: false,
      backend,
      policy: defaultOperatorFilmPolicy,
    },
  );
  if (!intent.ok && intent.reason === "Probing") {
    // The operator plans these from a probe of spec.audio / spec.pose in the cluster; no local probe exists yet.
    return {
      ok: false,
      error: `${name} is a ${spec.variant} film, whose plan follows its ${intent.probe.fields.join(" and ")}: render it on a cluster`,
    };
  }
  if (!intent.ok) {
    const errors = intent.errors.map((e) => ({ field: e.path, type: "Invalid value" as const, detail: e.message }));
    return { ok: false, error: invalidObjectMessage(longVideoResource.kind, name, errors) };
  }
  const outDir = path.resolve(options.outDir);
  const workspace = path.join(outDir, `${name}.workspace`);
  const film = path.join(outDir, `${name}.mp4`);
  const local: RuntimeEnv = {
    LV_WORKSPACE: workspace,
    ...(options.modelsDir === undefined ? {} : { LV_MODELS_DIR: path.resolve(options.modelsDir) }),
    ...(options.referenceImage === undefined
      ? { LV_FETCH_POLICY: referenceFetchPolicyJson(referenceFetchPolicySchema.parse({})) }
      : { LV_REFERENCE_IMAGE_PATH: path.resolve(options.referenceImage) }),
    LV_ATTEMPT: "0",
  };
  const { concat } = intent.intent;
  return {
    ok: true,
    render: {
      name,
      backend,
      workspace,
      segments: intent.intent.segments.map((segment) => localSegment(segment, local)),
      concatEnv: { ...concat.env, LV_WORKSPACE: workspace, LV_OUTPUT_PATH: film },
      film,
      contactSheet: film.replace(/\.mp4$/, ".contact.png"),
      frames: concat.frames,
      seconds: concat.seconds,
    },
  };
}

/** The segment's contract environment with local paths; the reference mount exists only in a pod. */
function localSegment(segment: PlannedSegment, local: RuntimeEnv): LocalSegment {
  const env = Object.fromEntries(Object.entries(segment.env).filter(([key]) => key !== "LV_REFERENCE_DIR"));
  return { index: segment.index, frames: segment.keptFrames, env: { ...env, ...local } };
}

/** A segment's environment once its predecessor's hand-off digest is known ("" for the first). */
export function segmentRunEnv(segment: LocalSegment, inputDigest: string): RuntimeEnv {
  return { ...segment.env, LV_INPUT_DIGEST: inputDigest };
}

/** The concatenation's environment once the last hand-off digest is known. */
export function concatRunEnv(render: LocalRender, finalDigest: string): RuntimeEnv {
  return { ...render.concatEnv, LV_FINAL_DIGEST: finalDigest };
}
