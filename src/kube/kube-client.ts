/**
 * The operator's one door to the API server: typed results instead of thrown HTTP errors, every request counted,
 * and watches as plain async streams. Authentication and TLS come from the operator's own {@link ClusterCredentials}:
 * client-node's KubeConfig alone would cost the process 64 MiB (ADR 0028).
 */
import { createInterface } from "node:readline";
import { Readable } from "node:stream";
import { Agent, fetch } from "undici";
import type { Dispatcher } from "undici";
import type { ClusterCredentials, ClusterTls } from "./cluster-credentials.ts";
import { credentialsErrorMessage } from "./credentials-error.ts";
import { requestResource } from "./request-resource.ts";

/** The failure kinds the operator decides on; everything else is `Unexpected`. */
export type KubeErrorKind =
  | "NotFound"
  | "AlreadyExists"
  | "Conflict"
  | "Gone"
  | "Invalid"
  | "Forbidden"
  | "Unauthorized"
  | "TooManyRequests"
  | "ServerError"
  | "Network"
  | "NotLeader"
  | "Unexpected";

/**
 * A failed request, as a value. `status` is 0 when no HTTP response arrived; `NotLeader` is a write a fenced
 * client refused to send because its replica no longer leads.
 */
export interface KubeError {
  readonly kind: KubeErrorKind;
  readonly status: number;
  readonly message: string;
  readonly retryAfterSeconds?: number;
}

export type KubeResult<T> =
  { readonly ok: true; readonly value: T } | { readonly ok: false; readonly error: KubeError };

/** Counts and times requests the way client-go's `rest_client_*` metrics do. */
export interface RestClientObserver {
  /**
   * `seconds` runs from sending the request to the whole response (to the headers, for a watch); `resource` is
   * what the path is about ({@link requestResource}: `jobs`, `longvideos/status`), never a name.
   */
  requestDone(method: string, code: string, seconds: number, resource: string): void;
}

export type PatchType = "merge" | "json" | "apply";
const patchContentTypes: Record<PatchType, string> = {
  merge: "application/merge-patch+json",
  json: "application/json-patch+json",
  apply: "application/apply-patch+yaml",
};

export interface RequestOptions {
  readonly query?: Readonly<Record<string, string | number | boolean | undefined>>;
  readonly body?: unknown;
  readonly contentType?: string;
  readonly signal?: AbortSignal;
}

/**
 * The writes a controller makes. {@link KubeClient} sends them; a fenced client sends them only while its replica
 * leads. `signal` aborts a request not yet answered.
 */
export interface KubeWriter {
  create<T>(path: string, body: unknown, fieldManager: string, signal?: AbortSignal): Promise<KubeResult<T>>;
  patch<T>(
    path: string,
    patch: unknown,
    type: PatchType,
    fieldManager: string,
    options?: PatchOptions,
  ): Promise<KubeResult<T>>;
  delete<T>(path: string, body?: unknown, signal?: AbortSignal): Promise<KubeResult<T>>;
}

export interface PatchOptions {
  /** Server-side apply only: take over fields other managers own. */
  readonly force?: boolean;
  readonly signal?: AbortSignal;
}

/** One watch event, or the server closing the stream; `ERROR` carries a metav1.Status (e.g. 410 Gone). */
export interface WatchEvent<T> {
  readonly type: "ADDED" | "MODIFIED" | "DELETED" | "BOOKMARK" | "ERROR";
  readonly object: T;
}

interface StatusBody {
  readonly kind?: string;
  readonly reason?: string;
  readonly message?: string;
  readonly code?: number;
  readonly details?: { readonly retryAfterSeconds?: number };
}

const reasonKinds: Readonly<Record<string, KubeErrorKind>> = {
  NotFound: "NotFound",
  AlreadyExists: "AlreadyExists",
  Conflict: "Conflict",
  Gone: "Gone",
  Expired: "Gone",
  Invalid: "Invalid",
  Forbidden: "Forbidden",
  Unauthorized: "Unauthorized",
  TooManyRequests: "TooManyRequests",
};

/** Classifies an HTTP failure by the Status reason first (409 means two things), then by code. */
export function kubeErrorOf(status: number, body: unknown): KubeError {
  const statusBody = (typeof body === "object" && body !== null ? body : {}) as StatusBody;
  const byReason = statusBody.reason === undefined ? undefined : reasonKinds[statusBody.reason];
  const byCode: KubeErrorKind =
    status === 404
      ? "NotFound"
      : status === 409
        ? "Conflict"
        : status === 410
          ? "Gone"
          : status === 422
            ? "Invalid"
            : status === 403
              ? "Forbidden"
              : status === 401
                ? "Unauthorized"
                : status === 429
                  ? "TooManyRequests"
                  : status >= 500
                    ? "ServerError"
                    : "Unexpected";
  const retryAfter = statusBody.details?.retryAfterSeconds;
  return {
    kind: byReason ?? byCode,
    status,
    message: statusBody.message ?? (typeof body === "string" && body !== "" ? body : `HTTP ${String(status)}`),
    ...(retryAfter === undefined ? {} : { retryAfterSeconds: retryAfter }),
  };
}

function networkError(cause: unknown): KubeError {
  return { kind: "Network", status: 0, message: cause instanceof Error ? cause.message : String(cause) };
}

/** A request ready to send: its URL, its headers and the pool to send it through. */
interface Prepared {
  readonly url: string;
  readonly headers: Record<string, string>;
  readonly dispatcher: Dispatcher;
}

/** A thin REST client over the API server's JSON API. */
export class KubeClient implements KubeWriter {
  readonly #credentials: ClusterCredentials;
  readonly #observer: RestClientObserver;
  /**
   * One connection pool for as long as the TLS material stays the same (the client's life, unless an exec plugin
   * hands out a new client certificate). client-node built a new undici Agent for every request, so each request
   * paid a TLS handshake and left an idle socket behind: at a few requests per segment that was most of the
   * operator's CPU, much of the API server's, and a good part of the operator's memory. Headers (tokens that
   * rotate) are applied per request.
   */
  #pool: { readonly tls: ClusterTls; readonly dispatcher: Dispatcher } | undefined;
  /** Pools replaced by a new client certificate, closing once their requests are answered. */
  readonly #retiring = new Set<Promise<void>>();
  /** Aborted when close() gives up waiting: every request and watch ends with it. */
  readonly #dropped = new AbortController();

  constructor(credentials: ClusterCredentials, observer: RestClientObserver) {
    this.#credentials = credentials;
    this.#observer = observer;
  }

  /** The URL, the credentials' headers and the pool for their TLS material; a credential failure is a value. */
  async #prepared(path: string, query: RequestOptions["query"]): Promise<KubeResult<Prepared>> {
    const url = new URL(this.#credentials.server + path);
    for (const [key, value] of Object.entries(query ?? {})) {
      if (value !== undefined) url.searchParams.set(key, String(value));
    }
    const authentication = await this.#credentials.authentication();
    if (!authentication.ok) {
      return {
        ok: false,
        error: { kind: "Unauthorized", status: 0, message: credentialsErrorMessage(authentication.error) },
      };
    }
    const { headers, tls } = authentication.value;
    return { ok: true, value: { url: url.toString(), headers: { ...headers }, dispatcher: this.#pooled(tls) } };
  }

  #pooled(tls: ClusterTls): Dispatcher {
    if (this.#pool?.tls === tls) return this.#pool.dispatcher;
    if (this.#pool) {
      const closing: Promise<void> = this.#pool.dispatcher
        .close()
        .catch(() => undefined)
        .finally(() => this.#retiring.delete(closing));
      this.#retiring.add(closing);
    }
    const dispatcher = new Agent({ connect: { ...tls } });
    this.#pool = { tls, dispatcher };
    return dispatcher;
  }

  /** A 401 may mean a rotated token or an expired exec credential: the next request fetches fresh ones. */
  #answered(status: number): void {
    if (status === 401) this.#credentials.rejected();
  }

  /**
   * Closes the pooled connections once their requests are answered, or after `graceMs` drops them: a request still
   * hanging on a frozen connection must not keep a replica that lost its lease from exiting.
   */
  async close(graceMs = 5_000): Promise<void> {
    const dispatcher = this.#pool?.dispatcher;
    if (!dispatcher && this.#retiring.size === 0) return;
    // Aborting is what ends a request on a connection that never answers: destroying the dispatcher leaves such a
    // fetch, and close() with it, pending for good (undici 8).
    const drop = setTimeout(() => {
      this.#dropped.abort(new Error("the client closed before the API server answered"));
    }, graceMs);
    try {
      await Promise.all([...this.#retiring, dispatcher?.close()]);
    } finally {
      clearTimeout(drop);
    }
  }

  /** The caller's signal, or the client's own closing, whichever ends a request first. */
  #until(signal: AbortSignal | undefined): AbortSignal {
    return signal ? AbortSignal.any([signal, this.#dropped.signal]) : this.#dropped.signal;
  }

  /** Performs one request; a non-2xx answer becomes a `KubeError`, never an exception. */
  async request<T>(method: string, path: string, options: RequestOptions = {}): Promise<KubeResult<T>> {
    const prepared = await this.#prepared(path, options.query);
    if (!prepared.ok) return prepared;
    const { url, headers, dispatcher } = prepared.value;
    headers.Accept = "application/json";
    let body: string | undefined;
    if (options.body !== undefined) {
      body = typeof options.body === "string" ? options.body : JSON.stringify(options.body);
      headers["Content-Type"] = options.contentType ?? "application/json";
    }
    const resource = requestResource(path);
    const sent = performance.now();
    try {
      const response = await fetch(url, {
        method,
        headers,
        dispatcher,
        ...(body === undefined ? {} : { body }),
        signal: this.#until(options.signal),
      });
      const text = await response.text();
      this.#observer.requestDone(method, String(response.status), (performance.now() - sent) / 1000, resource);
      this.#answered(response.status);
      let parsed: unknown = text;
      try {
        parsed = text === "" ? undefined : JSON.parse(text);
      } catch {
        // Not JSON: keep the text for the error message.
      }
      if (response.ok) return { ok: true, value: parsed as T };
      return { ok: false, error: kubeErrorOf(response.status, parsed) };
    } catch (cause) {
      this.#observer.requestDone(method, "<error>", (performance.now() - sent) / 1000, resource);
      return { ok: false, error: networkError(cause) };
    }
  }

  /** A GET; `signal` aborts it unanswered (a reader that must not outlive its caller's reason to ask). */
  get<T>(path: string, query?: RequestOptions["query"], signal?: AbortSignal): Promise<KubeResult<T>> {
    return this.request<T>("GET", path, { ...(query ? { query } : {}), ...(signal ? { signal } : {}) });
  }

  create<T>(path: string, body: unknown, fieldManager: string, signal?: AbortSignal): Promise<KubeResult<T>> {
    return this.request<T>("POST", path, { body, query: { fieldManager }, ...(signal ? { signal } : {}) });
  }

  patch<T>(
    path: string,
    patch: unknown,
    type: PatchType,
    fieldManager: string,
    options: PatchOptions = {},
  ): Promise<KubeResult<T>> {
    return this.request<T>("PATCH", path, {
      body: patch,
      contentType: patchContentTypes[type],
      query: { fieldManager, ...(type === "apply" && options.force ? { force: true } : {}) },
      ...(options.signal ? { signal: options.signal } : {}),
    });
  }

  delete<T>(path: string, body?: unknown, signal?: AbortSignal): Promise<KubeResult<T>> {
    return this.request<T>("DELETE", path, {
      ...(body === undefined ? {} : { body }),
      ...(signal ? { signal } : {}),
    });
  }

  /**
   * Opens a watch and yields its events until the server closes it or `signal` aborts. A failure to open
   * arrives as the result; a failure mid-stream ends the iteration (the caller re-lists or re-watches).
   */
  async watch<T>(
    path: string,
    query: Readonly<Record<string, string | number | boolean | undefined>>,
    signal: AbortSignal,
  ): Promise<KubeResult<AsyncIterable<WatchEvent<T>>>> {
    const prepared = await this.#prepared(path, { ...query, watch: true });
    if (!prepared.ok) return prepared;
    const { url, headers, dispatcher } = prepared.value;
    const resource = requestResource(path);
    const sent = performance.now();
    try {
      const response = await fetch(url, { method: "GET", headers, dispatcher, signal: this.#until(signal) });
      this.#observer.requestDone("WATCH", String(response.status), (performance.now() - sent) / 1000, resource);
      this.#answered(response.status);
      if (!response.ok || !response.body) {
        const text = await response.text();
        let parsed: unknown = text;
        try {
          parsed = JSON.parse(text);
        } catch {
          // keep text
        }
        return { ok: false, error: kubeErrorOf(response.status, parsed) };
      }
      const lines = createInterface({ input: Readable.fromWeb(response.body), crlfDelay: Infinity });
      return { ok: true, value: watchEvents<T>(lines) };
    } catch (cause) {
      this.#observer.requestDone("WATCH", "<error>", (performance.now() - sent) / 1000, resource);
      return { ok: false, error: networkError(cause) };
    }
  }
}

async function* watchEvents<T>(lines: AsyncIterable<string>): AsyncIterable<WatchEvent<T>> {
  try {
    for await (const line of lines) {
      if (line.trim() === "") continue;
      yield JSON.parse(line) as WatchEvent<T>;
    }
  } catch {
    // An aborted or broken stream ends the watch; the informer decides what comes next.
  }
}
