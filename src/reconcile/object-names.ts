/**
 * The names of everything the operator creates for a film. Deterministic: the same film, segment, inputs and
 * attempt always give the same name, so a repeated decision (a crash, a stale cache) collides with AlreadyExists
 * instead of creating a twin. Job names carry the film's UID, so a film re-created under the same name (after
 * its jobs were orphaned) never collides with, or adopts, the old film's jobs. Every name fits Kubernetes'
 * 63-character limit; a film name cut to fit is followed by a digest of the whole name, so two long names that
 * share a prefix never share a claim or a job.
 */
import { maxLabelLength } from "../api/kubernetes-formats.ts";

/** The film a name is made for. */
export interface NamedFilm {
  readonly name: string;
  readonly uid: string;
}

/** The Job of one attempt at one segment, for the inputs it consumes (in the workspace claim `workspaceUid`). */
export function segmentJobName(
  film: NamedFilm,
  index: number,
  hash: string,
  inputDigest: string,
  attempt: number,
  workspaceUid = "",
): string {
  const key = shortDigest(`${film.uid}|${hash}|${inputDigest}${workspaceScope(workspaceUid)}`);
  return fitted(film.name, `-s${String(index)}-${key}-a${String(attempt)}`);
}

/** The Job of one attempt at concatenating the film whose content hash is `hash`, from the chain ending in `finalDigest`. */
export function concatJobName(
  film: NamedFilm,
  hash: string,
  finalDigest: string,
  attempt: number,
  workspaceUid = "",
): string {
  const key = shortDigest(`${film.uid}|${hash}|${finalDigest}${workspaceScope(workspaceUid)}`);
  return fitted(film.name, `-concat-${key}-a${String(attempt)}`);
}

/** The Job of one attempt at reading the film's inputs whose sources have the digest `key`. */
export function probeJobName(film: NamedFilm, key: string, attempt: number): string {
  return fitted(film.name, `-probe-${shortDigest(`${film.uid}|${key}`)}-a${String(attempt)}`);
}

/**
 * The film's workspace claim: one per film, named after it and not its UID, so a film re-created under the same
 * name finds a workspace that an earlier one retained.
 */
export function workspaceClaimName(film: string): string {
  return fitted(film, "-workspace");
}

/** A new workspace claim (the old one deleted) starts every attempt afresh, under names of its own. */
function workspaceScope(workspaceUid: string): string {
  return workspaceUid === "" ? "" : `|${workspaceUid}`;
}

function fitted(film: string, suffix: string): string {
  if (film.length + suffix.length <= maxLabelLength) return `${film}${suffix}`;
  const digest = `-${shortDigest(film)}`;
  return `${film.slice(0, maxLabelLength - suffix.length - digest.length)}${digest}${suffix}`;
}

/** Eight hex characters of FNV-1a: enough to tell a film's few objects apart, and cheap. */
export function shortDigest(text: string): string {
  let hash = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    hash ^= text.charCodeAt(i);
    hash = Math.imul(hash, 0x01000193) >>> 0;
  }
  return hash.toString(16).padStart(8, "0");
}
