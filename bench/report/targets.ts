/**
 * The performance targets (issues 5, 11, 12 and 15), checked against the measured medians in every
 * network pass. Reported, never asserted: a target not met is written down as such.
 */
import type { BenchResult, ScenarioId } from '../types.js';
import { bestAnchor, cellOf, LOOPBACK_ID, networksOf, type Cell } from './stats.js';

export interface TargetRow {
  target: string;
  /** The network pass this row measured (NetworkInfo.id). */
  network: string;
  measured: string;
  verdict: 'met' | 'not met' | 'not measured';
}

function fmtS(ms: number): string {
  return ms >= 10_000 ? `${(ms / 1000).toFixed(1)} s` : `${(ms / 1000).toFixed(2)} s`;
}

const notMeasured = (target: string, network: string, why = 'not measured in this run'): TargetRow => ({ target, network, measured: why, verdict: 'not measured' });

/** flowsync (one contender) against the best anchor on its store: ≥ factor× faster. */
function speedup(result: BenchResult, cells: Cell[], network: string, scenario: ScenarioId, label: string, factor: number, atFiles: number | null, contender = 'flowsync'): TargetRow {
  const files = result.data.files;
  const target = `${label}: flowsync ≥ ${factor}× the best anchor${atFiles ? ` (${atFiles.toLocaleString('en-US')} files)` : ''}`;
  const f = cellOf(cells, scenario, contender, network);
  const store = result.contenders.find((c) => c.id === contender)?.store ?? 's3';
  const best = bestAnchor(result, cells, scenario, store, network);
  if (!f || f.status !== 'ok' || f.medianMs === null || !best) return notMeasured(target, network);
  const x = best.medianMs! / f.medianMs;
  const note = atFiles === null || files === atFiles ? '' : ` (this run: ${files.toLocaleString('en-US')} files)`;
  return {
    target,
    network,
    measured: `${x.toFixed(2)}× — ${fmtS(f.medianMs)} vs ${best.contender} ${fmtS(best.medianMs!)}${note}`,
    verdict: atFiles !== null && files !== atFiles ? 'not measured' : x >= factor ? 'met' : 'not met',
  };
}

/** A result at 100k files (this one, or a companion run written beside it), for the 100k targets. */
export interface LargeRun {
  name: string;
  result: BenchResult;
  cells: Cell[];
}

function mib(n: number): string {
  return `${n.toFixed(0)} MiB (${(n * 1.048576).toFixed(0)} MB)`;
}

function largeTargets(large: LargeRun | undefined): TargetRow[] {
  const where = large && large.name !== 'this run' ? ` (from ${large.name}, ${large.result.data.files.toLocaleString('en-US')} files)` : '';
  const rows: TargetRow[] = [];
  const walkTarget = 'no-change push of 100k files within 1.5× a `find -printf "%s %T@"` walk of the same tree';
  const nochange = large ? cellOf(large.cells, 'push-nochange', 'flowsync') : undefined;
  const cold = large ? cellOf(large.cells, 'push-nochange-cold', 'flowsync') : undefined;
  const find = large?.result.data.findWalkMs;
  if (nochange?.status === 'ok' && nochange.medianMs !== null && find) {
    const x = nochange.medianMs / find;
    rows.push({
      target: walkTarget,
      network: LOOPBACK_ID,
      measured: `${x.toFixed(2)}× — ${fmtS(nochange.medianMs)} warm stat cache${cold?.medianMs ? ` (${fmtS(cold.medianMs)} cold)` : ''}, find ${fmtS(find)}${where}`,
      verdict: x <= 1.5 ? 'met' : 'not met',
    });
  } else rows.push(notMeasured(walkTarget, LOOPBACK_ID, 'not measured (run `npm run bench -- --files 100000 …`)'));
  const rssTarget = 'peak RSS ≤ 150 MB in every scenario at 100k files';
  const treeRss = large ? large.cells.filter((c) => c.contender.startsWith('flowsync') && !c.scenario.endsWith('-big') && c.maxRssMiB !== null) : [];
  const peak = treeRss.sort((a, b) => b.maxRssMiB! - a.maxRssMiB!)[0];
  rows.push(
    peak
      ? {
          target: rssTarget,
          network: LOOPBACK_ID,
          measured: `${mib(peak.maxRssMiB!)}, highest: ${peak.contender} in "${large!.result.scenarios.find((x) => x.id === peak.scenario)?.title ?? peak.scenario}"${where}`,
          verdict: peak.maxRssMiB! * 1.048576 <= 150 ? 'met' : 'not met',
        }
      : notMeasured(rssTarget, LOOPBACK_ID, 'not measured (run `npm run bench -- --files 100000 …`)'),
  );
  return rows;
}

/** Issue 12: a fresh pull with a warm worker cache ≥ 20× the best anchor and within 1.5× of `cp -r` of the same tree. */
function warmCacheTargets(result: BenchResult, cells: Cell[]): TargetRow[] {
  const rows = networksOf(result).map((net) => speedup(result, cells, net.id, 'pull-fresh', 'fresh pull with a warm worker cache', 20, 5000, 'flowsync-cached'));
  const target = 'fresh pull with a warm worker cache within 1.5× of `cp -r` of the same tree';
  // Each pass against its own copy; a result from before copies were kept per pass has one.
  const copies = result.data.copyTreeMsByNetwork ?? (result.data.copyTreeMs ? { [LOOPBACK_ID]: result.data.copyTreeMs } : {});
  const nets = networksOf(result).filter((net) => net.id === LOOPBACK_ID || copies[net.id] !== undefined);
  return [
    ...rows,
    ...nets.map((net): TargetRow => {
      const f = cellOf(cells, 'pull-fresh', 'flowsync-cached', net.id);
      const cp = copies[net.id];
      if (!f || f.status !== 'ok' || f.medianMs === null || !cp) return notMeasured(target, net.id);
      const x = f.medianMs / cp;
      return { target, network: net.id, measured: `${x.toFixed(2)}× — ${fmtS(f.medianMs)} vs cp -r ${fmtS(cp)} in the same pass`, verdict: x <= 1.5 ? 'met' : 'not met' };
    }),
  ];
}

export function evaluateTargets(result: BenchResult, cells: Cell[], companion?: LargeRun): TargetRow[] {
  const rows: TargetRow[] = [];
  const big = result.bigFileBytes ? `${Math.round(result.bigFileBytes / 2 ** 20)} MiB` : 'large';
  for (const net of networksOf(result)) {
    const n = net.id;
    rows.push(
      speedup(result, cells, n, 'pull-fresh', 'mirror fresh pull', 1.5, 5000),
      speedup(result, cells, n, 'push-initial', 'mirror initial push', 1.5, 5000),
      speedup(result, cells, n, 'push-nochange', 'no-change push', 10, 5000),
      speedup(result, cells, n, 'push-change', 'push after 1 % changed', 5, 5000),
      speedup(result, cells, n, 'pull-big', `pull of one ${big} file`, 1, null),
      speedup(result, cells, n, 'push-big', `push of one ${big} file`, 1, null),
      // Issue 11: the packed layout.
      speedup(result, cells, n, 'push-initial', 'packed initial push', 5, 5000, 'flowsync-packed'),
      speedup(result, cells, n, 'pull-fresh', 'packed fresh pull', n === LOOPBACK_ID ? 4 : 30, 5000, 'flowsync-packed'),
      speedup(result, cells, n, 'push-change', 'packed push after 1 % changed', 5, 5000, 'flowsync-packed'),
    );
  }
  rows.push(...warmCacheTargets(result, cells));
  const large: LargeRun | undefined = result.data.files >= 100_000 ? { name: 'this run', result, cells } : companion;
  rows.push(...largeTargets(large));
  return rows;
}
