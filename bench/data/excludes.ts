/**
 * The .prefectignore lines turned into each anchor tool's exclude flags, so every contender moves
 * the same set of files (the harness checks that by comparing remote trees, so a wrong
 * translation shows up as a failure, not as a quietly smaller workload).
 *
 * Supported line shapes (what Prefect's default file and most projects use):
 *   `name/`  a folder at any depth;   `name`  a file or folder at any depth;
 *   `*.ext`, `*.py[cod]`  a glob on the last path segment, at any depth.
 * Anything else (negation `!x`, anchored `/x`, `a/b` paths, `**`) is reported as unsupported.
 */

export interface ToolExcludes {
  rclone: string[];
  aws: string[];
  s3cmd: string[];
  unsupported: string[];
}

export function translateIgnoreLines(lines: readonly string[]): ToolExcludes {
  const out: ToolExcludes = { rclone: [], aws: [], s3cmd: [], unsupported: [] };
  for (const raw of lines) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) continue;
    const dirOnly = line.endsWith('/');
    const name = dirOnly ? line.slice(0, -1) : line;
    if (line.startsWith('!') || name.startsWith('/') || name.includes('/') || name.includes('**') || name.includes('\\') || name === '') {
      out.unsupported.push(line);
      continue;
    }
    // rclone: a pattern without a leading "/" matches at the end of the path, at any depth.
    // aws / s3cmd: the pattern is matched against the whole relative path and "*" crosses "/".
    const dirPatterns = { rclone: [`${name}/**`], glob: [`${name}/*`, `*/${name}/*`] };
    const filePatterns = { rclone: [name], glob: [name, `*/${name}`] };
    const parts = dirOnly ? [dirPatterns] : [filePatterns, dirPatterns];
    for (const p of parts) {
      out.rclone.push(...p.rclone);
      out.aws.push(...p.glob);
      out.s3cmd.push(...p.glob);
    }
  }
  return out;
}
