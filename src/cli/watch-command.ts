/**
 * `longvideo watch [NAME]`: live progress bars (cli-progress) for a film and each of its segments, or for every
 * film of the namespace, with the time left from the ETA in its status; it ends when the films have finished.
 * Polls the API once a second; what it shows is {@link filmView}'s.
 */
import { setTimeout as sleep } from "node:timers/promises";
import { MultiBar, Presets } from "cli-progress";
import type { SingleBar } from "cli-progress";
import { CliError, ExitStatus } from "./cli-output.ts";
import type { CliOutput } from "./cli-output.ts";
import { clusterErrorMessage } from "./cluster-errors.ts";
import type { ClusterSession } from "./cluster-session.ts";
import { filmLine, filmView } from "./film-progress.ts";
import type { FilmView, WatchedFilm } from "./film-progress.ts";

export interface WatchOptions {
  readonly name?: string;
  readonly allNamespaces: boolean;
  /** Whether standard error is a terminal: bars redraw in place there, and are printed every few seconds elsewhere. */
  readonly tty: boolean;
  readonly intervalMs: number;
}

async function watchedFilms(session: ClusterSession, options: WatchOptions): Promise<WatchedFilm[]> {
  if (options.name !== undefined) {
    const found = await session.film(options.name);
    if (found.ok) return [found.value];
    if (found.error.kind === "NotFound") {
      throw new CliError(`no such film: LongVideo ${options.name} in namespace ${session.namespace}`);
    }
    throw new CliError(clusterErrorMessage(found.error, `read LongVideo ${session.namespace}/${options.name}`));
  }
  const listed = await session.films(options.allNamespaces);
  if (listed.ok) return listed.value;
  const where = options.allNamespaces ? "all namespaces" : `namespace ${session.namespace}`;
  throw new CliError(clusterErrorMessage(listed.error, `list LongVideos in ${where}`));
}

/** The bars on screen, one per film and, for a single film, one per segment; made as films and segments appear. */
class ProgressBars {
  readonly #bars: MultiBar;
  readonly #films = new Map<string, SingleBar>();
  readonly #segments = new Map<string, SingleBar>();
  readonly #perSegment: boolean;

  constructor(tty: boolean, perSegment: boolean) {
    this.#perSegment = perSegment;
    this.#bars = new MultiBar(
      {
        format: "{label} {bar} {detail}",
        barsize: 30,
        hideCursor: tty,
        noTTYOutput: !tty,
        notTTYSchedule: 2000,
        emptyOnZero: true,
        autopadding: true,
      },
      Presets.shades_classic,
    );
  }

  show(views: readonly FilmView[]): void {
    const width = Math.max(...views.map((v) => v.key.length), 12);
    for (const view of views) {
      const eta = view.eta === "" ? "" : ` | ETA ${view.eta}`;
      const payload = {
        label: view.key.padEnd(width),
        detail: `${String(view.rendered)}/${String(view.planned)} ${view.phase}${eta}`,
      };
      let bar = this.#films.get(view.key);
      if (!bar) this.#films.set(view.key, (bar = this.#bars.create(Math.max(1, view.planned), 0, payload)));
      bar.setTotal(Math.max(1, view.planned));
      bar.update(view.rendered, payload);
      if (!this.#perSegment) continue;
      for (const segment of view.segments) {
        const key = `${view.key}#${String(segment.index)}`;
        const label = `  segment ${String(segment.index)}`.padEnd(width);
        const segmentPayload = { label, detail: segment.detail };
        let segmentBar = this.#segments.get(key);
        if (!segmentBar) this.#segments.set(key, (segmentBar = this.#bars.create(100, 0, segmentPayload)));
        segmentBar.update(Math.round(segment.fraction * 100), segmentPayload);
      }
    }
  }

  stop(): void {
    this.#bars.stop();
  }
}

/** Watches until every film watched has finished; exit status 1 when one failed. */
export async function watchCommand(session: ClusterSession, options: WatchOptions, output: CliOutput): Promise<number> {
  let films = await watchedFilms(session, options);
  if (films.length === 0) {
    output.err(`no films in ${options.allNamespaces ? "any namespace" : `namespace ${session.namespace}`}\n`);
    return ExitStatus.ok;
  }
  const bars = new ProgressBars(options.tty, options.name !== undefined);
  let views: FilmView[] = [];
  try {
    for (;;) {
      const now = Date.now();
      views = films.map((film) => filmView(film, now));
      bars.show(views);
      if (views.every((view) => view.finished)) break;
      await sleep(options.intervalMs);
      films = await watchedFilms(session, options);
    }
  } finally {
    bars.stop();
  }
  for (const view of views) output.out(`${filmLine(view)}\n`);
  return views.some((view) => view.failed) ? ExitStatus.failed : ExitStatus.ok;
}
