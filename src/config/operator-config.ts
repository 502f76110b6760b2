/**
 * The operator's settings, read once from the environment in `main.ts` and passed down. Every setting has a
 * default that works out of cluster against the local cluster; the Helm chart sets the in-cluster ones.
 */
import os from "node:os";
import { z } from "zod";
import { dnsLabel } from "../api/kubernetes-formats.ts";
import { backends } from "../api/long-video-spec.ts";
import { operatorFilmPolicySchema } from "../api/film-policy.ts";
import type { OperatorFilmPolicy } from "../api/film-policy.ts";
import { tolerationSchema } from "../api/pod-scheduling.ts";
import type { Toleration } from "../api/pod-scheduling.ts";
import { referenceFetchPolicySchema } from "../api/reference-fetch-policy.ts";
import type { ReferenceFetchPolicy } from "../api/reference-fetch-policy.ts";

const booleanFlag = z
  .enum(["true", "false", "1", "0"])
  .transform((value) => value === "true" || value === "1")
  .optional();

const environmentSchema = z.object({
  LV_NAMESPACE: z.string().min(1).optional(),
  POD_NAMESPACE: z.string().min(1).optional(),
  POD_NAME: z.string().min(1).optional(),
  LV_HTTP_HOST: z.string().min(1).default("127.0.0.1"),
  LV_HTTP_PORT: z.coerce.number().int().min(0).max(65535).default(8080),
  LV_CONCURRENCY: z.coerce.number().int().min(1).max(256).default(4),
  LV_LOG_LEVEL: z.enum(["fatal", "error", "warn", "info", "debug", "trace"]).default("info"),
  LV_LEADER_ELECTION: booleanFlag,
  LV_LEASE_NAME: z.string().min(1).default("longvideo-operator"),
  LV_LEASE_DURATION_SECONDS: z.coerce.number().int().min(2).default(15),
  LV_RENEW_DEADLINE_SECONDS: z.coerce.number().int().min(1).default(10),
  LV_RETRY_PERIOD_SECONDS: z.coerce.number().min(0.1).default(2),
  LV_RESYNC_SECONDS: z.coerce.number().min(1).default(300),
  LV_WATCHDOG_SECONDS: z.coerce.number().min(5).default(180),
  LV_RUNTIME_IMAGE: z.string().min(1).default("localhost/longvideo/runtime:dev"),
  LV_RUNTIME_IMAGE_PULL_POLICY: z.enum(["Always", "IfNotPresent", "Never"]).default("IfNotPresent"),
  LV_DEFAULT_BACKEND: z.enum(backends).default("svi"),
  LV_DEFAULT_NODE_SELECTOR: z
    .string()
    .default("{}")
    .transform((text, ctx) => jsonOf(text, ctx, z.record(z.string(), z.string()))),
  LV_DEFAULT_TOLERATIONS: z
    .string()
    .default("[]")
    .transform((text, ctx) => jsonOf(text, ctx, z.array(tolerationSchema))),
  LV_MODEL_CACHE_CLAIM: z.string().default(""),
  LV_WARM_START_MAX_LEAD_SECONDS: z.coerce.number().min(0).max(86_400).default(600),
  LV_WARM_START_MARGIN_SECONDS: z.coerce.number().min(0).max(3600).default(5),
  LV_WARM_START_MAX_AHEAD: z.coerce.number().int().min(1).max(8).default(3),
  LV_FILM_POLICY: z
    .string()
    .default("{}")
    .transform((text, ctx) => jsonOf(text, ctx, operatorFilmPolicySchema)),
  LV_FETCH_POLICY: z
    .string()
    .default("{}")
    .transform((text, ctx) => jsonOf(text, ctx, referenceFetchPolicySchema)),
  LV_WATCH_NAMESPACES: z
    .string()
    .default("")
    .transform((text, ctx) => namespaceList(text, ctx)),
  LV_WATCH_NODES: booleanFlag,
});

/**
 * A comma-separated list of namespace names (blanks around commas ignored, repeats dropped); empty means every
 * namespace. Each name must be a DNS-1123 label, or the operator would list a path no namespace can have.
 */
function namespaceList(text: string, ctx: z.RefinementCtx): readonly string[] {
  const names = [...new Set(text.split(",").map((name) => name.trim()))].filter((name) => name !== "");
  const invalid = names.filter((name) => !dnsLabel.safeParse(name).success);
  if (invalid.length > 0) {
    ctx.addIssue({ code: "custom", message: `not a namespace name (DNS-1123 label): ${invalid.join(", ")}` });
    return z.NEVER;
  }
  return names;
}

/** Parses a JSON-valued variable against a schema, reporting failures on the variable itself. */
function jsonOf<T>(text: string, ctx: z.RefinementCtx, schema: z.ZodType<T>): T {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    ctx.addIssue({ code: "custom", message: "is not valid JSON" });
    return z.NEVER;
  }
  const parsed = schema.safeParse(value);
  if (!parsed.success) {
    ctx.addIssue({ code: "custom", message: parsed.error.issues.map((i) => i.message).join("; ") });
    return z.NEVER;
  }
  return parsed.data;
}

export interface OperatorConfig {
  /** Namespace of the leader-election Lease. */
  readonly namespace: string;
  /**
   * Whether the operator makes the Lease's namespace when it is missing: only out of cluster (no POD_NAMESPACE),
   * where nothing else made it; in a pod the namespace is the pod's own (docs/adr/0018).
   */
  readonly createLeaseNamespace: boolean;
  /** This replica's identity in the Lease. */
  readonly identity: string;
  readonly httpHost: string;
  readonly httpPort: number;
  /** Films reconciled at once (distinct keys; one key is never reconciled twice at once). */
  readonly concurrency: number;
  readonly logLevel: "fatal" | "error" | "warn" | "info" | "debug" | "trace";
  readonly leaderElection: boolean;
  readonly leaseName: string;
  readonly leaseDurationMs: number;
  readonly renewDeadlineMs: number;
  readonly retryPeriodMs: number;
  readonly resyncMs: number;
  readonly watchdogMs: number;
  readonly runtimeImage: string;
  readonly runtimeImagePullPolicy: "Always" | "IfNotPresent" | "Never";
  /** Defaults for films that leave these unset (the chart's `runtime.backend`, `gpuPool` and `modelCache`). */
  readonly defaultBackend: "svi" | "animatic";
  readonly defaultNodeSelector: Readonly<Record<string, string>>;
  readonly defaultTolerations: readonly Toleration[];
  readonly modelCacheClaim: string;
  /**
   * Warm start (the chart's `warmStart`, docs/adr/0026): how far ahead of its predecessor's expected hand-off a
   * segment may be started (0: never; every hand-off is serial), the margin added to the learned lead time, and how
   * many warm pods a chain may have waiting ahead of its rendering segment.
   */
  readonly warmStart: { readonly maxLeadMs: number; readonly marginMs: number; readonly maxAhead: number };
  /** What films may ask for (the chart's `filmPolicy`); unset, the safe defaults of `film-policy.ts`. */
  readonly filmPolicy: OperatorFilmPolicy;
  /** Where segment pods may fetch a url reference image from (the chart's `fetch`): their LV_FETCH_POLICY. */
  readonly fetchPolicy: ReferenceFetchPolicy;
  /**
   * The namespaces whose films (and the jobs, pods, claims and events of those films) the operator watches and
   * acts on; empty: every namespace. Given namespaces, it never lists or watches a namespaced resource
   * cluster-wide, so a Role in each of them is all it needs (docs/adr/0014-namespaced-installs.md).
   */
  readonly watchNamespaces: readonly string[];
  /** Whether it watches nodes (cluster-scoped, read-only) to tell a film that its pod's node is lost. */
  readonly watchNodes: boolean;
}

/** Settings from an environment; a bad value is reported with the variable's name, never silently defaulted. */
export function operatorConfig(
  environment: Readonly<Record<string, string | undefined>>,
): { ok: true; config: OperatorConfig } | { ok: false; errors: string[] } {
  const parsed = environmentSchema.safeParse(environment);
  if (!parsed.success) {
    return { ok: false, errors: parsed.error.issues.map((issue) => `${issue.path.join(".")}: ${issue.message}`) };
  }
  const env = parsed.data;
  const timings = leaseTimingErrors(env);
  if (timings.length > 0) return { ok: false, errors: timings };
  return {
    ok: true,
    config: {
      namespace: env.LV_NAMESPACE ?? env.POD_NAMESPACE ?? "longvideo-system",
      createLeaseNamespace: env.POD_NAMESPACE === undefined,
      identity: env.POD_NAME ?? `${os.hostname()}-${String(process.pid)}`,
      httpHost: env.LV_HTTP_HOST,
      httpPort: env.LV_HTTP_PORT,
      concurrency: env.LV_CONCURRENCY,
      logLevel: env.LV_LOG_LEVEL,
      leaderElection: env.LV_LEADER_ELECTION ?? true,
      leaseName: env.LV_LEASE_NAME,
      leaseDurationMs: env.LV_LEASE_DURATION_SECONDS * 1000,
      renewDeadlineMs: env.LV_RENEW_DEADLINE_SECONDS * 1000,
      retryPeriodMs: env.LV_RETRY_PERIOD_SECONDS * 1000,
      resyncMs: env.LV_RESYNC_SECONDS * 1000,
      watchdogMs: env.LV_WATCHDOG_SECONDS * 1000,
      runtimeImage: env.LV_RUNTIME_IMAGE,
      runtimeImagePullPolicy: env.LV_RUNTIME_IMAGE_PULL_POLICY,
      defaultBackend: env.LV_DEFAULT_BACKEND,
      defaultNodeSelector: env.LV_DEFAULT_NODE_SELECTOR,
      defaultTolerations: env.LV_DEFAULT_TOLERATIONS,
      modelCacheClaim: env.LV_MODEL_CACHE_CLAIM,
      warmStart: {
        maxLeadMs: env.LV_WARM_START_MAX_LEAD_SECONDS * 1000,
        marginMs: env.LV_WARM_START_MARGIN_SECONDS * 1000,
        maxAhead: env.LV_WARM_START_MAX_AHEAD,
      },
      filmPolicy: env.LV_FILM_POLICY,
      fetchPolicy: env.LV_FETCH_POLICY,
      watchNamespaces: env.LV_WATCH_NAMESPACES,
      watchNodes: env.LV_WATCH_NODES ?? true,
    },
  };
}

/**
 * Lease timings under which a leader stops before a standby may start: it stops a renew deadline after its last
 * renewal began, a standby waits a lease duration from when it saw that renewal (docs/adr/0013).
 */
function leaseTimingErrors(env: z.infer<typeof environmentSchema>): string[] {
  const errors: string[] = [];
  if (env.LV_RENEW_DEADLINE_SECONDS >= env.LV_LEASE_DURATION_SECONDS) {
    errors.push("LV_RENEW_DEADLINE_SECONDS: must be shorter than LV_LEASE_DURATION_SECONDS");
  }
  // The elector waits up to 1.2 retry periods (jitter) between attempts; one must fit in the renew deadline.
  if (env.LV_RETRY_PERIOD_SECONDS * 1.2 >= env.LV_RENEW_DEADLINE_SECONDS) {
    errors.push("LV_RETRY_PERIOD_SECONDS: with its 20% jitter, must be shorter than LV_RENEW_DEADLINE_SECONDS");
  }
  return errors;
}

/** What the operator says about its leader election when it starts: where the Lease is, or that there is none. */
export function leaderElectionSummary(config: OperatorConfig): string {
  if (!config.leaderElection) {
    return "leader election off (LV_LEADER_ELECTION=false): this process acts alone; run no other operator against this cluster";
  }
  const lease = `leader election on Lease ${config.namespace}/${config.leaseName}`;
  return config.createLeaseNamespace ? `${lease}; out of cluster, the namespace is created if missing` : lease;
}
