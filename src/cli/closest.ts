/** "Did you mean …?": the candidate nearest to what was typed, when it is near enough to help. */

/** Levenshtein distance (insert, delete, substitute; each costs 1), case-sensitive. */
export function editDistance(a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const row = [i];
    for (let j = 1; j <= b.length; j++) {
      row.push(Math.min(prev[j]! + 1, row[j - 1]! + 1, prev[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1)));
    }
    prev = row;
  }
  return prev[b.length]!;
}

/**
 * The closest candidate, or undefined when even the best one is further than `maxDistance`
 * (default: a third of the longer word, at least 1) — a wild guess helps nobody. A candidate
 * that starts with what was typed (`--dry` for `--dry-run`) counts as close.
 */
export function closest(typed: string, candidates: readonly string[], maxDistance?: number): string | undefined {
  const lower = typed.toLowerCase();
  let best: string | undefined;
  let bestDistance = Infinity;
  for (const c of candidates) {
    const d = c.startsWith(lower) && lower.length >= 3 ? 0.5 : editDistance(lower, c.toLowerCase());
    if (d < bestDistance) {
      best = c;
      bestDistance = d;
    }
  }
  if (best === undefined) return undefined;
  const limit = maxDistance ?? Math.max(1, Math.floor(Math.max(typed.length, best.length) / 3));
  return bestDistance <= limit ? best : undefined;
}
