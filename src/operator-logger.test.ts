import { describe, expect, it } from "vitest";
import { leaderElectionLog, operatorLogger } from "./operator-logger.ts";

/** Keys of a JSON object's top level as written, repeats kept (JSON.parse would keep only the last). */
function topLevelKeys(line: string): string[] {
  const keys: string[] = [];
  let depth = 0;
  for (let i = 0; i < line.length; i++) {
    const c = line[i];
    if (c === '"') {
      let j = i + 1;
      while (line[j] !== '"') j += line[j] === "\\" ? 2 : 1;
      const text = line.slice(i, j + 1);
      if (depth === 1 && line[j + 1] === ":") keys.push(JSON.parse(text) as string);
      i = j;
    } else if (c === "{" || c === "[") depth++;
    else if (c === "}" || c === "]") depth--;
  }
  return keys;
}

function capturedLogger() {
  const lines: string[] = [];
  const log = operatorLogger({ logLevel: "debug", identity: "op-a" }, { write: (line: string) => lines.push(line) });
  return { log, lines: () => lines.join("").trimEnd().split("\n") };
}

describe("operator log lines", () => {
  it("reads keys repeated in a line, which JSON.parse would hide", () => {
    expect(topLevelKeys('{"a":1,"b":{"a":2},"a":"x\\"y"}')).toEqual(["a", "b", "a"]);
  });

  it("carry the replica's identity exactly once, on the elector's lines too", () => {
    const { log, lines } = capturedLogger();
    const election = leaderElectionLog(log);
    log.info({ namespaces: "all" }, "operator started");
    election.acquired("op-a");
    election.failed({ kind: "NotFound", status: 404, message: 'namespaces "x" not found' });
    election.lost("op-a", "shutting down");
    log.child({ film: "a/b" }).debug("reconciled");
    const written = lines();
    expect(written).toHaveLength(5);
    for (const line of written) {
      const keys = topLevelKeys(line);
      expect(
        keys.filter((k) => k === "identity"),
        line,
      ).toHaveLength(1);
      expect(new Set(keys).size, line).toBe(keys.length);
      expect((JSON.parse(line) as { identity: string }).identity).toBe("op-a");
    }
    expect(JSON.parse(written[1] ?? "")).toMatchObject({ msg: "leading", level: 30 });
    expect(JSON.parse(written[3] ?? "")).toMatchObject({ msg: "stopped leading", reason: "shutting down" });
  });
});
