/**
 * The latest timed segments per timing shape (`timingShape`, docs/adr/0026), across films: what a film learns its
 * warm lead time from before its own first hand-off. Filled from every film the controller reconciles, its own
 * status being the record, so a restarted operator has it back after its first pass over the films, with no store
 * of its own.
 */
import type { SegmentRecord } from "../api/long-video-status.ts";
import { RecentlyUsedMap } from "./recently-used-map.ts";

/** Shapes remembered; the least recently used is forgotten first. Each holds at most a few records. */
const maxShapes = 256;

interface Latest {
  readonly film: string;
  readonly records: readonly SegmentRecord[];
  /** When the newest of them finished (ISO 8601): a film's newer records replace an older film's. */
  readonly finished: string;
}

export class ShapeTimings {
  readonly #latest = new RecentlyUsedMap<string, Latest>(maxShapes);

  /**
   * Notes a film's latest timed segments (oldest first) for its shape; they replace what the shape held when they
   * are as recent, or when they are the same film's.
   */
  note(shape: string, film: string, records: readonly SegmentRecord[]): void {
    const finished = records.at(-1)?.finishTime;
    if (finished === undefined) return;
    const known = this.#latest.get(shape);
    if (known && known.film !== film && known.finished > finished) return;
    if (known?.film === film && known.finished === finished) return;
    this.#latest.set(shape, { film, records, finished });
  }

  /** The latest timed segments of another film of this shape, or none. */
  of(shape: string, film: string): readonly SegmentRecord[] {
    const known = this.#latest.get(shape);
    return known && known.film !== film ? known.records : [];
  }
}
