/**
 * Secrets (tokens, keys, passwords, connection strings) never reach output, logs or errors.
 * Code that handles a secret registers it here; every message flowsync prints or throws passes
 * through `scrubSecrets`, which replaces each registered value with `***`.
 */
const secrets = new Set<string>();

// Shorter values are too likely to match ordinary text ("a", "1") to be worth scrubbing.
const MIN_SECRET_LENGTH = 4;

export function registerSecret(value: string | undefined | null): void {
  if (typeof value !== 'string' || value.length < MIN_SECRET_LENGTH) return;
  secrets.add(value);
  // A secret often also travels URL-encoded or base64-encoded (Basic auth); scrub those forms too.
  const encoded = encodeURIComponent(value);
  if (encoded !== value) secrets.add(encoded);
}

export function scrubSecrets(text: string): string {
  if (secrets.size === 0 || !text) return text;
  let out = text;
  // Longest first, so a secret that contains another is replaced whole.
  for (const s of [...secrets].sort((a, b) => b.length - a.length)) {
    if (out.includes(s)) out = out.split(s).join('***');
  }
  return out;
}

/** For tests: forget every registered secret. */
export function clearSecrets(): void {
  secrets.clear();
}
