/** Write latest.md, latest.svg and latest.json (raw runs plus the computed cells and targets). */
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { BenchResult } from '../types.js';
import { renderMarkdown } from './markdown.js';
import { computeCells } from './stats.js';
import { renderSvg } from './svg.js';
import { evaluateTargets } from './targets.js';

export function writeReport(result: BenchResult, outDir: string, name: string): { md: string; svg: string; json: string; markdown: string } {
  mkdirSync(outDir, { recursive: true });
  const cells = computeCells(result);
  const targets = evaluateTargets(result, cells);
  const files = { md: path.join(outDir, `${name}.md`), svg: path.join(outDir, `${name}.svg`), json: path.join(outDir, `${name}.json`) };
  const markdown = renderMarkdown(result, cells, targets, `${name}.svg`);
  writeFileSync(files.md, markdown);
  writeFileSync(files.svg, renderSvg(result, cells));
  writeFileSync(files.json, JSON.stringify({ ...result, cells, targets }, null, 2) + '\n');
  return { ...files, markdown };
}
