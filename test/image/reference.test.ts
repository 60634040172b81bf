/** Image references as Docker reads them, and where plain HTTP is allowed. */
import { describe, expect, it } from 'vitest';
import { parseChallenge, tokenUrl } from '../../src/image/registry/auth.js';
import { formatRef, isLoopbackRegistry, parseImageRef } from '../../src/image/reference.js';

describe('image references', () => {
  it.each([
    ['python:3.12', { registry: 'registry-1.docker.io', repository: 'library/python', tag: '3.12' }],
    ['prefecthq/prefect', { registry: 'registry-1.docker.io', repository: 'prefecthq/prefect' }],
    ['docker.io/library/alpine:3', { registry: 'registry-1.docker.io', repository: 'library/alpine', tag: '3' }],
    ['localhost/flows/etl', { registry: 'localhost', repository: 'flows/etl' }],
    ['127.0.0.1:5000/flows/etl:v1', { registry: '127.0.0.1:5000', repository: 'flows/etl', tag: 'v1' }],
    [`ghcr.io/o/r@sha256:${'a'.repeat(64)}`, { registry: 'ghcr.io', repository: 'o/r', digest: `sha256:${'a'.repeat(64)}` }],
  ])('%s', (text, want) => {
    expect(parseImageRef(text)).toEqual(want);
  });

  it('refuses what is not a reference, saying how one is written', () => {
    for (const bad of ['', 'Upper/Case', 'a b', 'repo:bad tag', 'x@sha256:123']) expect(() => parseImageRef(bad)).toThrow(/is not an image reference.*\[registry\/\]repository\[:tag\]/);
  });

  it('formats Docker Hub back as docker.io', () => {
    expect(formatRef(parseImageRef('python:3.12'), '3.12')).toBe('docker.io/library/python:3.12');
  });

  it('plain HTTP only for loopback, as Docker allows', () => {
    for (const r of ['localhost', 'localhost:5000', '127.0.0.1:5000', '127.9.8.7', '[::1]:5000']) expect(isLoopbackRegistry(r)).toBe(true);
    for (const r of ['registry.example.com', '10.0.0.5:5000', '128.0.0.1', 'localhost.example.com']) expect(isLoopbackRegistry(r)).toBe(false);
  });
});

describe('auth challenges', () => {
  it('Bearer: realm, service and scope; the token URL asks for every scope needed', () => {
    const c = parseChallenge('Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/python:pull"')!;
    expect(c).toEqual({ scheme: 'bearer', params: { realm: 'https://auth.docker.io/token', service: 'registry.docker.io', scope: 'repository:library/python:pull' } });
    const u = new URL(tokenUrl(c, ['repository:flows/etl:pull,push'])!);
    expect(u.searchParams.get('service')).toBe('registry.docker.io');
    expect(u.searchParams.getAll('scope')).toEqual(['repository:flows/etl:pull,push', 'repository:library/python:pull']);
  });
  it('Basic', () => {
    expect(parseChallenge('Basic realm="Registry Realm"')).toEqual({ scheme: 'basic', params: { realm: 'Registry Realm' } });
  });
});
