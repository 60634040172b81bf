/**
 * The performance targets of issue 5, checked against the measured medians. Reported, never
 * asserted: a target not met is written down as such.
 */
import type { BenchResult } from '../types.js';
import { cellOf, type Cell } from './stats.js';

export interface TargetRow {
  target: string;
  measured: string;
  verdict: 'met' | 'not met' | 'not measured';
}

const ANCHORS = ['rclone', 'rclone-checksum', 'aws', 's3cmd'];

function fmtS(ms: number): string {
  return ms >= 10_000 ? `${(ms / 1000).toFixed(1)} s` : `${(ms / 1000).toFixed(2)} s`;
}

/** The fastest anchor with a correct result in that scenario. */
function bestAnchor(cells: Cell[], scenario: Cell['scenario']): Cell | null {
  const ok = ANCHORS.map((a) => cellOf(cells, scenario, a)).filter((c): c is Cell => !!c && c.status === 'ok' && c.medianMs !== null);
  return ok.sort((a, b) => a.medianMs! - b.medianMs!)[0] ?? null;
}

function speedup(cells: Cell[], scenario: Cell['scenario'], label: string, factor: number, files: number, atFiles: number): TargetRow {
  const target = `${label}: flowsync ≥ ${factor}× faster than the best anchor (${atFiles.toLocaleString('en-US')} files)`;
  const f = cellOf(cells, scenario, 'flowsync');
  const best = bestAnchor(cells, scenario);
  if (!f || f.status !== 'ok' || f.medianMs === null || !best) return { target, measured: 'not measured in this run', verdict: 'not measured' };
  const x = best.medianMs! / f.medianMs;
  const note = files === atFiles ? '' : ` (this run: ${files.toLocaleString('en-US')} files)`;
  return {
    target,
    measured: `${x.toFixed(2)}× — flowsync ${fmtS(f.medianMs)}, best anchor ${best.contender} ${fmtS(best.medianMs!)}${note}`,
    verdict: files !== atFiles ? 'not measured' : x >= factor ? 'met' : 'not met',
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

export function evaluateTargets(result: BenchResult, cells: Cell[], companion?: LargeRun): TargetRow[] {
  const files = result.data.files;
  const rows: TargetRow[] = [
    speedup(cells, 'push-nochange', 'no-change push', 5, files, 5000),
    speedup(cells, 'push-change', 'push after 1 % changed', 4, files, 5000),
    speedup(cells, 'push-initial', 'initial push', 1.5, files, 5000),
  ];
  const large: LargeRun | undefined = files >= 100_000 ? { name: 'this run', result, cells } : companion;
  const where = large && large.name !== 'this run' ? ` (from ${large.name}, ${large.result.data.files.toLocaleString('en-US')} files)` : '';
  const nochange = large ? cellOf(large.cells, 'push-nochange', 'flowsync') : undefined;
  const cold = large ? cellOf(large.cells, 'push-nochange-cold', 'flowsync') : undefined;
  rows.push(
    nochange?.status === 'ok' && nochange.medianMs !== null
      ? {
          target: 'no-change push of 100k files ≤ 1.5 s',
          measured: `${fmtS(nochange.medianMs)} warm stat cache${cold?.medianMs ? `; ${fmtS(cold.medianMs)} with a cold cache` : ''}${where}`,
          verdict: nochange.medianMs <= 1500 ? 'met' : 'not met',
        }
      : { target: 'no-change push of 100k files ≤ 1.5 s', measured: 'not measured (run `npm run bench -- --files 100000 …`)', verdict: 'not measured' },
  );
  const big = cellOf(cells, 'push-big', 'flowsync');
  const rclones = ['rclone', 'rclone-checksum'].map((id) => cellOf(cells, 'push-big', id)).filter((c): c is Cell => !!c && c.status === 'ok' && c.medianMs !== null);
  const bestRclone = rclones.sort((a, b) => a.medianMs! - b.medianMs!)[0];
  const bigLabel = `push of one ${result.bigFileBytes ? `${Math.round(result.bigFileBytes / 2 ** 20)} MiB` : 'large'} file at least as fast as rclone`;
  rows.push(
    big?.status === 'ok' && big.medianMs !== null && bestRclone
      ? {
          target: bigLabel,
          measured: `flowsync ${fmtS(big.medianMs)}, ${bestRclone.contender} ${fmtS(bestRclone.medianMs!)}`,
          verdict: big.medianMs <= bestRclone.medianMs! ? 'met' : 'not met',
        }
      : { target: bigLabel, measured: 'not measured', verdict: 'not measured' },
  );
  const treeRss = large
    ? large.cells.filter((c) => c.contender === 'flowsync' && !c.scenario.endsWith('-big') && c.maxRssMiB !== null)
    : [];
  const peak = treeRss.sort((a, b) => b.maxRssMiB! - a.maxRssMiB!)[0];
  rows.push(
    peak
      ? {
          target: 'peak RSS for 100k files ≤ 150 MB',
          measured: `${mib(peak.maxRssMiB!)}, highest in "${large!.result.scenarios.find((x) => x.id === peak.scenario)?.title ?? peak.scenario}"${where}`,
          verdict: peak.maxRssMiB! * 1.048576 <= 150 ? 'met' : 'not met',
        }
      : { target: 'peak RSS for 100k files ≤ 150 MB', measured: 'not measured (run `npm run bench -- --files 100000 …`)', verdict: 'not measured' },
  );
  return rows;
}
