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
  /** Seconds per phase of the render (docs/adr/0026): ready, wait, denoise, decode, encode. */
  readonly phases?: Readonly<Partial<Record<PhaseName, number>>>;
  /** When it committed its hand-off, and when it started denoising (ISO 8601). */
  readonly committedAt?: string;
  readonly denoiseStartedAt?: string;
}

/** The phases a worker reports, in the order they run. */
export const phaseNames = ["ready", "wait", "denoise", "decode", "encode"] as const;
export type PhaseName = (typeof phaseNames)[number];

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
  phases: "phases",
  committedAt: "committedAt",
  denoiseStartedAt: "denoiseStartedAt",
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
  const phases = phasesField(fields[resultFields.phases]);
  if (phases !== undefined) result.phases = phases;
  const committed = instantField(fields[resultFields.committedAt]);
  if (committed !== undefined) result.committedAt = committed;
  const denoising = instantField(fields[resultFields.denoiseStartedAt]);
  if (denoising !== undefined) result.denoiseStartedAt = denoising;
  return result;
}

/** The phases a message reports, each a finite non-negative number; none when it reports none. */
function phasesField(value: unknown): Partial<Record<PhaseName, number>> | undefined {
  if (typeof value !== "object" || value === null) return undefined;
  const reported = value as Record<string, unknown>;
  const phases: Partial<Record<PhaseName, number>> = {};
  for (const name of phaseNames) {
    const seconds = numberField(reported[name]);
    if (seconds !== undefined && seconds >= 0) phases[name] = Math.round(seconds * 1000) / 1000;
  }
  return Object.keys(phases).length === 0 ? undefined : phases;
}

/** An ISO 8601 instant, normalised as the API's timestamps are written; none when it does not parse. */
function instantField(value: unknown): string | undefined {
  const text = stringField(value);
  if (text === undefined) return undefined;
  const ms = Date.parse(text);
  return Number.isNaN(ms) ? undefined : new Date(ms).toISOString();
}

function jsonObject(text: string): Record<string, unknown> | undefined {
  try {
    const parsed: unknown = JSON.parse(text);
    return typeof parsed === "object" && parsed !== null ? (parsed as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}
