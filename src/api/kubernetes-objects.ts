/**
 * The Kubernetes objects the operator reads, as plain JSON shapes reduced to the fields it uses: what the
 * informers cache (src/kube) and what the reconciler's translators read (src/reconcile). Structural types only,
 * so any object the API server returns fits them.
 */
import type { LongVideoStatus } from "./long-video-status.ts";

/** A condition as Jobs, pods and nodes report them, reduced to what is read. */
export interface ObjectCondition {
  readonly type: string;
  readonly status: string;
  readonly reason?: string;
  readonly message?: string;
}

/** What every object has: identity, labels and owners. */
export interface KubeObject {
  readonly metadata?: {
    readonly name?: string;
    readonly namespace?: string;
    readonly resourceVersion?: string;
    readonly uid?: string;
    readonly labels?: Readonly<Record<string, string>>;
    readonly ownerReferences?: readonly { readonly uid: string; readonly kind: string; readonly name: string }[];
  };
}

/** A LongVideo as the API server returns it; the spec stays unknown until the intent validates it. */
export interface LongVideoObject extends KubeObject {
  readonly metadata: KubeObject["metadata"] & {
    readonly generation?: number;
    readonly deletionTimestamp?: string;
    readonly finalizers?: readonly string[];
  };
  readonly spec?: unknown;
  readonly status?: LongVideoStatus;
}

/** A segment or concatenation Job. */
export interface JobObject extends KubeObject {
  readonly metadata: KubeObject["metadata"] & {
    readonly annotations?: Readonly<Record<string, string>>;
    readonly creationTimestamp?: string;
    readonly deletionTimestamp?: string;
  };
  readonly status?: {
    readonly conditions?: readonly ObjectCondition[];
  };
}

/** A render pod: where it ran, when, and how it ended. */
export interface PodObject extends KubeObject {
  readonly metadata?: KubeObject["metadata"] & { readonly deletionTimestamp?: string };
  readonly spec?: { readonly nodeName?: string };
  readonly status?: {
    readonly phase?: string;
    readonly reason?: string;
    readonly conditions?: readonly ObjectCondition[];
    readonly containerStatuses?: readonly {
      readonly state?: {
        readonly waiting?: { readonly reason?: string; readonly message?: string };
        readonly running?: { readonly startedAt?: string };
        readonly terminated?: {
          readonly exitCode?: number;
          readonly reason?: string;
          readonly message?: string;
          readonly startedAt?: string;
          readonly finishedAt?: string;
        };
      };
    }[];
  };
}

/** A film's workspace claim. */
export interface ClaimObject extends KubeObject {
  readonly metadata: KubeObject["metadata"] & { readonly deletionTimestamp?: string };
}

/**
 * A core/v1 Event about an object the operator made: what the Job controller says when it cannot create a pod,
 * or the kubelet when it cannot mount a volume.
 */
export interface EventObject extends KubeObject {
  readonly involvedObject?: {
    readonly kind?: string;
    readonly name?: string;
    readonly namespace?: string;
    readonly uid?: string;
  };
  readonly reason?: string;
  readonly message?: string;
  readonly type?: string;
  readonly count?: number;
  readonly lastTimestamp?: string | null;
  readonly eventTime?: string | null;
}

/** A node, reduced to whether it is Ready and why not. */
export interface NodeObject extends KubeObject {
  readonly status?: {
    readonly conditions?: readonly ObjectCondition[];
  };
}

/**
 * A Kueue Workload (kueue.x-k8s.io/v1beta2), which Kueue makes for each Job that names a LocalQueue: whether its
 * Job is admitted, why not in Kueue's own words, and how often Kueue evicted it (preemption among them).
 */
export interface WorkloadObject extends KubeObject {
  readonly status?: {
    readonly conditions?: readonly ObjectCondition[];
    readonly schedulingStats?: {
      readonly evictions?: readonly { readonly reason?: string; readonly count?: number }[];
    };
  };
}
