/**
 * One conformance suite every backend must pass (in the spirit of rclone's fstests). A backend's
 * test file names its server setup and its known gaps, and calls `runConformance`.
 *
 * A case that needs a feature the backend lacks is skipped with "skipped: backend lacks <feature>";
 * a known gap is skipped with its reason. Nothing passes without having checked something.
 */
import { afterAll, beforeAll, describe, it } from 'vitest';
import { normalizePrefix } from '../../src/backends/keys.js';
import type { Backend } from '../../src/backends/types.js';
import { deleteKeys } from '../../src/transfer/delete.js';
import { CONFORMANCE_CASES, SharedData, type CaseContext } from './cases.js';

export interface ConformanceFixture {
  backend: Backend;
  /** A fresh, empty folder prefix (no trailing slash) for this run, e.g. `conf-<random>` */
  prefix: string;
  /** Number of multipart uploads still pending on the server for keys under prefix, when the server can show it; omit if it cannot. */
  pendingUploads?: () => Promise<number>;
  /** Stops what setup started (servers, temp folders) and closes the backend; the suite has already deleted its objects. */
  teardown?: () => Promise<void>;
}

export interface ConformanceTarget {
  name: string; // "memory", "local", "s3 (s3rver)", ...
  setup: () => Promise<ConformanceFixture>; // called once per suite (beforeAll)
  /** case id -> reason: cases this server cannot check (e.g. s3rver ignores conditional writes). Shown as skipped with the reason. */
  knownGaps?: Record<string, string>;
}

export const CASES: readonly string[] = CONFORMANCE_CASES.map((c) => c.id);

const SETUP_TIMEOUT_MS = 120_000;

export function runConformance(target: ConformanceTarget): void {
  const gaps = target.knownGaps ?? {};
  const unknown = Object.keys(gaps).filter((id) => !CASES.includes(id));
  if (unknown.length > 0) {
    throw new Error(`${target.name}: knownGaps names unknown case ids ${unknown.join(', ')}; the ids are: ${CASES.join(', ')}.`);
  }

  describe(`backend conformance: ${target.name}`, () => {
    let fixture: ConformanceFixture | undefined;
    let shared: SharedData | undefined;

    beforeAll(async () => {
      fixture = await target.setup();
      const { backend, prefix } = fixture;
      if (!prefix || normalizePrefix(prefix) !== prefix) {
        throw new Error(`${target.name}: fixture prefix ${JSON.stringify(prefix)} must be a non-empty folder without leading or trailing slashes.`);
      }
      for await (const o of backend.list(`${prefix}/`)) {
        throw new Error(`${target.name}: fixture prefix ${prefix}/ is not empty (found ${o.key}); setup must give a fresh folder.`);
      }
      shared = new SharedData(backend, prefix);
    }, SETUP_TIMEOUT_MS);

    afterAll(async () => {
      try {
        if (fixture) await deleteEverything(fixture.backend, `${fixture.prefix}/`);
      } finally {
        await fixture?.teardown?.();
      }
    }, SETUP_TIMEOUT_MS);

    for (const testCase of CONFORMANCE_CASES) {
      const title = `${testCase.id}: ${testCase.title}`;
      const gap = gaps[testCase.id];
      if (gap !== undefined) {
        it.skip(`${title} — skipped: known gap: ${gap}`, () => {});
        continue;
      }
      it(
        title,
        async (ctx) => {
          if (!fixture || !shared) throw new Error(`${target.name}: setup did not finish; see the beforeAll error.`);
          const missing = (testCase.needs ?? []).filter((f) => !fixture!.backend.features[f]);
          if (missing.length > 0) ctx.skip(`skipped: backend lacks ${missing.join(', ')}`);
          const c: CaseContext = {
            backend: fixture.backend,
            root: fixture.prefix,
            dir: `${fixture.prefix}/${testCase.id}`,
            shared,
            note: async (message) => void (await ctx.annotate(message)),
            ...(fixture.pendingUploads ? { pendingUploads: fixture.pendingUploads } : {}),
          };
          await testCase.run(c);
        },
        testCase.timeoutMs,
      );
    }
  });
}

/** Removes the run's objects (listed first, then deleted in the engine's batches) so shared servers do not fill up. */
async function deleteEverything(backend: Backend, folder: string): Promise<void> {
  const keys: string[] = [];
  for await (const o of backend.list(folder)) keys.push(o.key);
  await deleteKeys(backend, keys);
}
