/** Write latest.md, latest.svg and latest.json (raw runs plus the computed cells and targets). */
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { BenchResult } from '../types.js';
import { renderMarkdown } from './markdown.js';
import { renderReadmeSection } from './readme.js';
import { computeCells } from './stats.js';
import { renderSvg } from './svg.js';
import { evaluateTargets, type LargeRun } from './targets.js';

/** A 100k-file run written beside this one (e.g. flowsync-100k.json), for the 100k targets. */
function findCompanion(outDir: string, name: string): LargeRun | undefined {
  if (!existsSync(outDir)) return undefined;
  for (const f of readdirSync(outDir).filter((x) => x.endsWith('.json') && x !== `${name}.json`).sort()) {
    try {
      const result = JSON.parse(readFileSync(path.join(outDir, f), 'utf8')) as BenchResult;
      if (result.data?.files >= 100_000 && Array.isArray(result.records)) return { name: f.replace(/\.json$/, '.md'), result, cells: computeCells(result) };
    } catch {
      // Not a bench result: ignore.
    }
  }
  return undefined;
}

export interface Written {
  md: string;
  svg: string;
  json: string;
  markdown: string;
  readmeSection: string;
}

export function writeReport(result: BenchResult, outDir: string, name: string, repoRoot?: string): Written {
  mkdirSync(outDir, { recursive: true });
  const cells = computeCells(result);
  const targets = evaluateTargets(result, cells, findCompanion(outDir, name));
  const files = { md: path.join(outDir, `${name}.md`), svg: path.join(outDir, `${name}.svg`), json: path.join(outDir, `${name}.json`) };
  const markdown = renderMarkdown(result, cells, targets, `${name}.svg`);
  writeFileSync(files.md, markdown);
  writeFileSync(files.svg, renderSvg(result, cells));
  writeFileSync(files.json, JSON.stringify({ ...result, cells, targets }, null, 2) + '\n');
  const reportPath = repoRoot ? path.relative(repoRoot, files.md) : files.md;
  return { ...files, markdown, readmeSection: renderReadmeSection(result, cells, targets, reportPath) };
}

/** Render the report again from a JSON written earlier (report changes without re-running). */
export function rewriteReport(jsonFile: string, repoRoot?: string): Written {
  const { cells: _cells, targets: _targets, ...result } = JSON.parse(readFileSync(jsonFile, 'utf8')) as BenchResult & { cells?: unknown; targets?: unknown };
  return writeReport(result as BenchResult, path.dirname(jsonFile), path.basename(jsonFile, '.json'), repoRoot);
}
