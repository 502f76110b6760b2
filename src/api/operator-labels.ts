/**
 * The marks the operator puts on what it creates and owns: label and annotation keys, the finalizer on every film
 * and the name it writes under. Informers select by these labels, the reconciler reads them back, kwok's stages
 * and the tests match them, and the API refuses them in `spec.podMetadata`: one definition for all of them.
 */

/** Labels on every Job, pod and claim the operator makes for a film. */
export const operatorLabels = {
  /** Selects everything this operator manages (the informers' label selector). */
  managedBy: "app.kubernetes.io/managed-by",
  /** The film (its name) an object belongs to: how jobs, pods and claims are indexed by film. */
  film: "longvideo.dev/film",
  /** `segment` or `concat`. */
  kind: "longvideo.dev/kind",
  /** The segment's index, or `concat`. */
  segment: "longvideo.dev/segment",
  /** The operator's attempt number, from 0. */
  attempt: "longvideo.dev/attempt",
} as const;

/** The value of {@link operatorLabels.managedBy} on everything this operator manages. */
export const managedByValue = "longvideo-operator";

/** The label selector that matches everything this operator manages. */
export const managedSelector = `${operatorLabels.managedBy}=${managedByValue}`;

/** Annotations on every Job: with the segment index, they identify exactly what the Job renders. */
export const operatorAnnotations = {
  /** The plan hash of the segment (for the concat Job, the film's concat hash). */
  hash: "longvideo.dev/hash",
  /** The hand-off digest the segment was told to consume ("" for segment 0 and concat). */
  inputDigest: "longvideo.dev/input-digest",
  /** UID of the workspace claim the Job's pod reads and writes: a result is only as good as the claim it is in. */
  workspaceUid: "longvideo.dev/workspace-uid",
  /** The render container's memory limit, so that an OOMKilled attempt can say which limit it hit. */
  memoryLimit: "longvideo.dev/memory-limit",
  /** A key of the placement and resources the Job's pod template was made with. */
  podTemplate: "longvideo.dev/pod-template",
  /**
   * A warm Job's predecessor attempt directory (LV_INPUT_FROM, docs/adr/0026): it consumes whatever that attempt
   * commits, so its input digest is "" until the predecessor's is known.
   */
  inputFrom: "longvideo.dev/input-from",
} as const;

/** Held on every film so deletion can honour the workspace retention policy before the film disappears. */
export const filmFinalizer = "longvideo.dev/cleanup";

/** The field manager of every write, and the instance events are reported by. */
export const fieldManager = "longvideo-operator";

/** The controller named in events and metrics. */
export const reportingController = "longvideo.dev/operator";

/** Label keys a film may not set on its pods: the operator's own and those of the Job controller and Kueue. */
export const reservedLabelPrefixes = ["longvideo.dev/", "batch.kubernetes.io/", "kueue.x-k8s.io/"] as const;
export const reservedLabels: readonly string[] = [operatorLabels.managedBy, "job-name", "controller-uid"];
