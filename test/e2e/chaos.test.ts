/**
 * The chaos suite's short version (`make chaos` runs the full one): films on kwok rendered by the operator installed
 * with Helm (two replicas) while its leading container is SIGKILLed, kube-apiserver and etcd restart, a node, jobs
 * and pods are deleted and storylines edited.
 */
import { expect, it } from "vitest";
import { chaosFigures, chaosProblems, runChaos, shortChaos } from "../chaos/chaos-run.ts";
import { testKubeConfig } from "../support/test-kube-config.ts";

it("finishes every film as designed, chains intact, nothing rendered twice or left behind, whatever breaks", async () => {
  const report = await runChaos(testKubeConfig(), shortChaos, (line) => {
    console.log(line);
  });
  console.log(chaosFigures(report));
  expect(chaosProblems(report, shortChaos)).toEqual([]);
  expect(report.succeeded).toBe(shortChaos.films);
  expect(report.killsSurvived).toBe(shortChaos.leaderKills);
}, 900_000);
