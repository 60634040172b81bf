/**
 * The README's bench section, between `<!-- bench:start -->` and `<!-- bench:end -->`: the run,
 * the machine and its load, the data, the networks, the summary against the best anchor (loopback
 * and latency columns side by side) and the targets. Regenerated from a results file, never typed.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import type { BenchResult } from '../types.js';
import { renderMarkdown, renderSummary } from './markdown.js';
import type { Cell } from './stats.js';
import type { TargetRow } from './targets.js';

const START = '<!-- bench:start -->';
const END = '<!-- bench:end -->';

/** The paragraphs of the full report the README repeats (machine, data, server, networks). */
function headerParagraphs(markdown: string): string[] {
  return markdown.split('\n').filter((l) => /^\*\*(Machine|Data|Server|Networks):\*\*/.test(l));
}

export function renderReadmeSection(result: BenchResult, cells: Cell[], targets: TargetRow[], reportPath: string): string {
  const full = renderMarkdown(result, cells, targets, 'latest.svg');
  const runLine = full.split('\n')[2] ?? '';
  const targetTable = full.slice(full.indexOf('## Targets')).split('\n').filter((l) => l.startsWith('|'));
  const lines: string[] = [
    `Latest run — ${runLine} — full report in \`${reportPath}\`:`,
    '',
    ...headerParagraphs(full).flatMap((p) => [p, '']),
    "flowsync against the best anchor (the fastest correct one of all anchors and flag sets on the same store, same scenario, same network); × = best anchor's time ÷ flowsync's (above 1: flowsync faster):",
    '',
    ...renderSummary(result, cells),
    '',
    'Targets (reported, not asserted; 100k-file numbers from a companion run when one is in bench/results):',
    '',
    ...targetTable,
    '',
  ];
  return lines.join('\n');
}

/** Replace the README's bench section; an error names the missing markers. */
export function updateReadme(readmePath: string, section: string, shortfalls: string): void {
  const text = readFileSync(readmePath, 'utf8');
  const a = text.indexOf(START);
  const b = text.indexOf(END);
  if (a < 0 || b < a) throw new Error(`${readmePath}: no ${START} … ${END} block to replace; put the two markers where the bench table goes.`);
  const tail = shortfalls ? `\nWhere flowsync still falls short:\n\n${shortfalls}\n\n` : '';
  writeFileSync(readmePath, text.slice(0, a + START.length) + '\n' + section + tail + text.slice(b));
}
