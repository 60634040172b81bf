/** The progress line's arithmetic and layout (the terminal itself is tested in test/e2e/progress-tty.test.ts). */
import { describe, expect, it } from 'vitest';
import { clock, FILE_WEIGHT, lineParts, renderLine, workDone } from '../../src/cli/progress-line.js';
import { groupThousands } from '../../src/cli/format.js';
import type { ProgressEvent } from '../../src/sync/types.js';

const ev = (o: Partial<ProgressEvent>): ProgressEvent => ({ phase: 'upload', loaded: 0, total: 0, files: 0, filesTotal: 0, ...o });

describe('workDone: small files move it', () => {
  it('one big file done with 4,999 small files left is far from done (bytes alone would say 96 %)', () => {
    const total = 230e6 + 4999 * 2000;
    const e = ev({ loaded: 230e6, total, files: 1, filesTotal: 5000 });
    expect(e.loaded / e.total).toBeGreaterThan(0.95);
    expect(workDone(e)).toBeLessThan(0.25);
  });
  it('is 0 at the start, 1 at the end, and grows with every file even when files are empty', () => {
    expect(workDone(ev({ total: 100, filesTotal: 10 }))).toBe(0);
    expect(workDone(ev({ loaded: 100, total: 100, files: 10, filesTotal: 10 }))).toBe(1);
    const empties = [0, 1, 2, 3].map((files) => workDone(ev({ files, filesTotal: 4 })));
    expect(empties).toEqual([0, 0.25, 0.5, 0.75]);
    expect(FILE_WEIGHT).toBeGreaterThan(0);
  });
});

describe('renderLine', () => {
  const busy = lineParts(ev({ loaded: 123_456_789, total: 987_654_321, files: 1234, filesTotal: 56789 }), 83_000);

  it('shows files, bytes, rate, elapsed and ETA when there is room', () => {
    const line = renderLine(busy, 200);
    expect(line).toMatch(/^upload +\[#+\.+\] +\d+%/);
    expect(line).toContain('1,234/56,789 files');
    expect(line).toContain('123.5/987.7 MB');
    expect(line).toMatch(/1\.49 MB\/s/);
    expect(line).toContain('elapsed 1:23');
    expect(line).toMatch(/ETA \d+:\d\d/);
  });

  it('never reaches the last column, at any width: the bar goes first, then elapsed, rate, bytes', () => {
    for (let columns = 12; columns <= 160; columns++) {
      const line = renderLine(busy, columns);
      expect(line.length, `${columns} columns: ${line}`).toBeLessThanOrEqual(columns - 1);
      expect(line).not.toContain('\n');
    }
    const at80 = renderLine(busy, 80);
    expect(at80).toContain('files');
    expect(at80).toContain('ETA');
    expect(at80).toContain('/s');
    expect(at80).toContain('elapsed');
    expect(renderLine(busy, 50)).toMatch(/^upload \d+% 1,234\/56,789 files/);
  });

  it('a phase with no totals yet (scan) shows no percentage and no ETA', () => {
    const line = renderLine(lineParts(ev({ phase: 'scan', files: 10 }), 2000), 80);
    expect(line).not.toMatch(/%|ETA/);
    expect(line).toContain('10 files');
  });

  it('clock', () => {
    expect([clock(0), clock(75), clock(3725)]).toEqual(['0:00', '1:15', '1:02:05']);
  });
});

describe('groupThousands (counts in progress lines, without the ICU start-up of toLocaleString)', () => {
  it('groups like en-US toLocaleString for counts of every size', () => {
    for (const n of [0, 7, 999, 1000, 9999, 12345, 100000, 1234567, 2 ** 40]) expect(groupThousands(n)).toBe(n.toLocaleString('en-US'));
  });
});
