import { describe, expect, it } from "vitest";
import { filmPhase } from "./film-phase.ts";
import type { PhaseFacts } from "./film-phase.ts";

const quiet: PhaseFacts = {
  failed: false,
  written: false,
  suspend: false,
  running: false,
  concatenating: false,
  started: false,
};

describe("filmPhase", () => {
  it.each<{ name: string; facts: Partial<PhaseFacts>; phase: string }>([
    { name: "a film with nothing recorded or running is Pending", facts: {}, phase: "Pending" },
    { name: "a film whose first job runs is Rendering", facts: { running: true }, phase: "Rendering" },
    { name: "a film with a recorded segment is Rendering", facts: { started: true }, phase: "Rendering" },
    {
      name: "a film whose segments are all recorded is Concatenating",
      facts: { concatenating: true, started: true },
      phase: "Concatenating",
    },
    {
      name: "a suspended film with nothing running is Suspended",
      facts: { suspend: true, started: true },
      phase: "Suspended",
    },
    {
      name: "a suspended film with a job still running is Rendering until it ends",
      facts: { suspend: true, running: true },
      phase: "Rendering",
    },
    {
      name: "a written film is Succeeded, even if suspended afterwards",
      facts: { written: true, suspend: true },
      phase: "Succeeded",
    },
    {
      name: "a film whose job waits in its Kueue queue is Queued, even mid-film",
      facts: { queued: true, started: true },
      phase: "Queued",
    },
    {
      name: "a suspended film is Suspended, not Queued",
      facts: { queued: true, suspend: true },
      phase: "Suspended",
    },
    { name: "a failure wins over everything", facts: { failed: true, written: true, running: true }, phase: "Failed" },
  ])("$name", ({ facts, phase }) => {
    expect(filmPhase({ ...quiet, ...facts })).toBe(phase);
  });
});
