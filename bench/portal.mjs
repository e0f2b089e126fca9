// The portal's first render: navigation start to the hub's heading, in
// headless Chromium against a real `wrangler dev`, each run in a fresh
// browser context (no cache). Prints every run and the median.
//
//   bash scripts/edge.sh bench-portal [--runs N]
import { parseArgs } from 'node:util';
import { launchBrowser, startEdge } from '../tests/browser/harness.mjs';
import { median } from './edge.mjs';

const { values } = parseArgs({ options: { runs: { type: 'string', default: '15' } } });
const edge = await startEdge();
const browser = await launchBrowser();
try {
  const times = [];
  for (let i = 0; i < Number(values.runs); i++) {
    const context = await browser.newContext();
    const page = await context.newPage();
    await page.goto(`${edge.baseUrl}/`);
    await page.getByRole('heading', { name: 'Partner Edge developer hub' }).waitFor();
    times.push(await page.evaluate(() => performance.now()));
    await context.close();
  }
  console.log(`hub first render (ms): ${times.map((t) => t.toFixed(0)).join(' ')}`);
  console.log(`median ${median(times).toFixed(0)} ms over ${times.length} fresh loads (budget 400 ms)`);
} finally {
  await browser.close();
  await edge.stop();
}
