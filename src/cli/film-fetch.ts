/**
 * What `longvideo fetch` copies out of a finished film's workspace (the film, its contact sheet, each segment's
 * clip) and the short-lived pod it reads them through: non-root, read-only everywhere, no service account token,
 * the workspace mounted read-only, passing the `restricted` Pod Security level. Pure.
 */
import { mountPaths, workspaceLayout } from "../api/runtime-contract.ts";
import { recordAttemptDir } from "../reconcile/warm-start.ts";
import { operatorLabels } from "../api/operator-labels.ts";
import { workspaceClaimName } from "../reconcile/object-names.ts";
import type { WatchedFilm } from "./film-progress.ts";
import { filmLine, filmView } from "./film-progress.ts";

/** One file to copy: its path in the fetch pod, and where it goes under the output directory. */
export interface FetchedFile {
  readonly source: string;
  readonly target: string;
  readonly what: "film" | "contact sheet" | "clip";
}

export type FetchPlan =
  | { readonly ok: true; readonly files: readonly FetchedFile[]; readonly node?: string }
  | { readonly ok: false; readonly error: string };

/** The files of a finished film, or why there are none yet. */
export function fetchPlan(film: WatchedFilm, nowMs: number): FetchPlan {
  const name = film.metadata.name ?? "";
  const status = film.status;
  const view = filmView(film, nowMs);
  if (status?.phase === "Failed")
    return { ok: false, error: `${name} failed, there is no film to fetch: ${filmLine(view)}` };
  const output = status?.output;
  if (status?.phase !== "Succeeded" || !output) {
    return { ok: false, error: `${name} is not finished yet: ${filmLine(view)}` };
  }
  const sheet = output.contactSheet ?? output.path.replace(/\.mp4$/, ".contact.png");
  const clips = (status.segments ?? []).map((record) => ({
    source: `${mountPaths.workspace}/${recordAttemptDir(record)}/${workspaceLayout.clip}`,
    target: `clips/${name}-segment-${String(record.index).padStart(3, "0")}.mp4`,
    what: "clip" as const,
  }));
  // Where the film's last segment ran: a node that mounts its workspace.
  const node = status.segments?.at(-1)?.node;
  return {
    ok: true,
    files: [
      { source: output.path, target: `${name}.mp4`, what: "film" },
      { source: sheet, target: `${name}.contact.png`, what: "contact sheet" },
      ...clips,
    ],
    ...(node === undefined ? {} : { node }),
  };
}

/** Label on fetch pods, so they are found (and cleaned up) by film. */
export const fetchPodLabel = "longvideo.dev/fetch";

/** The pod `fetch` reads the workspace through; it sleeps until deleted, at most `lifetimeSeconds`. */
export function fetchPod(
  film: { readonly name: string; readonly namespace: string },
  options: {
    readonly podName: string;
    readonly image: string;
    readonly node?: string;
    readonly lifetimeSeconds: number;
  },
): Record<string, unknown> {
  const user = 1000;
  return {
    apiVersion: "v1",
    kind: "Pod",
    metadata: {
      name: options.podName,
      namespace: film.namespace,
      labels: { [fetchPodLabel]: film.name, [operatorLabels.film]: film.name },
    },
    spec: {
      restartPolicy: "Never",
      automountServiceAccountToken: false,
      // Gone by itself if the CLI dies before it deletes it.
      activeDeadlineSeconds: options.lifetimeSeconds,
      terminationGracePeriodSeconds: 0,
      ...(options.node === undefined ? {} : { nodeName: options.node }),
      securityContext: {
        runAsNonRoot: true,
        runAsUser: user,
        runAsGroup: user,
        seccompProfile: { type: "RuntimeDefault" },
      },
      containers: [
        {
          name: "fetch",
          image: options.image,
          imagePullPolicy: "IfNotPresent",
          command: ["sleep", String(options.lifetimeSeconds)],
          securityContext: {
            allowPrivilegeEscalation: false,
            readOnlyRootFilesystem: true,
            capabilities: { drop: ["ALL"] },
          },
          resources: { requests: { cpu: "10m", memory: "16Mi" }, limits: { cpu: "500m", memory: "64Mi" } },
          volumeMounts: [{ name: "workspace", mountPath: mountPaths.workspace, readOnly: true }],
        },
      ],
      volumes: [
        {
          name: "workspace",
          persistentVolumeClaim: { claimName: workspaceClaimName(film.name), readOnly: true },
        },
      ],
    },
  };
}
