/**
 * The CLI's requests to the API server, with the user's kubeconfig (`$KUBECONFIG` or ~/.kube/config): typed results
 * instead of thrown API exceptions. Only I/O: what to ask and what the answers mean is decided elsewhere.
 */
import { Writable } from "node:stream";
import { CoreV1Api, CustomObjectsApi, Exec, KubeConfig } from "@kubernetes/client-node";
import type { V1Pod, V1Status } from "@kubernetes/client-node";
import { longVideoResource } from "../api/long-video.ts";
import { clusterErrorKind } from "./cluster-errors.ts";
import type { ClusterError } from "./cluster-errors.ts";
import type { WatchedFilm } from "./film-progress.ts";

export type ClusterResult<T> =
  { readonly ok: true; readonly value: T } | { readonly ok: false; readonly error: ClusterError };

function failed(error: unknown): { ok: false; error: ClusterError } {
  const code = (error as { code?: unknown }).code;
  const body = (error as { body?: unknown }).body;
  let message = error instanceof Error ? error.message : String(error);
  if (typeof body === "string") {
    try {
      message = (JSON.parse(body) as { message?: string }).message ?? message;
    } catch {
      message = body || message;
    }
  } else if (typeof body === "object" && body !== null && "message" in body) {
    message = String(body.message);
  }
  return { ok: false, error: { kind: clusterErrorKind(typeof code === "number" ? code : undefined), message } };
}

async function attempt<T>(request: () => Promise<T>): Promise<ClusterResult<T>> {
  try {
    return { ok: true, value: await request() };
  } catch (error) {
    return failed(error);
  }
}

const { group, version, plural } = longVideoResource;

export class ClusterSession {
  readonly #config: KubeConfig;
  readonly #core: CoreV1Api;
  readonly #custom: CustomObjectsApi;
  /** The namespace commands act in: `-n`, else the kubeconfig context's, else `default`. */
  readonly namespace: string;

  constructor(namespace: string | undefined) {
    this.#config = new KubeConfig();
    this.#config.loadFromDefault();
    this.#core = this.#config.makeApiClient(CoreV1Api);
    this.#custom = this.#config.makeApiClient(CustomObjectsApi);
    const context = this.#config.getContextObject(this.#config.getCurrentContext());
    this.namespace = namespace ?? context?.namespace ?? "default";
  }

  film(name: string): Promise<ClusterResult<WatchedFilm>> {
    return attempt(
      async () =>
        (await this.#custom.getNamespacedCustomObject({
          group,
          version,
          plural,
          namespace: this.namespace,
          name,
        })) as WatchedFilm,
    );
  }

  /** Every film in the namespace, or in all namespaces. */
  films(allNamespaces: boolean): Promise<ClusterResult<WatchedFilm[]>> {
    return attempt(async () => {
      const list = (
        allNamespaces
          ? await this.#custom.listClusterCustomObject({ group, version, plural })
          : await this.#custom.listNamespacedCustomObject({ group, version, plural, namespace: this.namespace })
      ) as { items: WatchedFilm[] };
      return list.items;
    });
  }

  pods(labelSelector: string): Promise<ClusterResult<V1Pod[]>> {
    return attempt(
      async () => (await this.#core.listNamespacedPod({ namespace: this.namespace, labelSelector })).items,
    );
  }

  podLog(pod: string, container: string): Promise<ClusterResult<string>> {
    return attempt(() => this.#core.readNamespacedPodLog({ name: pod, namespace: this.namespace, container }));
  }

  createPod(body: V1Pod): Promise<ClusterResult<V1Pod>> {
    return attempt(() => this.#core.createNamespacedPod({ namespace: this.namespace, body }));
  }

  pod(name: string): Promise<ClusterResult<V1Pod>> {
    return attempt(() => this.#core.readNamespacedPod({ name, namespace: this.namespace }));
  }

  deletePod(name: string): Promise<ClusterResult<unknown>> {
    return attempt(() => this.#core.deleteNamespacedPod({ name, namespace: this.namespace, gracePeriodSeconds: 0 }));
  }

  /** Runs `command` in a pod's container, its standard output into `stdout`; resolves when it has ended. */
  exec(pod: string, container: string, command: string[], stdout: Writable): Promise<ClusterResult<undefined>> {
    return new Promise((resolve) => {
      let stderr = "";
      const errors = new Writable({
        write(chunk: Buffer, _encoding, done) {
          stderr += chunk.toString();
          done();
        },
      });
      let status: V1Status | undefined;
      new Exec(this.#config)
        .exec(this.namespace, pod, container, command, stdout, errors, null, false, (s) => (status = s))
        .then(
          (socket: { on(event: "close", listener: () => void): unknown }) => {
            socket.on("close", () => {
              if (status?.status === "Success") {
                resolve({ ok: true, value: undefined });
                return;
              }
              const said = stderr.trim();
              const message = said === "" ? (status?.message ?? "the command failed") : said;
              resolve({ ok: false, error: { kind: "Other", message } });
            });
          },
          (error: unknown) => {
            resolve(failed(error));
          },
        );
    });
  }
}
