// Lists the metric names a Grafana dashboard's PromQL queries use, and checks them against scraped /metrics texts.
//
// Usage: node dashboard-metrics.mjs DASHBOARD.json [--skip-prefix P]... [METRICS.txt...]
// Without metrics files it prints the names; with them it prints each used name that no file exposes as a sample
// (histogram series count by their _bucket/_sum/_count samples) and exits 1 when any is missing. Names starting
// with a --skip-prefix are not checked (a service that is not running).
import fs from 'node:fs';

const KEYWORDS = new Set(['and', 'or', 'unless', 'bool', 'offset', 'by', 'without', 'on', 'ignoring',
  'group_left', 'group_right', 'inf', 'nan']);

export function metricNames(expr) {
  let text = expr.replace(/"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'/g, '""');  // label values and other strings
  text = text.replace(/\{[^}]*\}/g, ' ');                                  // label matchers
  text = text.replace(/\[[^\]]*\]/g, ' ');                                 // range and subquery selectors
  text = text.replace(/\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)/g, ' ');
  text = text.replace(/\boffset\s+\S+/g, ' ');
  text = text.replace(/(^|[^A-Za-z0-9_:])[0-9]+(\.[0-9]+)?(e[+-]?[0-9]+)?/gi, '$1 ');  // numbers, 1e-9
  const names = new Set();
  for (const match of text.matchAll(/[A-Za-z_:][A-Za-z0-9_:]*/g)) {
    const word = match[0];
    if (KEYWORDS.has(word.toLowerCase())) continue;
    if (/^\s*\(/.test(text.slice(match.index + word.length))) continue;  // a function call
    if (match.index > 0 && text[match.index - 1] === '$') continue;       // a dashboard variable
    names.add(word);
  }
  return names;
}

// Every query of the dashboard: panel targets (nested rows included) and query variables.
export function dashboardQueries(dashboard) {
  const queries = [];
  const visit = (panels) => {
    for (const panel of panels || []) {
      for (const target of panel.targets || []) if (target.expr) queries.push(target.expr);
      visit(panel.panels);
    }
  };
  visit(dashboard.panels);
  for (const variable of (dashboard.templating && dashboard.templating.list) || []) {
    if (variable.type !== 'query') continue;
    const query = typeof variable.query === 'string' ? variable.query : (variable.query || {}).query;
    const labelValues = /label_values\(\s*([A-Za-z_:][A-Za-z0-9_:]*)\s*,/.exec(query || '');
    if (labelValues) queries.push(labelValues[1]);
    else if (query) queries.push(query);
  }
  return queries;
}

function exposedSamples(text) {
  const names = new Set();
  for (const line of text.split('\n')) {
    const match = /^([A-Za-z_:][A-Za-z0-9_:]*)[{ ]/.exec(line);
    if (match) names.add(match[1]);
  }
  return names;
}

const [dashboardFile, ...rest] = process.argv.slice(2);
const skipPrefixes = [];
const metricsFiles = [];
for (let i = 0; i < rest.length; i++) {
  if (rest[i] === '--skip-prefix') skipPrefixes.push(rest[++i]);
  else metricsFiles.push(rest[i]);
}
if (!dashboardFile) {
  console.error('usage: node dashboard-metrics.mjs DASHBOARD.json [METRICS.txt...]');
  process.exit(2);
}
const dashboard = JSON.parse(fs.readFileSync(dashboardFile, 'utf8'));
const used = new Set();
for (const query of dashboardQueries(dashboard)) for (const name of metricNames(query)) used.add(name);
if (metricsFiles.length === 0) {
  for (const name of [...used].sort()) console.log(name);
  process.exit(0);
}
const exposed = new Set();
for (const file of metricsFiles) for (const name of exposedSamples(fs.readFileSync(file, 'utf8'))) exposed.add(name);
const checked = [...used].sort().filter((name) => !skipPrefixes.some((prefix) => name.startsWith(prefix)));
const missing = checked.filter((name) => !exposed.has(name));
for (const name of missing) console.log(`missing: ${name}`);
const skipped = used.size - checked.length;
console.log(`${checked.length} metric names used by the dashboard checked${skipped ? ` (${skipped} skipped)` : ''}, ` +
  `${missing.length} not exposed by the services`);
process.exit(missing.length > 0 ? 1 : 0);
