/**
 * The short result a render pod leaves in its termination message (the runtime's, or kwok's imitation of it).
 * Parsed leniently: a message that is not the contract's JSON is a result with an error, never an exception.
 */

export interface SegmentResult {
  /** Digest of the latents the pod wrote for its successor. */
  readonly outputDigest?: string;
  /** Digest of the latents it consumed, as the runtime verified them. */
  readonly inputDigest?: string;
  readonly frames?: number;
  readonly seconds?: number;
  readonly error?: string;
}

const stringField = (value: unknown): string | undefined => (typeof value === "string" ? value : undefined);
const numberField = (value: unknown): number | undefined =>
  typeof value === "number" && Number.isFinite(value) ? value : undefined;

/** Reads a termination message; `undefined` when there is none at all. */
export function segmentResult(message: string | undefined): SegmentResult | undefined {
  if (message === undefined || message.trim() === "") return undefined;
  let parsed: unknown;
  try {
    parsed = JSON.parse(message);
  } catch {
    return { error: message.trim().slice(0, 512) };
  }
  if (typeof parsed !== "object" || parsed === null) return { error: message.trim().slice(0, 512) };
  const fields = parsed as Record<string, unknown>;
  const result: {
    outputDigest?: string;
    inputDigest?: string;
    frames?: number;
    seconds?: number;
    error?: string;
  } = {};
  const output = stringField(fields.latentsDigest) ?? stringField(fields.outputDigest);
  if (output !== undefined) result.outputDigest = output;
  const input = stringField(fields.inputDigest);
  if (input !== undefined) result.inputDigest = input;
  const frames = numberField(fields.frames);
  if (frames !== undefined) result.frames = frames;
  const seconds = numberField(fields.seconds);
  if (seconds !== undefined) result.seconds = seconds;
  const error = stringField(fields.error) ?? stringField(fields.message);
  if (error !== undefined) result.error = error;
  return result;
}
