import { describe, expect, it } from "vitest";
import { terminationMessage } from "../api/runtime-contract.ts";
import { resultFields, segmentResult } from "./segment-result.ts";

describe("segmentResult", () => {
  it.each([
    {
      name: "a segment's result gives the latents it produced and consumed, its frames and seconds",
      message: '{"ok":true,"segment":1,"frames":81,"inputDigest":"sha256:a","latentsDigest":"sha256:b","seconds":2.5}',
      expected: { outputDigest: "sha256:b", inputDigest: "sha256:a", frames: 81, seconds: 2.5 },
    },
    {
      name: "a concatenation's result gives its contact sheet",
      message: '{"ok":true,"kind":"concat","frames":613,"seconds":38.3,"contactSheet":"/workspace/film.contact.png"}',
      expected: { frames: 613, seconds: 38.3, contactSheet: "/workspace/film.contact.png" },
    },
    {
      name: "a failure gives the runtime's error",
      message: '{"ok":false,"exitCode":3,"reason":"handoff","error":"digest mismatch"}',
      expected: { error: "digest mismatch" },
    },
    {
      name: "a message that is not JSON is quoted as the error",
      message: "  Traceback (most recent call last)  ",
      expected: { error: "Traceback (most recent call last)" },
    },
    { name: "JSON that is not an object is quoted as the error", message: "42", expected: { error: "42" } },
    { name: "no message is no result", message: "  ", expected: undefined },
    {
      name: "field names nobody produces are not read",
      message: '{"outputDigest":"sha256:b","message":"boom"}',
      expected: {},
    },
    {
      name: "fields of the wrong type are not read",
      message: '{"latentsDigest":7,"frames":"81","seconds":null}',
      expected: {},
    },
  ])("$name", ({ message, expected }) => {
    expect(segmentResult(message)).toEqual(expected);
  });

  it("reads only fields the runtime contract says a segment, concat or failure message carries", () => {
    const produced = new Set<string>([
      ...terminationMessage.segment,
      ...terminationMessage.concat,
      ...terminationMessage.failure,
    ]);
    for (const field of Object.values(resultFields)) {
      expect(produced.has(field), field).toBe(true);
    }
  });
});
