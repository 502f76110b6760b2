/**
 * `make demo`: on the running local cluster, installs the operator with Helm, applies the example film with the
 * animatic backend on the real node, shows its progress, and copies the finished film and contact sheet out.
 */
import path from "node:path";
import process from "node:process";
import {
  applyFilm,
  copyFilmOut,
  createReferenceImage,
  ensureRestrictedNamespace,
  installOperator,
  kubectl,
  loadImages,
  repoRoot,
  videoFacts,
  watchFilm,
} from "./film-demo.ts";

const release = { name: "longvideo-operator", namespace: "longvideo-system" };
const filmsNamespace = "longvideo-demo";
const example = path.join(repoRoot, "manifests/examples/film.yaml");
const outDir = path.join(repoRoot, "out");

const say = (line: string) => {
  process.stdout.write(`[${new Date().toISOString().slice(11, 19)}] ${line}\n`);
};

async function demo(): Promise<number> {
  say("loading the operator and CPU runtime images into the real node");
  loadImages();
  say(`helm install ${release.name} (namespace ${release.namespace}, restricted Pod Security)`);
  installOperator(release);
  kubectl("get", "pods", "-n", release.namespace, "-o", "wide")
    .trimEnd()
    .split("\n")
    .forEach((line) => {
      say(`  ${line}`);
    });

  // Segment pods pass the restricted level too: the films' namespace enforces it.
  ensureRestrictedNamespace(filmsNamespace);
  createReferenceImage(filmsNamespace, "harbour-still", "image.png", "832x480");
  const name = applyFilm(filmsNamespace, example);
  say(`applied ${path.relative(repoRoot, example)}: LongVideo ${filmsNamespace}/${name}`);

  const started = Date.now();
  const film = await watchFilm(
    filmsNamespace,
    name,
    (f) => {
      say(`  ${f.status?.phase ?? "Pending"} ${f.status?.progress ?? ""}`);
    },
    20 * 60_000,
  );
  if (film.status?.phase !== "Succeeded") {
    const failed = film.status?.conditions?.find((c) => c.type === "Failed");
    say(`the film failed: ${failed?.message ?? "see kubectl describe longvideo"}`);
    return 1;
  }
  const output = film.status.output;
  if (!output) throw new Error("a Succeeded film records its output");
  const copied = copyFilmOut(filmsNamespace, film, outDir);
  const facts = videoFacts(copied.film);
  const matches = facts.frames === output.frames && Math.abs(facts.seconds - output.seconds) < 0.1;
  say(`rendered in ${String(Math.round((Date.now() - started) / 1000))}s`);
  say(
    `ffprobe: ${String(facts.frames)} frames, ${facts.seconds.toFixed(2)}s, ${String(facts.width)}x${String(facts.height)} ` +
      `${facts.codec} at ${String(facts.fps)} fps; the plan says ${String(output.frames)} frames, ` +
      `${output.seconds.toFixed(2)}s: ${matches ? "matches" : "DOES NOT MATCH"}`,
  );
  say(`film:          ${copied.film}`);
  say(`contact sheet: ${copied.contactSheet}`);
  return matches ? 0 : 1;
}

process.exitCode = await demo();
