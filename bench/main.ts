/**
 * `npm run bench -- [options]`: flowsync side by side with rclone, aws s3 sync, s3cmd and a
 * Prefect-style baseline on the same s3rver and the same data. See bench/options.ts for options
 * and bench/results/latest.md for the last report.
 */
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { HELP, parseOptions } from './options.js';
import { updateReadme } from './report/readme.js';
import { rewriteReport, writeReport } from './report/write.js';
import { runBench } from './run.js';

/** The repository root: the nearest folder up from here with flowsync's package.json (works from bench/ and dist/bench/). */
export function findRepoRoot(from = path.dirname(fileURLToPath(import.meta.url))): string {
  for (let dir = from; ; dir = path.dirname(dir)) {
    const pkg = path.join(dir, 'package.json');
    if (existsSync(pkg) && (JSON.parse(readFileSync(pkg, 'utf8')) as { name?: string }).name === 'flowsync') return dir;
    if (path.dirname(dir) === dir) throw new Error(`No flowsync package.json above ${from}`);
  }
}

async function main(argv: string[]): Promise<number> {
  const repoRoot = findRepoRoot();
  let options;
  try {
    options = parseOptions(argv, repoRoot);
  } catch (err) {
    process.stderr.write(`${(err as Error).message}\n\n${HELP}`);
    return 2;
  }
  if (options === 'help') {
    process.stdout.write(HELP);
    return 0;
  }
  if (options.reportOnly) {
    const files = rewriteReport(options.reportOnly, repoRoot);
    process.stderr.write(`report: ${files.md}, ${files.svg}, ${files.json}\n`);
    if (options.updateReadme) {
      updateReadme(path.join(repoRoot, 'README.md'), files.readmeSection, options.shortfalls);
      process.stderr.write('README.md: bench section regenerated\n');
    }
    return 0;
  }
  const started = Date.now();
  const log = (line: string) => process.stderr.write(`[bench ${((Date.now() - started) / 1000).toFixed(0).padStart(4)} s] ${line}\n`);
  const o = options;
  // After every run the report so far is written, so a run stopped early still leaves one.
  const checkpoint = (partial: Parameters<typeof writeReport>[0]) => {
    writeReport(partial, o.out, o.name, repoRoot);
    log(`report so far: ${path.join(o.out, `${o.name}.md`)}`);
  };
  const result = await runBench(options, repoRoot, argv, log, checkpoint);
  const files = writeReport(result, options.out, options.name, repoRoot);
  if (options.updateReadme) {
    updateReadme(path.join(repoRoot, 'README.md'), files.readmeSection, options.shortfalls);
    log('README.md: bench section regenerated');
  }
  log(`report: ${files.md}, ${files.svg}, ${files.json}`);
  process.stdout.write(files.markdown.split('\n## Targets')[0] + '\n');
  const bad = result.records.filter((r) => r.contender.startsWith('flowsync') && (r.status === 'wrong' || r.status === 'failed'));
  if (bad.length > 0) {
    log(`flowsync gave ${bad.length} failed or wrong result(s): see the report`);
    return 1;
  }
  return 0;
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err: unknown) => {
    process.stderr.write(`bench failed: ${(err as Error).stack ?? String(err)}\n`);
    process.exit(1);
  },
);
