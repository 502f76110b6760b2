/**
 * The LongVideo controller's I/O: informers feed a work queue keyed by film; each reconcile reads the caches into
 * a snapshot, asks the pure `decide` what to do, performs it in the decision's order (setup, the status write,
 * then what the status justifies) and reports what happened. What every object looks like is decided in
 * src/manifests; what to do, in src/reconcile.
 */
import { longVideoStatusSchema, phases, probedInputsSchema } from "../api/long-video-status.ts";
import { longVideoResource } from "../api/long-video.ts";
import type {
  ClaimObject,
  EventObject,
  JobObject,
  KubeObject,
  LongVideoObject,
  NodeObject,
  PodObject,
  WorkloadObject,
} from "../api/kubernetes-objects.ts";
import { fieldManager, filmFinalizer, managedSelector, operatorLabels } from "../api/operator-labels.ts";
import { filmEvent } from "../manifests/film-event.ts";
import { concatJob, probeJob, segmentJob } from "../manifests/film-jobs.ts";
import type { RuntimeImage } from "../manifests/film-jobs.ts";
import { deleteOptions } from "../manifests/delete-options.ts";
import { workspaceClaim } from "../manifests/workspace-claim.ts";
import { decide, decisionEffects } from "../reconcile/decide.ts";
import type {
  Action,
  CreateRefusal,
  Decision,
  Effect,
  FilmPhase,
  FilmSnapshot,
  FilmStatus,
  IntentResult,
} from "../reconcile/film-snapshot.ts";
import { workspaceClaimName } from "../reconcile/object-names.ts";
import { compactedStatus } from "../reconcile/status-compaction.ts";
import { filmSnapshot, hasEnded } from "../reconcile/observed-objects.ts";
import { timedRecords, timingShape } from "../reconcile/timing-shape.ts";
import {
  cachedClaim,
  cachedEvent,
  cachedFilm,
  cachedJob,
  cachedNode,
  cachedPod,
  cachedWorkload,
} from "./cached-object.ts";
import { CreatedJobs } from "./created-jobs.ts";
import { filmProgressOf } from "./film-controller-observer.ts";
import type { FilmControllerObserver, ReconcileResult } from "./film-controller-observer.ts";
import { Informer, objectKey } from "./informer.ts";
import type { InformerLog } from "./informer.ts";
import { MultiNamespaceInformer } from "./multi-namespace-informer.ts";
import { FencedClient } from "./fenced-client.ts";
import { RecentlyUsedMap } from "./recently-used-map.ts";
import { ShapeTimings } from "./shape-timings.ts";
import type { KubeClient, KubeError, KubeResult, KubeWriter } from "./kube-client.ts";
import type { WorkOutcome, WorkQueueObserver } from "./work-queue.ts";
import { WorkQueue } from "./work-queue.ts";

const { group, version } = longVideoResource;

/** Everything a reconcile needs besides the caches: how to read a spec, what to run, where to report. */
export interface FilmControllerOptions {
  readonly concurrency: number;
  readonly resyncMs: number;
  readonly watchdogMs: number;
  /** The namespaces whose films it reconciles, each watched on its own; empty: every namespace. */
  readonly watchNamespaces: readonly string[];
  /** Whether it watches nodes, to tell a film that its pod's node is lost. */
  readonly watchNodes: boolean;
  readonly runtime: RuntimeImage;
  /** The film's spec, validated and planned (pure; from src/api and src/plan). */
  readonly intentOf: (film: LongVideoObject) => IntentResult;
  readonly now: () => Date;
}

export interface ControllerLog extends InformerLog {
  reconciled(key: string, result: ReconcileResult, actions: readonly string[], ms: number): void;
  actionFailed(key: string, action: string, error: KubeError): void;
}

/** What the controller reports to: its log, the work queue's metrics and its own. */
export interface ControllerObservers {
  readonly log: ControllerLog;
  readonly queue: WorkQueueObserver;
  readonly controller: FilmControllerObserver;
}

const nodesPath = "/api/v1/nodes";
/** The Kueue API version whose Workloads are read: v0.17 serves and stores it (a Kueue serving only v1beta1 adds no words). */
const kueueApiPath = "/apis/kueue.x-k8s.io/v1beta2";
const informerDefaults = { backoffBaseMs: 500, backoffMaxMs: 30_000, watchTimeoutSeconds: 240 };
/**
 * Films whose intents are kept, the least recently reconciled forgotten first. A film of 50 segments' intent is
 * about 19 KB of heap (ADR 0008): 37 MiB for 2000 live films, most of which wait on a long segment and are
 * reconciled only by a resync; planning one again costs about 0.7 ms.
 */
const keptIntents = 256;

export class FilmController {
  readonly #options: FilmControllerOptions;
  /** Fresh reads an action needs before it writes (a pod's phase before its job is let go). */
  readonly #reads: Pick<KubeClient, "get">;
  readonly #observer: FilmControllerObserver;
  readonly #log: ControllerLog;
  readonly #films: MultiNamespaceInformer<LongVideoObject>;
  readonly #jobs: MultiNamespaceInformer<JobObject>;
  readonly #pods: MultiNamespaceInformer<PodObject>;
  readonly #claims: MultiNamespaceInformer<ClaimObject>;
  /** Why the Job controller cannot create a film's pod, and why the kubelet cannot mount one's volumes. */
  readonly #jobEvents: MultiNamespaceInformer<EventObject>;
  readonly #podEvents: MultiNamespaceInformer<EventObject>;
  /**
   * Kueue's Workloads, by the Job they were made for: why a film's Job waits in its queue, and whether Kueue
   * evicted it. Empty while Kueue's API is not served; the operator works the same without it.
   */
  readonly #workloads: MultiNamespaceInformer<WorkloadObject>;
  /** Absent when the operator may not watch nodes: then no node is judged lost. */
  readonly #nodes: Informer<NodeObject> | undefined;
  /** Per node: whether it was Ready when last seen, so that only a change queues the films on it. */
  readonly #nodeReady = new Map<string, boolean>();
  /** Per film: the last create the API server refused, until a create succeeds. */
  readonly #refusals = new Map<string, CreateRefusal>();
  /** Jobs created that the informer has not delivered yet: a reconcile in between must not create them again. */
  readonly #createdJobs = new CreatedJobs();
  readonly #queue: WorkQueue;
  /** Per film, per segment: when the operator first heard the segment ended, since the film's last job was created. */
  readonly #endedAt = new Map<string, Map<string, number>>();
  /**
   * Per film: its intent, valid while the spec (generation) and what the probe read of its inputs
   * (`status.inputs`) are the ones it was derived from.
   */
  readonly #intents = new RecentlyUsedMap<
    string,
    { uid: string; generation: number; inputs: string; intent: IntentResult; shape: string | undefined }
  >(keptIntents);
  /** The latest timed segments per timing shape, across films: a film's first warm lead time (docs/adr/0026). */
  readonly #shapeTimings = new ShapeTimings();
  /**
   * Per film: the version this operator last wrote, and the versions it superseded. Until the informer delivers
   * the write, the cache still holds one of those; reconciling from it would only conflict.
   */
  readonly #written = new Map<string, { older: readonly string[]; film: LongVideoObject }>();

  /**
   * `client` serves the informers, which run whether or not this replica leads; writes go through the fenced
   * client {@link runWorkers} is given for each leading period.
   */
  constructor(client: KubeClient, options: FilmControllerOptions, observers: ControllerObservers) {
    this.#options = options;
    this.#reads = client;
    this.#observer = observers.controller;
    this.#log = observers.log;
    const log = observers.log;
    const common = { ...informerDefaults, resyncMs: options.resyncMs, watchdogMs: options.watchdogMs };
    const watched = { ...common, namespaces: options.watchNamespaces };
    const owned = { ...watched, labelSelector: managedSelector };
    const byFilm = { indexBy: filmKeyOf };
    this.#films = new MultiNamespaceInformer(
      client,
      { ...watched, apiPath: `/apis/${group}/${version}`, resource: "longvideos", trim: cachedFilm },
      log,
    );
    this.#jobs = new MultiNamespaceInformer(
      client,
      { ...owned, ...byFilm, apiPath: "/apis/batch/v1", resource: "jobs", trim: cachedJob },
      log,
    );
    this.#pods = new MultiNamespaceInformer(
      client,
      { ...owned, ...byFilm, apiPath: "/api/v1", resource: "pods", trim: cachedPod },
      log,
    );
    this.#claims = new MultiNamespaceInformer(
      client,
      { ...owned, apiPath: "/api/v1", resource: "persistentvolumeclaims", trim: cachedClaim },
      log,
    );
    const events = { ...watched, apiPath: "/api/v1", resource: "events", trim: cachedEvent, indexBy: involvedKeyOf };
    this.#jobEvents = new MultiNamespaceInformer(
      client,
      { ...events, fieldSelector: "involvedObject.kind=Job,reason=FailedCreate" },
      log,
    );
    this.#podEvents = new MultiNamespaceInformer(
      client,
      { ...events, fieldSelector: "involvedObject.kind=Pod,reason=FailedMount" },
      log,
    );
    this.#workloads = new MultiNamespaceInformer(
      client,
      {
        ...watched,
        apiPath: kueueApiPath,
        resource: "workloads",
        trim: cachedWorkload,
        indexBy: ownerJobKeyOf,
        mayBeAbsent: true,
      },
      log,
    );
    // Nodes are cluster-scoped: watched only when the install grants it (a namespaced install may not).
    this.#nodes = options.watchNodes
      ? new Informer(client, { ...common, path: nodesPath, trim: cachedNode }, log)
      : undefined;
    this.#queue = new WorkQueue(
      { concurrency: options.concurrency, baseRetryMs: 200, maxRetryMs: 60_000 },
      undefined,
      observers.queue,
    );
    this.#films.onChange((film, event) => {
      const key = objectKey(film);
      if (event === "delete") this.#forget(key);
      this.#queue.add(key);
    });
    const toFilm = (object: JobObject | PodObject | ClaimObject, event: string) => {
      const key = filmKeyOf(object);
      if (key === undefined) return;
      const ended = event === "update" ? endedSegment(object) : undefined;
      if (ended !== undefined) this.#startHandoffClock(key, ended);
      // A segment that ended unblocks its successor: that film goes ahead of routine work.
      this.#queue.add(key, ended === undefined ? "routine" : "handoff");
    };
    this.#jobs.onChange((job, event) => {
      const key = filmKeyOf(job);
      if (key !== undefined) this.#createdJobs.delivered(key, job);
      toFilm(job, event);
    });
    this.#pods.onChange(toFilm);
    this.#claims.onChange(toFilm);
    this.#jobEvents.onChange((event) => {
      this.#queueOwnerOf(this.#jobs.get(involvedKeyOf(event) ?? ""));
    });
    this.#podEvents.onChange((event) => {
      this.#queueOwnerOf(this.#pods.get(involvedKeyOf(event) ?? ""));
    });
    this.#workloads.onChange((workload) => {
      this.#queueOwnerOf(this.#jobs.get(ownerJobKeyOf(workload) ?? ""));
    });
    this.#nodes?.onChange((node, event) => {
      this.#nodeChanged(node, event);
    });
  }

  #queueOwnerOf(object: KubeObject | undefined): void {
    const key = object && filmKeyOf(object);
    if (key !== undefined) this.#queue.add(key);
  }

  /** A node that became lost (or came back, or went away) queues every film with a pod on it. */
  #nodeChanged(node: NodeObject, event: string): void {
    const name = node.metadata?.name ?? "";
    const ready = event !== "delete" && node.status?.conditions?.some((c) => c.type === "Ready" && c.status === "True");
    const before = this.#nodeReady.get(name);
    if (event === "delete") this.#nodeReady.delete(name);
    else this.#nodeReady.set(name, ready === true);
    if (before === ready || (before === undefined && ready)) return;
    for (const pod of this.#pods.list()) {
      if (pod.spec?.nodeName === name) this.#queueOwnerOf(pod);
    }
  }

  /**
   * Whether every cache the films need is filled. Kueue's Workloads are not waited for: they only add Kueue's
   * words to a film that waits in a queue, and Kueue may not be installed or readable at all.
   */
  hasSynced(): boolean {
    return this.#informers().every((informer) => informer.hasSynced());
  }

  /** Runs the informers (always, so a standby is warm) and, while `leading` is not aborted, the workers. */
  async runInformers(signal: AbortSignal): Promise<void> {
    await Promise.all([...this.#informers(), this.#workloads].map((informer) => informer.run(signal)));
  }

  /** The collection paths the controller lists and watches. */
  watchedPaths(): string[] {
    const namespaced = [
      this.#films,
      this.#jobs,
      this.#pods,
      this.#claims,
      this.#jobEvents,
      this.#podEvents,
      this.#workloads,
    ];
    return [...namespaced.flatMap((informer) => informer.paths()), ...(this.#nodes ? [nodesPath] : [])];
  }

  #informers(): { hasSynced(): boolean; run(signal: AbortSignal): Promise<void> }[] {
    return [
      this.#films,
      this.#jobs,
      this.#pods,
      this.#claims,
      this.#jobEvents,
      this.#podEvents,
      ...(this.#nodes ? [this.#nodes] : []),
    ];
  }

  /**
   * Works while `writes` leads: until its leadership ends, which stops the queue; reconciles still in flight
   * then finish without another write (the fence refuses them).
   */
  async runWorkers(writes: FencedClient): Promise<void> {
    for (const film of this.#films.list()) this.#queue.add(objectKey(film));
    await this.#queue.run((key) => this.reconcile(key, writes), writes.leadership.signal);
  }

  /** Reconciles one film, writing through `writes`; never throws. */
  async reconcile(key: string, writes: KubeWriter): Promise<WorkOutcome> {
    const started = performance.now();
    const film = this.#latest(key);
    if (!film) return { kind: "done" };
    const snapshot = this.#snapshot(key, film);
    const decision = decide(snapshot);
    const performed = await this.#carryOut(writes, key, film, snapshot, decision);
    this.#noteRefusal(key, performed);
    if (performed.failed) {
      // A conflict on the film means the cache is behind a newer version whose watch event is on its way and
      // will queue the film again; backing off would only delay the next segment.
      const conflict = performed.failed.kind === "Conflict";
      return this.#finish(
        key,
        conflict ? "requeue" : "error",
        performed.done,
        started,
        conflict ? { kind: "done" } : { kind: "retry", error: performed.failed },
      );
    }
    this.#record(key, snapshot, decision, performed.done);
    if (decision.requeueAfterMs !== undefined) {
      return this.#finish(key, "requeue_after", performed.done, started, {
        kind: "requeueAfter",
        ms: decision.requeueAfterMs,
      });
    }
    return this.#finish(key, "success", performed.done, started, { kind: "done" });
  }

  /**
   * Performs a decision in its order, stopping at the first failure so that nothing is created on the strength of
   * a status write that did not happen. Events are best effort: a lost event must not hold a film back.
   */
  async #carryOut(
    writes: KubeWriter,
    key: string,
    film: LongVideoObject,
    snapshot: FilmSnapshot,
    decision: Decision,
  ): Promise<CarriedOut> {
    const steps = decisionEffects(decision);
    const done: string[] = [];
    // Each write to the film moves its resourceVersion on; later writes in this reconcile build on the new one.
    let current = film;
    for (const step of steps) {
      const result =
        step.kind === "updateStatus"
          ? await this.#writeStatus(writes, current, step.status)
          : await this.#perform(writes, current, snapshot, step);
      if (!result.ok) {
        this.#log.actionFailed(key, step.kind, result.error);
        if (step.kind === "event") continue;
        return { done, failed: result.error, failedStep: step };
      }
      if (isFilm(result.value)) {
        this.#remember(key, current, result.value);
        current = result.value;
      }
      if (isJob(result.value)) this.#createdJobs.created(key, cachedJob(result.value));
      done.push(step.kind);
    }
    return { done };
  }

  /**
   * Remembers a create the API server refused, for the next snapshot to show on the film (the refusal itself
   * backs the film off); forgets it once a create gets through.
   */
  #noteRefusal(key: string, performed: CarriedOut): void {
    const { failed, failedStep } = performed;
    if (failed && failedStep && failed.status >= 400 && failed.kind !== "Conflict") {
      const object = createdObject(failedStep);
      if (object) {
        this.#refusals.set(key, { object, message: failed.message.slice(0, 1024) });
        return;
      }
    }
    if (performed.done.some((kind) => kind.startsWith("create"))) this.#refusals.delete(key);
  }

  /** Reports what the decision's facts say happened, once the decision was carried out. */
  #record(key: string, snapshot: FilmSnapshot, decision: Decision, done: readonly string[]): void {
    const intent = snapshot.intent.ok ? snapshot.intent.intent : undefined;
    for (const ended of decision.facts.segmentsEnded) {
      this.#observer.segmentEnded(ended.result, ended.seconds, intent?.backend ?? "unknown", {
        resource: intent?.placement.resourceName ?? "unknown",
        count: intent?.placement.count ?? 0,
      });
      if (ended.gap) this.#observer.handoffGap(ended.gap.mode, ended.gap.seconds);
    }
    if (done.includes("createSegmentJob") || done.includes("createConcatJob")) {
      const from = decision.facts.handoffFrom;
      const endedAt = from === undefined ? undefined : this.#endedAt.get(key)?.get(String(from));
      if (endedAt !== undefined) this.#observer.handedOff((performance.now() - endedAt) / 1000);
      // Only films in flight keep clocks.
      this.#endedAt.delete(key);
    }
    this.#observer.filmsByPhase(this.#phaseCounts());
    this.#observer.filmProgress(
      this.#films
        .list()
        .flatMap(
          (film) =>
            filmProgressOf(film.metadata.namespace ?? "", film.metadata.name ?? "", film.status?.progress) ?? [],
        ),
    );
  }

  /**
   * The moment the operator first hears that a segment ended starts that segment's hand-off clock. Keyed by
   * segment: the Job's own Complete condition often arrives after its pod's end was already handed off, and must
   * not start a clock for the next hand-off.
   */
  #startHandoffClock(key: string, segment: string): void {
    let clocks = this.#endedAt.get(key);
    if (!clocks) this.#endedAt.set(key, (clocks = new Map<string, number>()));
    if (!clocks.has(segment)) clocks.set(segment, performance.now());
  }

  #forget(key: string): void {
    this.#refusals.delete(key);
    this.#createdJobs.forget(key);
    this.#intents.delete(key);
    this.#written.delete(key);
    this.#endedAt.delete(key);
  }

  #finish(
    key: string,
    result: ReconcileResult,
    done: readonly string[],
    started: number,
    outcome: WorkOutcome,
  ): WorkOutcome {
    const ms = performance.now() - started;
    this.#observer.reconciled(result, ms / 1000);
    this.#log.reconciled(key, result, done, ms);
    return outcome;
  }

  #phaseCounts(): Map<FilmPhase, number> {
    const counts = new Map<FilmPhase, number>(phases.map((phase) => [phase, 0]));
    for (const film of this.#films.list()) {
      const phase = film.status?.phase ?? "Pending";
      counts.set(phase, (counts.get(phase) ?? 0) + 1);
    }
    return counts;
  }

  /** The cached film, or this operator's own newer write of it while the cache has not caught up. */
  #latest(key: string): LongVideoObject | undefined {
    const cached = this.#films.get(key);
    const written = this.#written.get(key);
    if (!cached || !written) return cached;
    const superseded = written.older.includes(cached.metadata.resourceVersion ?? "");
    if (superseded && cached.metadata.uid === written.film.metadata.uid) return written.film;
    this.#written.delete(key);
    return cached;
  }

  #remember(key: string, over: LongVideoObject, written: LongVideoObject): void {
    const previous = this.#written.get(key);
    const overVersion = over.metadata.resourceVersion ?? "";
    // Written over our own earlier write: the versions that one superseded are older still.
    const older =
      previous?.film.metadata.resourceVersion === overVersion ? [...previous.older, overVersion] : [overVersion];
    this.#written.set(key, { older, film: cachedFilm(written) });
  }

  /** The film's intent and its timing shape (none for an unusable spec), derived once per spec and inputs. */
  #intent(key: string, film: LongVideoObject): { intent: IntentResult; shape: string | undefined } {
    const uid = film.metadata.uid ?? "";
    const generation = film.metadata.generation ?? 0;
    const inputs = JSON.stringify(film.status?.inputs ?? null);
    const known = this.#intents.get(key);
    if (known?.uid === uid && known.generation === generation && known.inputs === inputs) return known;
    const intent = this.#options.intentOf(film);
    const derived = { uid, generation, inputs, intent, shape: intent.ok ? timingShape(intent.intent) : undefined };
    this.#intents.set(key, derived);
    return derived;
  }

  #snapshot(key: string, film: LongVideoObject): FilmSnapshot {
    const claimName = workspaceClaimName(film.metadata.name ?? "");
    const jobs = this.#createdJobs.withCreated(key, this.#jobs.listIndexed(key));
    const pods = this.#pods.listIndexed(key);
    const refusal = this.#refusals.get(key);
    const nodes = this.#nodes;
    const { intent, shape } = this.#intent(key, film);
    const uid = film.metadata.uid ?? "";
    const snapshot = filmSnapshot({
      now: this.#options.now(),
      film,
      intent,
      jobs,
      pods,
      claim: this.#claims.get(`${film.metadata.namespace ?? ""}/${claimName}`),
      events: [
        ...jobs.flatMap((job) => this.#jobEvents.listIndexed(objectKey(job))),
        ...pods.flatMap((pod) => this.#podEvents.listIndexed(objectKey(pod))),
      ],
      workloads: jobs.flatMap((job) => this.#workloads.listIndexed(objectKey(job))),
      ...(nodes?.hasSynced() ? { nodes: (name: string) => nodes.get(name) } : {}),
      ...(refusal ? { refusal } : {}),
      ...(shape === undefined ? {} : { shapeTiming: this.#shapeTimings.of(shape, uid) }),
    });
    if (shape !== undefined) this.#shapeTimings.note(shape, uid, timedRecords(snapshot.film.status.segments ?? []));
    return snapshot;
  }

  #filmPath(film: LongVideoObject): string {
    return `/apis/${group}/${version}/namespaces/${film.metadata.namespace ?? ""}/longvideos/${film.metadata.name ?? ""}`;
  }

  async #writeStatus(writes: KubeWriter, film: LongVideoObject, status: FilmStatus): Promise<KubeResult<unknown>> {
    return writes.patch<LongVideoObject>(
      `${this.#filmPath(film)}/status`,
      // The resourceVersion makes this a compare-and-swap: a status decided from a stale film is never written.
      { metadata: { resourceVersion: film.metadata.resourceVersion }, status: statusForWrite(compactedStatus(status)) },
      "merge",
      fieldManager,
    );
  }

  async #perform(
    writes: KubeWriter,
    film: LongVideoObject,
    snapshot: FilmSnapshot,
    action: Action,
  ): Promise<KubeResult<unknown>> {
    const namespace = snapshot.film.namespace;
    switch (action.kind) {
      case "addFinalizer":
      case "removeFinalizer": {
        const finalizers = (film.metadata.finalizers ?? []).filter((f) => f !== filmFinalizer);
        if (action.kind === "addFinalizer") finalizers.push(filmFinalizer);
        // The resourceVersion makes this a compare-and-swap: a concurrent change to the list is never lost.
        return writes.patch(
          this.#filmPath(film),
          { metadata: { finalizers, resourceVersion: film.metadata.resourceVersion } },
          "merge",
          fieldManager,
        );
      }
      case "event":
        return tolerate(
          await writes.create(
            `/apis/events.k8s.io/v1/namespaces/${namespace}/events`,
            filmEvent(snapshot.film, action, this.#options.now()),
            fieldManager,
          ),
          "AlreadyExists",
        );
      case "createWorkspace":
        return tolerate(
          await writes.create(
            `/api/v1/namespaces/${namespace}/persistentvolumeclaims`,
            workspaceClaim(snapshot.film, action.workspace),
            fieldManager,
          ),
          "AlreadyExists",
        );
      case "releaseWorkspace":
        return tolerate(
          await writes.patch(
            `/api/v1/namespaces/${namespace}/persistentvolumeclaims/${action.claimName}`,
            [{ op: "remove", path: "/metadata/ownerReferences" }],
            "json",
            fieldManager,
          ),
          "NotFound",
        );
      case "deleteWorkspace":
        return tolerate(
          await writes.delete(
            `/api/v1/namespaces/${namespace}/persistentvolumeclaims/${action.claimName}`,
            deleteOptions(action.uid),
          ),
          "NotFound",
        );
      case "deleteJob": {
        if (action.unlessPodEnded !== undefined) {
          // Under the leadership's signal, as the writes are: a read hung on a lost connection must not hold the
          // reconcile, and with it the replica's exit, after the lease is gone.
          const pod = await this.#reads.get<{ status?: { phase?: string } }>(
            `/api/v1/namespaces/${namespace}/pods/${action.unlessPodEnded}`,
            undefined,
            writes instanceof FencedClient ? writes.leadership.signal : undefined,
          );
          // Its outcome reaches the pod informer next, and with it a reconcile that adopts the result.
          if (pod.ok && (pod.value.status?.phase === "Succeeded" || pod.value.status?.phase === "Failed")) {
            return { ok: true, value: undefined };
          }
        }
        return tolerate(
          await writes.delete(
            `/apis/batch/v1/namespaces/${namespace}/jobs/${action.name}`,
            deleteOptions(action.uid, "Background"),
          ),
          "NotFound",
        );
      }
      case "createProbeJob":
      case "createSegmentJob":
      case "createConcatJob":
        return tolerate(
          await writes.create(
            `/apis/batch/v1/namespaces/${namespace}/jobs`,
            this.#jobManifest(snapshot, action),
            fieldManager,
          ),
          "AlreadyExists",
        );
    }
  }

  #jobManifest(
    snapshot: FilmSnapshot,
    action: Extract<Action, { kind: "createProbeJob" | "createSegmentJob" | "createConcatJob" }>,
  ): Record<string, unknown> {
    const runtime = this.#options.runtime;
    if (action.kind === "createProbeJob") return probeJob(snapshot.film, action, runtime);
    if (!snapshot.intent.ok) throw new Error("segment and concat jobs are only created for a valid intent");
    const intent = snapshot.intent.intent;
    return action.kind === "createSegmentJob"
      ? segmentJob(snapshot.film, intent, action, runtime)
      : concatJob(snapshot.film, intent, action, runtime);
  }
}

/** What a reconcile carried out, and where it stopped. */
interface CarriedOut {
  readonly done: string[];
  readonly failed?: KubeError;
  readonly failedStep?: Effect;
}

/** The object an effect creates, in words, if it creates one. */
function createdObject(effect: Effect): string | undefined {
  switch (effect.kind) {
    case "createWorkspace":
      return `the workspace claim ${effect.workspace.claimName}`;
    case "createSegmentJob":
      return `segment ${String(effect.segment.index)}'s job ${effect.name}`;
    case "createConcatJob":
      return `the concatenation job ${effect.name}`;
    case "createProbeJob":
      return `the probe job ${effect.name}`;
    default:
      return undefined;
  }
}

/** `namespace/name` of the object an event is about. */
function involvedKeyOf(event: EventObject): string | undefined {
  const { namespace, name } = event.involvedObject ?? {};
  return namespace && name ? `${namespace}/${name}` : undefined;
}

/** `namespace/name` of the Job a Kueue Workload was made for, from its owner reference. */
function ownerJobKeyOf(workload: WorkloadObject): string | undefined {
  const namespace = workload.metadata?.namespace;
  const job = workload.metadata?.ownerReferences?.find((o) => o.kind === "Job");
  return namespace && job ? `${namespace}/${job.name}` : undefined;
}

/** `namespace/film` of an object the operator made for a film, from its film label. */
/** The segment index label of a segment Job or pod that has ended; undefined for anything else. */
function endedSegment(object: JobObject | PodObject | ClaimObject): string | undefined {
  const labels = object.metadata?.labels ?? {};
  const segment = labels[operatorLabels.segment];
  if (segment === undefined || labels[operatorLabels.kind] !== "segment" || !("status" in object)) return undefined;
  return hasEnded(object) ? segment : undefined;
}

function filmKeyOf(object: KubeObject): string | undefined {
  const film = object.metadata?.labels?.[operatorLabels.film];
  const namespace = object.metadata?.namespace;
  return film && namespace ? `${namespace}/${film}` : undefined;
}

/** A Job as the API server answers a create with it. */
function isJob(value: unknown): value is JobObject {
  return typeof value === "object" && value !== null && (value as { kind?: unknown }).kind === "Job";
}

function isFilm(value: unknown): value is LongVideoObject {
  return typeof value === "object" && value !== null && (value as { kind?: unknown }).kind === longVideoResource.kind;
}

/** Treats one error kind as success: the action's goal already holds (created before, or already gone). */
function tolerate<T>(result: KubeResult<T>, kind: KubeError["kind"]): KubeResult<T | undefined> {
  return !result.ok && result.error.kind === kind ? { ok: true, value: undefined } : result;
}

/** A merge patch replaces lists but merges maps; fields the decision dropped must be nulled explicitly. */
function statusForWrite(status: FilmStatus): Record<string, unknown> {
  const fields = Object.keys(longVideoStatusSchema.shape) as (keyof FilmStatus)[];
  const written: Record<string, unknown> = Object.fromEntries(fields.map((field) => [field, status[field] ?? null]));
  // status.inputs is a map too: a new probe's result must not keep an old one's fields (an `unreadable` above all).
  if (status.inputs) {
    const inputFields = Object.keys(probedInputsSchema.shape) as (keyof typeof status.inputs)[];
    written.inputs = Object.fromEntries(inputFields.map((field) => [field, status.inputs?.[field] ?? null]));
  }
  return written;
}
