/**
 * The operator's logger, and the adapters that turn the leader elector's observations into log lines. Made in
 * `main.ts`; here so that a test can read the very lines the operator writes.
 */
import { pino } from "pino";
import type { DestinationStream, Logger } from "pino";
import type { OperatorConfig } from "./config/operator-config.ts";
import type { LeaderElectionLog } from "./kube/leader-election.ts";

/**
 * JSON lines with the replica's identity once on each: a base field. No call adds `identity` again; some log
 * pipelines refuse an object with a repeated key.
 */
export function operatorLogger(
  config: Pick<OperatorConfig, "logLevel" | "identity">,
  destination?: DestinationStream,
): Logger {
  const options = { level: config.logLevel, base: { identity: config.identity } };
  return destination === undefined ? pino(options) : pino(options, destination);
}

/**
 * What the elector reports, as log lines. The identity it passes is this replica's own, already on every line,
 * so it is not written again.
 */
export function leaderElectionLog(log: Logger): LeaderElectionLog {
  return {
    acquired: () => {
      log.info("leading");
    },
    lost: (_identity, reason) => {
      log.warn({ reason }, "stopped leading");
    },
    failed: (error) => {
      log.warn({ error }, "leader election request failed");
    },
  };
}
