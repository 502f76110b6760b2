/**
 * An events.k8s.io/v1 Event about a film. Named after what it says about which version of the film: a reconcile
 * that decides the same thing again from a cache that has not seen its own status write yet gets AlreadyExists
 * instead of posting a duplicate.
 */
import { createHash } from "node:crypto";
import { fieldManager, reportingController } from "../api/operator-labels.ts";
import type { EventType } from "../reconcile/film-snapshot.ts";
import { filmOwner } from "./film-owner.ts";
import type { FilmRef } from "./film-owner.ts";

/** What an event says. */
export interface FilmEventNote {
  readonly type: EventType;
  readonly reason: string;
  readonly message: string;
}

/** Kubernetes keeps an event's note to 1 KiB. */
const maxNoteLength = 1024;
/** Room for the digest and the dot in a 63-character name. */
const maxNamePrefix = 46;

export function filmEvent(
  film: FilmRef & { readonly generation: number },
  note: FilmEventNote,
  now: Date,
): Record<string, unknown> {
  const digest = createHash("sha256")
    .update(JSON.stringify([film.uid, film.generation, note.type, note.reason, note.message]))
    .digest("hex")
    .slice(0, 16);
  return {
    apiVersion: "events.k8s.io/v1",
    kind: "Event",
    metadata: { name: `${film.name.slice(0, maxNamePrefix)}.${digest}`, namespace: film.namespace },
    eventTime: microTime(now),
    reportingController,
    reportingInstance: fieldManager,
    action: note.reason,
    reason: note.reason,
    note: note.message.slice(0, maxNoteLength),
    type: note.type,
    regarding: { ...filmOwner(film), namespace: film.namespace },
  };
}

/** metav1.MicroTime: RFC 3339 with microseconds. */
function microTime(date: Date): string {
  return date.toISOString().replace(/\.(\d{3})Z$/, ".$1000Z");
}
