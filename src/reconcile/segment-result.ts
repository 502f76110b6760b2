/**
 * The short result a render pod leaves in its termination message (the runtime's, or kwok's imitation of it),
 * read by the field names the runtime contract gives and no others. Parsed leniently: a message that is not the
 * contract's JSON is a result with an error, never an exception.
 */
import type { terminationMessage } from "../api/runtime-contract.ts";

export interface SegmentResult {
  /** Digest of the latents the pod wrote for its successor (`latentsDigest`). */
  readonly outputDigest?: string;
  /** Digest of the latents it consumed, as the runtime verified them. */
  readonly inputDigest?: string;
  readonly frames?: number;
  readonly seconds?: number;
  readonly error?: string;
  /** With exit code 3: the first segment whose hand-off or clip the pod found missing or corrupt. */
  readonly missingSegment?: number;
  /** A concatenation's contact sheet (one poster frame per segment), when it wrote one. */
  readonly contactSheet?: string;
}

/** A field some termination message of the contract carries. */
type TerminationField = (typeof terminationMessage)[keyof Omit<typeof terminationMessage, "maxBytes">][number];

/** The contract's field each part of a result is read from. */
export const resultFields = {
  outputDigest: "latentsDigest",
  inputDigest: "inputDigest",
  frames: "frames",
  seconds: "seconds",
  error: "error",
  missingSegment: "missingSegment",
  contactSheet: "contactSheet",
} as const satisfies Record<keyof SegmentResult, TerminationField>;

/** Kubernetes keeps the first 4096 bytes; a stray message is quoted shorter still. */
const maxQuoted = 512;

const stringField = (value: unknown): string | undefined => (typeof value === "string" ? value : undefined);
const numberField = (value: unknown): number | undefined =>
  typeof value === "number" && Number.isFinite(value) ? value : undefined;

/** Reads a termination message; `undefined` when there is none at all. */
export function segmentResult(message: string | undefined): SegmentResult | undefined {
  if (message === undefined || message.trim() === "") return undefined;
  const fields = jsonObject(message);
  if (!fields) return { error: message.trim().slice(0, maxQuoted) };
  const result: { -readonly [K in keyof SegmentResult]: SegmentResult[K] } = {};
  const output = stringField(fields[resultFields.outputDigest]);
  if (output !== undefined) result.outputDigest = output;
  const input = stringField(fields[resultFields.inputDigest]);
  if (input !== undefined) result.inputDigest = input;
  const frames = numberField(fields[resultFields.frames]);
  if (frames !== undefined) result.frames = frames;
  const seconds = numberField(fields[resultFields.seconds]);
  if (seconds !== undefined) result.seconds = seconds;
  const error = stringField(fields[resultFields.error]);
  if (error !== undefined) result.error = error;
  const missing = numberField(fields[resultFields.missingSegment]);
  if (missing !== undefined && Number.isInteger(missing)) result.missingSegment = missing;
  const sheet = stringField(fields[resultFields.contactSheet]);
  if (sheet !== undefined) result.contactSheet = sheet;
  return result;
}

function jsonObject(text: string): Record<string, unknown> | undefined {
  try {
    const parsed: unknown = JSON.parse(text);
    return typeof parsed === "object" && parsed !== null ? (parsed as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}
