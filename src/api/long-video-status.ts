/**
 * `LongVideo.status`: what the operator reports. Written only by the operator through the status subresource;
 * the schema bounds it so one film's status stays far below etcd's object size limit, and gives list semantics
 * (segments keyed by index, conditions keyed by type) that server-side apply merges correctly.
 */
import * as z from "zod";

/** Condition types the operator sets on a LongVideo. */
export const ConditionType = {
  /** The film is finished and at `status.output.path`. */
  Ready: "Ready",
  /** Segments are rendering or the film is being concatenated. */
  Progressing: "Progressing",
  /** Every segment rendered and the film was written. */
  Succeeded: "Succeeded",
  /** A segment exhausted its retries, or concatenation failed; the film will not finish without a change. */
  Failed: "Failed",
  /** Rendering stopped at a segment boundary because `spec.suspend` is true. */
  Suspended: "Suspended",
  /** The film still progresses, but on a retry: a segment failed and waits for, or runs, another attempt. */
  Degraded: "Degraded",
} as const;
export type ConditionType = (typeof ConditionType)[keyof typeof ConditionType];

/** Reasons (the `reason` field of a condition): PascalCase, stable, meant for machines and alerts. */
export const ConditionReason = {
  InvalidSpec: "InvalidSpec",
  /** The spec asks for more than the film policy of its namespace allows (a priority class, a toleration, ...). */
  PolicyRefused: "PolicyRefused",
  InProgress: "InProgress",
  Rendering: "Rendering",
  WaitingForRetry: "WaitingForRetry",
  Concatenating: "Concatenating",
  FilmComplete: "FilmComplete",
  RetriesExhausted: "RetriesExhausted",
  /** A segment failed on input a retry cannot fix (the runtime's exit code 2): it is not retried. */
  BadInput: "BadInput",
  ConcatenationFailed: "ConcatenationFailed",
  SuspendRequested: "SuspendRequested",
  Suspended: "Suspended",
  NotSuspended: "NotSuspended",
  NoFailure: "NoFailure",
  SegmentRetrying: "SegmentRetrying",
  /** A claim of the workspace's name is still being deleted; nothing starts until it is gone. */
  WorkspaceTerminating: "WorkspaceTerminating",
  /** The scheduler finds no node for a pod the film waits on; the message is the scheduler's. */
  Unschedulable: "Unschedulable",
  /**
   * The API server refused to create an object the film needs (a Job or the workspace claim: quota, an admission
   * webhook, an invalid name); the message is the API server's. Retried with backoff.
   */
  CreateRefused: "CreateRefused",
  /**
   * The Job controller cannot create a pod the film waits on (a missing priority class, quota, an admission
   * refusal); the message is its FailedCreate event's.
   */
  PodRefused: "PodRefused",
  /** A pod the film waits on runs on a node that is not Ready or is gone; it is re-run elsewhere when evicted. */
  NodeLost: "NodeLost",
  /**
   * A Job the film waits on is suspended in a Kueue queue (spec.gpu.queueName) until the queue admits it; the
   * message is its Workload's (why Kueue has not admitted it, or that Kueue evicted it).
   */
  Queued: "Queued",
  /**
   * The kubelet cannot start a container the film waits on (an image it cannot pull, a ConfigMap or volume it
   * cannot mount); the message is the kubelet's.
   */
  ContainerCannotStart: "ContainerCannotStart",
  NotDegraded: "NotDegraded",
  /** The operator is reading the film's audio or skeleton video, or checking its model cache (a probe Job). */
  ProbingInputs: "ProbingInputs",
  /**
   * The film's audio (spec.audio) or skeleton video (spec.pose) cannot be read: missing, refused or undecodable;
   * the message names the field. Nothing already rendered is lost; a corrected input is read again.
   */
  InputUnreadable: "InputUnreadable",
  /**
   * An svi film's model cache (spec.storage.models.claimName or the operator's) lacks a file its variant needs, or
   * holds one that is not right (not safetensors, a tensor missing or of the wrong shape); the message lists them.
   * Found by the probe before any GPU pod starts, and checked again with backoff, so filling the cache resumes it.
   */
  ModelCacheIncomplete: "ModelCacheIncomplete",
} as const;
export type ConditionReason = (typeof ConditionReason)[keyof typeof ConditionReason];

/**
 * Phases of a film, in `status.phase`. `Queued`: the job the film waits on is suspended in its Kueue queue
 * (spec.gpu.queueName) and nothing of the film runs; the Ready condition carries the Workload's message.
 */
export const phases = ["Pending", "Rendering", "Concatenating", "Succeeded", "Failed", "Suspended", "Queued"] as const;
export type Phase = (typeof phases)[number];

/** States of one segment's record. */
export const segmentStates = ["Pending", "Running", "Succeeded", "Failed", "Retrying"] as const;
export type SegmentState = (typeof segmentStates)[number];

/** Films are bounded by the spec (64 scenes of up to 64 clips); status lists never exceed that. */
export const maxSegments = 4096;

const timestamp = z.iso.datetime();
const digest = z.string().max(128).meta({ description: "A content digest, such as a hex sha256." });

/** A metav1.Condition. */
export const conditionSchema = z.strictObject({
  type: z
    .string()
    .min(1)
    .max(316)
    .regex(
      /^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*\/)?[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$/,
    )
    .meta({ description: "Condition type, such as Ready or Progressing." }),
  status: z.enum(["True", "False", "Unknown"]),
  observedGeneration: z.int().min(0).exactOptional().meta({ description: "The generation the condition was set for." }),
  lastTransitionTime: timestamp.meta({ description: "When the status last changed." }),
  reason: z
    .string()
    .min(1)
    .max(1024)
    .regex(/^[A-Za-z]([A-Za-z0-9_,:]*[A-Za-z0-9_])?$/)
    .meta({ description: "A PascalCase reason for the last transition." }),
  message: z.string().max(32_768).meta({ description: "A human-readable explanation." }),
});

/** Why a segment's latest attempt failed, in a word; the record's message says the rest. */
export const SegmentFailureReason = {
  /** The render container failed (exit codes 1, 4, 5...); counted against spec.retry.limit. */
  Failed: "Failed",
  /** The runtime refused its input (exit code 2): not retried. */
  BadInput: "BadInput",
  /** The attempt outlived its deadline (spec.render.deadlineSeconds); counted. */
  DeadlineExceeded: "DeadlineExceeded",
  /** The container hit its memory limit; counted. */
  OOMKilled: "OOMKilled",
  /** The cluster ended the pod (preemption, eviction, a lost node): not counted. */
  Disrupted: "Disrupted",
  /**
   * Data from an earlier segment was missing or corrupt (exit code 3): not counted; the segment whose data was
   * lost is rendered again first. On a segment whose own hand-off was lost, its record says so.
   */
  HandoffLost: "HandoffLost",
  /**
   * A warm attempt (docs/adr/0026) ended without rendering: its predecessor's hand-off never came in time (exit
   * code 6), or it consumed another hand-off than its predecessor's recorded one. Not counted: the segment starts
   * again from the recorded hand-off.
   */
  HandoffWait: "HandoffWait",
} as const;
export type SegmentFailureReason = (typeof SegmentFailureReason)[keyof typeof SegmentFailureReason];

/** The compact record of one segment. */
export const segmentRecordSchema = z.strictObject({
  index: z.int().min(0).max(maxSegments).meta({ description: "Position of the segment in the film." }),
  attempt: z.int().min(0).max(200).meta({ description: "Attempt number of the latest render, from 0." }),
  failures: z.int().min(0).max(100).exactOptional().meta({
    description:
      "Failed attempts counted against spec.retry.limit, the latest included; an attempt whose job was deleted before it ended is not counted.",
  }),
  state: z.enum(segmentStates),
  hash: digest.meta({ description: "Plan hash of the segment's inputs, chained through its predecessor's." }),
  node: z.string().max(253).exactOptional().meta({ description: "Node the latest attempt ran on." }),
  startTime: timestamp.exactOptional(),
  finishTime: timestamp.exactOptional(),
  inputDigest: digest.exactOptional().meta({ description: "Digest of the latents the segment consumed." }),
  outputDigest: digest.exactOptional().meta({ description: "Digest of the latents it produced for its successor." }),
  frames: z.int().min(0).max(100_000).exactOptional().meta({ description: "Frames the segment rendered." }),
  message: z.string().max(1024).exactOptional().meta({ description: "Why the latest attempt failed, when it did." }),
  exitCode: z
    .int()
    .min(0)
    .max(255)
    .exactOptional()
    .meta({ description: "The render container's exit code, when the latest attempt failed with one." }),
  reason: z
    .enum(Object.values(SegmentFailureReason))
    .exactOptional()
    .meta({ description: "Why the latest attempt failed, in a word, when it did." }),
  evictions: z.int().min(0).max(10_000).exactOptional().meta({
    description:
      "Times Kueue evicted the latest attempt's Job (preempted it, or took its admission back) while it ran: each time the Job was suspended, waited in its queue again and re-ran, without spending a retry.",
  }),
  handoffLosses: z.int().min(0).max(100).exactOptional().meta({
    description:
      "Times this segment's hand-off was found missing or corrupt after it succeeded, each time rendered again.",
  }),
  inputFrom: z
    .string()
    .max(64)
    .regex(/^segments\/\d+\/[0-9a-f]+-\d+$/)
    .exactOptional()
    .meta({
      description:
        "Warm start: the predecessor attempt's directory the latest attempt was started after, before that attempt had committed its hand-off; it waited for the hand-off on the workspace.",
    }),
  phases: z
    .strictObject({
      ready: z.number().min(0).max(1e6).exactOptional(),
      wait: z.number().min(0).max(1e6).exactOptional(),
      denoise: z.number().min(0).max(1e6).exactOptional(),
      decode: z.number().min(0).max(1e6).exactOptional(),
      encode: z.number().min(0).max(1e6).exactOptional(),
    })
    .exactOptional()
    .meta({
      description:
        "Seconds the latest attempt spent from its process start to models loaded (ready), waiting for its predecessor's hand-off, denoising, decoding and encoding, as the worker reported them.",
    }),
  committedAt: timestamp.exactOptional().meta({ description: "When the segment committed its hand-off." }),
  denoiseStartedAt: timestamp.exactOptional().meta({ description: "When the segment started denoising." }),
});

/** What the probe Job read from a film's audio and skeleton video, before the film was planned. */
export const probedInputsSchema = z
  .strictObject({
    key: digest.meta({
      description:
        "Digest of what was read: spec.audio and spec.pose (without the offset) and, for an svi film, its model cache claim and variant.",
    }),
    audioSeconds: z.number().min(0).max(1e7).exactOptional().meta({ description: "The audio's duration, in seconds." }),
    poseFrames: z.int().min(0).max(1e8).exactOptional().meta({ description: "Frames in the skeleton video." }),
    poseFps: z.number().min(0).max(1000).exactOptional().meta({ description: "The skeleton video's own frame rate." }),
    modelFiles: z.int().min(0).max(100_000).exactOptional().meta({
      description: "Files of the model cache the probe checked and found right (an svi film's variant needs them).",
    }),
    modelChecks: z.int().min(0).max(10_000).exactOptional().meta({
      description:
        "Times the model cache was found incomplete. It is checked again after 30 s, doubling with each check up to 10 minutes, so a cache filled later resumes the film.",
    }),
    checkedAt: timestamp.exactOptional().meta({ description: "When the probe last found the model cache incomplete." }),
    failures: z.int().min(0).max(100).exactOptional().meta({
      description: "Probe attempts that failed for a reason a retry may fix (a fetch that timed out, say).",
    }),
    unreadable: z
      .strictObject({
        field: z.string().max(64).meta({ description: "The spec field whose input cannot be read." }),
        message: z.string().max(1024).meta({ description: "Why, in the runtime's words." }),
      })
      .exactOptional()
      .meta({ description: "Set when an input cannot be read: the film is not planned until it changes." }),
  })
  .meta({
    description: "The film's audio, skeleton video and model cache as the operator's probe read them before planning.",
  });

/** `status` of a LongVideo. */
export const longVideoStatusSchema = z
  .strictObject({
    observedGeneration: z
      .int()
      .min(0)
      .exactOptional()
      .meta({ description: "The spec generation this status describes." }),
    phase: z.enum(phases).exactOptional().meta({ description: "Where the film is in its life." }),
    progress: z
      .string()
      .max(16)
      .regex(/^[0-9]+\/[0-9]+$/)
      .exactOptional()
      .meta({ description: "Segments rendered out of segments planned, such as 12/40." }),
    chains: z
      .array(
        z.strictObject({
          first: z.int().min(0).meta({ description: "The chain's first segment." }),
          last: z.int().min(0).meta({ description: "The chain's last segment." }),
          progress: z
            .string()
            .max(16)
            .regex(/^[0-9]+\/[0-9]+$/)
            .meta({ description: "The chain's segments rendered out of its segments, such as 3/5." }),
        }),
      )
      // A chain starts at the first scene or a keyframed one: at most one per scene (64).
      .max(64)
      .exactOptional()
      .meta({
        description:
          "Each chain's progress, in storyline order, for a film whose keyframed scenes start chains of their own " +
          "(absent for a film of one chain). Chains render in parallel, up to spec.render.parallelism segments at once.",
        "x-kubernetes-list-type": "atomic",
      }),
    segments: z
      .array(segmentRecordSchema)
      .max(maxSegments)
      .exactOptional()
      .meta({
        description: "One record per rendered or rendering segment.",
        "x-kubernetes-list-type": "map",
        "x-kubernetes-list-map-keys": ["index"],
      }),
    renderedSegments: z
      .array(
        z
          .string()
          .max(256)
          .regex(/^\d+\/\d+\/[0-9a-zA-Z_-]+\/\S+$/),
      )
      .max(maxSegments)
      .exactOptional()
      .meta({
        description:
          "The settled head of the chain, compactly: entry i is attempt/handoffLosses/planHashPrefix/outputDigest of segment i. Whole records follow in segments; a film of thousands of segments stays within etcd's object size limit.",
      }),
    conditions: z
      .array(conditionSchema)
      .max(16)
      .exactOptional()
      .meta({
        description: "Ready, Progressing, Succeeded, Failed, Suspended and Degraded.",
        "x-kubernetes-list-type": "map",
        "x-kubernetes-list-map-keys": ["type"],
      }),
    output: z
      .strictObject({
        path: z.string().max(1024).meta({ description: "Path of the film in the workspace." }),
        frames: z.int().min(0).meta({ description: "Frames in the film." }),
        seconds: z.number().min(0).meta({ description: "Length of the film in seconds." }),
        hash: digest.meta({ description: "Hash of everything the film was made from." }),
        contactSheet: z.string().max(1024).exactOptional().meta({
          description: "Path of the film's contact sheet (a poster frame of each segment, captioned) in the workspace.",
        }),
      })
      .exactOptional()
      .meta({ description: "The finished film." }),
    startTime: timestamp.exactOptional().meta({ description: "When the first segment started." }),
    completionTime: timestamp.exactOptional().meta({ description: "When the film succeeded or failed." }),
    eta: timestamp.exactOptional().meta({ description: "When the film is expected to be finished, while rendering." }),
    remaining: z.string().max(16).exactOptional().meta({
      description:
        "Time left until eta, rounded up (4m, 2h10m, 1d3h, or overdue), as kubectl's ETA column shows it; rewritten when the text changes: each minute in the last hour, each ten minutes up to a day, each hour beyond.",
    }),
    inputs: probedInputsSchema.exactOptional(),
    workspaceClaimUID: z.string().max(64).exactOptional().meta({
      description:
        "UID of the workspace claim the recorded segments were rendered into. A claim of another UID (deleted and made again, empty) invalidates them.",
    }),
  })
  .meta({ description: "What the operator observed and did." });

export type LongVideoStatus = z.output<typeof longVideoStatusSchema>;
export type Condition = z.output<typeof conditionSchema>;
export type SegmentRecord = z.output<typeof segmentRecordSchema>;
export type ProbedInputsStatus = z.output<typeof probedInputsSchema>;
