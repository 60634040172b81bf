/**
 * Trees the bench is done with (pulled folders, caches, copies), set aside by a rename and deleted
 * together later, outside the timed work.
 *
 * Why not delete them at once: on an ext4 without a journal (this VM's root file system) the
 * kernel's inode allocator skips every inode freed in the last minute or so, and it finds out by
 * reading each free candidate's inode-table entry — so a file created soon after thousands were
 * deleted in the same block group costs time in proportion to how many were. Measured here: a
 * 5,000-file packed pull took 2.0 s with no deletions before it and 8–12 s right after a few
 * deleted trees, 68 % of its samples in `recently_deleted`/`find_inode_bit` (perf). Deleting one
 * contender's tree before the next contender's timed pull measured the deletion, not the tool;
 * a rename frees no inode.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, renameSync, rmSync, statfsSync } from 'node:fs';
import path from 'node:path';

/** How long the allocator keeps skipping freed inodes whose table block was written back (ext4's RECENTCY_MIN is 60 s). */
const ALLOCATOR_MEMORY_MS = 65_000;

export class Trash {
  private seq = 0;
  private held = false;

  constructor(
    private readonly root: string,
    private readonly log: (line: string) => void,
  ) {}

  /** Set `target` aside (nothing happens when it does not exist). */
  discard(target: string): void {
    if (!existsSync(target)) return;
    mkdirSync(this.root, { recursive: true });
    try {
      renameSync(target, path.join(this.root, String(++this.seq)));
      this.held = true;
    } catch {
      // Another file system, or the like: delete it now.
      rmSync(target, { recursive: true, force: true });
    }
  }

  /** Bytes free on the file system that holds the trash. */
  freeBytes(): number {
    mkdirSync(this.root, { recursive: true });
    const s = statfsSync(this.root);
    return s.bavail * s.bsize;
  }

  /**
   * Delete what was set aside. With `settle`, then wait until the allocator has forgotten the
   * freed inodes, so the next timed command does not pay for this deletion.
   */
  async empty(settle: boolean): Promise<void> {
    if (!this.held) return;
    rmSync(this.root, { recursive: true, force: true });
    this.held = false;
    if (!settle) return;
    execFileSync('sync');
    this.log(`emptied the bench's trash to free disk; waiting ${ALLOCATOR_MEMORY_MS / 1000} s so the deletion does not slow the next timed command`);
    await new Promise((r) => setTimeout(r, ALLOCATOR_MEMORY_MS));
  }
}
