/** Human formatting of sizes and durations, and parsing of sizes given on the command line. */
import { FlowsyncError } from '../errors.js';

const UNITS = ['B', 'KB', 'MB', 'GB', 'TB'];

export function formatBytes(n: number): string {
  let v = n;
  let u = 0;
  while (v >= 1000 && u < UNITS.length - 1) {
    v /= 1000;
    u++;
  }
  return `${u === 0 ? v : v.toFixed(v < 10 ? 2 : 1)} ${UNITS[u]}`;
}

/** 12345 → "12,345". By hand: the first toLocaleString() call loads ICU data, ~20 ms of every command's start. */
export function groupThousands(n: number): string {
  return String(Math.round(n)).replace(/\B(?=(\d{3})+(?!\d))/g, ',');
}

export function formatDuration(ms: number): string {
  return ms < 1000 ? `${ms} ms` : `${(ms / 1000).toFixed(ms < 10_000 ? 2 : 1)} s`;
}

const SIZE = /^(\d+(?:\.\d+)?)\s*([kmgt]?i?b?)?$/i;
const FACTORS: Record<string, number> = { '': 1, b: 1, k: 1e3, kb: 1e3, ki: 1024, kib: 1024, m: 1e6, mb: 1e6, mi: 1024 ** 2, mib: 1024 ** 2, g: 1e9, gb: 1e9, gi: 1024 ** 3, gib: 1024 ** 3, t: 1e12, tb: 1e12, ti: 1024 ** 4, tib: 1024 ** 4 };

/** "16MiB", "8M", "5242880" → bytes. */
export function parseSize(text: string, flag: string): number {
  const m = SIZE.exec(text.trim());
  const factor = m ? FACTORS[(m[2] ?? '').toLowerCase()] : undefined;
  if (!m || factor === undefined) throw new FlowsyncError('USAGE', `${flag} expects a size such as 16MiB, 8MB or 5242880; got ${JSON.stringify(text)}.`);
  return Math.round(Number(m[1]) * factor);
}

export function parsePositiveInt(text: string, flag: string): number {
  const n = Number(text);
  if (!Number.isInteger(n) || n < 1 || n > 1024) throw new FlowsyncError('USAGE', `${flag} expects a whole number from 1 to 1024; got ${JSON.stringify(text)}.`);
  return n;
}

const DURATION = /^(\d+(?:\.\d+)?)\s*(ms|s|m|h)?$/i;
const DURATION_FACTORS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

/** "90s", "2m", "500ms", "0" → milliseconds (a bare number is seconds). */
export function parseDuration(text: string, flag: string): number {
  const m = DURATION.exec(text.trim());
  if (!m) throw new FlowsyncError('USAGE', `${flag} expects a duration such as 90s, 2m or 500ms; got ${JSON.stringify(text)}.`);
  return Math.round(Number(m[1]) * DURATION_FACTORS[(m[2] ?? 's').toLowerCase()]!);
}
