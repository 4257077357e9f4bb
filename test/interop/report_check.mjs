// report_check.mjs REPORT.html SCREENSHOT.png EXPECT_JSON
// Opens meter-etl-report's HTML in headless Chromium (Debian's, through
// playwright-core) with the network cut off, and checks what a reader sees:
// no console error, no request leaving the file; every chart drew the
// series it declares, each with the points the database says it has, and
// its pixels are not blank; one section per flagged meter.  EXPECT_JSON:
// {"charts": {"<id>": {"<series name>": points, ...}}, "meter_charts": n}.
// Writes a full-page screenshot.
import { chromium } from 'playwright-core';
import path from 'node:path';

const [file, shot, expectText] = process.argv.slice(2);
const expect = JSON.parse(expectText);
const failures = [];
const fail = (m) => failures.push(m);

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  args: ['--no-sandbox'],
});
const page = await browser.newPage({ viewport: { width: 1100, height: 900 } });
const errors = [];
page.on('console', (m) => { if (m.type() === 'error') errors.push('console: ' + m.text()); });
page.on('pageerror', (e) => errors.push('page error: ' + e));
await page.route('**/*', (route) => {
  if (route.request().url().startsWith('file:')) return route.continue();
  errors.push('network request: ' + route.request().url());
  return route.abort();
});
await page.goto('file://' + path.resolve(file));

// Per chart: its declared series, each group's points and geometry, and the
// share of non-white pixels when the SVG is painted on a canvas.
const charts = await page.$$eval('svg.me-chart', async (svgs) => Promise.all(svgs.map(async (svg) => {
  const groups = [...svg.querySelectorAll('g.me-series')].map((g) => {
    const b = g.getBBox();
    return { name: g.dataset.name, points: +g.dataset.points, w: b.width, h: b.height, shapes: g.childElementCount };
  });
  const img = new Image();
  img.src = 'data:image/svg+xml;charset=utf-8,' + encodeURIComponent(svg.outerHTML);
  await img.decode();
  const canvas = document.createElement('canvas');
  canvas.width = svg.width.baseVal.value;
  canvas.height = svg.height.baseVal.value;
  const ctx = canvas.getContext('2d');
  ctx.fillStyle = '#fff';
  ctx.fillRect(0, 0, canvas.width, canvas.height);
  ctx.drawImage(img, 0, 0);
  const px = ctx.getImageData(0, 0, canvas.width, canvas.height).data;
  let ink = 0;
  for (let i = 0; i < px.length; i += 4) if (px[i] < 200 || px[i + 1] < 200 || px[i + 2] < 200) ink++;
  return { id: svg.id, declared: +svg.dataset.series, groups, ink: ink / (px.length / 4),
           visible: svg.getBoundingClientRect().width > 0 };
})));
const meterCharts = await page.$$eval('div.meter svg.me-chart', (s) => s.length);
await page.screenshot({ path: shot, fullPage: true });
await browser.close();

for (const c of charts) {
  const name = c.id || 'a meter chart';
  if (!c.visible) fail(`${name}: not laid out`);
  if (c.groups.length !== c.declared) fail(`${name}: declares ${c.declared} series, has ${c.groups.length}`);
  if (!(c.ink > 0.01)) fail(`${name}: blank (${(c.ink * 100).toFixed(2)} % ink)`);
  for (const g of c.groups) {
    if (g.points > 0 && !(g.shapes > 0 && (g.w > 0 || g.h > 0))) fail(`${name}/${g.name}: ${g.points} points but nothing drawn`);
  }
}
for (const [id, series] of Object.entries(expect.charts)) {
  const c = charts.find((x) => x.id === id);
  if (!c) { fail(`chart ${id} missing`); continue; }
  for (const [sname, points] of Object.entries(series)) {
    const g = c.groups.find((x) => x.name === sname);
    if (!g) fail(`${id}: series "${sname}" missing`);
    else if (g.points !== points) fail(`${id}/${sname}: ${g.points} points drawn, the database has ${points}`);
    else if (points === 0) fail(`${id}/${sname}: the test data should give this series points`);
  }
}
if (meterCharts !== expect.meter_charts) fail(`${meterCharts} meter charts, expected ${expect.meter_charts}`);
for (const e of errors) fail(e);

for (const c of charts) {
  console.log(`chart ${c.id || '(meter)'}: ${c.groups.map((g) => `${g.name}=${g.points}`).join(', ')}; ink ${(c.ink * 100).toFixed(1)} %`);
}
console.log(`screenshot: ${path.resolve(shot)}`);
if (failures.length) {
  for (const f of failures) console.error('FAIL: ' + f);
  process.exit(1);
}
console.log(`ok   report in Chromium: ${charts.length} charts drawn, ${meterCharts} meter sections, no console errors`);
