/**
 * What test/run-tests.sh says about the test reports in a directory (vitest JSON reports, plus the runtime's
 * pytest counts in the same shape).
 *
 *   node test/support/test-report.ts failures <dir>  # to stderr: every failed test (and every file that failed
 *                                                    # outside its tests) with the first lines of its error
 *   node test/support/test-report.ts summary <dir>   # to stdout: `tests: N passed, N failed[, N skipped]`;
 *                                                    # exit status 1 when a test failed or none passed
 *
 * `failures` skips a report it cannot read (the run may have stopped while writing it); `summary` fails on one.
 */
import { existsSync, readFileSync, readdirSync } from "node:fs";
import path from "node:path";
import process from "node:process";
import { z } from "zod";

const assertionResult = z.object({
  status: z.string(),
  fullName: z.string(),
  failureMessages: z.array(z.string()).optional(),
});

const fileResult = z.object({
  name: z.string(),
  status: z.string(),
  message: z.string().optional(),
  assertionResults: z.array(assertionResult).optional(),
});

/** What `failures` reads. */
const testResults = z.object({ testResults: z.array(fileResult).optional() });

/** What `summary` reads: the runtime's report has only these. */
const counts = z.object({
  numPassedTests: z.number().optional(),
  numFailedTests: z.number().optional(),
  numPendingTests: z.number().optional(),
  numTodoTests: z.number().optional(),
});

function readReport<T>(file: string, schema: z.ZodType<T>): T {
  return schema.parse(JSON.parse(readFileSync(file, "utf8")));
}

/** The first `count` lines of `text`, continuation lines indented under the line that introduces them. */
function firstLines(text: string, count: number): string {
  return text.split("\n").slice(0, count).join("\n  ");
}

function failures(dir: string): number {
  for (const entry of existsSync(dir) ? readdirSync(dir) : []) {
    let result: z.infer<typeof testResults>;
    try {
      result = readReport(path.join(dir, entry), testResults);
    } catch {
      continue;
    }
    for (const file of result.testResults ?? []) {
      const tests = file.assertionResults ?? [];
      if (file.status === "failed" && tests.every((t) => t.status !== "failed")) {
        console.error(`failed file ${file.name}: ${firstLines(file.message ?? "", 6)}`);
      }
      for (const t of tests) {
        if (t.status !== "failed") continue;
        console.error(
          `failed test ${file.name.split("/").slice(-2).join("/")} > ${t.fullName}\n  ` +
            firstLines((t.failureMessages ?? []).join("\n"), 8),
        );
      }
    }
  }
  return 0;
}

function summary(dir: string): number {
  let passed = 0;
  let failed = 0;
  let skipped = 0;
  for (const entry of readdirSync(dir)) {
    const result = readReport(path.join(dir, entry), counts);
    passed += result.numPassedTests ?? 0;
    failed += result.numFailedTests ?? 0;
    skipped += (result.numPendingTests ?? 0) + (result.numTodoTests ?? 0);
  }
  console.log(`tests: ${passed} passed, ${failed} failed` + (skipped ? `, ${skipped} skipped` : ""));
  return failed > 0 || passed === 0 ? 1 : 0;
}

const [command, dir] = process.argv.slice(2);
if (dir === undefined || (command !== "failures" && command !== "summary")) {
  process.stderr.write("usage: node test/support/test-report.ts failures|summary <dir>\n");
  process.exitCode = 2;
} else {
  process.exitCode = command === "failures" ? failures(dir) : summary(dir);
}
