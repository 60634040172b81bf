import { FlowsyncError } from '../../errors.js';
import type { Command } from '../command.js';
import { formatBytes, formatDuration, parsePositiveInt } from '../format.js';

export const stepsCommand: Command = {
  name: 'steps',
  summary: "run the build:, push: or pull: section of a prefect.yaml, as Prefect's steps do",
  usage: 'flowsync steps run <build|push|pull> [options]',
  args: ['run', 'section'],
  options: {
    file: { type: 'string', short: 'f' },
    deployment: { type: 'string', short: 'd' },
    blocks: { type: 'string' },
    'outputs-file': { type: 'string' },
    concurrency: { type: 'string' },
    'dry-run': { type: 'boolean' },
  },
  help: `Options:
  -f, --file FILE         the prefect.yaml (default ./prefect.yaml); steps run in the current folder
  -d, --deployment NAME   use this deployment's build:/push:/pull: section when it has one
                          ('steps run push' runs build: first, then push:, as 'prefect deploy' does)
  --blocks FILE           blocks and variables for {{ prefect.blocks.* }} / {{ prefect.variables.* }}
                          (YAML/JSON: {blocks: {<type-slug>: {<name>: data}}, variables: {<name>: value}});
                          with PREFECT_API_URL set, the Prefect API is asked too
  --outputs-file FILE     build/push: write the step outputs there; pull: apply them to the pull steps
                          first, as 'prefect deploy' bakes {{ push_code.bucket }} into stored pull steps
  --concurrency N         transfers in flight for storage steps
  --dry-run               resolve and check every step, print its parameters (secrets masked) and what
                          its push/pull would do; write nothing (git_clone and shell steps are not run)

A storage step whose bucket or folder is missing, or comes out of a placeholder empty or
unresolved, is refused before anything is written, naming the placeholder and where its value
should come from; folder: '' (written so) is the bucket root, with a warning.

Examples:
  flowsync steps run push --dry-run
  flowsync steps run push --outputs-file .flowsync-outputs.json
  flowsync steps run pull --outputs-file .flowsync-outputs.json --blocks blocks.yaml`,
  async run({ positionals: [verb, section], values, output, signal }) {
    if (verb !== 'run' || (section !== 'build' && section !== 'push' && section !== 'pull')) {
      throw new FlowsyncError('USAGE', `Expected 'flowsync steps run build', 'steps run push' (build: then push:, as prefect deploy) or 'steps run pull'; got 'steps ${verb} ${section}'.`);
    }
    // Loaded on demand: plain push/pull never pay for the YAML and templating code.
    const [{ runSteps }, { paramLines }] = await Promise.all([import('../../steps/index.js'), import('../../steps/dry-run.js')]);
    const result = await runSteps({
      section,
      signal,
      log: output.log,
      onProgress: output.onProgress,
      ...(typeof values.file === 'string' ? { file: values.file } : {}),
      ...(typeof values.deployment === 'string' ? { deployment: values.deployment } : {}),
      ...(typeof values.blocks === 'string' ? { blocksFile: values.blocks } : {}),
      ...(typeof values['outputs-file'] === 'string' ? { outputsFile: values['outputs-file'] } : {}),
      ...(typeof values.concurrency === 'string' ? { concurrency: parsePositiveInt(values.concurrency, '--concurrency') } : {}),
      ...(values['dry-run'] ? { dryRun: true } : {}),
    });
    const dry = Boolean(values['dry-run']);
    const lines: string[] = [`steps run ${section}${dry ? ' (dry run: nothing written)' : ''}: ${result.steps.length} step(s)`];
    for (const s of result.steps) {
      lines.push(`  ${s.index + 1}. ${s.name}${s.id ? ` (id ${s.id})` : ''}${dry ? '' : ` in ${formatDuration(s.durationMs)}`}`);
      if (s.params) lines.push(...paramLines(s.params).map((l) => `       ${l}`));
      if (s.would) lines.push(...s.would.map((l) => `     ${l}`));
    }
    const would = dry ? 'would ' : '';
    lines.push(`  ${would}upload ${result.uploaded}, ${would}download ${result.downloaded}, ${would}delete ${result.deleted}, unchanged ${result.unchanged} (${formatBytes(result.bytes)}) in ${formatDuration(result.durationMs)}`);
    if (result.directory) lines.push(`  directory ${result.directory}`);
    output.result(
      {
        command: 'steps',
        uploaded: result.uploaded,
        downloaded: result.downloaded,
        deleted: result.deleted,
        unchanged: result.unchanged,
        updated: result.updated,
        bytes: result.bytes,
        manifest: result.manifest,
        durationMs: result.durationMs,
        steps: result.steps,
        ...(dry ? { dryRun: true } : {}),
        outputs: result.outputs,
        ...(result.directory ? { directory: result.directory } : {}),
      },
      lines.join('\n'),
    );
    return 0;
  },
};
