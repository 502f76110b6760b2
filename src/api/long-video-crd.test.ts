// eslint-disable-next-line no-restricted-imports -- the staleness test compares with the committed file
import { readFileSync } from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";
import * as z from "zod";
import { crdYaml } from "./crd-yaml.ts";
import { longVideoCrd, longVideoOpenApiSchema } from "./long-video-crd.ts";
import { longVideoSpecSchema } from "./long-video-spec.ts";
import { segmentResourceDefaults } from "./segment-resources.ts";
import type { SegmentResources } from "./segment-resources.ts";
import type { StructuralSchema } from "./structural-schema.ts";
import { structuralSchema } from "./structural-schema.ts";

/** Every node of a schema with its path. */
function* nodes(schema: StructuralSchema, at = "$"): Generator<[string, StructuralSchema]> {
  yield [at, schema];
  for (const [name, child] of Object.entries(schema.properties ?? {})) yield* nodes(child, `${at}.${name}`);
  if (schema.items) yield* nodes(schema.items, `${at}[*]`);
  if (schema.additionalProperties) yield* nodes(schema.additionalProperties, `${at}{*}`);
}

describe("the LongVideo CRD", () => {
  const schema = longVideoOpenApiSchema();

  it("is committed as generated (run `npm run generate` when this fails)", () => {
    const committed = readFileSync(
      path.resolve(import.meta.dirname, "../../crds/longvideo.dev_longvideos.yaml"),
      "utf8",
    );
    expect(committed).toBe(crdYaml());
  });

  it("is structural: every node typed, no references, no combinators, no additionalProperties beside properties", () => {
    const text = JSON.stringify(schema);
    for (const keyword of ["$ref", "$defs", "$schema", "allOf", "anyOf", "oneOf", "propertyNames"]) {
      expect(text).not.toContain(`"${keyword}"`);
    }
    for (const [at, node] of nodes(schema)) {
      expect(node.type, at).toBeDefined();
      expect(node.properties !== undefined && node.additionalProperties !== undefined, at).toBe(false);
    }
  });

  it("describes every field of the spec", () => {
    const spec = schema.properties?.spec;
    if (!spec) throw new Error("no spec");
    const undescribed = [...nodes(spec, "spec")]
      .filter(([at]) => !at.includes(".affinity.") && !at.endsWith("[*]") && !at.endsWith("{*}"))
      .filter(([, node]) => node.description === undefined)
      .map(([at]) => at);
    expect(undescribed).toEqual([]);
  });

  it("bounds every string, list and map of the spec, which keeps CEL cost estimates low", () => {
    const spec = schema.properties?.spec;
    if (!spec) throw new Error("no spec");
    for (const [at, node] of nodes(spec, "spec")) {
      if (node.type === "string" && node.enum === undefined) expect(node.maxLength, at).toBeDefined();
      if (node.type === "array") expect(node.maxItems, at).toBeDefined();
      if (node.type === "object" && node.additionalProperties) expect(node.maxProperties, at).toBeDefined();
      if (node.type === "integer" || node.type === "number") expect(node.maximum, at).toBeDefined();
    }
  });

  it("carries object defaults whole, as zod completes them", () => {
    const spec = schema.properties?.spec?.properties;
    const parsed = longVideoSpecSchema.parse({
      referenceImage: { url: "https://example.com/a.png" },
      storyline: [{ prompt: "x", clips: 1 }],
      storage: { models: { claimName: "m" } },
    });
    expect(spec?.render?.default).toEqual(parsed.render);
    expect(spec?.retry?.default).toEqual(parsed.retry);
    expect(spec?.gpu?.default).toEqual(parsed.gpu);
    expect(spec?.output?.default).toEqual(parsed.output);
  });

  it("writes every CEL rule with a message", () => {
    const rules = [...nodes(schema)].flatMap(([at, node]) =>
      (node["x-kubernetes-validations"] ?? []).map((rule) => ({
        at,
        rule: rule as { rule: string; message?: string },
      })),
    );
    expect(rules.length).toBeGreaterThanOrEqual(15);
    for (const { at, rule } of rules) expect(rule.message, `${at}: ${rule.rule}`).toMatch(/\S/);
  });

  it("checks segment resources' requests against their limits, reporting the request's own field", () => {
    const resources = schema.properties?.spec?.properties?.resources;
    const rules = (resources?.["x-kubernetes-validations"] ?? []) as { rule: string; fieldPath?: string }[];
    expect(rules.map((r) => r.fieldPath)).toEqual([".requests.cpu", ".requests.memory", ".sharedMemory"]);
    for (const { rule } of rules)
      expect(rule).toMatch(/^!has\(.*\.compareTo\(quantity\(self\.limits\.(cpu|memory)\)\) <= 0$/);
  });

  it("tells, in spec.resources, the defaults the operator applies", () => {
    const description = schema.properties?.spec?.properties?.resources?.description ?? "";
    const figures = (r: SegmentResources) =>
      `${r.cpu.request}/${r.cpu.limit} CPU, ${r.memory.request}/${r.memory.limit}, ${r.sharedMemory}`;
    const { svi, animatic } = segmentResourceDefaults;
    expect(description).toContain(`svi shot and film ${figures(svi.film)} /dev/shm`);
    expect(svi.shot).toEqual(svi.film);
    expect(description).toContain(`svi pro ${figures(svi.pro)}`);
    expect(description).toContain(`animatic ${figures(animatic)}`);
  });

  it("names the resource as the design fixes it", () => {
    const crd = longVideoCrd() as {
      metadata: { name: string };
      spec: {
        group: string;
        scope: string;
        names: { kind: string; plural: string; shortNames: string[]; categories?: string[] };
        versions: {
          name: string;
          subresources: unknown;
          additionalPrinterColumns: { name: string; type: string; jsonPath: string; priority?: number }[];
        }[];
      };
    };
    expect(crd.metadata.name).toBe("longvideos.longvideo.dev");
    expect(crd.spec.scope).toBe("Namespaced");
    expect(crd.spec.names).toMatchObject({ kind: "LongVideo", plural: "longvideos", shortNames: ["lv"] });
    expect(crd.spec.names.categories).toBeUndefined();
    const [version] = crd.spec.versions;
    expect(version?.name).toBe("v1alpha1");
    expect(version?.subresources).toEqual({ status: {} });
    expect(version?.additionalPrinterColumns.map((c) => c.name)).toEqual([
      "Variant",
      "Phase",
      "Progress",
      "ETA",
      "Reason",
      "Age",
      "Expected",
      "Message",
    ]);
    // The ETA column is relative (kubectl shows a future `date` as "<invalid>"); the absolute one is wide.
    const columns = new Map(version?.additionalPrinterColumns.map((c) => [c.name, c]));
    expect(columns.get("ETA")).toMatchObject({ type: "string", jsonPath: ".status.remaining" });
    expect(columns.get("Expected")).toMatchObject({ type: "string", jsonPath: ".status.eta", priority: 1 });
  });

  it("refuses zod constructs a structural schema cannot carry", () => {
    expect(() => structuralSchema(z.union([z.string(), z.int()]))).toThrow(/cannot be expressed/);
    expect(() => structuralSchema(z.strictObject({ any: z.unknown() }))).toThrow(/needs a type/);
  });
});
