/**
 * Image references as Docker reads them: `[registry[:port]/]repository[:tag][@digest]`. A first
 * component with a '.' or ':' or equal to `localhost` is a registry; otherwise the image is on
 * Docker Hub (`registry-1.docker.io`, `library/` added to one-component names).
 */
import { FlowsyncError } from '../errors.js';

export const DOCKER_HUB = 'registry-1.docker.io';

export interface ImageRef {
  /** host[:port] as written (Docker Hub as registry-1.docker.io). */
  registry: string;
  repository: string;
  tag?: string;
  digest?: string;
}

const REPO_PART = /^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$/;
const TAG = /^[\w][\w.-]{0,127}$/;
const DIGEST = /^sha256:[0-9a-f]{64}$/;

export function parseImageRef(text: string, what = 'image'): ImageRef {
  const bad = (why: string) =>
    new FlowsyncError('INVALID_INPUT', `${what} ${JSON.stringify(text)} is not an image reference: ${why}. Write [registry/]repository[:tag], e.g. 127.0.0.1:5000/flows/etl:v1.`);
  if (!text || /\s/.test(text)) throw bad('it is empty or contains spaces');
  let rest = text;
  let digest: string | undefined;
  const at = rest.indexOf('@');
  if (at >= 0) {
    digest = rest.slice(at + 1);
    rest = rest.slice(0, at);
    if (!DIGEST.test(digest)) throw bad('the part after @ must be sha256:<64 hex digits>');
  }
  let tag: string | undefined;
  const slash = rest.lastIndexOf('/');
  const colon = rest.lastIndexOf(':');
  if (colon > slash) {
    tag = rest.slice(colon + 1);
    rest = rest.slice(0, colon);
    if (!TAG.test(tag)) throw bad(`the tag ${JSON.stringify(tag)} is not valid (letters, digits, _ . -; at most 128)`);
  }
  const parts = rest.split('/');
  let registry = DOCKER_HUB;
  if (parts.length > 1 && (parts[0]!.includes('.') || parts[0]!.includes(':') || parts[0] === 'localhost')) {
    registry = parts.shift()!;
  }
  if (registry === 'docker.io' || registry === 'index.docker.io') registry = DOCKER_HUB;
  if (registry === DOCKER_HUB && parts.length === 1) parts.unshift('library');
  for (const p of parts) if (!REPO_PART.test(p)) throw bad(`the repository part ${JSON.stringify(p)} must be lower-case letters, digits and separators`);
  return { registry, repository: parts.join('/'), ...(tag ? { tag } : {}), ...(digest ? { digest } : {}) };
}

/** The tag or digest a manifest request names (`latest` when neither is given). */
export function refTarget(ref: ImageRef): string {
  return ref.digest ?? ref.tag ?? 'latest';
}

export function formatRef(ref: ImageRef, target: string | undefined = ref.tag): string {
  const name = `${ref.registry === DOCKER_HUB ? 'docker.io' : ref.registry}/${ref.repository}`;
  if (!target) return name;
  return target.startsWith('sha256:') ? `${name}@${target}` : `${name}:${target}`;
}

/** Docker allows plain HTTP to registries on loopback. */
export function isLoopbackRegistry(registry: string): boolean {
  const host = registry.replace(/:\d+$/, '').replace(/^\[|\]$/g, '');
  return host === 'localhost' || host === '::1' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(host);
}
