/** Which pod `longvideo logs NAME --segment I` reads: the latest attempt at that segment. Pure. */
import { operatorLabels } from "../api/operator-labels.ts";

export interface SegmentPod {
  readonly name: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly createdAt: string;
}

export type SegmentPodChoice =
  { readonly ok: true; readonly pod: string } | { readonly ok: false; readonly error: string };

/** The pod of the latest attempt at segment `index` of a film planned into `planned` segments. */
export function segmentPod(
  film: string,
  planned: number,
  index: number,
  pods: readonly SegmentPod[],
  recorded: boolean,
): SegmentPodChoice {
  if (!Number.isInteger(index) || index < 0 || index >= planned) {
    const range = planned === 0 ? "it has no plan yet" : `--segment takes 0 to ${String(planned - 1)}`;
    return { ok: false, error: `${film} has ${String(planned)} segment(s): ${range}` };
  }
  const candidates = pods
    .filter((p) => p.labels[operatorLabels.kind] === "segment" && p.labels[operatorLabels.segment] === String(index))
    .sort(
      (a, b) =>
        Number(b.labels[operatorLabels.attempt] ?? 0) - Number(a.labels[operatorLabels.attempt] ?? 0) ||
        Date.parse(b.createdAt) - Date.parse(a.createdAt),
    );
  const [latest] = candidates;
  if (latest) return { ok: true, pod: latest.name };
  return {
    ok: false,
    error: recorded
      ? `segment ${String(index)} of ${film} has no pod any more: its Job is kept 7 days after it finished, or was deleted`
      : `segment ${String(index)} of ${film} has no pod yet: it has not started`,
  };
}
