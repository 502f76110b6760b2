import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    projects: [
      {
        test: {
          name: "unit",
          include: ["src/**/*.test.ts", "test/unit/**/*.test.ts"],
        },
      },
      {
        test: {
          // Tests that run a pinned tool (helm, ...) from test/cluster/env.sh, without a cluster. Unit tests run
          // nothing but the Node that runs them.
          name: "tools",
          include: ["test/tools/**/*.test.ts"],
          // Each test starts a pinned binary (helm template, the runtime worker) while the project's other files
          // build images on the same 2 cores: a first helm start has taken over vitest's 5 s default there. Not a
          // timing assertion; a hung tool still fails.
          testTimeout: 60_000,
        },
      },
      {
        test: {
          name: "integration",
          include: ["test/integration/**/*.test.ts"],
          // Tests share one real cluster; running files one at a time keeps their pods and timings honest.
          fileParallelism: false,
          testTimeout: 180_000,
          hookTimeout: 300_000,
        },
      },
      {
        test: {
          name: "e2e",
          include: ["test/e2e/**/*.test.ts"],
          // One Helm release and one film, used by the tests in order, as a user's session would. Files one at a
          // time: every release's operator watches all namespaces, so two at once would act on each other's films.
          fileParallelism: false,
          sequence: { concurrent: false },
          testTimeout: 600_000,
          hookTimeout: 900_000,
        },
      },
    ],
  },
});
