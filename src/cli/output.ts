import Table from 'cli-table3';

/** JSON for output: bigints as strings, Buffers as hex; 2-space indent. */
export function toJson(value: unknown): string {
  return JSON.stringify(
    value,
    (_key, v: unknown) => {
      if (typeof v === 'bigint') return v.toString();
      if (v && typeof v === 'object' && (v as { type?: unknown }).type === 'Buffer' && Array.isArray((v as { data?: unknown }).data)) {
        return Buffer.from((v as { data: number[] }).data).toString('hex');
      }
      return v;
    },
    2,
  );
}

/** One table cell: strings as they are, dates in ISO form, null and undefined empty, objects as JSON. */
export function cell(value: unknown): string {
  if (value === null || value === undefined) return '';
  if (value instanceof Date) return Number.isNaN(value.getTime()) ? String(value) : value.toISOString();
  if (typeof value === 'object') return JSON.stringify(value, (_k, v: unknown) => (typeof v === 'bigint' ? v.toString() : v));
  return String(value).replace(/\r?\n/g, '\\n');
}

/**
 * A text table (cli-table3): a header row, then the rows, each column as wide as its widest cell
 * as a terminal shows it (CJK and emoji take two columns). No colors, so it pipes as it prints.
 */
export function table(headers: string[], rows: string[][]): string {
  const drawn = new Table({ head: headers, style: { head: [], border: [], compact: true } });
  drawn.push(...rows);
  return `${drawn.toString()}\n`;
}

/** The problems of a verify report, one per line, or the OK line. */
export function problemLines(title: string, report: { ok: boolean; problems: ReadonlyArray<{ kind: string; subject: string; message: string }> }): string {
  if (report.ok) return `${title}: OK\n`;
  const count = report.problems.length;
  return `${title}: ${count} problem${count === 1 ? '' : 's'}\n` + report.problems.map((p) => `  - [${p.kind}] ${p.subject}: ${p.message}\n`).join('');
}
