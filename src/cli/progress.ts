import { Presets, SingleBar } from 'cli-progress';
import type { Io } from './io.js';

/** Progress of `migrate:all`: a bar on a terminal, nothing otherwise (the summary follows anyway). */
export interface Progress {
  update(done: number, total: number, failed: number): void;
  stop(): void;
}

export function createProgress(io: Io, enabled: boolean): Progress {
  if (!enabled || !io.stderr.isTTY) return { update() {}, stop() {} };
  const bar = new SingleBar(
    {
      stream: io.stderr,
      format: 'migrating {bar} {percentage}% | {value}/{total} tenants | {failed} failed | ETA {eta_formatted}',
      hideCursor: true,
      clearOnComplete: false,
      etaBuffer: 20,
    },
    Presets.shades_classic,
  );
  let started = false;
  // Ctrl-C: give the terminal its cursor back (open transactions end with the connections).
  const interrupted = () => {
    bar.stop();
    process.exit(130);
  };
  return {
    update(done, total, failed) {
      // Started on the first finished tenant, when the total is known.
      if (!started) {
        bar.start(total, 0, { failed: 0 });
        process.once('SIGINT', interrupted);
        started = true;
      }
      bar.update(done, { failed });
    },
    stop() {
      if (!started) return;
      process.removeListener('SIGINT', interrupted);
      bar.stop();
    },
  };
}
