/**
 * zod issues phrased the way the Kubernetes API server phrases field errors (`spec.render.fps: Invalid value: 61:
 * should be less than or equal to 60`), so the CLI and the reconciler's InvalidSpec condition read like
 * `kubectl apply` would.
 */
import type * as z from "zod";
import type { CelReason } from "./cel-rules.ts";

/** The error kinds of Kubernetes' field errors that a LongVideo can produce. */
export type FieldErrorType =
  | "Required value"
  | "Invalid value"
  | "Unsupported value"
  | "Forbidden"
  | "Duplicate value"
  | "Too long"
  | "Too many"
  | "Unknown field";

/** One field error: where, what kind, the offending value (when there is one to show), and why. */
export interface FieldError {
  /** The field path as the API server writes it: `spec.storyline[0].clips`. */
  readonly field: string;
  readonly type: FieldErrorType;
  readonly value?: string;
  readonly detail: string;
}

/** `field: Type: value: detail`, the line the API server writes for one field error. */
export function fieldErrorLine(error: FieldError): string {
  if (error.type === "Unknown field") return `unknown field "${error.field}"`;
  const value = error.value === undefined ? "" : `: ${error.value}`;
  const detail = error.detail === "" ? "" : `: ${error.detail}`;
  return `${error.field}: ${error.type}${value}${detail}`;
}

/** The whole rejection, as `kubectl` prints it for an invalid object. */
export function invalidObjectMessage(kind: string, name: string, errors: readonly FieldError[]): string {
  const lines = errors.map(fieldErrorLine);
  if (lines.length === 1) return `The ${kind} "${name}" is invalid: ${lines[0] ?? ""}`;
  return `The ${kind} "${name}" is invalid: \n${lines.map((line) => `* ${line}`).join("\n")}`;
}

/**
 * A zod path as a Kubernetes field path: fields and map keys joined by dots, list indices in brackets
 * (`spec.storyline[0].prompt`, `spec.gpu.nodeSelector.longvideo.dev/pool`), as the API server writes them.
 */
export function fieldPath(path: readonly PropertyKey[]): string {
  let text = "";
  for (const segment of path) {
    if (typeof segment === "number") text += `[${String(segment)}]`;
    else text += text === "" ? String(segment) : `.${String(segment)}`;
  }
  return text;
}

function valueAt(root: unknown, path: readonly PropertyKey[]): unknown {
  let value = root;
  for (const segment of path) {
    if (typeof value !== "object" || value === null) return undefined;
    value = (value as Record<PropertyKey, unknown>)[segment];
  }
  return value;
}

function jsonType(value: unknown): string {
  if (value === null) return "null";
  if (Array.isArray(value)) return "array";
  return typeof value === "number" ? (Number.isInteger(value) ? "integer" : "number") : typeof value;
}

/** How the API server shows a value: objects and lists by their type, scalars as JSON. */
function shown(value: unknown): string | undefined {
  if (value === undefined) return undefined;
  if (Array.isArray(value)) return '"array"';
  if (typeof value === "object") return value === null ? "null" : '"object"';
  return JSON.stringify(value);
}

const reasonType: Record<CelReason, FieldErrorType> = {
  FieldValueInvalid: "Invalid value",
  FieldValueRequired: "Required value",
  FieldValueForbidden: "Forbidden",
  FieldValueDuplicate: "Duplicate value",
};

function celReason(issue: z.core.$ZodIssue): CelReason {
  const reason = issue.code === "custom" ? (issue.params as { reason?: CelReason } | undefined)?.reason : undefined;
  return reason ?? "FieldValueInvalid";
}

function oneError(issue: z.core.$ZodIssue, input: unknown, prefix: readonly PropertyKey[]): FieldError[] {
  const path = [...prefix, ...issue.path];
  const field = fieldPath(path);
  const raw = valueAt(input, issue.path);
  const value = shown(raw);
  const at = (detail: string): FieldError => ({
    field,
    type: "Invalid value",
    ...(value === undefined ? {} : { value }),
    detail,
  });
  switch (issue.code) {
    case "invalid_type":
      if (raw === undefined) return [{ field, type: "Required value", detail: "" }];
      // The API server names the JSON type it found, not the value.
      return [
        {
          field,
          type: "Invalid value",
          value: `"${jsonType(raw)}"`,
          detail: `${field} in body must be of type ${issue.expected}: "${jsonType(raw)}"`,
        },
      ];
    case "too_big":
      return [tooBig(issue, field, raw, at)];
    case "too_small":
      return [tooSmall(issue, field, raw, at)];
    case "not_multiple_of":
      return [at(`${field} in body should be a multiple of ${String(issue.divisor)}`)];
    case "invalid_format":
      return [
        at(
          issue.format === "regex" && issue.pattern
            ? `${field} in body should match '${regexSource(issue.pattern)}'`
            : `${field} in body must be of type ${issue.format}`,
        ),
      ];
    case "invalid_value":
      return [
        {
          field,
          type: "Unsupported value",
          ...(value === undefined ? {} : { value }),
          detail: `supported values: ${issue.values.map((v) => JSON.stringify(v)).join(", ")}`,
        },
      ];
    case "unrecognized_keys":
      return issue.keys.map((key) => ({ field: fieldPath([...path, key]), type: "Unknown field", detail: "" }));
    case "invalid_key":
      return issue.issues.flatMap((inner) =>
        oneError({ ...inner, path: [...issue.path, ...inner.path] }, input, prefix).map((e) => ({
          ...e,
          value: JSON.stringify(issue.path[issue.path.length - 1]),
        })),
      );
    case "invalid_element":
      return issue.issues.flatMap((inner) =>
        oneError({ ...inner, path: [...issue.path, ...inner.path] }, input, prefix),
      );
    case "custom":
      return [celError(issue, field)];
    case "invalid_union":
      return [at(issue.message)];
  }
}

function tooBig(
  issue: z.core.$ZodIssueTooBig,
  field: string,
  raw: unknown,
  at: (detail: string) => FieldError,
): FieldError {
  const max = String(issue.maximum);
  if (issue.origin === "string") return { field, type: "Too long", detail: `may not be more than ${max} bytes` };
  if (issue.origin === "array" || issue.origin === "record" || issue.origin === "object") {
    const count = Array.isArray(raw) ? raw.length : typeof raw === "object" && raw ? Object.keys(raw).length : 0;
    return { field, type: "Too many", value: String(count), detail: `must have at most ${max} items` };
  }
  return at(`${field} in body should be less than ${issue.inclusive ? "or equal to " : ""}${max}`);
}

function tooSmall(
  issue: z.core.$ZodIssueTooSmall,
  field: string,
  raw: unknown,
  at: (detail: string) => FieldError,
): FieldError {
  const min = String(issue.minimum);
  if (issue.origin === "string") return at(`${field} in body should be at least ${min} chars long`);
  if (issue.origin === "array") {
    const count = Array.isArray(raw) ? String(raw.length) : "0";
    return { field, type: "Invalid value", value: count, detail: `${field} in body should have at least ${min} items` };
  }
  return at(`${field} in body should be greater than ${issue.inclusive ? "or equal to " : ""}${min}`);
}

/** The API server shows a failed CEL rule's message, after the value when the rule's subject is a scalar. */
function celError(issue: z.core.$ZodIssueCustom, field: string): FieldError {
  const scalar = (issue.params as { value?: unknown } | undefined)?.value;
  const type = reasonType[celReason(issue)];
  if (scalar === undefined || type !== "Invalid value") return { field, type, detail: issue.message };
  return { field, type, value: JSON.stringify(scalar), detail: issue.message };
}

function regexSource(pattern: string): string {
  // zod reports a RegExp as `/source/flags`; the API server shows the bare pattern.
  const match = /^\/(.*)\/[a-z]*$/s.exec(pattern);
  return match?.[1] ?? pattern;
}

/**
 * The zod issues of a failed parse as field errors. `input` is what was parsed (to show offending values), and
 * `prefix` the path of that input in the whole object (`["spec"]` when a spec alone was parsed).
 */
export function fieldErrors(
  issues: readonly z.core.$ZodIssue[],
  input: unknown,
  prefix: readonly PropertyKey[] = [],
): FieldError[] {
  return issues.flatMap((issue) => oneError(issue, input, prefix));
}
