/** From raw run records to one cell per (scenario, contender): medians, spread, ratios, checks. */
import type { BenchResult, RunRecord, ScenarioId } from '../types.js';

export type CellStatus = 'ok' | 'stale' | 'wrong' | 'failed' | 'skipped' | 'missing' | 'n/a';

export interface Cell {
  scenario: ScenarioId;
  contender: string;
  status: CellStatus;
  runs: number;
  medianMs: number | null;
  minMs: number | null;
  maxMs: number | null;
  medianCpuMs: number | null;
  medianRssMiB: number | null;
  maxRssMiB: number | null;
  medianRequests: number | null;
  requestsByMethod: Record<string, number> | null;
  /** Median over runs of (this contender's time / flowsync's time in the same run and scenario). */
  ratio: number | null;
  problems: string[];
}

export function median(xs: number[]): number | null {
  if (xs.length === 0) return null;
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

const REFERENCE = 'flowsync';

function cellStatus(recs: RunRecord[]): CellStatus {
  if (recs.length === 0) return 'n/a';
  for (const s of ['failed', 'wrong', 'stale'] as const) if (recs.some((r) => r.status === s)) return s;
  if (recs.every((r) => r.status === 'skipped')) return 'skipped';
  return 'ok';
}

export function computeCells(result: BenchResult): Cell[] {
  const cells: Cell[] = [];
  for (const s of result.scenarios) {
    const ref = new Map(
      result.records.filter((r) => r.scenario === s.id && r.contender === REFERENCE && r.status === 'ok' && r.measurement).map((r) => [r.run, r.measurement!.wallMs]),
    );
    for (const c of result.contenders) {
      if (s.only && !s.only.includes(c.id)) continue;
      const recs = result.records.filter((r) => r.scenario === s.id && r.contender === c.id);
      const measured = recs.filter((r) => r.measurement && r.status !== 'failed' && r.status !== 'skipped');
      const walls = measured.map((r) => r.measurement!.wallMs);
      const ratios = c.id === REFERENCE || c.store !== 's3' ? [] : measured.filter((r) => ref.has(r.run)).map((r) => r.measurement!.wallMs / ref.get(r.run)!);
      const reqRecs = measured.filter((r) => r.requests);
      const medReq = median(reqRecs.map((r) => r.requests!.total));
      const medianRun = reqRecs.find((r) => r.requests!.total === medReq) ?? reqRecs[0];
      cells.push({
        scenario: s.id,
        contender: c.id,
        status: c.available ? cellStatus(recs) : 'missing',
        runs: measured.length,
        medianMs: median(walls),
        minMs: walls.length ? Math.min(...walls) : null,
        maxMs: walls.length ? Math.max(...walls) : null,
        medianCpuMs: median(measured.map((r) => r.measurement!.userMs + r.measurement!.sysMs)),
        medianRssMiB: median(measured.map((r) => r.measurement!.maxRssKb / 1024)),
        maxRssMiB: measured.length ? Math.max(...measured.map((r) => r.measurement!.maxRssKb / 1024)) : null,
        medianRequests: medReq,
        requestsByMethod: medianRun ? medianRun.requests!.byMethod : null,
        ratio: median(ratios),
        problems: [...new Set(recs.filter((r) => r.problems && r.status !== 'ok').map((r) => `run ${r.run}: ${r.problems}`))],
      });
    }
  }
  return cells;
}

export function cellOf(cells: Cell[], scenario: ScenarioId, contender: string): Cell | undefined {
  return cells.find((c) => c.scenario === scenario && c.contender === contender);
}
