/**
 * What the reconciler sees and says: an observed snapshot of one film and the things it owns, the film's intent
 * (its validated spec turned into a segment plan and settings), and the actions that bring the world closer to
 * that intent. Plain data only: no client, no clock, no I/O.
 */
import type { Condition, LongVideoStatus, Phase, SegmentRecord, SegmentState } from "../api/long-video-status.ts";
import type { Toleration } from "../api/pod-scheduling.ts";
import type { RuntimeEnvName } from "../api/runtime-contract.ts";
import type { SegmentResources } from "../api/segment-resources.ts";

// The status the reconciler writes is the API's: types derived from the zod schema, never restated.
export type FilmStatus = LongVideoStatus;
export type FilmPhase = Phase;
export type { Condition, SegmentRecord, SegmentState };

/** Where and how a render pod runs on the GPU pool. */
export interface GpuPlacement {
  readonly resourceName: string;
  /** GPUs per pod; 0 for a pod that needs none (concatenation). */
  readonly count: number;
  readonly nodeSelector: Readonly<Record<string, string>>;
  readonly tolerations: readonly Toleration[];
  /** A Kubernetes affinity object, passed through unchanged. */
  readonly affinity?: unknown;
  readonly priorityClassName?: string;
  /** A Kueue LocalQueue: the Job is labelled for it and created suspended so that Kueue admits it. */
  readonly queueName?: string;
}

/** Values of the runtime contract's environment variables. */
export type RuntimeEnv = Readonly<Partial<Record<RuntimeEnvName, string>>>;

/** One segment as planned: its place in the chain, its content hash and the environment its pod receives. */
export interface PlannedSegment {
  readonly index: number;
  /** Content hash of the segment's inputs, chained through the previous segment's hash within its chain. */
  readonly hash: string;
  /** Its chain (docs/adr/0025), and whether it starts it from an image rather than a predecessor's hand-off. */
  readonly chain: number;
  readonly chainStart: boolean;
  /** The volume holding its chain's image (the reference image or a keyframe), mounted read-only; none for a url. */
  readonly reference?: ReferenceVolume;
  /** Frames this segment adds to the film after trimming. */
  readonly keptFrames: number;
  /** The segment contract's environment, except the input digest, which is known only at hand-off. */
  readonly env: RuntimeEnv;
}

export interface RetryPolicy {
  /** Attempts after the first one. */
  readonly limit: number;
  readonly baseDelayMs: number;
  readonly maxDelayMs: number;
}

export interface WorkspaceIntent {
  readonly claimName: string;
  readonly storageClassName?: string;
  readonly size: string;
  readonly accessMode: string;
  /** Keep the workspace (and every rendered clip in it) after the film is deleted. */
  readonly retainOnDelete: boolean;
}

/** The film's spec, validated and planned. */
export interface FilmIntent {
  readonly segments: readonly PlannedSegment[];
  /** Each chain's first and last segment, in storyline order; one chain for a film without keyframes. */
  readonly chains: readonly { readonly first: number; readonly last: number }[];
  /** Segment Jobs of the film that may run at once (spec.render.parallelism). */
  readonly parallelism: number;
  /**
   * Warm start (docs/adr/0026): how far ahead of its predecessor's expected hand-off a segment may be started, and
   * the margin added to the learned lead time; absent when the operator's configuration turns it off.
   */
  readonly warm?: WarmStart;
  readonly suspend: boolean;
  readonly retry: RetryPolicy;
  readonly placement: GpuPlacement;
  readonly podLabels: Readonly<Record<string, string>>;
  readonly podAnnotations: Readonly<Record<string, string>>;
  readonly workspace: WorkspaceIntent;
  readonly modelsClaim?: string;
  /** The volumes holding the audio and the skeleton video (spec.audio, spec.pose), when those are volumes. */
  readonly inputVolumes?: InputVolumes;
  readonly backend: string;
  /** How long one attempt may run, pending included (the Jobs' activeDeadlineSeconds). */
  readonly deadlineSeconds: number;
  /** CPU, memory and /dev/shm of every segment pod: the spec's, field by field, over the variant's and backend's. */
  readonly segmentResources: SegmentResources;
  readonly concat: {
    /** Hash of everything the film depends on: the last segment's hash plus output settings. */
    readonly hash: string;
    readonly env: RuntimeEnv;
    readonly frames: number;
    readonly seconds: number;
    readonly path: string;
    /** The volume holding the film's audio track, when it is one (a url is fetched by the runtime). */
    readonly audioVolume?: ReferenceVolume;
  };
}

/** The operator's warm start settings, as a film's intent carries them. */
export interface WarmStart {
  /** The most time a successor may be started ahead of its predecessor's expected hand-off. */
  readonly maxLeadMs: number;
  /** Added to the lead learned from the film's segments (pod start, imports, model load). */
  readonly marginMs: number;
  /**
   * Warm pods a chain may have waiting ahead of its rendering segment. Each loads its models on its own GPU; where
   * loads share a node's CPUs or disk they slow each other, so a smaller bound can hand off sooner (docs/adr/0026).
   */
  readonly maxAhead: number;
}

/** Where a film's reference image lives, when it is a volume the render pods mount. */
export type ReferenceVolume =
  { readonly kind: "configMap"; readonly name: string } | { readonly kind: "pvc"; readonly claimName: string };

/** The audio's and the skeleton video's volumes, each mounted read-only at its contract mount path. */
export interface InputVolumes {
  readonly audio?: ReferenceVolume;
  readonly pose?: ReferenceVolume;
}

/**
 * What the operator must read before it can plan a film with an audio track or a skeleton video: the probe Job's
 * environment, volumes and placement, and the key of the sources it reads (recorded with the result).
 */
export interface ProbeIntent {
  /** Digest of the sources read; `status.inputs.key` records which sources a result belongs to. */
  readonly key: string;
  readonly env: RuntimeEnv;
  readonly inputVolumes: InputVolumes;
  /** The model cache claim the probe checks (mounted read-only), for an svi film. */
  readonly modelsClaim?: string;
  /** The spec fields the probe reads, in order: what an unreadable result is blamed on when the runtime names none. */
  readonly fields: readonly string[];
  readonly placement: GpuPlacement;
  readonly podLabels: Readonly<Record<string, string>>;
  readonly podAnnotations: Readonly<Record<string, string>>;
  /** Failed probes (of a kind a retry may fix) tolerated before the input is reported unreadable. */
  readonly retryLimit: number;
  readonly deadlineSeconds: number;
}

export type IntentResult =
  | { readonly ok: true; readonly intent: FilmIntent }
  | {
      readonly ok: false;
      /**
       * InvalidSpec: the spec cannot be used; PolicyRefused: it asks for more than its film policy allows;
       * InputUnreadable: its audio or skeleton video cannot be read (the probe said so).
       */
      readonly reason: "InvalidSpec" | "PolicyRefused" | "InputUnreadable";
      readonly errors: readonly { readonly path: string; readonly message: string }[];
    }
  | {
      readonly ok: false;
      /** The film's inputs must be read before it can be planned. */
      readonly reason: "Probing";
      readonly probe: ProbeIntent;
    }
  | {
      readonly ok: false;
      /**
       * The svi film's model cache lacks files or holds wrong ones (the probe said so): reported like an invalid
       * spec, and probed again at `recheckAt` (ms since the epoch), so a cache filled later resumes the film.
       */
      readonly reason: "ModelCacheIncomplete";
      readonly errors: readonly { readonly path: string; readonly message: string }[];
      readonly probe: ProbeIntent;
      readonly recheckAt: number;
    };

export type JobKind = "segment" | "concat" | "probe";

/** A Job the film owns, reduced to what decisions need. */
export interface ObservedJob {
  readonly name: string;
  /** Its UID: a delete names it, so that a Job made again under the name is never deleted in its place. */
  readonly uid: string;
  readonly kind: JobKind;
  readonly segment: number;
  /** The plan hash of the segment it renders (for the concat job, the film's concat hash). */
  readonly hash: string;
  /**
   * The latent digest it consumes; with the hash it identifies what the job renders. A warm Job's is its
   * predecessor's output once that is known (resolved from `inputFrom`), "" until then.
   */
  readonly inputDigest: string;
  /** A warm Job's predecessor attempt directory (LV_INPUT_FROM), whose committed hand-off it waits for. */
  readonly inputFrom?: string;
  readonly attempt: number;
  readonly createdAt: string;
  readonly finished: "Succeeded" | "Failed" | undefined;
  readonly failureReason?: string;
  readonly failureMessage?: string;
  readonly deleting: boolean;
  /** Why the Job controller cannot create the job's pod (its latest FailedCreate event), while it cannot. */
  readonly podRefused?: string;
  /** UID of the workspace claim it was made for; "" for a job made before jobs recorded it. */
  readonly workspaceUid?: string;
  /** Its render container's memory limit (a quantity), when it recorded it. */
  readonly memoryLimit?: string;
  /** The key of the placement and resources its pod template was made with, when it recorded it. */
  readonly podTemplate?: string;
  /** Suspended (a Kueue queue has not admitted it yet): the Job controller's Suspended condition, when it holds. */
  readonly suspended?: string;
  /** What Kueue says of it, from its Workload, when it names a queue and Kueue has made one. */
  readonly admission?: KueueAdmission;
}

/** What Kueue says of a Job that names a LocalQueue, from the Workload it made for the Job. */
export interface KueueAdmission {
  readonly workload: string;
  /** Quota is reserved and every admission check passed: Kueue lets the Job run (it unsuspends it). */
  readonly admitted: boolean;
  /** Why it is not admitted, in Kueue's words (its QuotaReserved or Admitted condition), while it is not. */
  readonly pending?: string;
  /** Why Kueue evicted it (preempted it, or took its admission back): `reason: message`, until it is admitted again. */
  readonly evicted?: string;
  /** Times Kueue evicted it, by its scheduling statistics. */
  readonly evictions: number;
}

/** A pod of one of those Jobs, reduced likewise. */
export interface ObservedPod {
  readonly name: string;
  readonly jobName: string;
  readonly nodeName?: string;
  readonly phase: string;
  readonly startedAt?: string;
  readonly finishedAt?: string;
  readonly exitCode?: number;
  readonly terminationMessage?: string;
  readonly reason?: string;
  /** The scheduler's message while it finds no node for the pod (PodScheduled=False, Unschedulable). */
  readonly unschedulable?: string;
  /** Why its container cannot start (an image that cannot be pulled, a volume that cannot be mounted). */
  readonly blocked?: { readonly reason: string; readonly message: string };
  /** The pod is being deleted (evicted from a lost node, drained, deleted by hand). */
  readonly deleting?: true;
  /** The cluster ended the pod, not its work (DisruptionTarget: preemption, eviction, a lost node's garbage). */
  readonly disruption?: string;
  /** The node it was bound to is not Ready (or gone): why, in the node controller's words. */
  readonly nodeLost?: string;
  /** The node it was bound to no longer exists. */
  readonly nodeGone?: true;
}

export interface ObservedFilm {
  readonly name: string;
  readonly namespace: string;
  readonly uid: string;
  readonly generation: number;
  readonly deleting: boolean;
  readonly finalizers: readonly string[];
  readonly status: FilmStatus;
}

export interface FilmSnapshot {
  readonly now: Date;
  readonly film: ObservedFilm;
  readonly intent: IntentResult;
  readonly jobs: readonly ObservedJob[];
  readonly pods: readonly ObservedPod[];
  readonly workspaceClaim:
    | {
        readonly name: string;
        readonly uid: string;
        readonly ownedByFilm: boolean;
        /** Being deleted (a predecessor's, or a hand-deleted one): no pod may start on it. */
        readonly deleting: boolean;
      }
    | undefined;
  /**
   * An object the film needs that the API server refused to create (quota, an admission webhook, an invalid
   * name), as the I/O layer last saw it; cleared once a create succeeds.
   */
  readonly refusal?: CreateRefusal;
  /**
   * The latest timed segments of another film of the same timing shape (`timingShape`) that the operator has seen:
   * what a film learns its warm lead time from before its own first hand-off.
   */
  readonly shapeTiming?: readonly SegmentRecord[];
}

/** A create the API server refused: what, and its own words. */
export interface CreateRefusal {
  readonly object: string;
  readonly message: string;
}

export type EventType = "Normal" | "Warning";

/** Done before the status is written: it does not depend on what the status says. */
export interface SetupAction {
  readonly kind: "addFinalizer";
}

/** Done after the status is written, and only if that write succeeded: what the new status justifies. */
export type FollowUpAction =
  /**
   * After the status write, so that a claim the API server refuses (a storage quota, a webhook) never keeps the
   * film's status from saying so.
   */
  | { readonly kind: "createWorkspace"; readonly workspace: WorkspaceIntent }
  | { readonly kind: "removeFinalizer" }
  | { readonly kind: "releaseWorkspace"; readonly claimName: string }
  | { readonly kind: "deleteWorkspace"; readonly claimName: string; readonly uid: string }
  | {
      readonly kind: "createSegmentJob";
      readonly segment: PlannedSegment;
      readonly attempt: number;
      /** "" for a chain's start, and for a warm Job, which is given `inputFrom` instead. */
      readonly inputDigest: string;
      /** Warm start: the predecessor attempt's directory whose hand-off the pod waits for (docs/adr/0026). */
      readonly inputFrom?: string;
      readonly name: string;
      /** The workspace claim the pod will use. */
      readonly workspaceUid: string;
    }
  | {
      readonly kind: "createConcatJob";
      readonly attempt: number;
      /** The last segment's latents digest: the end of the chain the concatenation walks back. */
      readonly inputDigest: string;
      readonly name: string;
      readonly workspaceUid: string;
    }
  | {
      readonly kind: "createProbeJob";
      readonly probe: ProbeIntent;
      readonly attempt: number;
      readonly name: string;
    }
  | {
      readonly kind: "deleteJob";
      readonly name: string;
      /** The UID it was decided about: a job made again under the name is not deleted. */
      readonly uid: string;
      /**
       * Delete only if this pod has not ended by the time of the delete: a job let go because its node is gone is
       * kept when a fresh read finds its pod already Succeeded or Failed (the node's deletion may be seen before
       * the pod's last status), so a result already rendered is adopted rather than rendered again.
       */
      readonly unlessPodEnded?: string;
    }
  | {
      readonly kind: "event";
      readonly type: EventType;
      readonly reason: string;
      readonly message: string;
      /** The segment whose success the event tells: what follows it is told in the same event. */
      readonly succeeded?: number;
    };

export type Action = SetupAction | FollowUpAction;

/** One effect of a decision, as the I/O layer carries it out: an action, or the status write. */
export type Effect = Action | { readonly kind: "updateStatus"; readonly status: FilmStatus };

/** How a segment's attempt ended, for the segments counter. */
export type SegmentOutcome = "succeeded" | "failed" | "retried";

/** Facts for metrics that only the decision knows (a segment's end is seen once, when it is recorded). */
export interface DecisionFacts {
  readonly segmentsEnded: readonly {
    readonly result: SegmentOutcome;
    readonly seconds: number;
    /**
     * A succeeded segment's hand-off gap: from its predecessor committing the hand-off to its own denoising start,
     * as both workers reported them; `warm` when it was started before that commit (docs/adr/0026).
     */
    readonly gap?: { readonly seconds: number; readonly mode: "warm" | "serial" };
  }[];
  /**
   * The segment whose end the job created in this decision follows (segment i-1 for segment i, the last segment
   * for the concatenation), when one was created: where a hand-off's clock started.
   */
  readonly handoffFrom?: number;
}

/**
 * A decision, in the order it must be carried out: `setup`, then the `status` write (when the status changed),
 * then `then`. A successor's job is in `then`, so it exists only after its predecessor's result is durably
 * recorded; if the status write fails, nothing in `then` is done.
 */
export interface Decision {
  readonly setup: readonly SetupAction[];
  readonly status?: FilmStatus;
  readonly then: readonly FollowUpAction[];
  /** Look again after this long even if nothing changes (a retry backoff). */
  readonly requeueAfterMs?: number;
  readonly facts: DecisionFacts;
}
