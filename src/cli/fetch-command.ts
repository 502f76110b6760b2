/**
 * `longvideo fetch NAME -o DIR`: copies a finished film, its contact sheet and its clips out of the film's
 * workspace through a short-lived restricted pod ({@link fetchPod}), deleted when done (or on its own deadline if
 * this process dies), and prints where the contact sheet is.
 */
import { randomBytes } from "node:crypto";
import { createWriteStream, mkdirSync } from "node:fs";
import { finished } from "node:stream/promises";
import path from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import type { V1Pod } from "@kubernetes/client-node";
import { CliError, ExitStatus } from "./cli-output.ts";
import type { CliOutput } from "./cli-output.ts";
import { clusterErrorMessage } from "./cluster-errors.ts";
import { existingFilm } from "./existing-film.ts";
import type { ClusterSession } from "./cluster-session.ts";
import { fetchPlan, fetchPod } from "./film-fetch.ts";
import type { FetchedFile } from "./film-fetch.ts";

export interface FetchOptions {
  readonly outDir: string;
  readonly image: string;
  /** The node to run the pod on; default: where the film's last segment ran. */
  readonly node?: string;
  readonly timeoutMs: number;
}

/** Why a pod is not running, in the kubelet's or the scheduler's words. */
function notRunning(pod: V1Pod): string {
  const waiting = pod.status?.containerStatuses?.[0]?.state?.waiting;
  if (waiting) return `${waiting.reason ?? ""}: ${waiting.message ?? ""}`;
  const unschedulable = pod.status?.conditions?.find((c) => c.type === "PodScheduled" && c.status === "False");
  return unschedulable?.message ?? pod.status?.phase ?? "not running";
}

async function runningPod(session: ClusterSession, name: string, deadline: number): Promise<void> {
  for (;;) {
    const read = await session.pod(name);
    if (!read.ok) throw new CliError(clusterErrorMessage(read.error, `read pod ${session.namespace}/${name}`));
    const pod: V1Pod = read.value;
    if (pod.status?.phase === "Running") return;
    if (pod.status?.phase === "Failed" || pod.status?.phase === "Succeeded" || Date.now() > deadline) {
      throw new CliError(`the fetch pod ${name} did not start: ${notRunning(pod)}`);
    }
    await sleep(250);
  }
}

async function copy(session: ClusterSession, pod: string, file: FetchedFile, outDir: string): Promise<string> {
  const target = path.join(outDir, file.target);
  mkdirSync(path.dirname(target), { recursive: true });
  const stream = createWriteStream(target);
  const copied = await session.exec(pod, "fetch", ["cat", file.source], stream);
  stream.end();
  await finished(stream);
  if (!copied.ok) throw new CliError(`cannot copy the ${file.what} ${file.source}: ${copied.error.message}`);
  return target;
}

export async function fetchCommand(
  session: ClusterSession,
  name: string,
  options: FetchOptions,
  output: CliOutput,
): Promise<number> {
  const film = await existingFilm(session, name);
  const plan = fetchPlan(film, Date.now());
  if (!plan.ok) throw new CliError(plan.error);
  const podName = `${name.slice(0, 40)}-fetch-${randomBytes(3).toString("hex")}`;
  const node = options.node ?? plan.node;
  const body = fetchPod(
    { name, namespace: session.namespace },
    {
      podName,
      image: options.image,
      ...(node === undefined ? {} : { node }),
      lifetimeSeconds: Math.ceil(options.timeoutMs / 1000) + 60,
    },
  );
  const created = await session.createPod(body);
  if (!created.ok)
    throw new CliError(clusterErrorMessage(created.error, `create the fetch pod in ${session.namespace}`));
  try {
    await runningPod(session, podName, Date.now() + options.timeoutMs);
    const outDir = path.resolve(options.outDir);
    let sheet = "";
    for (const file of plan.files) {
      const target = await copy(session, podName, file, outDir);
      if (file.what === "contact sheet") sheet = target;
      if (file.what !== "clip") output.err(`copied ${file.what} ${file.source}\n`);
    }
    const clips = plan.files.filter((f) => f.what === "clip").length;
    output.out(`film:          ${path.join(outDir, `${name}.mp4`)}\n`);
    output.out(`clips:         ${String(clips)} in ${path.join(outDir, "clips")}\n`);
    output.out(`contact sheet: ${sheet}\n`);
  } finally {
    const deleted = await session.deletePod(podName);
    if (!deleted.ok && deleted.error.kind !== "NotFound") {
      output.err(`longvideo: ${clusterErrorMessage(deleted.error, `delete the fetch pod ${podName}`)}\n`);
    }
  }
  return ExitStatus.ok;
}
