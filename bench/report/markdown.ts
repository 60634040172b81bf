/** The human report: what ran where, the scenario × contender table, targets, details, profile. */
import { SCENARIOS, type BenchResult, type ContenderInfo, type NetworkInfo } from '../types.js';
import { appliesTo, bestAnchor, cellOf, kindOf, median, networksOf, type Cell } from './stats.js';
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
  missing: 'not available',
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

/** New connections a contender opened (median over runs): a client without keep-alive pays a handshake each. */
function connections(result: BenchResult, network: string, scenario: string, contender: string): string {
  const n = result.records
    .filter((r) => (r.network ?? 'loopback') === network && r.scenario === scenario && r.contender === contender && typeof r.requests?.connections === 'number')
    .map((r) => r.requests!.connections);
  return n.length ? fmtInt(median(n)) : '—';
}

function methods(m: Record<string, number> | null): string {
  if (!m) return '—';
  return Object.entries(m)
    .sort((a, b) => b[1] - a[1])
    .map(([k, v]) => `${k} ${v.toLocaleString('en-US')}`)
    .join(', ');
}

const STORE_NAME: Record<ContenderInfo['store'], string> = { s3: 'S3 (s3rver)', azure: 'Azure (Azurite)', local: 'local store' };

/**
 * flowsync (each layout and mode, each store) against the best anchor of its store, one column
 * group per network pass: the table the README shows.
 */
export function renderSummary(result: BenchResult, cells: Cell[]): string[] {
  const nets = networksOf(result);
  const flowsyncs = result.contenders.filter((c) => kindOf(c) === 'flowsync' && c.store !== 'local' && c.available);
  const lines: string[] = [];
  lines.push(`| scenario | flowsync as | ${nets.map((n) => `${n.label}: flowsync | best anchor | ×`).join(' | ')} |`);
  lines.push(`|---|---|${nets.map(() => '---|---|---').join('|')}|`);
  for (const s of result.scenarios) {
    for (const f of flowsyncs) {
      if (!appliesTo(s, f)) continue;
      const groups = nets.map((n) => {
        const cell = cellOf(cells, s.id, f.id, n.id);
        if (!cell) return '— | — | —';
        const best = bestAnchor(result, cells, s.id, f.store, n.id);
        const mine = cell.medianMs === null ? MARK[cell.status].trim() || '—' : `${fmtMs(cell.medianMs)}${MARK[cell.status]}`;
        const req = cell.medianRequests !== null ? ` (${fmtInt(cell.medianRequests)} req)` : '';
        const theirs = best ? `${fmtMs(best.medianMs)} ${best.contender}` : '—';
        const x = best && cell.status === 'ok' && cell.medianMs ? (best.medianMs! / cell.medianMs).toFixed(2) : '—';
        return `${mine}${req} | ${theirs} | ${x === '—' ? x : `**${x}×**`}`;
      });
      lines.push(`| ${s.title} | ${f.label} | ${groups.join(' | ')} |`);
    }
  }
  return lines;
}

function resultTable(result: BenchResult, cells: Cell[], net: NetworkInfo, store: ContenderInfo['store']): string[] {
  const contenders = result.contenders.filter((c) => c.store === store && cells.some((x) => x.network === net.id && x.contender === c.id));
  if (contenders.length === 0) return [];
  const lines = [`**${STORE_NAME[store]}**`, '', `| scenario | ${contenders.map((c) => c.label).join(' | ')} |`, `|---|${contenders.map(() => '---').join('|')}|`];
  for (const s of result.scenarios) {
    if (!contenders.some((c) => cellOf(cells, s.id, c.id, net.id))) continue;
    lines.push(`| ${s.title} | ${contenders.map((c) => mainCell(cellOf(cells, s.id, c.id, net.id))).join(' | ')} |`);
  }
  lines.push('');
  return lines;
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
  const nets = networksOf(result);
  lines.push(
    `**Networks:** ${nets.map((n) => `${n.label}${n.latencyMs > 0 ? ` (${n.contenders.length} contenders: ${n.contenders.join(', ')})` : ''}`).join('; ')}. ` +
      'A pass with latency runs every scenario again through the same proxies, which then hold each request half a round trip each way (the first request on a new connection one round trip more, for the handshake).' +
      (d.findWalkMs ? ` A \`find -printf '%s %T@'\` walk of the whole source tree takes ${fmtMs(d.findWalkMs)} (the walk floor).` : ''),
  );
  lines.push('');
  lines.push('## Summary: flowsync against the best anchor');
  lines.push('');
  lines.push(
    '"Best anchor" = the fastest anchor with a correct result on the same store in the same scenario and pass, all flag sets counted (rclone and aws at their defaults and tuned, s3cmd; rclone on Azure). ' +
      '× = best anchor\'s time ÷ flowsync\'s (above 1: flowsync faster). Requests: as seen by the proxy.',
  );
  lines.push('');
  lines.push(...renderSummary(result, cells));
  lines.push('');
  lines.push(`![bench chart](${svgName})`);
  lines.push('');
  lines.push('## Targets (issues 5 and 15)');
  lines.push('');
  lines.push('Reported, not asserted; one column per network pass.');
  lines.push('');
  const verdict = (t: TargetRow | undefined) =>
    !t ? '—' : `${t.verdict === 'met' ? '✓' : t.verdict === 'not met' ? '✗' : ''} ${t.measured}${t.verdict === 'not met' ? ' **(not met)**' : ''}`.trim();
  const targetNames = [...new Set(targets.map((t) => t.target))];
  const netsWithTargets = nets.filter((n) => targets.some((t) => t.network === n.id));
  lines.push(`| target | ${netsWithTargets.map((n) => n.label).join(' | ')} |`);
  lines.push(`|---|${netsWithTargets.map(() => '---').join('|')}|`);
  for (const name of targetNames) lines.push(`| ${name} | ${netsWithTargets.map((n) => verdict(targets.find((t) => t.target === name && t.network === n.id))).join(' | ')} |`);
  lines.push('');
  for (const net of nets) {
    lines.push(`## Results: ${net.label}`);
    lines.push('');
    lines.push(
      `Each cell: **median wall time** over ${runs} run${runs === 1 ? '' : 's'}, ×N = this tool's time ÷ flowsync's (mirror layout, same store) in the same run, the median of those per-run ratios ` +
        '(above 1: flowsync was faster), median CPU time (user+sys: less sensitive than wall time to other load on this shared machine), median peak RSS of the whole process, requests seen by the proxy. ' +
        'Every result is checked (remote listing with MD5s plus objects read back, or for the packed layout a pull back; pulled folders hashed file by file): ' +
        "✗ WRONG = finished but the tree is not the source tree; ⚠ stale = the remote keeps files deleted locally (Prefect's steps never delete: by design, but a pull then brings them back).",
    );
    lines.push('');
    for (const store of ['s3', 'azure', 'local'] as const) lines.push(...resultTable(result, cells, net, store));
  }
  lines.push('## Details');
  lines.push('');
  for (const net of nets) {
    for (const s of result.scenarios) {
      const here = contenders.filter((c) => cellOf(cells, s.id, c.id, net.id));
      if (here.length === 0) continue;
      lines.push(`### ${s.title} (${net.label})`);
      lines.push('');
      lines.push(s.detail + '.');
      lines.push('');
      lines.push('| contender | median (min–max) | ×flowsync | CPU user+sys | peak RSS (max) | requests (by method) | connections | check |');
      lines.push('|---|---|---|---|---|---|---|---|');
      for (const c of here) {
        const cell = cellOf(cells, s.id, c.id, net.id)!;
        if (cell.status === 'missing') {
          lines.push(`| ${c.label} | not available | | | | | | ${c.reason ?? ''} |`);
          continue;
        }
        const spread = cell.minMs !== null && cell.runs > 1 ? ` (${fmtMs(cell.minMs)}–${fmtMs(cell.maxMs)})` : '';
        const rss = cell.medianRssMiB !== null ? `${cell.medianRssMiB.toFixed(0)} MiB (${cell.maxRssMiB!.toFixed(0)})` : '—';
        const req = cell.medianRequests !== null ? `${fmtInt(cell.medianRequests)} (${methods(cell.requestsByMethod)})` : c.store !== 'local' ? '—' : 'n/a (no network)';
        const conns = connections(result, net.id, s.id, c.id);
        const check = cell.status === 'ok' ? `✓ ${cell.runs}/${cell.runs}` : `${MARK[cell.status].trim()}${cell.problems.length ? `: ${cell.problems.slice(0, 2).join('; ').replace(/\|/g, '\\|')}` : ''}`;
        lines.push(`| ${c.label} | ${fmtMs(cell.medianMs)}${spread} | ${fmtRatio(cell.ratio) || '—'} | ${fmtMs(cell.medianCpuMs)} | ${rss} | ${req} | ${conns} | ${check} |`);
      }
      lines.push('');
    }
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
