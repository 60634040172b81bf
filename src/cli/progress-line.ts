/**
 * The live progress line, as pure functions of what happened so far: the caller owns time and
 * the terminal. The line fits the terminal's width (it is cut, never wrapped: a wrapped line
 * cannot be redrawn in place and stacks up), and shows files and bytes, rate, elapsed and ETA.
 *
 * Progress is weighted by files as well as bytes: each file counts as FILE_WEIGHT bytes of
 * work on top of its size (a request costs about that much transfer time on a store such as
 * s3rver: ≈400 small PUT/s against ≈75 MB/s), so thousands of small files left after one big one
 * keep the line moving instead of sitting at 96 %.
 */
import type { ProgressEvent } from '../sync/types.js';
import { formatBytes, groupThousands } from './format.js';

export const FILE_WEIGHT = 192 * 1024;

/** Fraction of the phase's work done, 0..1, files and bytes both counting. */
export function workDone(e: ProgressEvent): number {
  const total = e.total + e.filesTotal * FILE_WEIGHT;
  if (total <= 0) return 0;
  return Math.min(1, Math.max(0, (e.loaded + e.files * FILE_WEIGHT) / total));
}

/** 75 → "1:15"; 3725 → "1:02:05". */
export function clock(seconds: number): string {
  const s = Math.max(0, Math.round(seconds));
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const ss = String(s % 60).padStart(2, '0');
  return h > 0 ? `${h}:${String(m).padStart(2, '0')}:${ss}` : `${m}:${ss}`;
}

const count = groupThousands;

export interface LineParts {
  phase: string;
  ratio: number | null;
  files: string;
  bytes: string;
  rate: string;
  elapsed: string;
  eta: string;
}

/** The pieces of the line; empty strings for what is not known yet. */
export function lineParts(e: ProgressEvent, elapsedMs: number): LineParts {
  const seconds = elapsedMs / 1000;
  const knowsTotal = e.total > 0 || e.filesTotal > 0;
  const ratio = knowsTotal ? workDone(e) : null;
  const files = e.filesTotal > 0 ? `${count(e.files)}/${count(e.filesTotal)} files` : e.files > 0 ? `${count(e.files)} files` : '';
  const bytes = e.total > 0 ? bytesOfTotal(e.loaded, e.total) : '';
  const settled = seconds >= 0.5;
  let rate = '';
  if (settled && e.total > 0 && e.loaded > 0) rate = `${formatBytes(e.loaded / seconds)}/s`;
  else if (settled && e.files > 0) rate = `${count(Math.round(e.files / seconds))} files/s`;
  // ETA from the weighted work rate; only once there is a rate to speak of.
  const eta = ratio !== null && ratio > 0 && ratio < 1 && settled ? `ETA ${clock((seconds * (1 - ratio)) / ratio)}` : '';
  return { phase: e.phase, ratio, files, bytes, rate, elapsed: `elapsed ${clock(seconds)}`, eta };
}

/** "30.3/30.7 MB" when both have the same unit, else "980 KB/1.20 MB". */
function bytesOfTotal(loaded: number, total: number): string {
  const [a, b] = [formatBytes(loaded), formatBytes(total)];
  const unit = (t: string) => t.slice(t.indexOf(' '));
  return unit(a) === unit(b) ? `${a.slice(0, a.indexOf(' '))}/${b}` : `${a}/${b}`;
}

function bar(ratio: number, width: number): string {
  const filled = Math.round(ratio * width);
  return `[${'#'.repeat(filled)}${'.'.repeat(width - filled)}]`;
}

/**
 * One line of at most `columns - 1` characters (the last column is left free: some terminals
 * wrap as soon as it is written). What does not fit goes, least useful first: the bar shrinks
 * and then goes, the gaps narrow, then elapsed, rate and bytes are dropped; the rest is cut.
 */
export function renderLine(p: LineParts, columns: number): string {
  const max = Math.max(10, columns - 1);
  const percent = p.ratio === null ? '' : `${Math.floor(p.ratio * 100)}%`;
  const compose = (barWidth: number, gap: string, drop: ReadonlySet<string>): string => {
    // Wide: aligned columns (phase padded, percentage right-aligned); narrow: no padding at all.
    const wide = gap.length > 1;
    const pct = wide ? percent.padStart(4) : percent;
    const pieces = [
      wide ? p.phase.padEnd(8) : p.phase,
      p.ratio !== null && barWidth > 0 ? `${bar(p.ratio, barWidth)} ${pct}` : pct,
      p.files,
      drop.has('bytes') ? '' : p.bytes,
      drop.has('rate') ? '' : p.rate,
      drop.has('elapsed') ? '' : p.elapsed,
      p.eta,
    ];
    return pieces.filter((s) => s !== '').join(gap);
  };
  const none = new Set<string>();
  const tries: string[] = [];
  for (let w = 24; w >= 8; w -= 4) tries.push(compose(w, '  ', none));
  tries.push(compose(0, '  ', none), compose(0, ' ', none));
  const dropped = new Set<string>();
  for (const piece of ['elapsed', 'rate', 'bytes']) {
    dropped.add(piece);
    tries.push(compose(0, ' ', dropped));
  }
  return tries.find((t) => t.length <= max) ?? tries.at(-1)!.slice(0, max);
}
