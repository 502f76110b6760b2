/**
 * The chart's README.md, written the way helm-docs writes one: `README.md.gotmpl` with its `chart.*` templates filled
 * in, and a values table of every key of `values.yaml`: its type (from `values.schema.json` where it says), its
 * default, and the comment above it. `scripts/generate.ts` writes it; `npm run generate:check` fails when stale.
 */
import { isMap, isScalar, parseDocument } from "yaml";
import type { Node, Pair, YAMLMap } from "yaml";

/** One row of the values table. */
export interface ValueRow {
  readonly key: string;
  readonly type: string;
  /** The default, as JSON. */
  readonly defaultJson: string;
  readonly description: string;
}

/** The parts of a JSON schema the table reads. */
interface SchemaNode {
  readonly type?: string | readonly string[];
  readonly enum?: readonly unknown[];
  readonly description?: string;
  readonly properties?: Readonly<Record<string, SchemaNode>>;
}

const schemaTypes: Readonly<Record<string, string>> = {
  integer: "int",
  number: "float",
  boolean: "bool",
  string: "string",
  array: "list",
  object: "object",
};

function inferredType(value: unknown): string {
  if (Array.isArray(value)) return "list";
  if (value === null) return "string";
  if (typeof value === "number") return Number.isInteger(value) ? "int" : "float";
  if (typeof value === "boolean") return "bool";
  return typeof value === "object" ? "object" : "string";
}

function typeOf(schema: SchemaNode | undefined, value: unknown): string {
  if (schema?.enum) return "string";
  const declared = schema?.type;
  const type: string | undefined = typeof declared === "string" ? declared : declared?.[0];
  return (typeof type === "string" ? schemaTypes[type] : undefined) ?? inferredType(value);
}

/** A comment block as one line of prose: `#` and helm-docs' `-- ` marker removed. */
function prose(comment: string | null | undefined): string {
  if (!comment) return "";
  return comment
    .split("\n")
    .map((line) => line.trim().replace(/^-- /, ""))
    .join(" ")
    .replace(/\s+/g, " ")
    .trim();
}

/**
 * Every leaf of `values.yaml` (a scalar, a list, an empty map) by its dotted key; a map with content is walked
 * into. A key's comment is the one right above it (yaml keeps the first key's on its map).
 */
export function valueRows(valuesYaml: string, schema: SchemaNode): ValueRow[] {
  const document = parseDocument(valuesYaml);
  const rows: ValueRow[] = [];
  // A key without a comment of its own inside a commented map (`resources.requests: {cpu, memory}`) takes the map's.
  const walk = (map: YAMLMap, prefix: string, schemaNode: SchemaNode | undefined, inherited: string) => {
    map.items.forEach((item, index) => {
      const pair = item as Pair<Node, Node | null>;
      if (!isScalar(pair.key)) return;
      const name = String(pair.key.value);
      const key = prefix === "" ? name : `${prefix}.${name}`;
      const propertySchema = schemaNode?.properties?.[name];
      const comment = pair.key.commentBefore ?? (index === 0 ? map.commentBefore : undefined);
      if (isMap(pair.value) && pair.value.items.length > 0) {
        walk(pair.value, key, propertySchema, prose(comment) || inherited);
        return;
      }
      const value: unknown = pair.value === null ? null : pair.value.toJSON();
      rows.push({
        key,
        type: typeOf(propertySchema, value),
        defaultJson: JSON.stringify(value),
        description: prose(comment) || (propertySchema?.description ?? inherited),
      });
    });
  };
  if (isMap(document.contents)) walk(document.contents, "", schema, "");
  return rows;
}

const cell = (text: string) => text.replace(/\|/g, "\\|");

/** The values table in helm-docs' layout. */
export function valuesTable(rows: readonly ValueRow[]): string {
  return [
    "| Key | Type | Default | Description |",
    "|-----|------|---------|-------------|",
    ...rows.map(
      (row) => `| ${cell(row.key)} | ${row.type} | \`${cell(row.defaultJson)}\` | ${cell(row.description)} |`,
    ),
  ].join("\n");
}

/** The chart's README: the template with helm-docs' `{{ template "chart.*" . }}` calls filled in. */
export function chartReadme(
  template: string,
  chart: { readonly name: string; readonly version: string; readonly appVersion: string; readonly description: string },
  valuesYaml: string,
  schema: SchemaNode,
): string {
  const parts: Readonly<Record<string, string>> = {
    "chart.name": chart.name,
    "chart.version": chart.version,
    "chart.appVersion": chart.appVersion,
    "chart.description": chart.description,
    "chart.valuesTable": valuesTable(valueRows(valuesYaml, schema)),
  };
  return template.replace(/\{\{ template "([a-zA-Z.]+)" \. \}\}/g, (call, name: string) => {
    const part = parts[name];
    if (part === undefined) throw new Error(`README.md.gotmpl: no template ${name}`);
    return part;
  });
}
