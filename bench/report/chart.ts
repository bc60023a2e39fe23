import { workloadLabels, workloadNames } from '../lib/workloads.js';
import { type DatabaseReport, targets } from './types.js';

/** An SVG chart (vega-lite, rendered headless by vega): per database and workload, median and p95 ratios. */
export async function renderChart(reports: DatabaseReport[]): Promise<string> {
  const vega = await import('vega');
  const vegaLite = await import('vega-lite');
  const values: Array<Record<string, unknown>> = [];
  for (const report of reports) {
    const database = report.db === 'sqlite' ? 'SQLite' : 'PostgreSQL';
    const add = (series: string, workloads: NonNullable<DatabaseReport['compare']>['workloads'] | undefined, key = 'b') => {
      for (const w of workloads ?? []) {
        const b = w.results.find((r) => r.key === key);
        if (b) values.push({ database, workload: workloadLabels[w.name], series, median: b.ratioMedian, p95: b.ratioP95 });
      }
    };
    add('typeorm-tenancy manager / hand-written TypeORM', report.compare?.workloads);
    add('MikroORM @Filter / hand-written MikroORM', report.peer?.workloads);
    add('typeorm-tenancy + RLS / hand-written TypeORM', report.compare?.workloads, 'c');
    add('typeorm-tenancy schema per tenant / hand-written TypeORM', report.compare?.workloads, 'd');
    add('typeorm-tenancy database per tenant / hand-written TypeORM', report.compare?.workloads, 'e');
  }
  const order = workloadNames.map((w) => workloadLabels[w]);
  const x = { field: 'workload', type: 'nominal', sort: order, title: null, axis: { labelAngle: -30, labelLimit: 220 } };
  const xOffset = { field: 'series', type: 'nominal' };
  const all = values.flatMap((v) => [v.median as number, v.p95 as number]);
  const domain = [Math.min(0.8, ...all) * 0.95, Math.max(1.5, ...all) * 1.05];
  const ticks = [0.5, 0.6, 0.7, 0.8, 0.9, 1, 1.1, 1.25, 1.5, 2, 3, 4, 6, 8, 12, 16, 24, 32].filter((t) => t >= domain[0]! && t <= domain[1]!);
  const y = { type: 'quantitative', scale: { type: 'log', domain, nice: false }, axis: { values: ticks } };
  const spec = {
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    title: { text: 'Cost of tenant scoping: time / hand-written tenant_id (1 = free)', subtitle: `dot: median, bar to p95; dashed: target ${targets.ratioMedian}` },
    data: { values },
    facet: { column: { field: 'database', type: 'nominal', title: null, sort: ['SQLite', 'PostgreSQL'] } },
    spec: {
      width: 360,
      height: 300,
      layer: [
        { mark: { type: 'rule', strokeWidth: 2, opacity: 0.6 }, encoding: { x, xOffset, y: { ...y, field: 'median', title: 'ratio to hand-written (log scale)' }, y2: { field: 'p95' }, color: { field: 'series', type: 'nominal' } } },
        { mark: { type: 'point', filled: true, size: 70 }, encoding: { x, xOffset, y: { ...y, field: 'median' }, color: { field: 'series', type: 'nominal', legend: { orient: 'bottom', title: null, labelLimit: 400 } } } },
        { mark: { type: 'rule', strokeDash: [5, 4], color: '#b00' }, encoding: { y: { datum: targets.ratioMedian, type: 'quantitative' } } },
        { mark: { type: 'rule', color: '#666' }, encoding: { y: { datum: 1, type: 'quantitative' } } },
      ],
    },
    config: { font: 'sans-serif' },
  };
  const compiled = vegaLite.compile(spec as never).spec;
  const view = new vega.View(vega.parse(compiled), { renderer: 'none' });
  return view.toSVG();
}
