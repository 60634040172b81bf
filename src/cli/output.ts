/**
 * Where CLI output goes: the JSON summary (or human summary) to stdout; progress and logs to
 * stderr — a live bar on a terminal, plain lines otherwise. Everything passes through the
 * secret scrubber.
 */
import { scrubSecrets } from '../secrets.js';
import type { Logger, Phase, ProgressEvent } from '../sync/types.js';
import { formatDuration } from './format.js';
import { collectOnceAfterSetup } from './heap-growth.js';
import { lineParts, renderLine } from './progress-line.js';

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

/** Plain output: one line when a phase is done, and a line every 30 s while one runs longer (CI logs go quiet otherwise). */
const PLAIN_INTERVAL_MS = 30_000;
/** The walker's warning for each link it skips; the CLI says them once, as one line with a count. */
const SKIPPED_LINK = /^(.*?)Skipped link (.+ -> .+?): ([^.]+)\.(?: Use --follow-links.*)?$/s;
const LINKS_LISTED = 3;

/** Terminal redraws at most this often (the final state of a phase is always drawn). */
const REDRAW_MS = 100;

export function createOutput(opts: { json: boolean; quiet: boolean; stderr?: NodeJS.WriteStream; stdout?: NodeJS.WriteStream }): Output {
  const err = opts.stderr ?? process.stderr;
  const out = opts.stdout ?? process.stdout;
  const tty = Boolean(err.isTTY) && !process.env.CI;
  let barShown = false;
  let phaseStart = Date.now();
  let lastPlain = 0;
  let lastDraw = 0;
  let current: Phase | null = null;
  /** The current phase already printed its "done" line (its closing event repeats the same numbers). */
  let doneShown = false;

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
  // Skipped links, by the prefix their warnings carried (a prefect.yaml step's label, or none).
  const skippedLinks = new Map<string, string[]>();
  const saySkippedLinks = () => {
    for (const [prefix, links] of skippedLinks) {
      const shown = links.slice(0, LINKS_LISTED).join(', ');
      const more = links.length > LINKS_LISTED ? `, and ${links.length - LINKS_LISTED} more` : '';
      line(
        `warning: ${prefix}skipped ${links.length === 1 ? '1 link' : `${links.length} links`}: ${shown}${more}. ` +
          'Use --follow-links to upload what they point to, or make them relative links inside the folder.',
      );
    }
    skippedLinks.clear();
  };
  const plainText = (e: ProgressEvent, elapsedMs: number): string => {
    const p = lineParts(e, elapsedMs);
    return [p.files, p.bytes, p.rate].filter(Boolean).join('  ');
  };

  return {
    json: opts.json,
    quiet: opts.quiet,
    log: {
      // Few and worth seeing (retries, each prefect.yaml step, git and shell output), as Prefect shows them.
      info: (m) => {
        if (!opts.quiet) line(m);
      },
      warn: (m) => {
        const link = SKIPPED_LINK.exec(m);
        if (!link) return line(`warning: ${m}`);
        const [, prefix = '', what = '', why = ''] = link;
        skippedLinks.set(prefix, [...(skippedLinks.get(prefix) ?? []), `${what} (${why})`]);
      },
    },
    onProgress(e) {
      if (e.phase === 'upload' || e.phase === 'download') collectOnceAfterSetup();
      if (opts.quiet) return;
      const now = Date.now();
      // A new phase, or the same phase begun again after it finished (two storage steps in a row).
      const starting = e.phase !== current || (doneShown && e.loaded === 0 && e.files === 0);
      if (starting) {
        current = e.phase;
        phaseStart = now;
        lastPlain = now;
        doneShown = false;
      }
      const finished = (e.filesTotal > 0 || e.total > 0) && e.files >= e.filesTotal && e.loaded >= e.total;
      if (tty) {
        if (!starting && !finished && now - lastDraw < REDRAW_MS) return;
        lastDraw = now;
        err.write(`\r\x1b[2K${renderLine(lineParts(e, now - phaseStart), err.columns || 80)}`);
        barShown = true;
        return;
      }
      if (doneShown) return;
      if (finished && e.files + e.loaded > 0) {
        line(`${e.phase}: done, ${plainText(e, now - phaseStart)} in ${formatDuration(now - phaseStart)}`);
        doneShown = true;
      } else if (now - lastPlain >= PLAIN_INTERVAL_MS && !starting) {
        lastPlain = now;
        const p = lineParts(e, now - phaseStart);
        line(`${e.phase}: ${[p.ratio === null ? '' : `${Math.floor(p.ratio * 100)}%`, plainText(e, now - phaseStart), p.eta].filter(Boolean).join('  ')}`);
      }
    },
    result(summary, human) {
      saySkippedLinks();
      clearBar();
      if (opts.json) out.write(scrubSecrets(JSON.stringify(summary)) + '\n');
      // Nothing to say (a scan that found no file) prints nothing, not an empty line.
      else if (human !== '') out.write(scrubSecrets(human) + '\n');
    },
    done() {
      saySkippedLinks();
      clearBar();
    },
  };
}
