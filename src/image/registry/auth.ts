/**
 * The distribution spec's challenges: a 401 carries `WWW-Authenticate: Bearer realm=…,service=…,
 * scope=…` (get a token from the realm, with Basic credentials when there are any) or `Basic
 * realm=…` (send the credentials on every request). Tokens are kept per scope.
 */
export interface Challenge {
  scheme: 'bearer' | 'basic' | 'other';
  params: Record<string, string>;
}

export function parseChallenge(header: string | undefined): Challenge | null {
  if (!header) return null;
  const m = /^\s*(\w+)\s*(.*)$/s.exec(header);
  if (!m) return null;
  const scheme = m[1]!.toLowerCase();
  const params: Record<string, string> = {};
  const re = /(\w+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^,\s]*))\s*,?/g;
  for (let p = re.exec(m[2]!); p; p = re.exec(m[2]!)) params[p[1]!.toLowerCase()] = (p[2] ?? p[3] ?? '').replace(/\\(.)/g, '$1');
  return { scheme: scheme === 'bearer' ? 'bearer' : scheme === 'basic' ? 'basic' : 'other', params };
}

export function basicHeader(username: string, password: string): string {
  return `Basic ${Buffer.from(`${username}:${password}`).toString('base64')}`;
}

/** The token URL for a Bearer challenge and the scopes a request needs. */
export function tokenUrl(challenge: Challenge, scopes: readonly string[]): string | null {
  const realm = challenge.params.realm;
  if (!realm) return null;
  const u = new URL(realm);
  if (challenge.params.service) u.searchParams.set('service', challenge.params.service);
  const wanted = new Set(scopes);
  if (challenge.params.scope) for (const s of challenge.params.scope.split(' ')) wanted.add(s);
  for (const s of wanted) u.searchParams.append('scope', s);
  return u.toString();
}
