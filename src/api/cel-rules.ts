/**
 * Cross-field rules written once and enforced twice: as CEL `x-kubernetes-validations` by the API server, and as
 * zod refinements wherever a manifest is validated before it reaches the cluster (the planner, the CLI, the
 * reconciler's intent). Each rule carries both forms side by side so a reviewer compares them in one place, and the
 * property test in `test/integration/api-crd.test.ts` holds them to the same verdict.
 */
import * as z from "zod";

/** How the API server classifies a violated rule; it chooses the phrase in front of the message. */
export type CelReason = "FieldValueInvalid" | "FieldValueRequired" | "FieldValueForbidden" | "FieldValueDuplicate";

/** One `x-kubernetes-validations` rule together with the same rule as a TypeScript predicate. */
export interface CelRule<T> {
  /** CEL over `self`, the value of the schema the rule is attached to (after Kubernetes applied defaults). */
  readonly rule: string;
  /** What a person reads when the rule fails; it says what to change, not what the expression is. */
  readonly message: string;
  /** Where the violation is reported, relative to `self` (`.storyline`, `.motionFrames`); `self` when absent. */
  readonly fieldPath?: string;
  readonly reason?: CelReason;
  /** The rule in TypeScript: true when `self` satisfies it. */
  readonly holds: (self: T) => boolean;
}

/** The CRD form of a rule, as it appears under `x-kubernetes-validations`. */
export interface CrdValidationRule {
  readonly rule: string;
  readonly message: string;
  readonly fieldPath?: string;
  readonly reason?: CelReason;
}

/**
 * The registry the CRD generator reads rules from. It is separate from zod's global registry so that only
 * schemas built with {@link celValidated} contribute rules, and each rule appears exactly where it was attached.
 */
export const celRuleRegistry = z.registry<{ readonly rules: readonly CrdValidationRule[] }>();

/** `.a.b` (a CEL fieldPath of plain field names) as a zod issue path. */
export function fieldPathSegments(fieldPath: string | undefined): string[] {
  if (fieldPath === undefined || fieldPath === "") return [];
  if (!/^(\.[A-Za-z_][A-Za-z0-9_]*)+$/.test(fieldPath)) {
    throw new Error(`fieldPath ${fieldPath} must be a chain of plain field names such as .render.motionFrames`);
  }
  return fieldPath.slice(1).split(".");
}

/**
 * `schema`, refined by `rules` for zod and registered so that the CRD generator emits them as CEL. Attach it last
 * in a chain: `.meta()` or `.default()` after it create a new schema the registry does not know.
 */
export function celValidated<S extends z.ZodType>(schema: S, rules: readonly CelRule<z.output<S>>[]): S {
  const refined = schema.superRefine((value, ctx) => {
    for (const rule of rules) {
      if (!rule.holds(value)) {
        ctx.addIssue({
          code: "custom",
          message: rule.message,
          path: fieldPathSegments(rule.fieldPath),
          // The API server shows the offending value when the rule's own subject is a scalar.
          params: {
            reason: rule.reason ?? "FieldValueInvalid",
            ...(rule.fieldPath === undefined && typeof value !== "object" ? { value } : {}),
          },
        });
      }
    }
  });
  // A registry entry of a clone replaces, not extends, what the clone inherits: carry earlier rules over.
  const inherited = celRuleRegistry.get(schema)?.rules ?? [];
  celRuleRegistry.add(refined, {
    rules: [
      ...inherited,
      ...rules.map(({ rule, message, fieldPath, reason }) => ({
        rule,
        message,
        ...(fieldPath === undefined ? {} : { fieldPath }),
        ...(reason === undefined ? {} : { reason }),
      })),
    ],
  });
  return refined;
}
