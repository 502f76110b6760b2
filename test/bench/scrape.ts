/** The operator's Prometheus metrics as the benchmarks read them: one scrape, subtractable from another. */
/** Prometheus text parsed into samples, so two scrapes can be subtracted (the load phase minus the baseline). */
export class Scrape {
  readonly #samples: { name: string; labels: string; value: number }[];

  constructor(text: string) {
    this.#samples = [...text.matchAll(/^([a-zA-Z_:][\w:]*)(?:\{([^}]*)\})? (\S+)$/gm)].map((m) => ({
      name: m[1] ?? "",
      labels: m[2] ?? "",
      value: Number(m[3]),
    }));
  }

  /** Sum of one metric's samples whose labels include `matcher`, less the same sum in `before`. */
  sum(name: string, matcher = "", before?: Scrape): number {
    const own = this.#samples
      .filter((s) => s.name === name && s.labels.includes(matcher))
      .reduce((sum, s) => sum + s.value, 0);
    return own - (before?.sum(name, matcher) ?? 0);
  }

  /** Sum of one metric's samples whose labels satisfy `matches`. */
  sumWhere(name: string, matches: (labels: string) => boolean): number {
    return this.#samples.filter((s) => s.name === name && matches(s.labels)).reduce((sum, s) => sum + s.value, 0);
  }

  /** The values one label takes across a metric's samples, each once. */
  labelValues(name: string, label: string): string[] {
    const values = this.#samples
      .filter((s) => s.name === name)
      .map((s) => new RegExp(`(?:^|,)${label}="([^"]*)"`).exec(s.labels)?.[1])
      .filter((v): v is string => v !== undefined);
    return [...new Set(values)];
  }

  /**
   * A quantile of a histogram (over its series whose labels include `matcher`, less `before`'s counts),
   * interpolated linearly inside the bucket as Prometheus' histogram_quantile does. In seconds.
   */
  quantile(name: string, q: number, matcher = "", before?: Scrape): number {
    const counts = new Map<number, number>();
    const add = (scrape: Scrape, sign: number) => {
      for (const s of scrape.#samples) {
        if (s.name !== `${name}_bucket` || !s.labels.includes(matcher)) continue;
        const le = /le="([^"]+)"/.exec(s.labels)?.[1];
        if (le === undefined) continue;
        const bound = le === "+Inf" ? Number.POSITIVE_INFINITY : Number(le);
        counts.set(bound, (counts.get(bound) ?? 0) + sign * s.value);
      }
    };
    add(this, 1);
    if (before) add(before, -1);
    const buckets = [...counts].map(([le, count]) => ({ le, count })).sort((a, b) => a.le - b.le);
    const total = buckets.at(-1)?.count ?? 0;
    if (total <= 0) return Number.NaN;
    const rank = q * total;
    let lower = 0;
    let below = 0;
    for (const bucket of buckets) {
      if (bucket.count >= rank) {
        if (!Number.isFinite(bucket.le)) return lower;
        return lower + ((bucket.le - lower) * (rank - below)) / Math.max(1, bucket.count - below);
      }
      lower = bucket.le;
      below = bucket.count;
    }
    return lower;
  }
}
