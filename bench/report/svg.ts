/**
 * The chart: plain SVG (no script, no external fonts), one panel per scenario, one horizontal
 * bar per contender with its median time, a whisker for the min–max spread, and the ratio to
 * flowsync. Each panel has its own scale, so small and large scenarios are both readable.
 */
import type { BenchResult } from '../types.js';
import { cellOf, networksOf } from './stats.js';
import type { Cell } from './stats.js';
import { fmtMs } from './markdown.js';

const COLORS: Record<string, string> = {
  flowsync: '#1f77b4',
  'flowsync-local': '#7fb3d9',
  baseline: '#8c564b',
  rclone: '#2ca02c',
  'rclone-checksum': '#98df8a',
  'rclone-tuned': '#1a7a1a',
  'rclone-tuned-checksum': '#5cc85c',
  'flowsync-packed': '#17becf',
  'flowsync-cached': '#3b5bdb',
  'flowsync-az': '#0b4f8a',
  'rclone-az': '#2ca02c',
  'rclone-az-checksum': '#98df8a',
  aws: '#ff7f0e',
  'aws-tuned': '#c45f00',
  s3cmd: '#9467bd',
};

function esc(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

export function renderSvg(result: BenchResult, cells: Cell[]): string {
  const width = 980;
  const labelW = 190;
  const barW = 560;
  const rowH = 20;
  const out: string[] = [];
  let y = 44;
  const nets = networksOf(result);
  for (const net of nets)
  for (const s of result.scenarios) {
    const rows = result.contenders.map((c) => ({ c, cell: cellOf(cells, s.id, c.id, net.id) })).filter((r) => r.cell);
    if (rows.length === 0) continue;
    const max = Math.max(1, ...rows.map((r) => r.cell!.maxMs ?? r.cell!.medianMs ?? 0));
    out.push(`<text x="10" y="${y}" font-size="14" font-weight="bold">${esc(nets.length > 1 ? `${s.title} — ${net.label}` : s.title)}</text>`);
    y += 8;
    for (const { c, cell } of rows) {
      const cy = y + rowH / 2;
      out.push(`<text x="${labelW - 8}" y="${cy + 4}" font-size="12" text-anchor="end">${esc(c.label)}</text>`);
      if (!cell || cell.medianMs === null) {
        const why = cell?.status === 'missing' ? 'not available' : cell?.status === 'skipped' ? 'skipped' : cell?.status === 'failed' ? '✗ FAILED' : '—';
        out.push(`<text x="${labelW + 4}" y="${cy + 4}" font-size="12" fill="${cell?.status === 'failed' ? '#d62728' : '#777'}">${esc(why)}</text>`);
        y += rowH;
        continue;
      }
      const bad = cell.status === 'wrong' || cell.status === 'failed';
      const w = Math.max(1, (cell.medianMs / max) * barW);
      const fill = bad ? '#d62728' : (COLORS[c.id] ?? '#999');
      out.push(`<rect x="${labelW}" y="${y + 3}" width="${w.toFixed(1)}" height="${rowH - 6}" fill="${fill}"${cell.status === 'stale' ? ' fill-opacity="0.55"' : ''}/>`);
      if (cell.minMs !== null && cell.maxMs !== null && cell.runs > 1) {
        const x1 = labelW + (cell.minMs / max) * barW;
        const x2 = labelW + (cell.maxMs / max) * barW;
        out.push(`<line x1="${x1.toFixed(1)}" y1="${cy}" x2="${x2.toFixed(1)}" y2="${cy}" stroke="#222" stroke-width="1"/>`);
        out.push(`<line x1="${x1.toFixed(1)}" y1="${cy - 4}" x2="${x1.toFixed(1)}" y2="${cy + 4}" stroke="#222"/>`);
        out.push(`<line x1="${x2.toFixed(1)}" y1="${cy - 4}" x2="${x2.toFixed(1)}" y2="${cy + 4}" stroke="#222"/>`);
      }
      const ratio = cell.ratio !== null ? `  ×${cell.ratio >= 10 ? cell.ratio.toFixed(0) : cell.ratio.toFixed(1)}` : '';
      const mark = cell.status === 'wrong' ? '  ✗ WRONG' : cell.status === 'stale' ? '  ⚠ stale' : '';
      const req = cell.medianRequests !== null ? `  ${Math.round(cell.medianRequests).toLocaleString('en-US')} req` : '';
      const tx = labelW + Math.max(w, cell.maxMs !== null ? ((cell.maxMs / max) * barW) : 0) + 6;
      out.push(`<text x="${tx.toFixed(1)}" y="${cy + 4}" font-size="11" fill="${bad ? '#d62728' : '#222'}">${esc(`${fmtMs(cell.medianMs)}${ratio}${req}${mark}`)}</text>`);
      y += rowH;
    }
    y += 18;
  }
  const height = y + 24;
  const title = `flowsync bench — ${result.data.files.toLocaleString('en-US')} files, ${result.machine.cores} cores, s3rver${result.contenders.some((c) => c.store === 'azure') ? ' and Azurite' : ''}, ${nets.map((n) => n.label).join(' and ')}, median of ${String(result.options.runs)} run(s); ×N = time ÷ flowsync mirror's on the same store (higher: flowsync faster)`;
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="DejaVu Sans, Arial, Helvetica, sans-serif">`,
    `<rect width="100%" height="100%" fill="#fff"/>`,
    `<text x="10" y="22" font-size="13">${esc(title)}</text>`,
    ...out,
    `<text x="10" y="${height - 8}" font-size="10" fill="#555">${esc(`${result.startedAt} · bars: median wall time (own scale per panel) · whiskers: min–max over runs · red: wrong or failed · pale: stale (deleted files left behind)`)}</text>`,
    '</svg>',
    '',
  ].join('\n');
}
