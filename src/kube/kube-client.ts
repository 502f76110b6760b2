/**
 * The operator's one door to the API server: typed results instead of thrown HTTP errors, every request counted,
 * and watches as plain async streams. Authentication and TLS come from client-node's KubeConfig.
 */
import { createInterface } from "node:readline";
import { Readable } from "node:stream";
import { HttpMethod, RequestContext } from "@kubernetes/client-node";
import type { KubeConfig } from "@kubernetes/client-node";
import { Agent, fetch } from "undici";
import type { Dispatcher } from "undici";
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

const methodNames: Readonly<Record<string, HttpMethod>> = {
  GET: HttpMethod.GET,
  POST: HttpMethod.POST,
  PUT: HttpMethod.PUT,
  PATCH: HttpMethod.PATCH,
  DELETE: HttpMethod.DELETE,
};

/** A thin REST client over the API server's JSON API. */
export class KubeClient implements KubeWriter {
  readonly #config: KubeConfig;
  readonly #server: string;
  readonly #observer: RestClientObserver;
  /**
   * One connection pool for the client's life. client-node builds a new undici Agent for every request, so each
   * request paid a TLS handshake and left an idle socket behind: at a few requests per segment that was most of
   * the operator's CPU, much of the API server's, and a good part of the operator's memory. The TLS material
   * belongs to the kubeconfig's user, which client-node's own agent cache also treats as fixed; headers (tokens
   * that rotate) are still applied per request.
   */
  #dispatcher: Dispatcher | undefined;
  /** Aborted when close() gives up waiting: every request and watch ends with it. */
  readonly #dropped = new AbortController();

  constructor(config: KubeConfig, observer: RestClientObserver) {
    const cluster = config.getCurrentCluster();
    if (!cluster) throw new Error("the kubeconfig has no current cluster");
    this.#config = config;
    this.#server = cluster.server.replace(/\/$/, "");
    this.#observer = observer;
  }

  async #context(method: string, path: string, query: RequestOptions["query"]): Promise<RequestContext> {
    const url = new URL(this.#server + path);
    for (const [key, value] of Object.entries(query ?? {})) {
      if (value !== undefined) url.searchParams.set(key, String(value));
    }
    const httpMethod = methodNames[method];
    if (!httpMethod) throw new Error(`unsupported method ${method}`);
    const context = new RequestContext(url.toString(), httpMethod);
    await this.#config.applySecurityAuthentication(context);
    return context;
  }

  #pooled(context: RequestContext): Dispatcher | undefined {
    // A plain-http server (kubectl proxy) gets no dispatcher from client-node: one of our own, so that close() owns
    // every connection this client opened.
    this.#dispatcher ??= context.getDispatcher() ?? new Agent();
    return this.#dispatcher;
  }

  /**
   * Closes the pooled connections once their requests are answered, or after `graceMs` drops them: a request still
   * hanging on a frozen connection must not keep a replica that lost its lease from exiting.
   */
  async close(graceMs = 5_000): Promise<void> {
    const dispatcher = this.#dispatcher;
    if (!dispatcher) return;
    // Aborting is what ends a request on a connection that never answers: destroying the dispatcher leaves such a
    // fetch, and close() with it, pending for good (undici 8).
    const drop = setTimeout(() => {
      this.#dropped.abort(new Error("the client closed before the API server answered"));
    }, graceMs);
    try {
      await dispatcher.close();
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
    let context: RequestContext;
    try {
      context = await this.#context(method, path, options.query);
    } catch (cause) {
      return { ok: false, error: networkError(cause) };
    }
    const headers: Record<string, string> = { ...context.getHeaders(), Accept: "application/json" };
    let body: string | undefined;
    if (options.body !== undefined) {
      body = typeof options.body === "string" ? options.body : JSON.stringify(options.body);
      headers["Content-Type"] = options.contentType ?? "application/json";
    }
    const dispatcher = this.#pooled(context);
    const resource = requestResource(path);
    const sent = performance.now();
    try {
      const response = await fetch(context.getUrl(), {
        method,
        headers,
        ...(dispatcher ? { dispatcher } : {}),
        ...(body === undefined ? {} : { body }),
        signal: this.#until(options.signal),
      });
      const text = await response.text();
      this.#observer.requestDone(method, String(response.status), (performance.now() - sent) / 1000, resource);
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
    let context: RequestContext;
    try {
      context = await this.#context("GET", path, { ...query, watch: true });
    } catch (cause) {
      return { ok: false, error: networkError(cause) };
    }
    const dispatcher = this.#pooled(context);
    const resource = requestResource(path);
    const sent = performance.now();
    try {
      const response = await fetch(context.getUrl(), {
        method: "GET",
        headers: context.getHeaders(),
        ...(dispatcher ? { dispatcher } : {}),
        signal: this.#until(signal),
      });
      this.#observer.requestDone("WATCH", String(response.status), (performance.now() - sent) / 1000, resource);
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
