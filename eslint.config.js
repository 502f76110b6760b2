// @ts-check
import js from "@eslint/js";
import tseslint from "typescript-eslint";

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
      "no-restricted-imports": [
        "error",
        {
          patterns: [
            {
              group: ["**/utils", "**/utils/*", "**/helpers", "**/helpers/*", "**/common", "**/common/*"],
              message: "Name modules after what they export.",
            },
          ],
        },
      ],
    },
  },
  {
    // Pure layers decide; they never perform I/O or reach for process-wide singletons.
    files: ["src/plan/**/*.ts", "src/reconcile/**/*.ts", "src/api/**/*.ts"],
    rules: {
      "no-restricted-imports": [
        "error",
        {
          paths: [
            { name: "@kubernetes/client-node", message: "Pure code must not import the Kubernetes client." },
            { name: "pino", message: "Pure code must not log; return values instead." },
            { name: "prom-client", message: "Pure code must not touch metrics." },
          ],
          patterns: [
            {
              group: ["node:fs", "node:fs/*", "node:net", "node:http", "node:child_process"],
              message: "Pure code performs no I/O.",
            },
          ],
        },
      ],
    },
  },
  { files: ["eslint.config.js"], ...tseslint.configs.disableTypeChecked },
);
