/** The film as the owner, and the subject, of everything the operator makes for it. */
import { longVideoApiVersion, longVideoResource } from "../api/long-video.ts";
import { managedByValue, operatorLabels } from "../api/operator-labels.ts";
import type { ObservedFilm } from "../reconcile/film-snapshot.ts";

/** The identity of a film that objects made for it carry. */
export type FilmRef = Pick<ObservedFilm, "name" | "namespace" | "uid">;

export interface OwnerReference {
  readonly apiVersion: string;
  readonly kind: string;
  readonly name: string;
  readonly uid: string;
}

export function filmOwner(film: FilmRef): OwnerReference {
  return { apiVersion: longVideoApiVersion, kind: longVideoResource.kind, name: film.name, uid: film.uid };
}

/** The labels every object made for the film carries: the informers select and index by them. */
export function filmLabels(film: FilmRef): Record<string, string> {
  return { [operatorLabels.managedBy]: managedByValue, [operatorLabels.film]: film.name };
}
