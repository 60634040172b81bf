import { execFile } from 'node:child_process';
import { promises as fsp } from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { FlowsyncError, fsError } from '../../errors.js';
import type { Command } from '../command.js';
import { closest } from '../closest.js';
import { DEFAULT_PREFECTIGNORE, prefectYaml, RECIPES, type Recipe, type RecipeInput } from '../init-recipes.js';

const run = promisify(execFile);

/** Write `content` to `file` unless something is there already; returns whether it wrote. */
async function writeIfMissing(file: string, content: string): Promise<boolean> {
  try {
    await fsp.writeFile(file, content, { flag: 'wx' }); // wx: fails when the file exists, so nothing is overwritten
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw fsError(err, 'write', file);
  }
}

/** The origin URL (without credentials) and branch of a git work tree, when the folder is one. */
async function gitOrigin(dir: string): Promise<Pick<RecipeInput, 'repository' | 'branch'>> {
  const git = (...args: string[]) => run('git', ['-C', dir, ...args], { timeout: 10_000 }).then((r) => r.stdout.trim(), () => '');
  const origin = await git('remote', 'get-url', 'origin');
  const branch = await git('rev-parse', '--abbrev-ref', 'HEAD');
  const out: Pick<RecipeInput, 'repository' | 'branch'> = {};
  if (origin) out.repository = origin.replace(/^(https?:\/\/)[^/@]*@/, '$1'); // a token in the URL never goes into the file
  if (branch && branch !== 'HEAD') out.branch = branch;
  return out;
}

function recipeOf(value: unknown): Recipe {
  if (value === undefined) return 'local';
  const text = String(value);
  if ((RECIPES as readonly string[]).includes(text)) return text as Recipe;
  const guess = closest(text, RECIPES);
  throw new FlowsyncError('USAGE', `Unknown recipe ${JSON.stringify(text)}.${guess ? ` Did you mean ${guess}?` : ''} Recipes: ${RECIPES.join(', ')}.`);
}

export const initCommand: Command = {
  name: 'init',
  summary: "start a project as prefect init does: Prefect's default .prefectignore and a prefect.yaml (never overwrites)",
  usage: 'flowsync init [dir] [--recipe NAME]',
  args: [],
  optionalArgs: ['dir'],
  options: { recipe: { type: 'string', short: 'r' } },
  help: `Options:
  -r, --recipe NAME   s3, azure, gcs (push to and pull from a bucket), git (pull by git_clone),
                      docker (build and push an image), local (run in place; the default)

Writes <dir>/.prefectignore (Prefect's default) and <dir>/prefect.yaml with the recipe's push: and
pull: sections, each only when it does not exist yet: nothing is ever overwritten. Prints what it
wrote. Edit the bucket (or container, repository, image) name before the first push.

Examples:
  flowsync init --recipe s3
  flowsync init ./flows --recipe gcs && flowsync steps run push --file ./flows/prefect.yaml`,
  async run({ positionals: [dirArg], values, output }) {
    const recipe = recipeOf(values.recipe);
    const dir = path.resolve(dirArg ?? '.');
    const st = await fsp.stat(dir).catch((err: unknown) => {
      throw fsError(err, 'read the folder', dir);
    });
    if (!st.isDirectory()) throw new FlowsyncError('INVALID_INPUT', `${dir} is not a folder. Give the project folder to initialise.`);
    const input: RecipeInput = { name: path.basename(dir), dir, ...(recipe === 'git' ? await gitOrigin(dir) : {}) };
    const files = [
      { name: '.prefectignore', content: DEFAULT_PREFECTIGNORE },
      { name: 'prefect.yaml', content: prefectYaml(recipe, input) },
    ];
    const written: string[] = [];
    const kept: string[] = [];
    for (const f of files) ((await writeIfMissing(path.join(dir, f.name), f.content)) ? written : kept).push(path.join(dir, f.name));
    const lines = [
      ...written.map((f) => `wrote ${f}`),
      ...kept.map((f) => `kept ${f} (it exists; init never overwrites)`),
    ];
    if (written.some((f) => f.endsWith('prefect.yaml')) && ['s3', 'azure', 'gcs', 'git', 'docker'].includes(recipe)) {
      lines.push(`next: edit the ${recipe === 'git' ? 'repository' : recipe === 'docker' ? 'image_name' : recipe === 'azure' ? 'container' : 'bucket'} in prefect.yaml, then run: flowsync steps run push`);
    }
    output.result({ command: 'init', recipe, written, kept }, lines.join('\n'));
    return 0;
  },
};
