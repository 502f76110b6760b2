/**
 * A film's workspace claim: where its segments, hand-offs and the film itself are written. Owned by the film (a
 * controller reference), so it goes with the film unless the retention policy releases it first.
 */
import type { WorkspaceIntent } from "../reconcile/film-snapshot.ts";
import { filmLabels, filmOwner } from "./film-owner.ts";
import type { FilmRef } from "./film-owner.ts";

export function workspaceClaim(film: FilmRef, workspace: WorkspaceIntent): Record<string, unknown> {
  return {
    apiVersion: "v1",
    kind: "PersistentVolumeClaim",
    metadata: {
      name: workspace.claimName,
      namespace: film.namespace,
      labels: filmLabels(film),
      ownerReferences: [{ ...filmOwner(film), controller: true, blockOwnerDeletion: true }],
    },
    spec: {
      accessModes: [workspace.accessMode],
      resources: { requests: { storage: workspace.size } },
      ...(workspace.storageClassName ? { storageClassName: workspace.storageClassName } : {}),
    },
  };
}
