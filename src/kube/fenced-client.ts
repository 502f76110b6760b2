/**
 * The controller's writes, fenced by leadership: a replica whose leadership ended sends no write at all. A
 * reconcile still in flight when the lease is lost gets `NotLeader` for every write it starts after that moment,
 * and a write not yet answered is aborted (one still waiting for a connection never leaves). Reads are not
 * fenced: a standby keeps its caches warm.
 */
import type { KubeError, KubeResult, KubeWriter, PatchOptions, PatchType } from "./kube-client.ts";
import type { Leadership } from "./leader-election.ts";

/** What the fence reports: each write it lets through, and each it refuses. */
export interface FenceObserver {
  writing(method: string, path: string): void;
  refused(method: string, path: string): void;
}

export const silentFenceObserver: FenceObserver = {
  writing: () => undefined,
  refused: () => undefined,
};

const notLeader: KubeError = {
  kind: "NotLeader",
  status: 0,
  message: "not sent: this replica no longer leads",
};

export class FencedClient implements KubeWriter {
  readonly #writer: KubeWriter;
  readonly #observer: FenceObserver;
  /** The leading period this client writes for; the controller stops working when its signal aborts. */
  readonly leadership: Leadership;

  constructor(writer: KubeWriter, leadership: Leadership, observer: FenceObserver = silentFenceObserver) {
    this.#writer = writer;
    this.leadership = leadership;
    this.#observer = observer;
  }

  create<T>(path: string, body: unknown, fieldManager: string, signal?: AbortSignal): Promise<KubeResult<T>> {
    return this.#write("POST", path, signal, (fenced) => this.#writer.create<T>(path, body, fieldManager, fenced));
  }

  patch<T>(
    path: string,
    patch: unknown,
    type: PatchType,
    fieldManager: string,
    options: PatchOptions = {},
  ): Promise<KubeResult<T>> {
    return this.#write("PATCH", path, options.signal, (fenced) =>
      this.#writer.patch<T>(path, patch, type, fieldManager, { ...options, signal: fenced }),
    );
  }

  delete<T>(path: string, body?: unknown, signal?: AbortSignal): Promise<KubeResult<T>> {
    return this.#write("DELETE", path, signal, (fenced) => this.#writer.delete<T>(path, body, fenced));
  }

  #write<T>(
    method: string,
    path: string,
    signal: AbortSignal | undefined,
    send: (signal: AbortSignal) => Promise<KubeResult<T>>,
  ): Promise<KubeResult<T>> {
    if (!this.leadership.holds()) {
      this.#observer.refused(method, path);
      return Promise.resolve({ ok: false, error: notLeader });
    }
    this.#observer.writing(method, path);
    const leading = this.leadership.signal;
    return send(signal ? AbortSignal.any([leading, signal]) : leading);
  }
}
