/** A description of the machine and tool versions, printed with every report. */
import { execFileSync } from 'node:child_process';
import os from 'node:os';

export interface MachineInfo {
  cpuModel: string;
  cores: number;
  memoryGiB: number;
  os: string;
  node: string;
  loadAverage: number[];
  tools: Record<string, string>;
}

export function firstLine(cmd: string, args: string[], env?: NodeJS.ProcessEnv): string | null {
  try {
    const out = execFileSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], timeout: 20_000, ...(env ? { env } : {}) });
    return out.split('\n').find((l) => l.trim() !== '')?.trim() ?? '';
  } catch {
    return null;
  }
}

export function describeMachine(tools: Record<string, string>): MachineInfo {
  const cpus = os.cpus();
  const osRelease = firstLine('sh', ['-c', '. /etc/os-release && echo "$PRETTY_NAME"']) ?? os.platform();
  return {
    cpuModel: cpus[0]?.model ?? 'unknown',
    cores: cpus.length,
    memoryGiB: Math.round((os.totalmem() / 2 ** 30) * 10) / 10,
    os: `${osRelease}, kernel ${os.release()}`,
    node: process.version,
    loadAverage: os.loadavg().map((n) => Math.round(n * 100) / 100),
    tools,
  };
}
