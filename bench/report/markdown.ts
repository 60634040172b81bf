/** The human report: what ran where, the scenario × contender table, targets, details, profile. */
import { SCENARIOS, type BenchResult } from '../types.js';
import { cellOf, median, type Cell } from './stats.js';
import type { TargetRow } from './targets.js';

const SCENARIO_TITLES: Record<string, string> = Object.fromEntries(SCENARIOS.map((s) => [s.id, s.title]));

export function fmtMs(ms: number | null): string {
  if (ms === null) return '—';
  if (ms >= 100_000) return `${(ms / 1000).toFixed(0)} s`;
  if (ms >= 10_000) return `${(ms / 1000).toFixed(1)} s`;
  return `${(ms / 1000).toFixed(2)} s`;
}

function fmtRatio(r: number | null): string {
  return r === null ? '' : r >= 10 ? `×${r.toFixed(0)}` : `×${r.toFixed(1)}`;
}

function fmtInt(n: number | null): string {
  return n === null ? '—' : Math.round(n).toLocaleString('en-US');
}

function fmtMiB(bytes: number): string {
  return bytes >= 2 ** 30 ? `${(bytes / 2 ** 30).toFixed(2)} GiB` : `${(bytes / 2 ** 20).toFixed(1)} MiB`;
}

const MARK: Record<Cell['status'], string> = {
  ok: '',
  stale: ' ⚠ stale',
  wrong: ' ✗ WRONG',
  failed: ' ✗ FAILED',
  skipped: ' skipped',
  missing: 'missing',
  'n/a': '—',
};

function mainCell(c: Cell | undefined): string {
  if (!c) return '—';
  if (c.status === 'missing' || c.status === 'n/a') return MARK[c.status];
  if (c.medianMs === null) return MARK[c.status].trim() || '—';
  const parts = [`**${fmtMs(c.medianMs)}**${c.ratio !== null ? ` ${fmtRatio(c.ratio)}` : ''}`];
  if (c.medianCpuMs !== null) parts.push(`cpu ${fmtMs(c.medianCpuMs)}`);
  if (c.medianRssMiB !== null) parts.push(`${c.medianRssMiB.toFixed(0)} MiB`);
  if (c.medianRequests !== null) parts.push(`${fmtInt(c.medianRequests)} req`);
  return parts.join(' · ') + MARK[c.status];
}

function methods(m: Record<string, number> | null): string {
  if (!m) return '—';
  return Object.entries(m)
    .sort((a, b) => b[1] - a[1])
    .map(([k, v]) => `${k} ${v.toLocaleString('en-US')}`)
    .join(', ');
}

export function renderMarkdown(result: BenchResult, cells: Cell[], targets: TargetRow[], svgName: string): string {
  const m = result.machine;
  const d = result.data;
  const runs = Number(result.options.runs);
  const lines: string[] = [];
  const contenders = result.contenders;
  const loads = result.records.map((r) => r.load1).filter((x): x is number => typeof x === 'number');
  const minutes = (Date.parse(result.finishedAt) - Date.parse(result.startedAt)) / 60_000;
  lines.push(`# flowsync bench — ${result.startedAt.slice(0, 10)}`);
  lines.push('');
  lines.push(`\`npm run bench -- ${result.argv.join(' ')}\`${result.argv.length === 0 ? ' (defaults)' : ''} · ${runs} run${runs === 1 ? '' : 's'} · started ${result.startedAt}, finished ${result.finishedAt} (${minutes.toFixed(0)} min)`);
  lines.push('');
  lines.push(
    `**Machine:** ${m.cores} cores (${m.cpuModel}), ${m.memoryGiB} GiB RAM, ${m.os}, Node ${m.node}; load average at start ${m.loadAverage.join(' / ')}. ` +
      (loads.length > 0 ? `Load average when the timed commands started: median ${median(loads)!.toFixed(1)} (${Math.min(...loads).toFixed(1)}–${Math.max(...loads).toFixed(1)}). ` : '') +
      `The machine is shared with other work, which is one reason to read the spread and the CPU times, not only the median wall times.`,
  );
  lines.push('');
  lines.push(
    `**Data:** ${d.source}${d.seed ? ` (seed "${d.seed}")` : ''}: ${d.files.toLocaleString('en-US')} files to push, ${fmtMiB(d.bytes)}, ` +
      `${d.folders.toLocaleString('en-US')} folders up to ${d.depth} deep, largest file ${fmtMiB(d.largestFile)}; ` +
      `${d.ignoredFiles.toLocaleString('en-US')} more files excluded by .prefectignore (node_modules/, .venv/, __pycache__/, .env). ` +
      `1 % = ${d.changeCount} files changed / ${d.deleteCount} deleted.` +
      (result.bigFileBytes ? ` Large-file scenarios: one file of ${fmtMiB(result.bigFileBytes)}.` : ''),
  );
  lines.push('');
  const cal = result.calibration;
  const floor = (perSec: number) => fmtMs((d.files / perSec) * 1000);
  lines.push(
    '**Server:** s3rver on 127.0.0.1 behind a counting pass-through proxy (both in this machine\'s 2 cores, shared with the contender). ' +
      (cal
        ? `Measured at the start with a lean signed-HTTP client (${cal.objects} objects of ${cal.objectBytes / 1024} KiB, ${cal.inFlight} in flight): ` +
          `${cal.direct.putPerSec} PUT/s and ${cal.direct.getPerSec} GET/s direct, ${cal.proxied.putPerSec} PUT/s and ${cal.proxied.getPerSec} GET/s through the proxy. ` +
          `So no tool can push these ${d.files.toLocaleString('en-US')} files in much less than ${floor(cal.proxied.putPerSec)}, or pull them in much less than ${floor(cal.proxied.getPerSec)}: ` +
          'on the initial push and the fresh pull the server sets the pace, and a client that burns CPU per request slows the server it shares the 2 cores with. '
        : '') +
      'Loopback has no WAN latency: over a real network every request costs a round trip, so the request counts matter at least as much as these times.',
  );
  lines.push('');
  lines.push('## Results');
  lines.push('');
  lines.push(
    `Each cell: **median wall time** over ${runs} run${runs === 1 ? '' : 's'}, ×N = this tool's time ÷ flowsync's time in the same run, the median of those per-run ratios ` +
      '(above 1: flowsync was faster; when runs vary a lot it can disagree with the ratio of the two medians shown), ' +
      'median CPU time (user+sys: less sensitive than wall time to other load on this shared machine), median peak RSS of the whole process, requests seen by the proxy. Every result is checked (remote listing with MD5s plus objects read back; pulled folders hashed file by file): ' +
      '✗ WRONG = finished but the tree is not the source tree; ⚠ stale = the remote keeps files deleted locally (Prefect\'s steps never delete: by design, but a pull then brings them back).',
  );
  lines.push('');
  lines.push(`| scenario | ${contenders.map((c) => c.label).join(' | ')} |`);
  lines.push(`|---|${contenders.map(() => '---').join('|')}|`);
  for (const s of result.scenarios) {
    lines.push(`| ${s.title} | ${contenders.map((c) => mainCell(cellOf(cells, s.id, c.id))).join(' | ')} |`);
  }
  lines.push('');
  lines.push(`![bench chart](${svgName})`);
  lines.push('');
  lines.push('## Targets (issue 5)');
  lines.push('');
  lines.push('Reported, not asserted. "Best anchor" = the fastest of rclone (both modes), aws s3 sync and s3cmd with a correct result.');
  lines.push('');
  lines.push('| target | measured | verdict |');
  lines.push('|---|---|---|');
  for (const t of targets) lines.push(`| ${t.target} | ${t.measured} | ${t.verdict === 'met' ? '✓ met' : t.verdict === 'not met' ? '✗ **not met**' : 'not measured here'} |`);
  lines.push('');
  lines.push('## Details');
  lines.push('');
  for (const s of result.scenarios) {
    lines.push(`### ${s.title}`);
    lines.push('');
    lines.push(s.detail + '.');
    lines.push('');
    lines.push('| contender | median (min–max) | ×flowsync | CPU user+sys | peak RSS (max) | requests (by method) | check |');
    lines.push('|---|---|---|---|---|---|---|');
    for (const c of contenders) {
      const cell = cellOf(cells, s.id, c.id);
      if (!cell) continue;
      if (cell.status === 'missing') {
        lines.push(`| ${c.label} | missing | | | | | ${c.reason ?? ''} |`);
        continue;
      }
      const spread = cell.minMs !== null && cell.runs > 1 ? ` (${fmtMs(cell.minMs)}–${fmtMs(cell.maxMs)})` : '';
      const rss = cell.medianRssMiB !== null ? `${cell.medianRssMiB.toFixed(0)} MiB (${cell.maxRssMiB!.toFixed(0)})` : '—';
      const req = cell.medianRequests !== null ? `${fmtInt(cell.medianRequests)} (${methods(cell.requestsByMethod)})` : c.store === 's3' ? '—' : 'n/a (no network)';
      const check = cell.status === 'ok' ? `✓ ${cell.runs}/${cell.runs}` : `${MARK[cell.status].trim()}${cell.problems.length ? `: ${cell.problems.slice(0, 2).join('; ').replace(/\|/g, '\\|')}` : ''}`;
      lines.push(`| ${c.label} | ${fmtMs(cell.medianMs)}${spread} | ${fmtRatio(cell.ratio) || '—'} | ${fmtMs(cell.medianCpuMs)} | ${rss} | ${req} | ${check} |`);
    }
    lines.push('');
  }
  lines.push('## Contenders');
  lines.push('');
  lines.push('| id | how it runs | version |');
  lines.push('|---|---|---|');
  for (const c of contenders) lines.push(`| ${c.id} | ${c.describe.replace(/\|/g, '\\|')} | ${c.available ? c.version : `**missing**: ${c.reason}`} |`);
  lines.push('');
  lines.push(
    'All tools get the same tree and the same .prefectignore, as their own exclude flags (checked: every remote tree is compared to the same expected file set). ' +
      'Each tool has its own prefix in one bucket, emptied before each run; the scenarios of a run build on each other (the no-change push follows the initial push, and so on), ' +
      'and the order of tools rotates from run to run. Preparation (copying the tree, untimed pushes before the incremental pull, removing the baseline\'s stale objects before the pulls) is not timed.',
  );
  lines.push('');
  if (result.profiles && result.profiles.length > 0) {
    lines.push('## Where flowsync\'s time goes');
    lines.push('');
    lines.push(
      'The CPU profiles run the unbundled build (dist/src), so that every function keeps the name of its module; ' +
        'its module loading costs more than that of the bundled CLI (dist/cli) that users run and that the timings above measure.',
    );
    lines.push('');
    for (const p of result.profiles) {
      if (p.phases.length > 0) {
        lines.push(`Outside in (whole processes, medians of 5, ${p.files.toLocaleString('en-US')} files, warm stat cache):`);
        lines.push('');
        lines.push('| command | wall | step cost |');
        lines.push('|---|---|---|');
        let prev = 0;
        for (const ph of p.phases) {
          lines.push(`| ${ph.label} | ${fmtMs(ph.ms)} | ${!prev ? '' : ph.ms >= prev ? `+${fmtMs(ph.ms - prev)}` : '≈0 (below the noise)'} |`);
          prev = ph.ms;
        }
        lines.push('');
      }
      const what = result.scenarios.find((x) => x.id === p.scenario)?.title ?? SCENARIO_TITLES[p.scenario] ?? p.scenario;
      lines.push(`### CPU profile: ${what}`);
      lines.push('');
      lines.push(`${fmtMs(p.wallMs)} wall under the profiler${p.cpuMs ? `, ${fmtMs(p.cpuMs)} CPU (user+sys)` : ''}. Self time by where the code lives:`);
      lines.push('');
      lines.push('| where | self time | share |');
      lines.push('|---|---|---|');
      for (const g of p.groups.slice(0, 12)) lines.push(`| ${g.group} | ${g.ms.toFixed(0)} ms | ${(g.share * 100).toFixed(1)} % |`);
      lines.push('');
      lines.push('By the flowsync function nearest on the stack (its own time plus the Node and library calls it makes):');
      lines.push('');
      lines.push('| flowsync function (or other) | time | share |');
      lines.push('|---|---|---|');
      for (const g of p.byFlowsyncFunction.slice(0, 14)) lines.push(`| ${g.label.replace(/\|/g, '\\|')} | ${g.ms.toFixed(0)} ms | ${(g.share * 100).toFixed(1)} % |`);
      lines.push('');
      lines.push('Hottest functions (self time):');
      lines.push('');
      lines.push('| function | where | ms |');
      lines.push('|---|---|---|');
      for (const f of p.top.slice(0, 12)) lines.push(`| \`${f.fn.replace(/\|/g, '\\|')}\` | ${f.where} | ${f.ms.toFixed(0)} |`);
      lines.push('');
    }
  }
  if (result.notes.length > 0) {
    lines.push('## Notes');
    lines.push('');
    for (const n of result.notes) lines.push(`- ${n}`);
    lines.push('');
  }
  lines.push('## Tool versions');
  lines.push('');
  for (const [k, v] of Object.entries(m.tools)) lines.push(`- ${k}: ${v}`);
  lines.push('');
  return lines.join('\n');
}
