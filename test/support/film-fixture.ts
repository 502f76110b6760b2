/**
 * Films in one namespace of the local cluster, as the integration tests make and watch them: a small animatic
 * film on the kwok h100 pool whose pods "render" for their annotated time.
 */
import { setTimeout as sleep } from "node:timers/promises";
import { BatchV1Api, CoreV1Api, CustomObjectsApi } from "@kubernetes/client-node";
import type { KubeConfig, V1Job, V1Pod } from "@kubernetes/client-node";
import type { FilmStatus } from "../../src/reconcile/film-snapshot.ts";

const group = "longvideo.dev";
const version = "v1alpha1";
const plural = "longvideos";

export interface Film {
  metadata: { name: string; resourceVersion?: string; uid?: string };
  spec: Record<string, unknown>;
  status?: FilmStatus;
}

export type FilmSpecOverrides = {
  scenes?: { prompt: string; clips: number }[];
  annotations?: Record<string, string>;
} & Record<string, unknown>;

/** A film of two scenes (three segments) on the h100 pool, retried twice with one-second backoffs. */
export function film(name: string, spec: FilmSpecOverrides = {}): Film {
  const { scenes, annotations, ...rest } = spec;
  return {
    metadata: { name },
    spec: {
      variant: "film",
      referenceImage: { url: "https://images.example.com/first-frame.png" },
      storyline: scenes ?? [
        { prompt: "a lighthouse at dawn", clips: 2 },
        { prompt: "waves crash on the rocks", clips: 1 },
      ],
      render: { backend: "animatic" },
      gpu: {
        nodeSelector: { "longvideo.dev/pool": "h100" },
        tolerations: [{ key: "nvidia.com/gpu", operator: "Exists", effect: "NoSchedule" }],
      },
      podMetadata: { annotations: { "sim.longvideo.dev/run-for": "1s", ...annotations } },
      retry: { limit: 2, backoff: { initialSeconds: 1, maxSeconds: 2 } },
      storage: { workspace: { accessMode: "ReadWriteMany" } },
      ...rest,
    },
  };
}

/** Films and what they own in one namespace. `logs` adds the operator's recent log to a timeout's message. */
export class FilmFixture {
  readonly core: CoreV1Api;
  readonly batch: BatchV1Api;
  readonly custom: CustomObjectsApi;
  readonly namespace: string;
  readonly #logs: () => string;

  constructor(kc: KubeConfig, namespace: string, logs: () => string) {
    this.namespace = namespace;
    this.#logs = logs;
    this.core = kc.makeApiClient(CoreV1Api);
    this.batch = kc.makeApiClient(BatchV1Api);
    this.custom = kc.makeApiClient(CustomObjectsApi);
  }

  async create(body: Film): Promise<void> {
    await this.custom.createNamespacedCustomObject({
      group,
      version,
      namespace: this.namespace,
      plural,
      body: { apiVersion: `${group}/${version}`, kind: "LongVideo", ...body },
    });
  }

  async read(name: string): Promise<Film> {
    return (await this.custom.getNamespacedCustomObject({
      group,
      version,
      namespace: this.namespace,
      plural,
      name,
    })) as Film;
  }

  async until(name: string, done: (f: Film) => boolean, timeoutMs = 90_000): Promise<Film> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const current = await this.read(name);
      if (done(current)) return current;
      if (Date.now() > deadline) {
        throw new Error(
          `film ${name} did not get there: ${JSON.stringify(current.status)}\n${this.#logs().slice(-3000)}`,
        );
      }
      await sleep(250);
    }
  }

  async jobs(name: string): Promise<V1Job[]> {
    return (
      await this.batch.listNamespacedJob({ namespace: this.namespace, labelSelector: `longvideo.dev/film=${name}` })
    ).items;
  }

  async pods(name: string): Promise<V1Pod[]> {
    return (
      await this.core.listNamespacedPod({ namespace: this.namespace, labelSelector: `longvideo.dev/film=${name}` })
    ).items;
  }

  /** The reasons of the events about a film, in the order they were made. */
  async eventReasons(name: string): Promise<string[]> {
    const events = await this.core.listNamespacedEvent({
      namespace: this.namespace,
      fieldSelector: `involvedObject.name=${name}`,
    });
    return events.items.map((e) => e.reason ?? "");
  }
}

/** A film's condition of a type. */
export const conditionOf = (f: Film, type: string) => f.status?.conditions?.find((c) => c.type === type);

export const segmentJobs = (jobs: V1Job[]) =>
  jobs.filter((j) => j.metadata?.labels?.["longvideo.dev/kind"] === "segment");
export const segmentOf = (job: V1Job) => Number(job.metadata?.labels?.["longvideo.dev/segment"]);
