/**
 * The GPU runtime image's Dockerfile, derived from its image definition (runtime-image/gpu-image.json), which is
 * the source of truth: the project assembles the image without Docker (test/cluster/oci-image.ts), and this file
 * lets a platform team with a Docker engine build the same layers (the same Debian packages, the same pinned wheels
 * with their hashes, the same worker, config and labels). `npm run generate` writes it; `--check` fails when stale.
 */

/** The parts of an image definition (test/cluster/oci-image.ts' schema) the Dockerfile is made from. */
export interface RuntimeImageDefinition {
  readonly base: { readonly suite: string; readonly packages: readonly string[] };
  readonly layers: readonly (
    | { readonly wheels: string; readonly to: string; readonly compile?: boolean }
    | { readonly copy: string; readonly to: string }
  )[];
  readonly config: {
    readonly Entrypoint?: readonly string[];
    readonly Cmd?: readonly string[];
    readonly Env?: readonly string[];
    readonly User?: string;
    readonly WorkingDir?: string;
    readonly Labels?: Readonly<Record<string, string>>;
  };
}

const quoted = (value: string): string => JSON.stringify(value);

/** The Dockerfile text; `definitionPath` is named in its header. Build context: the repository root. */
export function runtimeDockerfile(definition: RuntimeImageDefinition, definitionPath: string): string {
  const { base, layers, config } = definition;
  const apt = (packages: readonly string[]) =>
    `RUN apt-get update \\\n && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends ${packages.join(" ")} \\\n && rm -rf /var/lib/apt/lists/*`;
  const wheelLayers = layers.flatMap((layer, index) => ("wheels" in layer ? [{ ...layer, index }] : []));
  const lines = [
    `# Generated from ${definitionPath} by \`npm run generate\` (scripts/runtime-dockerfile.ts): do not edit.`,
    "# The project assembles this image without Docker (test/cluster/oci-image.ts; `make images-push`). This file",
    "# builds the same layers with Docker, from the repository root:",
    "#   docker build -f runtime-image/Dockerfile -t REGISTRY/longvideo/runtime:VERSION .",
    "# Weights are never baked in or downloaded: the model cache is mounted read-only at /models (LV_MODELS_DIR).",
    `FROM debian:${base.suite} AS base`,
    apt(base.packages),
    "",
    "# Each wheel list is installed exactly (no resolution, hashes required) into its own tree, copied as one layer.",
    "FROM base AS wheels",
    apt(["python3-pip"]),
    ...wheelLayers.flatMap((layer) => {
      const tree = `/layer-${String(layer.index)}`;
      return [
        `COPY ${layer.wheels} /tmp/wheels-${String(layer.index)}.txt`,
        `RUN python3 -m pip install --break-system-packages --no-cache-dir --no-deps --require-hashes \\\n` +
          `      --only-binary=:all: --target ${tree}${layer.to} -r /tmp/wheels-${String(layer.index)}.txt` +
          (layer.compile
            ? ` \\\n && python3 -m compileall -q --invalidation-mode unchecked-hash -s ${tree} -p / ${tree}${layer.to}`
            : ""),
      ];
    }),
    "",
    "FROM base",
    ...layers.map((layer, index) =>
      "wheels" in layer ? `COPY --from=wheels /layer-${String(index)}/ /` : `COPY ${layer.copy} ${layer.to}`,
    ),
    ...(config.Env?.length ? [`ENV ${config.Env.join(" \\\n    ")}`] : []),
    ...Object.entries(config.Labels ?? {}).map(([key, value]) => `LABEL ${key}=${quoted(value)}`),
    ...(config.User ? [`USER ${config.User}`] : []),
    ...(config.WorkingDir ? [`WORKDIR ${config.WorkingDir}`] : []),
    ...(config.Entrypoint ? [`ENTRYPOINT ${JSON.stringify(config.Entrypoint)}`] : []),
    ...(config.Cmd ? [`CMD ${JSON.stringify(config.Cmd)}`] : []),
  ];
  return `${lines.join("\n")}\n`;
}
