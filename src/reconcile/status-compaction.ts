/**
 * The status as written and as read. A film may have 4096 segments, and 4096 whole records (times, node, digests
 * and hashes, about 450 bytes each) would pass etcd's 1.5 MiB limit on one object. So the settled head of the
 * chain is written compactly: `status.renderedSegments[i]` is `attempt/handoffLosses/hash16/outputDigest` of
 * segment i, and whole records stay in `status.segments` only for the last {@link detailedSegments} rendered
 * segments and whatever follows them (the one in flight). A segment that consumed nothing though it is not the
 * first (a keyframed chain's start, docs/adr/0025) has its hash marked with a leading `-`: the others consumed the
 * output of the entry before them. The reconciler always works on whole records: what the
 * compact form leaves out (times, node, frames, failures) no decision needs for a settled segment.
 */
import type { FilmStatus, SegmentRecord } from "./film-snapshot.ts";

/** Rendered segments kept as whole records: enough for the ETA's mean and for a person reading the status. */
export const detailedSegments = 32;

/** Characters of a segment's plan hash a compact entry keeps: enough to notice an edit. */
const hashPrefix = 16;

const entryPattern = /^(\d+)\/(\d+)\/([0-9a-zA-Z_-]+)\/(\S+)$/;

/** The status to write: the settled head of the chain compact, the rest whole. */
export function compactedStatus(status: FilmStatus): FilmStatus {
  const records = [...(status.segments ?? [])].sort((a, b) => a.index - b.index);
  const head = settledHead(records);
  const compact = Math.max(0, head - detailedSegments);
  const rest = { ...status };
  delete rest.renderedSegments;
  if (compact === 0) return rest;
  return {
    ...rest,
    renderedSegments: records.slice(0, compact).map(compactEntry),
    segments: records.slice(compact),
  };
}

/** The status as the reconciler reads it: every compact entry made a whole record again. */
export function expandedStatus(status: FilmStatus): FilmStatus {
  const entries = status.renderedSegments;
  if (!entries || entries.length === 0) return status;
  const expanded: SegmentRecord[] = [];
  let inputDigest = "";
  for (const [index, entry] of entries.entries()) {
    const record = expandedEntry(entry, index, chainStartMark.test(entry) ? "" : inputDigest);
    // An entry that does not read is a segment not rendered: the chain ends before it.
    if (!record) break;
    expanded.push(record);
    inputDigest = record.outputDigest ?? "";
  }
  const rest = { ...status };
  delete rest.renderedSegments;
  const detailed = (status.segments ?? []).filter((r) => r.index >= expanded.length);
  return { ...rest, segments: [...expanded, ...detailed] };
}

/** Whether a record's plan hash, whole or cut short in a compact entry, is this segment's. */
export function samePlanHash(recorded: string, planned: string): boolean {
  return recorded === planned || (recorded.length >= hashPrefix && planned.startsWith(recorded));
}

/** How many records from segment 0 on are rendered, one after another. */
function settledHead(records: readonly SegmentRecord[]): number {
  let head = 0;
  while (records[head]?.index === head && records[head]?.state === "Succeeded" && records[head]?.outputDigest) head++;
  return head;
}

/** An entry whose hash is marked: its segment starts a chain and consumed nothing. */
const chainStartMark = /^\d+\/\d+\/-/;

function compactEntry(record: SegmentRecord): string {
  const losses = String(record.handoffLosses ?? 0);
  const mark = record.index > 0 && (record.inputDigest ?? "") === "" ? "-" : "";
  return `${String(record.attempt)}/${losses}/${mark}${record.hash.slice(0, hashPrefix)}/${record.outputDigest ?? ""}`;
}

function expandedEntry(entry: string, index: number, inputDigest: string): SegmentRecord | undefined {
  const match = entryPattern.exec(entry);
  if (!match) return undefined;
  const [, attempt = "0", losses = "0", hash = "", outputDigest = ""] = match;
  return {
    index,
    attempt: Number(attempt),
    ...(Number(losses) > 0 ? { handoffLosses: Number(losses) } : {}),
    state: "Succeeded",
    hash: hash.replace(/^-/, ""),
    inputDigest,
    outputDigest,
  };
}
