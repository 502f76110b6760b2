// @ts-check
import js from "@eslint/js";
import { importX } from "eslint-plugin-import-x";
import tseslint from "typescript-eslint";

const namedModules = {
  group: ["**/utils", "**/utils/*", "**/helpers", "**/helpers/*", "**/common", "**/common/*"],
  message: "Name modules after what they export.",
};
const noIo = [
  { name: "@kubernetes/client-node", message: "Pure code must not import the Kubernetes client." },
  { name: "pino", message: "Pure code must not log; return values instead." },
  { name: "prom-client", message: "Pure code must not touch metrics." },
];
const noIoModules = {
  group: ["node:fs", "node:fs/*", "node:net", "node:http", "node:child_process"],
  message: "Pure code performs no I/O.",
};
/**
 * Loading client-node costs the operator's process 64 MiB of RSS, its KubeConfig alone as much as the whole package
 * (ADR 0028); the operator has its own client and kubeconfig loader. The CLI and the tests keep client-node.
 */
const operatorRuntime = {
  name: "@kubernetes/client-node",
  allowTypeImports: true,
  message: "The operator process does not load client-node: use src/kube's KubeClient and loadClusterCredentials.",
};
/** The folders of src/, each allowed to import only the layers beneath it (main.ts wires them all). */
const layers = ["api", "plan", "reconcile", "manifests", "kube", "metrics", "config", "http", "install", "cli"];
/** Restricts a folder's imports of other src/ folders to `allowed`. */
function onlyImports(allowed, why) {
  return layers
    .filter((layer) => !allowed.includes(layer))
    .map((layer) => ({ group: [`../${layer}/*`, `../../src/${layer}/*`], message: why }));
}

const belowKube = [
  namedModules,
  ...onlyImports(
    ["api", "plan", "reconcile", "manifests", "config", "install", "cli", "http"],
    "Only main.ts wires src/kube in.",
  ),
];

export default tseslint.config(
  { ignores: ["dist/", "node_modules/", ".cache/", "charts/", "manifests/", "crds/", "runtime-image/"] },
  js.configs.recommended,
  ...tseslint.configs.strictTypeChecked,
  ...tseslint.configs.stylisticTypeChecked,
  {
    languageOptions: {
      parserOptions: {
        projectService: { allowDefaultProject: ["eslint.config.js"] },
        tsconfigRootDir: import.meta.dirname,
      },
    },
    rules: {
      "@typescript-eslint/no-explicit-any": "error",
      // client-node's generated models are classes that only describe plain JSON shapes; its serializer takes
      // object literals, which is how every Kubernetes object is written.
      "@typescript-eslint/no-unsafe-class-instance-assignment": "off",
      "@typescript-eslint/no-floating-promises": "error",
      "@typescript-eslint/consistent-type-imports": "error",
      "@typescript-eslint/restrict-template-expressions": ["error", { allowNumber: true }],
      "no-restricted-imports": ["error", { patterns: [namedModules] }],
    },
  },
  {
    // Import cycles make a layer's meaning depend on its callers; none are allowed, type-only imports included.
    files: ["src/**/*.ts", "scripts/**/*.ts", "test/**/*.ts"],
    plugins: { "import-x": importX },
    settings: {
      "import-x/extensions": [".ts", ".js"],
      "import-x/parsers": { "@typescript-eslint/parser": [".ts"] },
      "import-x/resolver-next": [importX.createNodeResolver({ extensions: [".ts", ".js"] })],
    },
    rules: { "import-x/no-cycle": ["error", { ignoreExternal: true }] },
  },
  {
    // Kept small so each stays readable on its own: the limits the code met when the reconciler was split.
    files: ["src/**/*.ts"],
    ignores: ["src/**/*.test.ts"],
    rules: {
      complexity: ["error", 20],
      "max-lines-per-function": ["error", { max: 100, skipBlankLines: true, skipComments: true }],
    },
  },
  {
    // The decisions and the objects they describe: a chain of small rules, each table-tested.
    files: ["src/reconcile/**/*.ts", "src/manifests/**/*.ts", "src/plan/**/*.ts"],
    ignores: ["src/**/*.test.ts"],
    rules: {
      complexity: ["error", 15],
      "max-lines-per-function": ["error", { max: 60, skipBlankLines: true, skipComments: true }],
    },
  },
  {
    // The API is the bottom layer: zod schemas and the facts both sides share.
    files: ["src/api/**/*.ts"],
    rules: {
      "no-restricted-imports": [
        "error",
        {
          paths: noIo,
          patterns: [namedModules, noIoModules, ...onlyImports(["api"], "src/api imports nothing else of src.")],
        },
      ],
    },
  },
  {
    // Pure layers decide; they never perform I/O or reach for process-wide singletons.
    files: ["src/plan/**/*.ts", "src/reconcile/**/*.ts"],
    rules: {
      "no-restricted-imports": [
        "error",
        {
          paths: noIo,
          patterns: [
            namedModules,
            noIoModules,
            ...onlyImports(
              ["api", "plan", "reconcile"],
              "src/plan and src/reconcile import only src/api and each other.",
            ),
          ],
        },
      ],
    },
  },
  {
    // Manifests describe objects from intent and action; they do not talk to the cluster.
    files: ["src/manifests/**/*.ts"],
    rules: {
      "no-restricted-imports": [
        "error",
        {
          paths: noIo,
          patterns: [
            namedModules,
            ...onlyImports(["api", "plan", "reconcile", "manifests"], "src/manifests builds objects; it does no I/O."),
          ],
        },
      ],
    },
  },
  {
    // Nothing below the I/O layer imports it: only main.ts and the adapters that implement its observers do.
    files: ["src/install/**/*.ts", "src/cli/**/*.ts"],
    rules: { "no-restricted-imports": ["error", { patterns: belowKube }] },
  },
  {
    // The same, for the layers the operator process loads: client-node only as types (see operatorRuntime).
    files: ["src/config/**/*.ts", "src/http/**/*.ts"],
    rules: { "no-restricted-imports": ["error", { paths: [operatorRuntime], patterns: belowKube }] },
  },
  {
    files: ["src/kube/**/*.ts", "src/metrics/**/*.ts", "src/main.ts", "src/operator-logger.ts"],
    ignores: ["src/**/*.test.ts"],
    rules: { "no-restricted-imports": ["error", { paths: [operatorRuntime], patterns: [namedModules] }] },
  },
  { files: ["eslint.config.js"], ...tseslint.configs.disableTypeChecked },
);
