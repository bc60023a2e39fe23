import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { renderChart } from './chart.js';
import { renderMarkdown } from './markdown.js';
import type { DatabaseReport } from './types.js';

const startMark = '<!-- latest-results:start -->';
const endMark = '<!-- latest-results:end -->';

/** Writes latest.svg and latest.md into `out`, and, when given, the results section of bench/README.md. */
export async function writeOutputs(reports: DatabaseReport[], out: string, wholeRunS: number, readme?: string): Promise<void> {
  const quick = reports.some((r) => r.quick);
  writeFileSync(path.join(out, 'latest.svg'), await renderChart(reports));
  writeFileSync(path.join(out, 'latest.md'), `${renderMarkdown(reports, 'latest.svg')}\nWhole run: ${wholeRunS} s${quick ? ' (quick)' : ''}.\n`);
  if (!readme || !existsSync(readme)) return;
  const text = readFileSync(readme, 'utf8');
  const from = text.indexOf(startMark);
  const to = text.indexOf(endMark);
  if (from < 0 || to < from) return;
  const relative = path.relative(path.dirname(readme), path.join(out, 'latest.svg'));
  const body = renderMarkdown(reports, relative);
  writeFileSync(readme, `${text.slice(0, from + startMark.length)}\n${body}\nWhole run: ${wholeRunS} s.\n${text.slice(to)}`);
}

/**
 * `reports` plus, for each database they leave out, the newest report of it already in `out`: a run
 * of one database (`--db postgres`) keeps the other's section of latest.md, with its own date.
 */
export function withNewestOthers(reports: DatabaseReport[], out: string): DatabaseReport[] {
  const newest = new Map<string, string>();
  for (const file of readdirSync(out).filter((f) => /^\d{4}-\d{2}-\d{2}-(sqlite|postgres)\.json$/.test(f)).sort()) newest.set(file.slice(11, -5), file);
  const others = [...newest.entries()]
    .filter(([db]) => !reports.some((r) => r.db === db))
    .map(([, file]) => JSON.parse(readFileSync(path.join(out, file), 'utf8')) as DatabaseReport);
  return [...reports, ...others].sort((a, b) => (a.db === b.db ? 0 : a.db === 'sqlite' ? -1 : 1));
}
