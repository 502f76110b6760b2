/**
 * A list-watch cache with what long-running controllers need and client-node's informer leaves to its users:
 * restart with backoff after errors, a relist on 410 Gone, a watchdog that relists when the stream goes quiet
 * (a silently dead connection otherwise looks like a calm cluster), and a periodic resync that re-delivers
 * every cached object so level-triggered reconcilers heal missed edges.
 */
import type { KubeObject } from "../api/kubernetes-objects.ts";
import type { KubeClient, KubeError } from "./kube-client.ts";

export type InformerEvent = "add" | "update" | "delete" | "resync";

/** What an informer reports about itself, for logs and metrics. */
export interface InformerLog {
  relisted(resource: string, reason: string, objects: number): void;
  watchFailed(resource: string, error: KubeError): void;
}

export interface InformerOptions<T extends KubeObject = KubeObject> {
  /** Collection path, e.g. `/apis/batch/v1/jobs` or `/api/v1/namespaces/x/pods`. */
  readonly path: string;
  readonly labelSelector?: string;
  /** A field selector, e.g. `involvedObject.kind=Job,reason=FailedCreate` for events. */
  readonly fieldSelector?: string;
  /** Re-deliver every cached object this often. */
  readonly resyncMs: number;
  /** Relist when nothing (not even a bookmark) arrived for this long. */
  readonly watchdogMs: number;
  readonly backoffBaseMs: number;
  readonly backoffMaxMs: number;
  /** Server-side watch timeout; a watch that ends this way is resumed without a relist. */
  readonly watchTimeoutSeconds: number;
  /**
   * Reduces each object to what its consumers read before it is cached, so the cache's memory grows with the
   * fields used rather than with whole objects (managed fields, pod specs with every env variable).
   */
  readonly trim?: (object: T) => T;
  /**
   * Groups cached objects under a key (e.g. the film that owns them), so a consumer reads its group without
   * scanning the whole cache: with thousands of jobs and pods a scan per reconcile was the operator's hottest code.
   */
  readonly indexBy?: (object: T) => string | undefined;
  /**
   * The resource may not be served at all (its CRD is not installed, e.g. Kueue's): a 404 then counts as an
   * empty list, logged once, and the list is retried at the backoff's pace, so the resource is picked up once it
   * is served, and its objects dropped if it goes away.
   */
  readonly mayBeAbsent?: boolean;
}

interface ObjectList<T> {
  readonly metadata?: { readonly resourceVersion?: string; readonly continue?: string };
  readonly items?: T[];
}

/** `namespace/name`, the key a work queue and the cache share. */
export function objectKey(object: KubeObject): string {
  const name = object.metadata?.name ?? "";
  const namespace = object.metadata?.namespace;
  return namespace ? `${namespace}/${name}` : name;
}

type Handler<T> = (object: T, event: InformerEvent) => void;

/** The part of the API client an informer uses: it only lists and watches. */
export type InformerClient = Pick<KubeClient, "get" | "watch">;

const sleep = (ms: number, signal: AbortSignal): Promise<void> =>
  new Promise((resolve) => {
    if (signal.aborted) {
      resolve();
      return;
    }
    const timer = setTimeout(done, ms);
    function done() {
      clearTimeout(timer);
      signal.removeEventListener("abort", done);
      resolve();
    }
    signal.addEventListener("abort", done, { once: true });
  });

export class Informer<T extends KubeObject> {
  readonly #client: InformerClient;
  readonly #options: InformerOptions<T>;
  readonly #trim: (object: T) => T;
  readonly #log: InformerLog;
  readonly #cache = new Map<string, T>();
  readonly #index = new Map<string, Map<string, T>>();
  readonly #handlers: Handler<T>[] = [];
  #synced = false;
  #failures = 0;
  /** The resource was not served (404) at the last list of a {@link InformerOptions.mayBeAbsent} informer. */
  #absent = false;

  constructor(client: InformerClient, options: InformerOptions<T>, log: InformerLog) {
    this.#client = client;
    this.#options = options;
    this.#trim = options.trim ?? ((object) => object);
    this.#log = log;
  }

  /** Registers a handler; it sees every change after the first list as well as the objects of that list. */
  onChange(handler: Handler<T>): void {
    this.#handlers.push(handler);
  }

  /** True once the first list has filled the cache. */
  hasSynced(): boolean {
    return this.#synced;
  }

  get(key: string): T | undefined {
    return this.#cache.get(key);
  }

  list(): T[] {
    return [...this.#cache.values()];
  }

  /** The cached objects `indexBy` put under `indexKey`. */
  listIndexed(indexKey: string): T[] {
    return [...(this.#index.get(indexKey)?.values() ?? [])];
  }

  #store(key: string, object: T, previous: T | undefined): void {
    if (previous) this.#unindex(key, previous);
    this.#cache.set(key, object);
    const indexKey = this.#options.indexBy?.(object);
    if (indexKey === undefined) return;
    let group = this.#index.get(indexKey);
    if (!group) this.#index.set(indexKey, (group = new Map<string, T>()));
    group.set(key, object);
  }

  #remove(key: string, object: T): void {
    this.#cache.delete(key);
    this.#unindex(key, object);
  }

  #unindex(key: string, object: T): void {
    const indexKey = this.#options.indexBy?.(object);
    if (indexKey === undefined) return;
    const group = this.#index.get(indexKey);
    group?.delete(key);
    if (group?.size === 0) this.#index.delete(indexKey);
  }

  /** Runs until `signal` aborts. Never throws: failures are retried with backoff and reported to the log. */
  async run(signal: AbortSignal): Promise<void> {
    const resync = setInterval(() => {
      for (const object of this.#cache.values()) this.#emit(object, "resync");
    }, this.#options.resyncMs);
    try {
      let reason = "start";
      while (!signal.aborted) {
        const resourceVersion = await this.#relist(reason, signal);
        if (resourceVersion === undefined) {
          await this.#backoff(signal);
          reason = "list failed";
          continue;
        }
        reason = await this.#watchFrom(resourceVersion, signal);
      }
    } finally {
      clearInterval(resync);
    }
  }

  async #backoff(signal: AbortSignal): Promise<void> {
    this.#failures += 1;
    const { backoffBaseMs, backoffMaxMs } = this.#options;
    const delay = Math.min(backoffMaxMs, backoffBaseMs * 2 ** Math.min(this.#failures - 1, 20));
    // Jitter keeps many informers from reconnecting in lockstep after an API server restart.
    await sleep(delay * (0.8 + Math.random() * 0.4), signal);
  }

  /** Lists every page, replaces the cache and emits the difference. Returns the list's resourceVersion. */
  async #relist(reason: string, signal: AbortSignal): Promise<string | undefined> {
    const items: T[] = [];
    let continueToken: string | undefined;
    let resourceVersion: string | undefined;
    do {
      if (signal.aborted) return undefined;
      const page = await this.#client.get<ObjectList<T>>(
        this.#options.path,
        {
          labelSelector: this.#options.labelSelector,
          fieldSelector: this.#options.fieldSelector,
          limit: 500,
          continue: continueToken,
        },
        signal,
      );
      if (!page.ok) {
        if (this.#options.mayBeAbsent && page.error.kind === "NotFound") {
          this.#notServed(page.error);
          return undefined;
        }
        this.#log.watchFailed(this.#options.path, page.error);
        return undefined;
      }
      for (const item of page.value.items ?? []) items.push(this.#trim(item));
      const next = page.value.metadata?.continue ?? "";
      continueToken = next === "" ? undefined : next;
      resourceVersion = page.value.metadata?.resourceVersion;
    } while (continueToken);

    const seen = new Set<string>();
    for (const item of items) {
      const key = objectKey(item);
      seen.add(key);
      const previous = this.#cache.get(key);
      this.#store(key, item, previous);
      if (!previous) this.#emit(item, "add");
      else if (previous.metadata?.resourceVersion !== item.metadata?.resourceVersion) this.#emit(item, "update");
    }
    for (const [key, object] of this.#cache) {
      if (!seen.has(key)) {
        this.#remove(key, object);
        this.#emit(object, "delete");
      }
    }
    this.#synced = true;
    this.#absent = false;
    this.#log.relisted(this.#options.path, reason, items.length);
    return resourceVersion;
  }

  /** A resource not served is an empty one: whatever was cached is gone. Said once, not at every retry. */
  #notServed(error: KubeError): void {
    if (!this.#absent) this.#log.watchFailed(this.#options.path, error);
    this.#absent = true;
    for (const [key, object] of this.#cache) {
      this.#remove(key, object);
      this.#emit(object, "delete");
    }
    this.#synced = true;
  }

  /** Watches from `resourceVersion` until a relist is needed; returns why. */
  async #watchFrom(startVersion: string, signal: AbortSignal): Promise<string> {
    let resourceVersion = startVersion;
    while (!signal.aborted) {
      const watchAbort = new AbortController();
      const abortWatch = () => {
        watchAbort.abort();
      };
      signal.addEventListener("abort", abortWatch, { once: true });
      const stream = { quiet: false };
      let watchdog = setTimeout(onQuiet, this.#options.watchdogMs);
      function onQuiet() {
        stream.quiet = true;
        watchAbort.abort();
      }
      try {
        const opened = await this.#client.watch<T>(
          this.#options.path,
          {
            labelSelector: this.#options.labelSelector,
            fieldSelector: this.#options.fieldSelector,
            resourceVersion,
            allowWatchBookmarks: true,
            timeoutSeconds: this.#options.watchTimeoutSeconds,
          },
          watchAbort.signal,
        );
        if (!opened.ok) {
          // The relist finds out, and says, whether the resource is still served.
          if (opened.error.kind === "NotFound" && this.#options.mayBeAbsent) return "resource not served (404)";
          this.#log.watchFailed(this.#options.path, opened.error);
          if (opened.error.kind === "Gone") return "watch expired (410 Gone)";
          await this.#backoff(signal);
          continue;
        }
        for await (const event of opened.value) {
          clearTimeout(watchdog);
          watchdog = setTimeout(onQuiet, this.#options.watchdogMs);
          if (event.type === "ERROR") {
            const status = event.object as { code?: number; message?: string };
            this.#log.watchFailed(this.#options.path, {
              kind: status.code === 410 ? "Gone" : "Unexpected",
              status: status.code ?? 0,
              message: status.message ?? "watch error",
            });
            return status.code === 410 ? "watch expired (410 Gone)" : "watch error";
          }
          const version = event.object.metadata?.resourceVersion;
          if (version) resourceVersion = version;
          if (event.type === "BOOKMARK") continue;
          this.#failures = 0;
          this.#apply(event.type, event.object);
        }
        if (stream.quiet) return `no events for ${String(this.#options.watchdogMs)}ms`;
        // The server ended the watch (its timeout): resume from the last version seen, no relist needed.
      } finally {
        clearTimeout(watchdog);
        signal.removeEventListener("abort", abortWatch);
      }
    }
    return "stopped";
  }

  #apply(type: "ADDED" | "MODIFIED" | "DELETED", received: T): void {
    const object = this.#trim(received);
    const key = objectKey(object);
    if (type === "DELETED") {
      const cached = this.#cache.get(key);
      if (cached) this.#remove(key, cached);
      this.#emit(object, "delete");
      return;
    }
    const previous = this.#cache.get(key);
    this.#store(key, object, previous);
    // Most updates to a pod or job change nothing its consumers read (trimmed away); waking them for those
    // would only queue reconciles that decide nothing. The periodic resync still re-delivers everything.
    if (previous && sameContent(previous, object)) return;
    this.#emit(object, previous ? "update" : "add");
  }

  #emit(object: T, event: InformerEvent): void {
    for (const handler of this.#handlers) handler(object, event);
  }
}

/** Whether two versions of an object carry the same content, apart from their resourceVersion. */
function sameContent(a: KubeObject, b: KubeObject): boolean {
  const content = (object: KubeObject) =>
    JSON.stringify({ ...object, metadata: { ...object.metadata, resourceVersion: undefined } });
  return content(a) === content(b);
}
