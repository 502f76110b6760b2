/**
 * One namespaced resource, cached across the namespaces an operator watches: one {@link Informer} over every
 * namespace, or one per watched namespace, each listing and watching only its own namespace's collection path. An
 * operator whose Roles grant it a few namespaces is refused a cluster-wide list, so it must never make one.
 */
import type { KubeObject } from "../api/kubernetes-objects.ts";
import { Informer } from "./informer.ts";
import type { InformerClient, InformerEvent, InformerLog, InformerOptions } from "./informer.ts";

/** What a resource's informers share; each gets its own collection path. */
export interface MultiNamespaceInformerOptions<T extends KubeObject> extends Omit<InformerOptions<T>, "path"> {
  /** The resource's API path prefix, e.g. `/apis/batch/v1` or `/api/v1`. */
  readonly apiPath: string;
  /** The resource's plural, e.g. `jobs`. */
  readonly resource: string;
  /** The namespaces to watch, one informer each; empty: one informer over every namespace. */
  readonly namespaces: readonly string[];
}

/** The collection path of a resource in one namespace, or across every namespace. */
export function collectionPath(apiPath: string, resource: string, namespace?: string): string {
  return namespace === undefined ? `${apiPath}/${resource}` : `${apiPath}/namespaces/${namespace}/${resource}`;
}

export class MultiNamespaceInformer<T extends KubeObject> {
  /** By namespace; the key `undefined` holds the one informer over every namespace. */
  readonly #informers: ReadonlyMap<string | undefined, Informer<T>>;
  readonly #paths: readonly string[];

  constructor(client: InformerClient, options: MultiNamespaceInformerOptions<T>, log: InformerLog) {
    const { apiPath, resource, namespaces, ...shared } = options;
    const scopes = namespaces.length === 0 ? [undefined] : [...new Set(namespaces)];
    const scoped = scopes.map((namespace) => ({ namespace, path: collectionPath(apiPath, resource, namespace) }));
    this.#paths = scoped.map(({ path }) => path);
    this.#informers = new Map(
      scoped.map(({ namespace, path }) => [namespace, new Informer<T>(client, { ...shared, path }, log)]),
    );
  }

  /** The collection paths listed and watched, one per informer. */
  paths(): readonly string[] {
    return this.#paths;
  }

  onChange(handler: (object: T, event: InformerEvent) => void): void {
    for (const informer of this.#informers.values()) informer.onChange(handler);
  }

  /** True once every namespace's first list has filled its cache. */
  hasSynced(): boolean {
    return [...this.#informers.values()].every((informer) => informer.hasSynced());
  }

  /** The cached object of a `namespace/name` key. */
  get(key: string): T | undefined {
    return this.#informerFor(key)?.get(key);
  }

  list(): T[] {
    return [...this.#informers.values()].flatMap((informer) => informer.list());
  }

  /** The cached objects `indexBy` put under `indexKey`, in whichever namespace they are. */
  listIndexed(indexKey: string): T[] {
    return [...this.#informers.values()].flatMap((informer) => informer.listIndexed(indexKey));
  }

  async run(signal: AbortSignal): Promise<void> {
    await Promise.all([...this.#informers.values()].map((informer) => informer.run(signal)));
  }

  #informerFor(key: string): Informer<T> | undefined {
    const everywhere = this.#informers.get(undefined);
    if (everywhere) return everywhere;
    const slash = key.indexOf("/");
    return slash < 0 ? undefined : this.#informers.get(key.slice(0, slash));
  }
}
