/**
 * Progress reporting as plain callbacks (isomorphic-git style): `onProgress({phase, loaded,
 * total, files, filesTotal})`. Events inside a phase are throttled; the first and last event of
 * every phase are always delivered.
 */
export type Phase = 'scan' | 'hash' | 'plan' | 'upload' | 'download' | 'delete' | 'verify' | 'manifest';

export interface ProgressEvent {
  phase: Phase;
  /** Bytes done in this phase (files for phases that move no bytes). */
  loaded: number;
  total: number;
  /** Files done / total in this phase. */
  files: number;
  filesTotal: number;
}


export class Progress {
  private phase: Phase | null = null;
  private loaded = 0;
  private total = 0;
  private files = 0;
  private filesTotal = 0;
  private lastEmit = 0;

  constructor(
    private readonly listener?: (e: ProgressEvent) => void,
    private readonly intervalMs = 100,
  ) {}

  begin(phase: Phase, total: number, filesTotal: number): void {
    this.phase = phase;
    this.loaded = 0;
    this.files = 0;
    this.total = total;
    this.filesTotal = filesTotal;
    this.emit(true);
  }

  advance(bytes: number, files = 0): void {
    this.loaded += bytes;
    this.files += files;
    this.emit(false);
  }

  /** Take back bytes reported for an attempt that failed and will be retried. */
  rewind(bytes: number): void {
    this.loaded -= bytes;
  }

  end(): void {
    if (this.phase === null) return;
    this.emit(true);
    this.phase = null;
  }

  private emit(force: boolean): void {
    if (!this.listener || this.phase === null) return;
    const now = Date.now();
    if (!force && now - this.lastEmit < this.intervalMs) return;
    this.lastEmit = now;
    this.listener({ phase: this.phase, loaded: this.loaded, total: this.total, files: this.files, filesTotal: this.filesTotal });
  }
}
