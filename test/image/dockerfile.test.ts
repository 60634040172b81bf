/** The Dockerfile subset's parser and .dockerignore's rules, as Docker reads them. */
import { describe, expect, it } from 'vitest';
import { needsEngine } from '../../src/image/dockerfile/build.js';
import { dockerignoreFromText } from '../../src/image/dockerfile/dockerignore.js';
import { execForm, keyValues, parseDockerfile, splitWords, substitute } from '../../src/image/dockerfile/parse.js';

describe('Dockerfile parsing', () => {
  it('continuations, comments, case, lines', () => {
    const ins = parseDockerfile('# syntax comment\nfrom base:1\n\nENV A=1 \\\n    # dropped comment\n    B=2\ncopy . /app\n', 'Dockerfile');
    expect(ins.map((i) => [i.line, i.keyword, i.args])).toEqual([
      [2, 'FROM', 'base:1'],
      [4, 'ENV', 'A=1     B=2'],
      [7, 'COPY', '. /app'],
    ]);
  });

  it('substitution, exec form, words and key=value pairs', () => {
    const vars = new Map([['V', '1.0'], ['E', '']]);
    expect(substitute('$V ${V} ${E:-dflt} ${V:+set} ${MISSING} \\$V', vars)).toBe('1.0 1.0 dflt set  $V');
    expect(execForm('["python", "-m", "x"]')).toEqual(['python', '-m', 'x']);
    expect(execForm('python -m x')).toBeNull();
    expect(splitWords(`a "b c" 'd e' f\\ g`)).toEqual(['a', 'b c', 'd e', 'f g']);
    expect(keyValues('team="data eng" v=2', 'LABEL')).toEqual([['team', 'data eng'], ['v', '2']]);
    expect(keyValues('PATH /usr/bin:/bin', 'ENV')).toEqual([['PATH', '/usr/bin:/bin']]);
  });

  it('what needs a container engine is named, with the line', () => {
    const check = (text: string) => needsEngine(parseDockerfile(text, 'Dockerfile'));
    expect(check('FROM a\nCOPY . /x\n')).toBeNull();
    expect(check('FROM a\nCOPY . /x\nRUN pip install x\n')).toMatchObject({ needsEngine: { line: 3, keyword: 'RUN' } });
    expect(check('FROM a AS b\nFROM c\n')?.why).toMatch(/multi-stage/);
    expect(check('FROM a\nCOPY --from=b /x /y\n')?.why).toMatch(/COPY --from/);
    expect(check('FROM a\nCOPY --chown=1000:1000 . /x\n')?.why).toMatch(/--chown/);
    expect(check('FROM a\nADD https://example.com/x.tgz /x\n')?.why).toMatch(/URL or an archive/);
    expect(check('FROM a\nADD vendor.tar.gz /x\n')?.why).toMatch(/URL or an archive/);
    expect(check('FROM a\nHEALTHCHECK CMD true\n')?.why).toMatch(/HEALTHCHECK needs a container engine/);
  });
});

describe('.dockerignore', () => {
  const m = dockerignoreFromText('# comment\n*.log\n/build\n**/__pycache__\ndocs\n!docs/keep.md\nsrc/*/tmp\n', null);
  it.each([
    ['debug.log', true],
    ['sub/debug.log', false], // no implicit **/ as git has: `*.log` is the root only
    ['build/out.bin', true],
    ['a/b/__pycache__/x.pyc', true],
    ['docs/guide.md', true],
    ['docs/keep.md', false],
    ['src/pkg/tmp/x', true],
    ['src/pkg/deep/tmp/x', false],
    ['flows/etl.py', false],
  ])('%s ignored: %s', (p, ignored) => {
    expect(m.ignores(p, false)).toBe(ignored);
  });
  it('folders are not pruned while an exception could bring back something inside', () => {
    expect(m.ignores('docs', true)).toBe(false);
    expect(dockerignoreFromText('docs\n', null).ignores('docs', true)).toBe(true);
  });
});
