// Loads every dashboard page in headless Chromium, waits until the page says
// it is drawn, and prints one JSON line per page: the charts drawn, their
// marks (bars, lines, circled anomalies), the panels that drew a chart or a
// table, and every console error, page error or failed
// request. Writes a full-page screenshot of each page. Exits 1 if any page
// failed to draw, drew no chart, or logged an error.
//
//   node dashboard.mjs <base-url> <screenshot-dir>
// playwright-core comes from $BAEDAL_NODE_MODULES (scripts/setup.sh).
import { createRequire } from "node:module";
import path from "node:path";

const [base, outDir] = process.argv.slice(2);
const modules = process.env.BAEDAL_NODE_MODULES;
const require = createRequire(path.join(modules, "noop.js"));
const { chromium } = require("playwright-core");

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync"],
});
let failed = false;
for (const name of ["trends", "customers", "restaurants", "delivery", "realtime"]) {
  const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
  const errors = [];
  page.on("console", m => { if (m.type() === "error") errors.push(m.text()); });
  page.on("pageerror", e => errors.push(String(e)));
  page.on("requestfailed", r => errors.push(`request failed: ${r.url()}`));
  page.on("response", r => { if (r.status() >= 400) errors.push(`${r.status()} ${r.url()}`); });
  await page.goto(`${base}/dashboard/${name}`, { waitUntil: "networkidle" });
  await page.waitForSelector("#app[data-ready]", { timeout: 30000 });
  const ready = await page.getAttribute("#app", "data-ready");
  const charts = await page.$$eval("svg.chart", s => s.map(x => Number(x.dataset.points)));
  const marks = await page.$$eval("svg.chart rect.bar, svg.chart polyline", s => s.length);
  const anomalyMarks = await page.$$eval("svg.chart circle.mark", s => s.length);
  const panels = await page.$$eval(".panel", s => s.filter(p => p.querySelector("svg.chart, table")).map(p => p.id));
  await page.screenshot({ path: path.join(outDir, `${name}.png`), fullPage: true });
  console.log(JSON.stringify({ page: name, ready, charts: charts.length, points: charts.reduce((a, b) => a + b, 0), marks, anomaly_marks: anomalyMarks, panels, errors }));
  if (ready !== "true" || charts.length === 0 || marks === 0 || errors.length) failed = true;
  await page.close();
}
await browser.close();
process.exit(failed ? 1 : 0);
