/**
 * The operator's Prometheus metrics, on a registry the composition root passes in (never the global one).
 * Controller and work-queue metrics use controller-runtime's names and labels so existing dashboards and alerts
 * work unchanged; domain metrics carry the `longvideo_` prefix. No label ever holds a film or segment name.
 */
import { Counter, Gauge, Histogram } from "prom-client";
import type { Registry } from "prom-client";
import { reconcileResults } from "../kube/film-controller-observer.ts";
import type { FilmControllerObserver } from "../kube/film-controller-observer.ts";
import type { RestClientObserver } from "../kube/kube-client.ts";
import type { WorkQueueObserver } from "../kube/work-queue.ts";

export class OperatorMetrics {
  readonly reconcileTotal: Counter<"controller" | "result">;
  readonly reconcileErrors: Counter<"controller">;
  readonly reconcileTime: Histogram<"controller">;
  readonly workqueueDepth: Gauge<"name">;
  readonly workqueueAdds: Counter<"name">;
  readonly workqueueQueueDuration: Histogram<"name" | "priority">;
  readonly workqueueWorkDuration: Histogram<"name">;
  readonly workqueueRetries: Counter<"name">;
  readonly leaderStatus: Gauge<"name">;
  readonly restRequests: Counter<"code" | "method" | "host" | "resource">;
  readonly restLatency: Histogram<"verb" | "host">;
  readonly segments: Counter<"result">;
  readonly segmentDuration: Histogram<"backend">;
  readonly handoffLatency: Histogram;
  readonly handoffGap: Histogram<"mode">;
  readonly films: Gauge<"phase">;
  readonly gpuSeconds: Counter<"resource">;
  /** Per film: segments rendered and planned, the dashboard's per-film progress. */
  readonly filmSegmentsRendered: Gauge<"namespace" | "name">;
  readonly filmSegmentsPlanned: Gauge<"namespace" | "name">;
  readonly #host: string;

  constructor(registry: Registry, apiServerHost: string) {
    const registers = [registry];
    this.#host = apiServerHost;
    this.reconcileTotal = new Counter({
      name: "controller_runtime_reconcile_total",
      help: "Total number of reconciliations per controller",
      labelNames: ["controller", "result"],
      registers,
    });
    this.reconcileErrors = new Counter({
      name: "controller_runtime_reconcile_errors_total",
      help: "Total number of reconciliation errors per controller",
      labelNames: ["controller"],
      registers,
    });
    this.reconcileTime = new Histogram({
      name: "controller_runtime_reconcile_time_seconds",
      help: "Length of time per reconciliation per controller",
      labelNames: ["controller"],
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
      registers,
    });
    this.workqueueDepth = new Gauge({
      name: "workqueue_depth",
      help: "Current depth of workqueue",
      labelNames: ["name"],
      registers,
    });
    this.workqueueAdds = new Counter({
      name: "workqueue_adds_total",
      help: "Total number of adds handled by workqueue",
      labelNames: ["name"],
      registers,
    });
    this.workqueueQueueDuration = new Histogram({
      name: "workqueue_queue_duration_seconds",
      help: "How long in seconds an item stays in workqueue before being requested",
      // As controller-runtime's priority queue: hand-off work (a segment ended) apart from routine work.
      labelNames: ["name", "priority"],
      buckets: [0.0001, 0.001, 0.01, 0.05, 0.1, 0.25, 0.5, 1, 5, 10, 60],
      registers,
    });
    this.workqueueWorkDuration = new Histogram({
      name: "workqueue_work_duration_seconds",
      help: "How long in seconds processing an item from workqueue takes",
      labelNames: ["name"],
      buckets: [0.0001, 0.001, 0.01, 0.05, 0.1, 0.25, 0.5, 1, 5, 10, 60],
      registers,
    });
    this.workqueueRetries = new Counter({
      name: "workqueue_retries_total",
      help: "Total number of retries handled by workqueue",
      labelNames: ["name"],
      registers,
    });
    this.leaderStatus = new Gauge({
      name: "leader_election_master_status",
      help: "Gauge of if the reporting system is master of the relevant lease, 0 indicates backup, 1 indicates master",
      labelNames: ["name"],
      registers,
    });
    this.restRequests = new Counter({
      name: "rest_client_requests_total",
      help: "Number of HTTP requests, partitioned by status code, method, host, and the resource requested",
      labelNames: ["code", "method", "host", "resource"],
      registers,
    });
    this.restLatency = new Histogram({
      name: "rest_client_request_duration_seconds",
      help: "Request latency in seconds, broken down by verb and host",
      labelNames: ["verb", "host"],
      buckets: [0.005, 0.025, 0.1, 0.25, 0.5, 1, 2, 4, 8, 15, 30, 60],
      registers,
    });
    const domain = domainMetrics(registers);
    this.segments = domain.segments;
    this.segmentDuration = domain.segmentDuration;
    this.handoffLatency = domain.handoffLatency;
    this.handoffGap = domain.handoffGap;
    this.films = domain.films;
    this.filmSegmentsRendered = domain.filmSegmentsRendered;
    this.filmSegmentsPlanned = domain.filmSegmentsPlanned;
    this.gpuSeconds = domain.gpuSeconds;
  }

  /**
   * Counts API requests by code, method and resource (what each costs per segment is read off the split) and times
   * them by verb (`rest_client_*`).
   */
  restClientObserver(): RestClientObserver {
    return {
      requestDone: (method, code, seconds, resource) => {
        this.restRequests.inc({ code, method, host: this.#host, resource });
        this.restLatency.observe({ verb: method, host: this.#host }, seconds);
      },
    };
  }

  /**
   * Feeds the reconcile metrics of one named controller and the film metrics. Every series the dashboard and
   * alerts read exists from the start at zero, so rates and ratios are defined (and show 0, not "no data") before
   * the first failure, retry or reconcile error.
   */
  filmControllerObserver(controller: string): FilmControllerObserver {
    for (const result of ["succeeded", "failed", "retried"] as const) this.segments.inc({ result }, 0);
    for (const result of reconcileResults) this.reconcileTotal.inc({ controller, result }, 0);
    this.reconcileErrors.inc({ controller }, 0);
    return {
      reconciled: (result, seconds) => {
        this.reconcileTotal.inc({ controller, result });
        if (result === "error") this.reconcileErrors.inc({ controller });
        this.reconcileTime.observe({ controller }, seconds);
      },
      segmentEnded: (outcome, seconds, backend, gpus) => {
        this.segments.inc({ result: outcome });
        this.segmentDuration.observe({ backend }, seconds);
        if (gpus.count > 0) this.gpuSeconds.inc({ resource: gpus.resource }, seconds * gpus.count);
      },
      handedOff: (seconds) => {
        this.handoffLatency.observe(seconds);
      },
      handoffGap: (mode, seconds) => {
        this.handoffGap.observe({ mode }, seconds);
      },
      filmsByPhase: (counts) => {
        for (const [phase, count] of counts) this.films.set({ phase }, count);
      },
      filmProgress: (films) => {
        // Whole each time: a deleted film's series goes with it.
        this.filmSegmentsRendered.reset();
        this.filmSegmentsPlanned.reset();
        for (const { namespace, name, rendered, planned } of films) {
          this.filmSegmentsRendered.set({ namespace, name }, rendered);
          this.filmSegmentsPlanned.set({ namespace, name }, planned);
        }
      },
    };
  }

  /** Feeds the `workqueue_*` metrics of one named queue; its retries series exists from the start at zero. */
  workQueueObserver(name: string): WorkQueueObserver {
    this.workqueueRetries.inc({ name }, 0);
    return {
      added: () => {
        this.workqueueAdds.inc({ name });
      },
      depth: (depth) => {
        this.workqueueDepth.set({ name }, depth);
      },
      queued: (seconds, lane) => {
        this.workqueueQueueDuration.observe({ name, priority: lane }, seconds);
      },
      retried: () => {
        this.workqueueRetries.inc({ name });
      },
      worked: (seconds) => {
        this.workqueueWorkDuration.observe({ name }, seconds);
      },
    };
  }
}

/** The `longvideo_*` metrics: what the operator does for films, not how its controller machinery runs. */
function domainMetrics(registers: Registry[]) {
  const segments = new Counter<"result">({
    name: "longvideo_segments_total",
    help: "Segments that ended, by result (succeeded, failed, retried)",
    labelNames: ["result"],
    registers,
  });
  const segmentDuration = new Histogram<"backend">({
    name: "longvideo_segment_duration_seconds",
    help: "Wall time of a segment's pod, from start to termination",
    labelNames: ["backend"],
    buckets: [0.5, 1, 2, 5, 10, 30, 60, 120, 300, 600, 1200, 2400],
    registers,
  });
  const handoffLatency = new Histogram({
    name: "longvideo_handoff_latency_seconds",
    help: "Time from the operator first seeing a segment end to the creation of its successor's job",
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    registers,
  });
  const handoffGap = new Histogram<"mode">({
    name: "longvideo_handoff_gap_seconds",
    help: "Time from a segment committing its hand-off to its successor starting to denoise it, as the workers report them; mode warm when the successor was started before the commit",
    labelNames: ["mode"],
    buckets: [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120],
    registers,
  });
  const films = new Gauge<"phase">({
    name: "longvideo_films",
    help: "LongVideos by phase",
    labelNames: ["phase"],
    registers,
  });
  const gpuSeconds = new Counter<"resource">({
    name: "longvideo_gpu_seconds_total",
    help: "GPU-seconds consumed by finished segment pods (GPUs per pod times its run time)",
    labelNames: ["resource"],
    registers,
  });
  const filmSegmentsRendered = new Gauge<"namespace" | "name">({
    name: "longvideo_film_segments_rendered",
    help: "Segments of each film rendered (and still valid), as its status.progress says",
    labelNames: ["namespace", "name"],
    registers,
  });
  const filmSegmentsPlanned = new Gauge<"namespace" | "name">({
    name: "longvideo_film_segments_planned",
    help: "Segments each film is planned into",
    labelNames: ["namespace", "name"],
    registers,
  });
  return {
    segments,
    segmentDuration,
    handoffLatency,
    handoffGap,
    films,
    gpuSeconds,
    filmSegmentsRendered,
    filmSegmentsPlanned,
  };
}
