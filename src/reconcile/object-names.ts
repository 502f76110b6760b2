/**
 * The names of everything the operator creates for a film. Deterministic: the same segment, inputs and attempt
 * always give the same name, so a repeated decision (a crash, a stale cache) collides with AlreadyExists instead
 * of creating a twin. Every name is cut to Kubernetes' 63-character limit keeping its suffix, which carries the
 * identity.
 */
import { maxLabelLength } from "../api/kubernetes-formats.ts";

/** The Job of one attempt at one segment, for the inputs it consumes. */
export function segmentJobName(
  film: string,
  index: number,
  hash: string,
  inputDigest: string,
  attempt: number,
): string {
  const key = shortDigest(`${hash}|${inputDigest}`);
  return fitted(film, `-s${String(index)}-${key}-a${String(attempt)}`);
}

/** The Job of one attempt at concatenating the film whose content hash is `hash`. */
export function concatJobName(film: string, hash: string, attempt: number): string {
  return fitted(film, `-concat-${shortDigest(hash)}-a${String(attempt)}`);
}

/** The film's workspace claim: one per film, named after it. */
export function workspaceClaimName(film: string): string {
  return fitted(film, "-workspace");
}

function fitted(film: string, suffix: string): string {
  return `${film.slice(0, maxLabelLength - suffix.length)}${suffix}`;
}

/** Eight hex characters of FNV-1a: enough to tell a film's few jobs apart, and cheap. */
function shortDigest(text: string): string {
  let hash = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    hash ^= text.charCodeAt(i);
    hash = Math.imul(hash, 0x01000193) >>> 0;
  }
  return hash.toString(16).padStart(8, "0");
}
