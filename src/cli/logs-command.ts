/** `longvideo logs NAME --segment I`: the log of the latest attempt at one segment of a film (its render container). */
import { operatorLabels } from "../api/operator-labels.ts";
import { CliError, ExitStatus } from "./cli-output.ts";
import type { CliOutput } from "./cli-output.ts";
import { clusterErrorMessage } from "./cluster-errors.ts";
import { existingFilm } from "./existing-film.ts";
import type { ClusterSession } from "./cluster-session.ts";
import { segmentPod } from "./segment-logs.ts";

export async function logsCommand(
  session: ClusterSession,
  name: string,
  segment: number,
  output: CliOutput,
): Promise<number> {
  const film = await existingFilm(session, name);
  const status = film.status;
  const planned = Number((status?.progress ?? "0/0").split("/")[1] ?? 0);
  const pods = await session.pods(`${operatorLabels.film}=${name},${operatorLabels.kind}=segment`);
  if (!pods.ok) throw new CliError(clusterErrorMessage(pods.error, `list the pods of ${name} in ${session.namespace}`));
  const recorded = status?.segments?.some((r) => r.index === segment) ?? false;
  const chosen = segmentPod(
    name,
    planned,
    segment,
    pods.value.map((pod) => ({
      name: pod.metadata?.name ?? "",
      labels: pod.metadata?.labels ?? {},
      createdAt: pod.metadata?.creationTimestamp?.toISOString() ?? "",
    })),
    recorded,
  );
  if (!chosen.ok) throw new CliError(chosen.error);
  const log = await session.podLog(chosen.pod, "render");
  if (!log.ok)
    throw new CliError(clusterErrorMessage(log.error, `read the log of pod ${session.namespace}/${chosen.pod}`));
  output.err(`pod ${chosen.pod}\n`);
  output.out(log.value);
  return ExitStatus.ok;
}
