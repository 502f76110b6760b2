/**
 * What the reconciler sees and says: an observed snapshot of one film and the things it owns, the film's intent
 * (its validated spec turned into a segment plan and settings), and the actions that bring the world closer to
 * that intent. Plain data only: no client, no clock, no I/O.
 */
import type { GpuPlacement } from "../manifests/render-job.ts";

/** One segment as planned: its place in the chain, its content hash and the environment its pod receives. */
export interface PlannedSegment {
  readonly index: number;
  /** Content hash of the segment's inputs, chained through the previous segment's hash. */
  readonly hash: string;
  /** Frames this segment adds to the film after trimming. */
  readonly keptFrames: number;
  /** The segment contract's environment, except the input digest, which is known only at hand-off. */
  readonly env: Readonly<Record<string, string>>;
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
  readonly suspend: boolean;
  readonly retry: RetryPolicy;
  readonly placement: GpuPlacement;
  readonly podLabels: Readonly<Record<string, string>>;
  readonly podAnnotations: Readonly<Record<string, string>>;
  readonly workspace: WorkspaceIntent;
  readonly modelsClaim?: string;
  /** The volume holding the reference image, mounted read-only at the runtime's reference directory; none for a url. */
  readonly reference?: ReferenceVolume;
  readonly backend: string;
  readonly concat: {
    /** Hash of everything the film depends on: the last segment's hash plus output settings. */
    readonly hash: string;
    readonly env: Readonly<Record<string, string>>;
    readonly frames: number;
    readonly seconds: number;
    readonly path: string;
  };
}

/** Where a film's reference image lives, when it is a volume the render pods mount. */
export type ReferenceVolume =
  { readonly kind: "configMap"; readonly name: string } | { readonly kind: "pvc"; readonly claimName: string };

export type IntentResult =
  | { readonly ok: true; readonly intent: FilmIntent }
  | { readonly ok: false; readonly errors: readonly { readonly path: string; readonly message: string }[] };

export type JobKind = "segment" | "concat";

/** A Job the film owns, reduced to what decisions need. */
export interface ObservedJob {
  readonly name: string;
  readonly kind: JobKind;
  readonly segment: number;
  /** The plan hash of the segment it renders (for the concat job, the film's concat hash). */
  readonly hash: string;
  /** The latent digest it was told to consume; with the hash it identifies what the job renders. */
  readonly inputDigest: string;
  readonly attempt: number;
  readonly createdAt: string;
  readonly finished: "Succeeded" | "Failed" | undefined;
  readonly failureReason?: string;
  readonly failureMessage?: string;
  readonly deleting: boolean;
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
}

export type SegmentState = "Pending" | "Running" | "Succeeded" | "Failed" | "Retrying";

/** The durable record of one segment, kept in the film's status. */
export interface SegmentRecord {
  readonly index: number;
  readonly attempt: number;
  readonly state: SegmentState;
  readonly hash: string;
  readonly node?: string;
  readonly startTime?: string;
  readonly finishTime?: string;
  /** Digest of the latents the segment consumed ("" for the first). */
  readonly inputDigest?: string;
  /** Digest of the latents it produced, which its successor must consume. */
  readonly outputDigest?: string;
  readonly frames?: number;
  readonly message?: string;
}

export interface Condition {
  readonly type: string;
  readonly status: "True" | "False" | "Unknown";
  readonly reason: string;
  readonly message: string;
  readonly lastTransitionTime: string;
  readonly observedGeneration: number;
}

export type FilmPhase = "Pending" | "Rendering" | "Concatenating" | "Succeeded" | "Failed" | "Suspended";

export interface FilmStatus {
  readonly observedGeneration?: number;
  readonly phase?: FilmPhase;
  readonly progress?: string;
  readonly segments?: readonly SegmentRecord[];
  readonly conditions?: readonly Condition[];
  readonly output?: { readonly path: string; readonly frames: number; readonly seconds: number; readonly hash: string };
  readonly startTime?: string;
  readonly completionTime?: string;
  readonly eta?: string;
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
  readonly workspaceClaim: { readonly name: string; readonly ownedByFilm: boolean } | undefined;
}

export type EventType = "Normal" | "Warning";

export type Action =
  | { readonly kind: "addFinalizer" }
  | { readonly kind: "removeFinalizer" }
  | { readonly kind: "createWorkspace"; readonly workspace: WorkspaceIntent }
  | { readonly kind: "releaseWorkspace"; readonly claimName: string }
  | { readonly kind: "deleteWorkspace"; readonly claimName: string }
  | {
      readonly kind: "createSegmentJob";
      readonly segment: PlannedSegment;
      readonly attempt: number;
      readonly inputDigest: string;
      readonly name: string;
    }
  | { readonly kind: "createConcatJob"; readonly attempt: number; readonly name: string }
  | { readonly kind: "deleteJob"; readonly name: string }
  | { readonly kind: "updateStatus"; readonly status: FilmStatus }
  | { readonly kind: "event"; readonly type: EventType; readonly reason: string; readonly message: string };

/** Facts for metrics that only the decision knows (a segment's end is seen once, when it is recorded). */
export interface DecisionFacts {
  readonly segmentsEnded: readonly { readonly result: "succeeded" | "failed" | "retried"; readonly seconds: number }[];
  /** When the predecessor's result was recorded, for each successor job created in this decision. */
  readonly handoffsFrom: readonly string[];
}

export interface Decision {
  readonly actions: readonly Action[];
  /** Look again after this long even if nothing changes (a retry backoff, an ETA refresh). */
  readonly requeueAfterMs?: number;
  readonly facts: DecisionFacts;
}
