/**
 * `make chaos`: the full chaos suite on the running local cluster (see chaos-run.ts), its figures printed; exits 1
 * when anything that must hold did not. `--short` runs the version `make test` runs.
 */
import { chaosFigures, chaosProblems, fullChaos, runChaos, shortChaos } from "./chaos-run.ts";
import { testKubeConfig } from "../support/test-kube-config.ts";

const options = process.argv.includes("--short") ? shortChaos : fullChaos;
const log = (line: string) => {
  console.log(`[${new Date().toISOString().slice(11, 19)}] ${line}`);
};
const report = await runChaos(testKubeConfig(), options, log);
console.log(chaosFigures(report));
const problems = chaosProblems(report, options);
for (const problem of problems) console.log(`FAILED: ${problem}`);
process.exitCode = problems.length === 0 ? 0 : 1;
