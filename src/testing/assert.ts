import { TenancyError } from '../errors.js';
import { probeTenantIsolation } from './probe.js';
import type { IsolationReport, ProbeTenantIsolationOptions } from './types.js';

/** Thrown by `assertTenantIsolation()`: a probe saw or changed another tenant's rows, or no probe could run. */
export class TenantIsolationError extends TenancyError {
  readonly code = 'TENANCY_ISOLATION_LEAK';
  /** The full report. */
  readonly report: IsolationReport;

  constructor(message: string, report: IsolationReport) {
    super(message, { operation: 'assertTenantIsolation' });
    this.report = report;
  }
}

/** A report as readable text: the failed probes first, then what was not probed and cleanup problems. */
export function formatIsolationReport(report: IsolationReport): string {
  const failed = report.probes.filter((p) => !p.passed);
  const [a, b] = report.tenants.map(String);
  const lines: string[] = [];
  if (report.probes.length === 0) {
    lines.push(`Tenant isolation: no probe could run (tenants ${a} and ${b}).`);
  } else if (failed.length > 0) {
    lines.push(`Tenant isolation: ${failed.length} of ${report.probes.length} probes failed (tenant ${a} probing tenant ${b}'s rows):`);
    for (const p of failed) lines.push(`  ✗ ${p.entity}: ${p.name} — ${p.detail}`);
  } else {
    lines.push(`Tenant isolation: all ${report.probes.length} probes passed (tenant ${a} probing tenant ${b}'s rows).`);
  }
  if (report.notProbed.length > 0) {
    lines.push('Not probed:');
    for (const n of report.notProbed) lines.push(`  - ${n.entity}${n.probe ? ` (${n.probe})` : ''}: ${n.reason}`);
  }
  if (report.cleanup.length > 0) {
    lines.push('Cleanup problems (rows may be left behind):');
    for (const c of report.cleanup) lines.push(`  - ${c}`);
  }
  return lines.join('\n');
}

/**
 * `probeTenantIsolation()`, throwing `TenantIsolationError` with a readable list of
 * the failed probes unless every probe passed. Returns the report otherwise.
 *
 * @example
 * it('keeps tenants apart', async () => {
 *   await assertTenantIsolation({ tenancy, dataSource });
 * });
 */
export async function assertTenantIsolation(options: ProbeTenantIsolationOptions): Promise<IsolationReport> {
  const report = await probeTenantIsolation(options);
  if (!report.ok) throw new TenantIsolationError(formatIsolationReport(report), report);
  return report;
}
