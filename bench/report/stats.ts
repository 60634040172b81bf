/** From raw run records to one cell per (network, scenario, contender): medians, spread, ratios, checks. */
import type { BenchResult, ContenderInfo, NetworkInfo, RunRecord, ScenarioId, ScenarioInfo } from '../types.js';

export type CellStatus = 'ok' | 'stale' | 'wrong' | 'failed' | 'skipped' | 'missing' | 'n/a';

export interface Cell {
  /** The network pass (NetworkInfo.id). */
  network: string;
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
  /** Median over runs of (this contender's time / flowsync mirror's on the same store, same run, scenario and network). */
  ratio: number | null;
  problems: string[];
}

export function median(xs: number[]): number | null {
  if (xs.length === 0) return null;
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

export const LOOPBACK_ID = 'loopback';

/** The passes of a result; old results had one, on loopback, with every contender. */
export function networksOf(result: BenchResult): NetworkInfo[] {
  return result.networks ?? [{ id: LOOPBACK_ID, label: 'loopback', latencyMs: 0, bandwidthBps: null, contenders: result.contenders.map((c) => c.id) }];
}

export function kindOf(c: Pick<ContenderInfo, 'id' | 'kind'>): NonNullable<ContenderInfo['kind']> {
  return c.kind ?? (c.id.startsWith('flowsync') ? 'flowsync' : c.id === 'baseline' ? 'baseline' : 'anchor');
}

/** The contender every ratio on a store is taken against: flowsync's mirror layout there. */
export function referenceOf(store: ContenderInfo['store']): string | null {
  return store === 's3' ? 'flowsync' : store === 'azure' ? 'flowsync-az' : null;
}

/** Whether a contender takes part in a scenario at all. */
export function appliesTo(s: ScenarioInfo, c: ContenderInfo): boolean {
  if (s.only) return s.only.includes(c.id);
  if (s.flowsyncOnly && (kindOf(c) !== 'flowsync' || c.pullOnly)) return false;
  if (c.pullOnly && !s.id.startsWith('pull-')) return false;
  if (c.pullOnly && s.id === 'pull-big') return false;
  return true;
}

function cellStatus(recs: RunRecord[]): CellStatus {
  if (recs.length === 0) return 'n/a';
  for (const s of ['failed', 'wrong', 'stale'] as const) if (recs.some((r) => r.status === s)) return s;
  if (recs.every((r) => r.status === 'skipped')) return 'skipped';
  return 'ok';
}

export function computeCells(result: BenchResult): Cell[] {
  const cells: Cell[] = [];
  const networks = networksOf(result);
  for (const net of networks) {
    const inNet = (r: RunRecord) => (r.network ?? LOOPBACK_ID) === net.id;
    for (const s of result.scenarios) {
      const refTimes = (id: string | null) =>
        new Map(
          result.records.filter((r) => inNet(r) && r.scenario === s.id && r.contender === id && r.status === 'ok' && r.measurement).map((r) => [r.run, r.measurement!.wallMs]),
        );
      for (const c of result.contenders) {
        if (!appliesTo(s, c)) continue;
        // A contender missing from the build is shown once, in the first pass; otherwise only where it ran.
        if (c.available ? !net.contenders.includes(c.id) : net !== networks[0]) continue;
        const refId = referenceOf(c.store);
        const ref = refTimes(refId);
        const recs = result.records.filter((r) => inNet(r) && r.scenario === s.id && r.contender === c.id);
        const measured = recs.filter((r) => r.measurement && r.status !== 'failed' && r.status !== 'skipped');
        const walls = measured.map((r) => r.measurement!.wallMs);
        const ratios = c.id === refId || !refId ? [] : measured.filter((r) => ref.has(r.run)).map((r) => r.measurement!.wallMs / ref.get(r.run)!);
        const reqRecs = measured.filter((r) => r.requests);
        const medReq = median(reqRecs.map((r) => r.requests!.total));
        const medianRun = reqRecs.find((r) => r.requests!.total === medReq) ?? reqRecs[0];
        cells.push({
          network: net.id,
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
  }
  return cells;
}

export function cellOf(cells: Cell[], scenario: ScenarioId, contender: string, network = LOOPBACK_ID): Cell | undefined {
  return cells.find((c) => c.scenario === scenario && c.contender === contender && (c.network ?? LOOPBACK_ID) === network);
}

/** The fastest anchor with a correct result on that store, in that scenario and network. */
export function bestAnchor(result: BenchResult, cells: Cell[], scenario: ScenarioId, store: ContenderInfo['store'], network = LOOPBACK_ID): Cell | null {
  const anchors = new Set(result.contenders.filter((c) => kindOf(c) === 'anchor' && c.store === store).map((c) => c.id));
  const ok = cells.filter((c) => anchors.has(c.contender) && c.scenario === scenario && (c.network ?? LOOPBACK_ID) === network && c.status === 'ok' && c.medianMs !== null);
  return ok.sort((a, b) => a.medianMs! - b.medianMs!)[0] ?? null;
}
