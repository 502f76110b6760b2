/**
 * zod schema -> Kubernetes structural schema. zod writes OpenAPI 3.0 JSON Schema; Kubernetes accepts a stricter
 * dialect for CRDs ("structural": every node typed, no references, no `additionalProperties` beside `properties`,
 * no `propertyNames`). The conversion inlines everything, drops what Kubernetes rejects or enforces differently,
 * adds the CEL rules registered with `celValidated`, and fails loudly on anything it cannot express, so a schema
 * construct the CRD cannot carry is found when generating, not when applying.
 */
import * as z from "zod";
import { celRuleRegistry } from "./cel-rules.ts";

/** A JSON Schema node as Kubernetes' JSONSchemaProps reads it (the subset this project produces). */
export interface StructuralSchema {
  description?: string;
  type?: "object" | "array" | "string" | "integer" | "number" | "boolean";
  format?: string;
  default?: unknown;
  enum?: readonly unknown[];
  properties?: Record<string, StructuralSchema>;
  required?: string[];
  additionalProperties?: StructuralSchema;
  items?: StructuralSchema;
  minimum?: number;
  maximum?: number;
  exclusiveMinimum?: boolean;
  exclusiveMaximum?: boolean;
  multipleOf?: number;
  minLength?: number;
  maxLength?: number;
  pattern?: string;
  minItems?: number;
  maxItems?: number;
  maxProperties?: number;
  "x-kubernetes-validations"?: unknown[];
  "x-kubernetes-list-type"?: string;
  "x-kubernetes-list-map-keys"?: string[];
  "x-kubernetes-preserve-unknown-fields"?: boolean;
}

const allowedKeys = new Set<string>([
  "description",
  "type",
  "format",
  "default",
  "enum",
  "properties",
  "required",
  "additionalProperties",
  "items",
  "minimum",
  "maximum",
  "exclusiveMinimum",
  "exclusiveMaximum",
  "multipleOf",
  "minLength",
  "maxLength",
  "pattern",
  "minItems",
  "maxItems",
  "maxProperties",
  "x-kubernetes-validations",
  "x-kubernetes-list-type",
  "x-kubernetes-list-map-keys",
  "x-kubernetes-preserve-unknown-fields",
]);

// The order keys appear in the YAML: what a reader looks for first.
const keyOrder = [...allowedKeys];

// Formats the API server validates itself; a pattern zod adds for them would only be a second, stricter opinion.
const serverFormats = new Set(["date-time"]);

function structural(node: Record<string, unknown>, path: string): StructuralSchema {
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(node)) {
    switch (key) {
      case "$schema":
      case "id":
        continue;
      case "properties": {
        const properties: Record<string, StructuralSchema> = {};
        for (const [name, child] of Object.entries(value as Record<string, Record<string, unknown>>)) {
          properties[name] = structural(child, `${path}.${name}`);
        }
        out.properties = properties;
        continue;
      }
      case "items":
        out.items = structural(value as Record<string, unknown>, `${path}[*]`);
        continue;
      case "additionalProperties":
        // `false` beside properties is implied by pruning; a schema is a map's value type.
        if (typeof value === "object" && value !== null) {
          out.additionalProperties = structural(value as Record<string, unknown>, `${path}[*]`);
        }
        continue;
      case "x-kubernetes-validations": {
        // A rule may reach a node twice (from a schema and from a clone of it made by `.meta()`); keep it once.
        const seen = new Set<string>();
        out[key] = (value as unknown[]).filter((rule) => {
          const text = JSON.stringify(rule);
          return seen.has(text) ? false : (seen.add(text), true);
        });
        continue;
      }
      case "pattern":
        if (typeof node.format === "string" && serverFormats.has(node.format)) continue;
        out.pattern = value;
        continue;
      default:
        if (!allowedKeys.has(key)) {
          throw new Error(`${path}: JSON Schema keyword ${key} cannot be expressed in a structural CRD schema`);
        }
        out[key] = value;
    }
  }
  return checkedNode(out, path);
}

/** A node in the API server's key order, once it is known to be structural. */
function checkedNode(out: Record<string, unknown>, path: string): StructuralSchema {
  if (out.type === undefined && out["x-kubernetes-preserve-unknown-fields"] !== true) {
    throw new Error(`${path}: every node of a structural schema needs a type`);
  }
  if (out.properties !== undefined && out.additionalProperties !== undefined) {
    throw new Error(`${path}: properties and additionalProperties cannot be combined`);
  }
  if (Array.isArray(out.required) && out.required.length === 0) delete out.required;
  const ordered: Record<string, unknown> = {};
  for (const key of keyOrder) if (key in out) ordered[key] = out[key];
  return ordered;
}

/**
 * The structural schema of a zod schema: OpenAPI 3.0 shapes of its input (so fields with defaults are optional
 * and carry their defaults), descriptions from `.meta()`, and CEL rules from `celValidated`.
 */
export function structuralSchema(schema: z.ZodType, path = "self"): StructuralSchema {
  const json = z.toJSONSchema(schema, {
    target: "openapi-3.0",
    io: "input",
    unrepresentable: "throw",
    cycles: "throw",
    reused: "inline",
    override: ({ zodSchema, jsonSchema }) => {
      // The API server checks a default against the schema's CEL rules as written, without filling in the
      // defaults nested in it; so an object's default is written out whole, exactly as zod completes it.
      if (zodSchema instanceof z.ZodPrefault) jsonSchema.default = zodSchema.parse(undefined);
      const rules = celRuleRegistry.get(zodSchema)?.rules;
      if (rules && rules.length > 0) {
        const target = jsonSchema as Record<string, unknown>;
        const existing = (target["x-kubernetes-validations"] as unknown[] | undefined) ?? [];
        target["x-kubernetes-validations"] = [...existing, ...rules];
      }
    },
  });
  return structural(json, path);
}
