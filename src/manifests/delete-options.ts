/**
 * The DeleteOptions of every delete the operator makes. A delete names the UID of the object it was decided
 * about: decided from a cache, or sent by a replica whose leadership ended while the request was on the wire, it
 * must not delete an object made again under the same name since (the API server answers 409 Conflict instead).
 */

/** How the garbage collector treats what the deleted object owns (a Job's pods). */
export type PropagationPolicy = "Background" | "Foreground" | "Orphan";

export function deleteOptions(uid: string, propagationPolicy?: PropagationPolicy): Record<string, unknown> {
  return {
    apiVersion: "v1",
    kind: "DeleteOptions",
    // An unknown UID ("") would match no object at all: such a delete could never succeed.
    ...(uid === "" ? {} : { preconditions: { uid } }),
    ...(propagationPolicy === undefined ? {} : { propagationPolicy }),
  };
}
