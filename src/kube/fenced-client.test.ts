import { describe, expect, it } from "vitest";
import { FencedClient } from "./fenced-client.ts";
import type { KubeResult, KubeWriter, PatchOptions } from "./kube-client.ts";
import { leadershipUntil } from "./leader-election.ts";
import type { Leadership } from "./leader-election.ts";

/** A writer that records what reaches it, with the signal each write was given; it answers when told to. */
class RecordingWriter implements KubeWriter {
  readonly sent: { method: string; path: string; signal: AbortSignal | undefined }[] = [];
  readonly #answers: (() => void)[] = [];

  #record(method: string, path: string, signal: AbortSignal | undefined): Promise<KubeResult<never>> {
    this.sent.push({ method, path, signal });
    return new Promise((resolve) => {
      this.#answers.push(() => {
        resolve({ ok: true, value: undefined as never });
      });
    });
  }

  create<T>(path: string, _body: unknown, _fieldManager: string, signal?: AbortSignal): Promise<KubeResult<T>> {
    return this.#record("POST", path, signal);
  }

  patch<T>(path: string, _patch: unknown, _type: unknown, _manager: string, options?: PatchOptions) {
    return this.#record("PATCH", path, options?.signal) as Promise<KubeResult<T>>;
  }

  delete<T>(path: string, _body?: unknown, signal?: AbortSignal): Promise<KubeResult<T>> {
    return this.#record("DELETE", path, signal);
  }

  answerAll(): void {
    for (const answer of this.#answers.splice(0)) answer();
  }
}

function fenced(leadership: Leadership) {
  const writer = new RecordingWriter();
  const seen = { writing: [] as string[], refused: [] as string[] };
  const client = new FencedClient(writer, leadership, {
    writing: (method, path) => seen.writing.push(`${method} ${path}`),
    refused: (method, path) => seen.refused.push(`${method} ${path}`),
  });
  return { writer, client, seen };
}

describe("FencedClient", () => {
  it("sends every kind of write while its replica leads", async () => {
    const leading = new AbortController();
    const { writer, client, seen } = fenced(leadershipUntil(leading.signal));
    const writes = [
      client.create("/jobs", {}, "m"),
      client.patch("/films/a/status", {}, "merge", "m"),
      client.delete("/jobs/a", { preconditions: { uid: "u" } }),
    ];
    writer.answerAll();
    expect((await Promise.all(writes)).map((r) => r.ok)).toEqual([true, true, true]);
    expect(writer.sent.map((w) => `${w.method} ${w.path}`)).toEqual([
      "POST /jobs",
      "PATCH /films/a/status",
      "DELETE /jobs/a",
    ]);
    expect(seen.writing).toHaveLength(3);
    expect(seen.refused).toEqual([]);
  });

  it("refuses every write once leadership ended, as NotLeader, without sending it", async () => {
    const leading = new AbortController();
    const { writer, client, seen } = fenced(leadershipUntil(leading.signal));
    leading.abort();
    const results = await Promise.all([
      client.create("/jobs", {}, "m"),
      client.patch("/films/a/status", {}, "merge", "m"),
      client.delete("/jobs/a"),
    ]);
    expect(results.map((r) => (r.ok ? "sent" : r.error.kind))).toEqual(["NotLeader", "NotLeader", "NotLeader"]);
    expect(writer.sent).toEqual([]);
    expect(seen.refused).toEqual(["POST /jobs", "PATCH /films/a/status", "DELETE /jobs/a"]);
  });

  it("refuses a write once the leadership no longer holds, even before its signal has aborted", async () => {
    let holds = true;
    const { writer, client } = fenced({ signal: new AbortController().signal, holds: () => holds });
    holds = false;
    const result = await client.create("/jobs", {}, "m");
    expect(result.ok ? "sent" : result.error.kind).toBe("NotLeader");
    expect(writer.sent).toEqual([]);
  });

  it("aborts a write still unanswered when leadership ends, and one the caller aborts", () => {
    const leading = new AbortController();
    const { writer, client } = fenced(leadershipUntil(leading.signal));
    const caller = new AbortController();
    void client.create("/jobs", {}, "m");
    void client.delete("/jobs/a", undefined, caller.signal);
    const [create, remove] = writer.sent;
    caller.abort();
    expect([create?.signal?.aborted, remove?.signal?.aborted]).toEqual([false, true]);
    leading.abort();
    expect(create?.signal?.aborted).toBe(true);
  });
});
