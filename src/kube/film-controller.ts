/**
 * The LongVideo controller's I/O: informers feed a work queue keyed by film; each reconcile reads the caches into
 * a snapshot, asks the pure `decide` what to do, and performs the actions in order, stopping at the first failure
 * so that nothing is created on the strength of a status write that did not happen.
 */
import { createHash } from "node:crypto";
import { decide, filmFinalizer } from "../reconcile/decide.ts";
import type {
  Action,
  FilmSnapshot,
  FilmStatus,
  IntentResult,
  ObservedJob,
  ObservedPod,
} from "../reconcile/film-snapshot.ts";
import { renderJob } from "../manifests/render-job.ts";
import { reconcileResults } from "../metrics/operator-metrics.ts";
import type { OperatorMetrics, ReconcileResult } from "../metrics/operator-metrics.ts";
import { cachedClaim, cachedFilm, cachedJob, cachedPod } from "./cached-object.ts";
import type { ClaimObject, JobObject, PodObject } from "./cached-object.ts";
import { Informer, objectKey } from "./informer.ts";
import type { InformerLog, KubeObject } from "./informer.ts";
import type { KubeClient, KubeError, KubeResult } from "./kube-client.ts";
import type { WorkOutcome } from "./work-queue.ts";
import { WorkQueue } from "./work-queue.ts";

export const group = "longvideo.dev";
export const version = "v1alpha1";
export const managedByLabel = "app.kubernetes.io/managed-by";
export const managedByValue = "longvideo-operator";
export const filmLabel = "longvideo.dev/film";
const kindLabel = "longvideo.dev/kind";
const segmentLabel = "longvideo.dev/segment";
const attemptLabel = "longvideo.dev/attempt";
const hashAnnotation = "longvideo.dev/hash";
const inputAnnotation = "longvideo.dev/input-digest";
const fieldManager = "longvideo-operator";
const controllerName = "longvideo";

/** A LongVideo as the API server returns it; the spec stays unknown until the intent validates it. */
export interface LongVideoObject extends KubeObject {
  readonly metadata: KubeObject["metadata"] & {
    readonly generation?: number;
    readonly deletionTimestamp?: string;
    readonly finalizers?: readonly string[];
  };
  readonly spec?: unknown;
  readonly status?: FilmStatus;
}

/** Everything a reconcile needs besides the caches: how to read a spec, what to run, where to report. */
export interface FilmControllerOptions {
  readonly concurrency: number;
  readonly resyncMs: number;
  readonly watchdogMs: number;
  readonly runtimeImage: string;
  readonly runtimeImagePullPolicy: "Always" | "IfNotPresent" | "Never";
  /** The film's spec, validated and planned (pure; from src/api and src/plan). */
  readonly intentOf: (film: LongVideoObject) => IntentResult;
  readonly now: () => Date;
}

export interface ControllerLog extends InformerLog {
  reconciled(key: string, result: ReconcileResult, actions: readonly string[], ms: number): void;
  actionFailed(key: string, action: string, error: KubeError): void;
}

const informerDefaults = { backoffBaseMs: 500, backoffMaxMs: 30_000, watchTimeoutSeconds: 240 };

export class FilmController {
  readonly #client: KubeClient;
  readonly #options: FilmControllerOptions;
  readonly #metrics: OperatorMetrics;
  readonly #log: ControllerLog;
  readonly films: Informer<LongVideoObject>;
  readonly jobs: Informer<JobObject>;
  readonly pods: Informer<PodObject>;
  readonly claims: Informer<ClaimObject>;
  readonly queue: WorkQueue;
  /** Per film, per segment: when the operator first heard the segment ended, since the film's last job was created. */
  readonly #endedAt = new Map<string, Map<string, number>>();
  /** Per film: its intent, valid while the spec (generation) is the one it was derived from. */
  readonly #intents = new Map<string, { uid: string; generation: number; intent: IntentResult }>();
  /**
   * Per film: the version this operator last wrote, and the versions it superseded. Until the informer delivers
   * the write, the cache still holds one of those; reconciling from it would only conflict.
   */
  readonly #written = new Map<string, { older: readonly string[]; film: LongVideoObject }>();

  constructor(client: KubeClient, options: FilmControllerOptions, metrics: OperatorMetrics, log: ControllerLog) {
    this.#client = client;
    this.#options = options;
    this.#metrics = metrics;
    this.#log = log;
    const common = { ...informerDefaults, resyncMs: options.resyncMs, watchdogMs: options.watchdogMs };
    const owned = `${managedByLabel}=${managedByValue}`;
    const byFilm = { indexBy: filmKeyOf };
    this.films = new Informer(
      client,
      { ...common, path: `/apis/${group}/${version}/longvideos`, trim: cachedFilm },
      log,
    );
    this.jobs = new Informer(
      client,
      { ...common, ...byFilm, path: "/apis/batch/v1/jobs", labelSelector: owned, trim: cachedJob },
      log,
    );
    this.pods = new Informer(
      client,
      { ...common, ...byFilm, path: "/api/v1/pods", labelSelector: owned, trim: cachedPod },
      log,
    );
    this.claims = new Informer(
      client,
      { ...common, path: "/api/v1/persistentvolumeclaims", labelSelector: owned, trim: cachedClaim },
      log,
    );
    this.queue = new WorkQueue(
      { concurrency: options.concurrency, baseRetryMs: 200, maxRetryMs: 60_000 },
      undefined,
      metrics.workQueueObserver(controllerName),
    );
    // Every series the dashboard and alerts read exists from the start at zero, so rates and ratios are defined
    // (and show 0, not "no data") before the first failure, retry or reconcile error.
    for (const result of ["succeeded", "failed", "retried"] as const) metrics.segments.inc({ result }, 0);
    for (const result of reconcileResults) metrics.reconcileTotal.inc({ controller: controllerName, result }, 0);
    metrics.reconcileErrors.inc({ controller: controllerName }, 0);
    metrics.workqueueRetries.inc({ name: controllerName }, 0);
    this.films.onChange((film, event) => {
      const key = objectKey(film);
      if (event === "delete") {
        this.#intents.delete(key);
        this.#written.delete(key);
        this.#endedAt.delete(key);
      }
      this.queue.add(key);
    });
    const toFilm = (object: KubeObject, event: string) => {
      const key = filmKeyOf(object);
      if (key === undefined) return;
      // The moment the operator first hears that a segment ended starts that segment's hand-off clock. Keyed by
      // segment: the Job's own Complete condition often arrives after its pod's end was already handed off, and
      // must not start a clock for the next hand-off.
      const labels = object.metadata?.labels ?? {};
      const segment = labels[segmentLabel];
      if (event === "update" && segment !== undefined && labels[kindLabel] === "segment" && hasEnded(object)) {
        let clocks = this.#endedAt.get(key);
        if (!clocks) this.#endedAt.set(key, (clocks = new Map<string, number>()));
        if (!clocks.has(segment)) clocks.set(segment, performance.now());
      }
      this.queue.add(key);
    };
    this.jobs.onChange(toFilm);
    this.pods.onChange(toFilm);
    this.claims.onChange(toFilm);
  }

  hasSynced(): boolean {
    return this.films.hasSynced() && this.jobs.hasSynced() && this.pods.hasSynced() && this.claims.hasSynced();
  }

  /** Runs the informers (always, so a standby is warm) and, while `leading` is not aborted, the workers. */
  async runInformers(signal: AbortSignal): Promise<void> {
    await Promise.all([this.films.run(signal), this.jobs.run(signal), this.pods.run(signal), this.claims.run(signal)]);
  }

  async runWorkers(leading: AbortSignal): Promise<void> {
    for (const film of this.films.list()) this.queue.add(objectKey(film));
    await this.queue.run((key) => this.reconcile(key), leading);
  }

  /** Reconciles one film; never throws. */
  async reconcile(key: string): Promise<WorkOutcome> {
    const started = performance.now();
    const film = this.#latest(key);
    if (!film) return { kind: "done" };
    const snapshot = this.#snapshot(key, film);
    const decision = decide(snapshot);
    const done: string[] = [];
    // Each write to the film moves its resourceVersion on; later writes in this reconcile build on the new one.
    let current = film;
    for (const action of decision.actions) {
      const result = await this.#perform(current, snapshot, action);
      if (!result.ok) {
        this.#log.actionFailed(key, action.kind, result.error);
        // Events are best effort: a lost event must not hold a film back.
        if (action.kind === "event") continue;
        // A conflict on the film means the cache is behind a newer version whose watch event is on its way and
        // will queue the film again; backing off would only delay the next segment.
        if (result.error.kind === "Conflict") return this.#finish(key, "requeue", done, started, { kind: "done" });
        return this.#finish(key, "error", done, started, { kind: "retry", error: result.error });
      }
      if (isFilm(result.value)) {
        this.#remember(key, current, result.value);
        current = result.value;
      }
      done.push(action.kind);
    }
    for (const ended of decision.facts.segmentsEnded) {
      this.#metrics.segments.inc({ result: ended.result });
      this.#metrics.segmentDuration.observe(
        { backend: snapshot.intent.ok ? snapshot.intent.intent.backend : "unknown" },
        ended.seconds,
      );
      if (snapshot.intent.ok) {
        const placement = snapshot.intent.intent.placement;
        this.#metrics.gpuSeconds.inc({ resource: placement.resourceName }, ended.seconds * placement.count);
      }
    }
    if (done.includes("createSegmentJob") || done.includes("createConcatJob")) {
      if (decision.facts.handoffsFrom.length > 0) {
        // The predecessor of what this decision created: segment i-1 for segment i, the last segment for the film.
        const created = decision.actions.find((a) => a.kind === "createSegmentJob" || a.kind === "createConcatJob");
        const predecessor =
          created?.kind === "createSegmentJob"
            ? created.segment.index - 1
            : snapshot.intent.ok
              ? snapshot.intent.intent.segments.length - 1
              : undefined;
        const endedAt = predecessor === undefined ? undefined : this.#endedAt.get(key)?.get(String(predecessor));
        if (endedAt !== undefined) this.#metrics.handoffLatency.observe((performance.now() - endedAt) / 1000);
      }
      // Only films in flight keep clocks.
      this.#endedAt.delete(key);
    }
    this.#refreshPhaseGauge();
    if (decision.requeueAfterMs !== undefined) {
      return this.#finish(key, "requeue_after", done, started, { kind: "requeueAfter", ms: decision.requeueAfterMs });
    }
    return this.#finish(key, "success", done, started, { kind: "done" });
  }

  #finish(
    key: string,
    result: ReconcileResult,
    done: readonly string[],
    started: number,
    outcome: WorkOutcome,
  ): WorkOutcome {
    const ms = performance.now() - started;
    this.#metrics.reconcileTotal.inc({ controller: controllerName, result });
    if (result === "error") this.#metrics.reconcileErrors.inc({ controller: controllerName });
    this.#metrics.reconcileTime.observe({ controller: controllerName }, ms / 1000);
    this.#log.reconciled(key, result, done, ms);
    return outcome;
  }

  #refreshPhaseGauge(): void {
    const counts = new Map<string, number>();
    for (const phase of ["Pending", "Rendering", "Concatenating", "Succeeded", "Failed", "Suspended"])
      counts.set(phase, 0);
    for (const film of this.films.list()) {
      const phase = film.status?.phase ?? "Pending";
      counts.set(phase, (counts.get(phase) ?? 0) + 1);
    }
    for (const [phase, count] of counts) this.#metrics.films.set({ phase }, count);
  }

  /** The cached film, or this operator's own newer write of it while the cache has not caught up. */
  #latest(key: string): LongVideoObject | undefined {
    const cached = this.films.get(key);
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

  #intent(key: string, film: LongVideoObject): IntentResult {
    const uid = film.metadata.uid ?? "";
    const generation = film.metadata.generation ?? 0;
    const known = this.#intents.get(key);
    if (known?.uid === uid && known.generation === generation) return known.intent;
    const intent = this.#options.intentOf(film);
    this.#intents.set(key, { uid, generation, intent });
    return intent;
  }

  #snapshot(key: string, film: LongVideoObject): FilmSnapshot {
    const name = film.metadata.name ?? "";
    const namespace = film.metadata.namespace ?? "";
    const jobs = this.jobs.listIndexed(key).flatMap((job) => observedJob(job));
    const pods = this.pods.listIndexed(key).flatMap((pod) => observedPod(pod));
    const intent = this.#intent(key, film);
    const claimName = intent.ok ? intent.intent.workspace.claimName : `${name}-workspace`;
    const claim = this.claims.get(`${namespace}/${claimName}`);
    const uid = film.metadata.uid ?? "";
    return {
      now: this.#options.now(),
      film: {
        name,
        namespace,
        uid,
        generation: film.metadata.generation ?? 0,
        deleting: film.metadata.deletionTimestamp !== undefined,
        finalizers: film.metadata.finalizers ?? [],
        status: film.status ?? {},
      },
      intent,
      jobs,
      pods,
      workspaceClaim: claim
        ? { name: claimName, ownedByFilm: claim.metadata.ownerReferences?.some((o) => o.uid === uid) ?? false }
        : undefined,
    };
  }

  #filmPath(film: LongVideoObject): string {
    return `/apis/${group}/${version}/namespaces/${film.metadata.namespace ?? ""}/longvideos/${film.metadata.name ?? ""}`;
  }

  async #perform(film: LongVideoObject, snapshot: FilmSnapshot, action: Action): Promise<KubeResult<unknown>> {
    const namespace = snapshot.film.namespace;
    const owner = {
      apiVersion: `${group}/${version}`,
      kind: "LongVideo",
      name: snapshot.film.name,
      uid: snapshot.film.uid,
    };
    const ownLabels = { [managedByLabel]: managedByValue, [filmLabel]: snapshot.film.name };
    switch (action.kind) {
      case "addFinalizer":
      case "removeFinalizer": {
        const finalizers = (film.metadata.finalizers ?? []).filter((f) => f !== filmFinalizer);
        if (action.kind === "addFinalizer") finalizers.push(filmFinalizer);
        // The resourceVersion makes this a compare-and-swap: a concurrent change to the list is never lost.
        return this.#client.patch(
          this.#filmPath(film),
          { metadata: { finalizers, resourceVersion: film.metadata.resourceVersion } },
          "merge",
          fieldManager,
        );
      }
      case "updateStatus": {
        const result = await this.#client.patch<LongVideoObject>(
          `${this.#filmPath(film)}/status`,
          { metadata: { resourceVersion: film.metadata.resourceVersion }, status: statusForWrite(action.status) },
          "merge",
          fieldManager,
        );
        return result;
      }
      case "event": {
        // Named after what it says about which version of the film: a reconcile that decides the same thing again
        // from a cache that has not seen its own status write yet gets AlreadyExists instead of a duplicate event.
        const digest = createHash("sha256")
          .update(
            JSON.stringify([film.metadata.uid, film.metadata.generation, action.type, action.reason, action.message]),
          )
          .digest("hex")
          .slice(0, 16);
        const created = await this.#client.create(
          `/apis/events.k8s.io/v1/namespaces/${namespace}/events`,
          {
            apiVersion: "events.k8s.io/v1",
            kind: "Event",
            metadata: { name: `${snapshot.film.name.slice(0, 46)}.${digest}`, namespace },
            eventTime: microTime(this.#options.now()),
            reportingController: `${group}/operator`,
            reportingInstance: fieldManager,
            action: action.reason,
            reason: action.reason,
            note: action.message.slice(0, 1024),
            type: action.type,
            regarding: { ...owner, namespace },
          },
          fieldManager,
        );
        return tolerate(created, "AlreadyExists");
      }
      case "createWorkspace": {
        const result = await this.#client.create(
          `/api/v1/namespaces/${namespace}/persistentvolumeclaims`,
          {
            apiVersion: "v1",
            kind: "PersistentVolumeClaim",
            metadata: {
              name: action.workspace.claimName,
              namespace,
              labels: ownLabels,
              ownerReferences: [{ ...owner, controller: true, blockOwnerDeletion: true }],
            },
            spec: {
              accessModes: [action.workspace.accessMode],
              resources: { requests: { storage: action.workspace.size } },
              ...(action.workspace.storageClassName ? { storageClassName: action.workspace.storageClassName } : {}),
            },
          },
          fieldManager,
        );
        return tolerate(result, "AlreadyExists");
      }
      case "releaseWorkspace":
        return tolerate(
          await this.#client.patch(
            `/api/v1/namespaces/${namespace}/persistentvolumeclaims/${action.claimName}`,
            [{ op: "remove", path: "/metadata/ownerReferences" }],
            "json",
            fieldManager,
          ),
          "NotFound",
        );
      case "deleteWorkspace":
        return tolerate(
          await this.#client.delete(`/api/v1/namespaces/${namespace}/persistentvolumeclaims/${action.claimName}`),
          "NotFound",
        );
      case "deleteJob":
        return tolerate(
          await this.#client.delete(`/apis/batch/v1/namespaces/${namespace}/jobs/${action.name}`, {
            propagationPolicy: "Background",
          }),
          "NotFound",
        );
      case "createSegmentJob":
      case "createConcatJob": {
        if (!snapshot.intent.ok) throw new Error("jobs are only created for a valid intent");
        const intent = snapshot.intent.intent;
        const segment = action.kind === "createSegmentJob" ? action.segment : undefined;
        const labels = {
          ...intent.podLabels,
          ...ownLabels,
          [kindLabel]: segment ? "segment" : "concat",
          [segmentLabel]: segment ? String(segment.index) : "concat",
          [attemptLabel]: String(action.attempt),
        };
        const env =
          segment && action.kind === "createSegmentJob"
            ? { ...segment.env, LV_INPUT_DIGEST: action.inputDigest, LV_ATTEMPT: String(action.attempt) }
            : { ...intent.concat.env, LV_ATTEMPT: String(action.attempt) };
        const manifest = renderJob({
          name: action.name,
          namespace,
          owner,
          labels,
          jobAnnotations: {
            [hashAnnotation]: segment ? segment.hash : intent.concat.hash,
            [inputAnnotation]: action.kind === "createSegmentJob" ? action.inputDigest : "",
          },
          podAnnotations: intent.podAnnotations,
          image: this.#options.runtimeImage,
          imagePullPolicy: this.#options.runtimeImagePullPolicy,
          args: [segment ? "segment" : "concat"],
          env,
          // Concatenation needs no GPU, but it runs where the film's pods may run: next to its workspace.
          placement: segment ? intent.placement : { ...intent.placement, count: 0 },
          workspaceClaim: intent.workspace.claimName,
          ...(intent.modelsClaim && segment ? { modelsClaim: intent.modelsClaim } : {}),
          ...(intent.reference && segment ? { reference: intent.reference } : {}),
          cpu: segment ? { request: 1, limit: 4 } : { request: 0.25, limit: 2 },
          memoryMiB: segment ? { request: 1024, limit: 16384 } : { request: 256, limit: 2048 },
        });
        return tolerate(
          await this.#client.create(`/apis/batch/v1/namespaces/${namespace}/jobs`, manifest, fieldManager),
          "AlreadyExists",
        );
      }
    }
  }
}

/** `namespace/film` of an object the operator made for a film, from its film label. */
function filmKeyOf(object: KubeObject): string | undefined {
  const film = object.metadata?.labels?.[filmLabel];
  const namespace = object.metadata?.namespace;
  return film && namespace ? `${namespace}/${film}` : undefined;
}

/** A finished pod, or a Job with a terminal condition. */
function hasEnded(object: KubeObject): boolean {
  const status = (object as { status?: { phase?: string; conditions?: readonly { type: string; status: string }[] } })
    .status;
  if (status?.phase === "Succeeded" || status?.phase === "Failed") return true;
  return (
    status?.conditions?.some((c) => (c.type === "Complete" || c.type === "Failed") && c.status === "True") ?? false
  );
}

function isFilm(value: unknown): value is LongVideoObject {
  return typeof value === "object" && value !== null && (value as { kind?: unknown }).kind === "LongVideo";
}

/** Treats one error kind as success: the action's goal already holds (created before, or already gone). */
function tolerate<T>(result: KubeResult<T>, kind: KubeError["kind"]): KubeResult<T | undefined> {
  return !result.ok && result.error.kind === kind ? { ok: true, value: undefined } : result;
}

/** A merge patch replaces lists but merges maps; fields the decision dropped must be nulled explicitly. */
function statusForWrite(status: FilmStatus): Record<string, unknown> {
  const fields = [
    "observedGeneration",
    "phase",
    "progress",
    "segments",
    "conditions",
    "output",
    "startTime",
    "completionTime",
    "eta",
  ];
  const record = status as Record<string, unknown>;
  return Object.fromEntries(fields.map((field) => [field, record[field] ?? null]));
}

function microTime(date: Date): string {
  return date.toISOString().replace(/\.(\d{3})Z$/, ".$1000Z");
}

function observedJob(job: JobObject): ObservedJob[] {
  const labels = job.metadata.labels ?? {};
  const annotations = job.metadata.annotations ?? {};
  const name = job.metadata.name;
  const kind = labels[kindLabel];
  if (!name || (kind !== "segment" && kind !== "concat")) return [];
  const conditions = job.status?.conditions ?? [];
  const complete = conditions.find((c) => c.type === "Complete" && c.status === "True");
  const failed = conditions.find((c) => c.type === "Failed" && c.status === "True");
  return [
    {
      name,
      kind,
      segment: kind === "segment" ? Number(labels[segmentLabel] ?? -1) : -1,
      hash: annotations[hashAnnotation] ?? "",
      inputDigest: annotations[inputAnnotation] ?? "",
      attempt: Number(labels[attemptLabel] ?? 0),
      createdAt: job.metadata.creationTimestamp ?? new Date(0).toISOString(),
      finished: complete ? "Succeeded" : failed ? "Failed" : undefined,
      ...(failed?.reason ? { failureReason: failed.reason } : {}),
      ...(failed?.message ? { failureMessage: failed.message } : {}),
      deleting: job.metadata.deletionTimestamp !== undefined,
    },
  ];
}

function observedPod(pod: PodObject): ObservedPod[] {
  const name = pod.metadata?.name;
  const jobName = pod.metadata?.labels?.["batch.kubernetes.io/job-name"] ?? pod.metadata?.labels?.["job-name"];
  if (!name || !jobName) return [];
  const state = pod.status?.containerStatuses?.[0]?.state;
  const terminated = state?.terminated;
  const startedAt = terminated?.startedAt ?? state?.running?.startedAt;
  return [
    {
      name,
      jobName,
      phase: pod.status?.phase ?? "Pending",
      ...(pod.spec?.nodeName ? { nodeName: pod.spec.nodeName } : {}),
      ...(startedAt ? { startedAt } : {}),
      ...(terminated?.finishedAt ? { finishedAt: terminated.finishedAt } : {}),
      ...(terminated?.exitCode === undefined ? {} : { exitCode: terminated.exitCode }),
      ...(terminated?.message ? { terminationMessage: terminated.message } : {}),
      ...((terminated?.reason ?? pod.status?.reason) ? { reason: terminated?.reason ?? pod.status?.reason ?? "" } : {}),
    },
  ];
}
