/**
 * Where CLI output goes: the JSON summary (or human summary) to stdout; progress and logs to
 * stderr — a live bar on a terminal, plain lines otherwise. Everything passes through the
 * secret scrubber.
 */
import { scrubSecrets } from '../secrets.js';
import type { Logger, Phase, ProgressEvent } from '../sync/types.js';
import { formatBytes, formatDuration } from './format.js';

export interface Output {
  json: boolean;
  quiet: boolean;
  log: Logger;
  onProgress: (e: ProgressEvent) => void;
  /** Print the final result: one JSON object, or human lines. */
  result(summary: object, human: string): void;
  /** Clear the progress line before the process ends. */
  done(): void;
}

const BAR_WIDTH = 24;
const PLAIN_INTERVAL_MS = 5000;

export function createOutput(opts: { json: boolean; quiet: boolean; stderr?: NodeJS.WriteStream; stdout?: NodeJS.WriteStream }): Output {
  const err = opts.stderr ?? process.stderr;
  const out = opts.stdout ?? process.stdout;
  const tty = Boolean(err.isTTY) && !process.env.CI;
  let barShown = false;
  let phaseStart = Date.now();
  let lastPlain = 0;
  let current: Phase | null = null;

  const clearBar = () => {
    if (barShown) {
      err.write('\r\x1b[2K');
      barShown = false;
    }
  };
  const line = (text: string) => {
    clearBar();
    err.write(scrubSecrets(text) + '\n');
  };

  const describe = (e: ProgressEvent): string => {
    const files = e.filesTotal > 0 ? `${e.files}/${e.filesTotal} files` : e.files > 0 ? `${e.files} files` : '';
    const bytes = e.total > 0 ? `${formatBytes(e.loaded)}/${formatBytes(e.total)}` : '';
    const elapsed = (Date.now() - phaseStart) / 1000;
    const rate = e.total > 0 && elapsed > 0.5 ? `${formatBytes(e.loaded / elapsed)}/s` : '';
    return [files, bytes, rate].filter(Boolean).join('  ');
  };

  return {
    json: opts.json,
    quiet: opts.quiet,
    log: {
      // Few and worth seeing (retries, each prefect.yaml step, git and shell output), as Prefect shows them.
      info: (m) => {
        if (!opts.quiet) line(m);
      },
      warn: (m) => line(`warning: ${m}`),
    },
    onProgress(e) {
      if (opts.quiet) return;
      const starting = e.phase !== current;
      if (starting) {
        current = e.phase;
        phaseStart = Date.now();
        lastPlain = phaseStart;
      }
      const finished = (e.filesTotal > 0 && e.files >= e.filesTotal && e.loaded >= e.total) || (e.total > 0 && e.loaded >= e.total && e.files >= e.filesTotal);
      if (tty) {
        const ratio = e.total > 0 ? e.loaded / e.total : e.filesTotal > 0 ? e.files / e.filesTotal : 0;
        const filled = Math.round(Math.min(1, ratio) * BAR_WIDTH);
        const bar = `[${'#'.repeat(filled)}${'.'.repeat(BAR_WIDTH - filled)}] ${String(Math.floor(ratio * 100)).padStart(3)}%`;
        err.write(`\r\x1b[2K${e.phase.padEnd(8)} ${e.total > 0 || e.filesTotal > 0 ? bar + '  ' : ''}${describe(e)}`);
        barShown = true;
        return;
      }
      const now = Date.now();
      if (finished && e.files + e.loaded > 0) {
        line(`${e.phase}: done, ${describe(e)} in ${formatDuration(now - phaseStart)}`);
        current = null;
      } else if (now - lastPlain >= PLAIN_INTERVAL_MS && !starting) {
        lastPlain = now;
        line(`${e.phase}: ${describe(e)}`);
      }
    },
    result(summary, human) {
      clearBar();
      if (opts.json) out.write(scrubSecrets(JSON.stringify(summary)) + '\n');
      // Nothing to say (a scan that found no file) prints nothing, not an empty line.
      else if (human !== '') out.write(scrubSecrets(human) + '\n');
    },
    done: clearBar,
  };
}
