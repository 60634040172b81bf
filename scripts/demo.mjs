// npm run demo: the main job on the embedded local store, through the real CLI.
// push a sample project, push again (nothing changes), pull it into a new folder, verify.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const cli = path.join(root, 'dist', 'cli', 'main.js');
const work = mkdtempSync(path.join(os.tmpdir(), 'flowsync-demo-'));
const source = path.join(root, 'fixtures', 'sample-flow');
const store = path.join(work, 'store');
const worker = path.join(work, 'worker');
// A cache of its own, so the demo behaves the same on every machine and run.
const env = { ...process.env, FLOWSYNC_CACHE_DIR: path.join(work, 'cache') };

function run(title, args) {
  console.log(`\n# ${title}\n$ flowsync ${args.map((a) => (a.startsWith(work) ? a.replace(work, '$DEMO') : a)).join(' ')}`);
  const r = spawnSync(process.execPath, [cli, ...args], { stdio: 'inherit', env });
  if (r.status !== 0) {
    console.error(`demo: 'flowsync ${args[0]}' exited with ${r.status}`);
    process.exit(r.status ?? 1);
  }
}

console.log(`demo folder: $DEMO = ${work}`);
run('the files push will take (.prefectignore drops __pycache__/ and .venv)', ['scan', source]);
run('first push: every file goes up', ['push', source, store]);
run('second push, nothing changed: 0 uploaded, no file read (stat cache)', ['push', source, store]);
run('pull into a fresh worker folder', ['pull', store, worker]);
run('pull again: already in place', ['pull', store, worker]);
run('verify the store and the pulled copy against the manifest', ['verify', store, '--dir', worker]);
run('the same push as a machine-readable summary', ['push', source, store, '--json', '--quiet']);
if (!process.env.KEEP_DEMO) rmSync(work, { recursive: true, force: true });
console.log(`\ndemo done${process.env.KEEP_DEMO ? ` (kept ${work})` : ' (set KEEP_DEMO=1 to keep its folder)'}`);
