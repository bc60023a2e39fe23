import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import type { DatabaseReport } from './types.js';
import { writeOutputs } from './write.js';
import { writeWholeProcessOutputs } from './whole-process.js';

// Re-renders latest.md, latest.svg, whole-process.md (and bench/README.md's tables, for bench/results)
// from the newest <date>-<db>.json and <date>-whole-process-node<N>.json of a results folder, without
// running anything:
//   node bench/.build/bench/report/render.js [bench/results]
const root = path.resolve(__dirname, '../../../..');
const dir = path.resolve(process.argv[2] ?? path.join(root, 'bench/results'));
const files = readdirSync(dir).filter((f) => /^\d{4}-\d{2}-\d{2}-(sqlite|postgres)\.json$/.test(f)).sort();
const date = files.at(-1)?.slice(0, 10);
const readme = dir === path.join(root, 'bench/results') ? path.join(root, 'bench/README.md') : undefined;
writeWholeProcessOutputs(dir, readme);
if (!date) throw new Error(`no <date>-<db>.json in ${dir}`);
const reports = files
  .filter((f) => f.startsWith(date))
  .map((f) => JSON.parse(readFileSync(path.join(dir, f), 'utf8')) as DatabaseReport)
  .sort((a, b) => (a.db === 'sqlite' ? -1 : b.db === 'sqlite' ? 1 : 0));
const wholeRunS = reports[0]?.wholeRunS ?? reports.reduce((sum, r) => sum + r.durationS, 0);
writeOutputs(reports, dir, wholeRunS, readme).then(
  () => process.stderr.write(`rendered ${dir}/latest.md and latest.svg from ${date}${readme ? ' (and bench/README.md)' : ''}\n`),
  (error: unknown) => {
    console.error(error);
    process.exit(1);
  },
);
