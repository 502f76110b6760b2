import { describe, expect, it } from "vitest";
import { chartReadme, valueRows } from "./chart-readme.ts";

const values = `# Operator image.
image:
  # -- Where it comes from.
  repository: ghcr.io/x/op
  tag: ""
# Two replicas.
replicaCount: 2
leaderElection:
  enabled: true
# Pods' resources.
resources:
  requests: { cpu: 100m }
pipes: "a|b"
`;
const schema = {
  properties: {
    leaderElection: { properties: { enabled: { type: "boolean", description: "Elect a leader." } } },
    replicaCount: { type: "integer" },
  },
};

describe("the chart README's values table", () => {
  it("lists every leaf with its type, default and the comment above it, helm-docs' marker dropped", () => {
    expect(valueRows(values, schema)).toEqual([
      { key: "image.repository", type: "string", defaultJson: '"ghcr.io/x/op"', description: "Where it comes from." },
      { key: "image.tag", type: "string", defaultJson: '""', description: "Operator image." },
      { key: "replicaCount", type: "int", defaultJson: "2", description: "Two replicas." },
      { key: "leaderElection.enabled", type: "bool", defaultJson: "true", description: "Elect a leader." },
      { key: "resources.requests.cpu", type: "string", defaultJson: '"100m"', description: "Pods' resources." },
      { key: "pipes", type: "string", defaultJson: '"a|b"', description: "" },
    ]);
  });

  it("fills helm-docs' templates and escapes pipes in cells", () => {
    const readme = chartReadme(
      '# {{ template "chart.name" . }} {{ template "chart.version" . }}\n\n{{ template "chart.valuesTable" . }}\n',
      { name: "op", version: "1.2.3", appVersion: "1.2.3", description: "d" },
      values,
      schema,
    );
    expect(readme.split("\n").slice(0, 4)).toEqual([
      "# op 1.2.3",
      "",
      "| Key | Type | Default | Description |",
      "|-----|------|---------|-------------|",
    ]);
    expect(readme).toContain('| pipes | string | `"a\\|b"` |  |');
  });

  it("refuses a template it does not know", () => {
    expect(() =>
      chartReadme(
        '{{ template "chart.homepage" . }}',
        { name: "", version: "", appVersion: "", description: "" },
        "",
        {},
      ),
    ).toThrow(/no template chart.homepage/);
  });
});
