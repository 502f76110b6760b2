/**
 * Composition root of the LongVideo operator: the one place that reads the environment and makes the logger,
 * clock, API client, metrics registry, controller, leader elector and HTTP endpoints, then wires them together.
 */
import process from "node:process";
import type { Logger } from "pino";
import { Registry, collectDefaultMetrics } from "prom-client";
import { leaderElectionSummary, operatorConfig } from "./config/operator-config.ts";
import type { OperatorConfig } from "./config/operator-config.ts";
import { startOperatorServer } from "./http/operator-server.ts";
import { credentialsErrorMessage } from "./kube/credentials-error.ts";
import { FencedClient } from "./kube/fenced-client.ts";
import type { FenceObserver } from "./kube/fenced-client.ts";
import { FilmController } from "./kube/film-controller.ts";
import { KubeClient } from "./kube/kube-client.ts";
import { LeaderElector, leadershipUntil } from "./kube/leader-election.ts";
import { loadClusterCredentials } from "./kube/load-cluster-credentials.ts";
import { ensureLeaseNamespace } from "./kube/lease-namespace.ts";
import type { Leadership } from "./kube/leader-election.ts";
import { OperatorMetrics } from "./metrics/operator-metrics.ts";
import { leaderElectionLog, operatorLogger } from "./operator-logger.ts";
import { filmIntent } from "./reconcile/film-intent.ts";

async function main(): Promise<number> {
  const parsed = operatorConfig(process.env);
  if (!parsed.ok) {
    process.stderr.write(`longvideo-operator: invalid configuration:\n  ${parsed.errors.join("\n  ")}\n`);
    return 2;
  }
  const config = parsed.config;
  const log = operatorLogger(config);

  const credentials = await loadClusterCredentials({ env: process.env });
  if (!credentials.ok) {
    log.fatal({ error: credentials.error }, `no cluster to run in: ${credentialsErrorMessage(credentials.error)}`);
    return 2;
  }
  const { server, source } = credentials.value;
  log.info({ server, credentials: source }, "cluster credentials loaded");
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  const metrics = new OperatorMetrics(registry, new URL(server).host);
  const client = new KubeClient(credentials.value, metrics.restClientObserver());

  const controller = filmController(config, client, metrics, log);
  log.info(leaderElectionSummary(config));
  if (config.leaderElection && config.createLeaseNamespace) {
    const made = await ensureLeaseNamespace(client, config.namespace, "longvideo-operator");
    if (!made.ok) {
      log.fatal(
        { namespace: config.namespace, error: made.error },
        "cannot make the Lease's namespace: create it, set LV_NAMESPACE to one that exists, or run with LV_LEADER_ELECTION=false",
      );
      await client.close();
      return 2;
    }
    if (made.value === "created") log.info({ namespace: config.namespace }, "created the Lease's namespace");
    if (made.value === "unverified")
      log.warn(
        { namespace: config.namespace },
        "may neither read nor create namespaces: the Lease's namespace is assumed to exist",
      );
  }

  const stop = new AbortController();
  let leading = !config.leaderElection;
  let acting = false;
  const http = await startOperatorServer({
    host: config.httpHost,
    port: config.httpPort,
    registry,
    healthy: () => ({ ok: true }),
    ready: () => {
      if (!controller.hasSynced()) return { ok: false, reason: "informer caches are not synced yet" };
      if (leading && !acting) return { ok: false, reason: "leading but the workers have not started" };
      return { ok: true };
    },
  });
  log.info(
    {
      address: http.address(),
      concurrency: config.concurrency,
      namespaces: config.watchNamespaces.length === 0 ? "all" : config.watchNamespaces,
      nodes: config.watchNodes,
    },
    "operator started",
  );

  const shutdown = (signal: string) => {
    log.info({ signal }, "shutting down: finishing reconciles in flight, releasing the lease");
    stop.abort();
  };
  process.once("SIGTERM", shutdown);
  process.once("SIGINT", shutdown);

  const informers = controller.runInformers(stop.signal);
  const fenceLog: FenceObserver = {
    writing: (method, path) => {
      log.debug({ method, path }, "write");
    },
    refused: (method, path) => {
      log.info({ method, path }, "write refused: no longer leading");
    },
  };
  const runWorkers = async (leadership: Leadership) => {
    while (!controller.hasSynced() && !leadership.signal.aborted) await new Promise((r) => setTimeout(r, 50));
    acting = true;
    try {
      // Every write of this leading period goes through the fence: none is sent once the period has ended.
      await controller.runWorkers(new FencedClient(client, leadership, fenceLog));
    } finally {
      acting = false;
    }
  };

  if (config.leaderElection) {
    const leaseClient = () => new KubeClient(credentials.value, metrics.restClientObserver());
    await runElected(config, leaseClient, metrics, log, stop, runWorkers, (now) => {
      leading = now;
    });
  } else {
    await runWorkers(leadershipUntil(stop.signal));
  }
  await informers;
  await new Promise((resolve) => http.close(resolve));
  await client.close();
  log.info("stopped");
  return 0;
}

/** The film controller, wired to the configuration, the metrics and the log. */
function filmController(config: OperatorConfig, client: KubeClient, metrics: OperatorMetrics, log: Logger) {
  const controllerName = "longvideo";
  return new FilmController(
    client,
    {
      concurrency: config.concurrency,
      resyncMs: config.resyncMs,
      watchdogMs: config.watchdogMs,
      watchNamespaces: config.watchNamespaces,
      watchNodes: config.watchNodes,
      runtime: {
        image: config.runtimeImage,
        pullPolicy: config.runtimeImagePullPolicy,
        fetchPolicy: config.fetchPolicy,
      },
      intentOf: (film) =>
        filmIntent(
          {
            name: film.metadata.name ?? "",
            namespace: film.metadata.namespace ?? "",
            spec: film.spec,
            ...(film.status?.inputs ? { inputs: film.status.inputs } : {}),
          },
          {
            nodeSelector: config.defaultNodeSelector,
            tolerations: config.defaultTolerations,
            modelCacheClaim: config.modelCacheClaim,
            checkModelCache: true,
            ...(config.warmStart.maxLeadMs > 0 ? { warmStart: config.warmStart } : {}),
            backend: config.defaultBackend,
            policy: config.filmPolicy,
          },
        ),
      now: () => new Date(),
    },
    {
      queue: metrics.workQueueObserver(controllerName),
      controller: metrics.filmControllerObserver(controllerName),
      log: {
        relisted: (resource, reason, objects) => {
          log.info({ resource, reason, objects }, "relisted");
        },
        watchFailed: (resource, error) => {
          log.warn({ resource, error }, "list or watch failed");
        },
        reconciled: (key, result, actions, ms) => {
          log.debug({ film: key, result, actions, ms: Math.round(ms * 10) / 10 }, "reconciled");
        },
        actionFailed: (key, action, error) => {
          log.warn({ film: key, action, error }, "action failed");
        },
      },
    },
  );
}

/** Runs the workers while this replica holds the lease; losing it stops the whole process (see below). */
async function runElected(
  config: OperatorConfig,
  leaseClient: () => KubeClient,
  metrics: OperatorMetrics,
  log: Logger,
  stop: AbortController,
  runWorkers: (leadership: Leadership) => Promise<void>,
  setLeading: (leading: boolean) => void,
): Promise<void> {
  // The lease has a connection pool of its own: its renewals never wait for a socket behind reconcile writes, and a
  // connection those writes left hanging cannot hold a renewal.
  const client = leaseClient();
  const elector = new LeaderElector(
    client,
    {
      namespace: config.namespace,
      name: config.leaseName,
      identity: config.identity,
      leaseDurationMs: config.leaseDurationMs,
      renewDeadlineMs: config.renewDeadlineMs,
      retryPeriodMs: config.retryPeriodMs,
    },
    leaderElectionLog(log),
  );
  let workers: Promise<void> = Promise.resolve();
  metrics.leaderStatus.set({ name: config.leaseName }, 0);
  await elector.run(stop.signal, (leadership) => {
    setLeading(true);
    metrics.leaderStatus.set({ name: config.leaseName }, 1);
    leadership.signal.addEventListener("abort", () => {
      setLeading(false);
      metrics.leaderStatus.set({ name: config.leaseName }, 0);
      // A replica that lost its lease must not act on; it exits and restarts as a clean standby.
      if (!stop.signal.aborted) stop.abort();
    });
    workers = runWorkers(leadership);
  });
  await workers;
  await client.close();
}

main().then(
  (code) => {
    process.exitCode = code;
  },
  (error: unknown) => {
    process.stderr.write(
      `longvideo-operator: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`,
    );
    process.exitCode = 1;
  },
);
