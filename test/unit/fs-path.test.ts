/** Paths built by concatenation must be the ones path.join gives, for the inputs they are meant for. */
import path from 'node:path';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { inFolder, underFolder } from '../../src/util/fs-path.js';

const segment = fc.stringMatching(/^[a-zA-Z0-9_\-. é]{1,12}$/).filter((s) => s !== '.' && s !== '..');
const folder = fc.array(segment, { maxLength: 4 }).map((parts) => path.resolve('/', ...parts));

describe('fs-path', () => {
  it('underFolder and inFolder agree with path.join for resolved folders and checked paths (property)', () => {
    fc.assert(
      fc.property(folder, fc.array(segment, { minLength: 1, maxLength: 5 }), (dir, parts) => {
        expect(underFolder(dir, parts.join('/'))).toBe(path.join(dir, parts.join('/')));
        expect(inFolder(dir, parts[0]!)).toBe(path.join(dir, parts[0]!));
      }),
      { numRuns: 300 },
    );
  });

  it('does not double the separator under the root folder', () => {
    expect(inFolder('/', 'a')).toBe('/a');
    expect(underFolder('/', 'a/b')).toBe('/a/b');
  });
});
