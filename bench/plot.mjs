// bench/README.md's plot: one planned switchover (continuous mode) as seen from outside, drawn with
// Vega-Lite from a results file's `continuous.timeline` (bench/parts/continuous.ts): every HTTP answer on
// the service IP at the vantage point, by the host that answered, and every commit of the writer.
//   node bench/plot.mjs [results.json]    (default: the newest results file that has a timeline) -> bench/timeline.svg
import { readFileSync, readdirSync, writeFileSync } from 'fs';
import { dirname, join } from 'path';
import { fileURLToPath } from 'url';
import * as vega from 'vega';
import * as vl from 'vega-lite';

const here = dirname(fileURLToPath(import.meta.url));
const withTimeline = (file) => JSON.parse(readFileSync(file, 'utf8')).continuous?.timeline ? file : undefined;
const file = process.argv[2] ?? readdirSync(join(here, 'results')).filter((f) => f.endsWith('.json')).sort().reverse()
  .map((f) => join(here, 'results', f)).find(withTimeline);
if (!file || !withTimeline(file)) throw new Error('no results file with a continuous.timeline: run BENCH_PARTS=continuous npm run bench');
const { date } = JSON.parse(readFileSync(file, 'utf8'));
const { size, switchMs, answers, commits } = JSON.parse(readFileSync(file, 'utf8')).continuous.timeline;

const rows = [
  ...answers.map((a) => ({ s: a.ms / 1000, row: `HTTP answered by ${a.host}` })),
  ...commits.map((ms) => ({ s: ms / 1000, row: 'writer: a row committed' })),
];
const spec = vl.compile({
  title: { text: `Planned switchover, continuous mode, database of ${size}`, subtitle: `${date.slice(0, 16)} UTC, ${file.slice(here.length + 1)}` },
  width: 720, height: 140,
  layer: [
    { data: { values: rows }, mark: { type: 'tick', thickness: 1 },
      encoding: { x: { field: 's', type: 'quantitative', title: 'seconds from `npm run switch -- switchover --yes`' },
        y: { field: 'row', type: 'nominal', title: null, axis: { labelLimit: 300 } }, color: { field: 'row', type: 'nominal', legend: null } } },
    { data: { values: [{ s: 0, what: 'command' }, { s: switchMs / 1000, what: 'command done' }] }, mark: { type: 'rule', strokeDash: [4, 3] },
      encoding: { x: { field: 's', type: 'quantitative' } } },
  ],
}).spec;
const svg = await new vega.View(vega.parse(spec), { renderer: 'none' }).toSVG();
writeFileSync(join(here, 'timeline.svg'), svg);
console.log(`bench/timeline.svg drawn from ${file}`);
