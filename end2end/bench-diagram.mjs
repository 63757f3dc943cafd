// Benchmark of the relationship diagram at scale (run by scripts/bench-diagram.sh with release
// builds): a real server, `wharf-agent simulate` with INSTANCES hosts and TASKS tasks, Debian's
// Chromium. Prints a Markdown table: the topology route's time and size at each detail, time
// from navigation to a drawn (and to an interactive) diagram, frames per second while panning,
// and the page's memory.
import { execFileSync } from 'node:child_process';
import { callApi, launchBrowser, signIn, startServer } from './harness.mjs';
import { bigCluster } from './big-cluster.mjs';

const instances = Number(process.env.WHARF_BENCH_INSTANCES ?? 2000);
const tasks = Number(process.env.WHARF_BENCH_TASKS ?? 20000);
const runs = Number(process.env.WHARF_BENCH_RUNS ?? 5);
const cluster = 'bench';
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const rows = [];
const row = (what, figure) => { rows.push(`| ${what} | ${figure} |`); console.error(`${what}: ${figure}`); };

const { process: server, base, token } = await startServer();
const api = (method, path, body) => callApi(base, method, path, body);
const agents = await bigCluster(base, cluster, instances, tasks);
// Let the registration and placement storm settle, as a user would open the page later.
await new Promise((r) => setTimeout(r, 5000));
let browser;
try {
  for (const detail of ['instances', 'tasks', 'containers']) {
    const times = [];
    let size = 0;
    for (let n = 0; n < runs; n++) {
      const t0 = performance.now();
      const body = await (await fetch(`${base}/api/v1/clusters/${cluster}/topology?detail=${detail}`, { headers: { authorization: `Bearer ${token}` } })).arrayBuffer();
      times.push(performance.now() - t0);
      size = body.byteLength;
    }
    row(`GET …/topology?detail=${detail}: median of ${runs}`, `${median(times).toFixed(0)} ms, ${(size / 1048576).toFixed(2)} MiB`);
  }

  browser = await launchBrowser();
  const session = await signIn(base);
  // Times are the page's own, from the start of navigation: when the first instance is in the
  // document (server-rendered, before any wasm runs) and when the page has hydrated.
  const drawn = [], interactive = [], fcp = [], wasm = [];
  for (let n = 0; n < runs; n++) {
    const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
    await page.context().addCookies([{ name: 'wharf_session', value: session, url: base, httpOnly: true, sameSite: 'Strict' }]);
    await page.addInitScript(() => {
      window.__marks = {};
      new MutationObserver(() => {
        if (!window.__marks.drawn && document.querySelector('#diagram-svg g.instance')) window.__marks.drawn = performance.now();
        if (!window.__marks.interactive && document.body?.dataset.hydrated) window.__marks.interactive = performance.now();
      }).observe(document, { subtree: true, childList: true, attributes: true });
    });
    await page.goto(`${base}/clusters/${cluster}/diagram`);
    await page.waitForSelector('body[data-hydrated="true"]', { timeout: 30000 });
    const m = await page.evaluate(() => ({
      ...window.__marks,
      fcp: performance.getEntriesByName('first-contentful-paint')[0]?.startTime,
      // The main module and every split module the page loaded.
      wasm: performance.getEntriesByType('resource').filter((r) => r.name.endsWith('.wasm')).reduce((n, r) => n + r.encodedBodySize, 0),
    }));
    drawn.push(m.drawn); interactive.push(m.interactive); fcp.push(m.fcp); wasm.push(m.wasm);
    if (n < runs - 1) await page.close();
  }
  row(`navigation → diagram drawn (server-rendered tiles in the page), median of ${runs}`, `${median(drawn).toFixed(0)} ms (first contentful paint ${median(fcp).toFixed(0)} ms)`);
  row(`navigation → interactive (hydrated), median of ${runs}`, `${median(interactive).toFixed(0)} ms (wasm transferred: ${(wasm[0] / 1024).toFixed(0)} KiB)`);

  // Panning: scroll the frame a little every frame for three seconds and count the frames the
  // browser managed, as a drag does; rows are drawn as they come into view.
  const page = browser.contexts()[0].pages().at(-1);
  await page.waitForTimeout(1000);
  const pan = await page.evaluate(() => new Promise((resolve) => {
    const frame = document.querySelector('#diagram');
    const gaps = [];
    let last = performance.now();
    const start = last;
    const tick = (now) => {
      gaps.push(now - last);
      last = now;
      frame.scrollTop += 24;
      if (now - start < 3000) requestAnimationFrame(tick);
      else resolve({ frames: gaps.length, ms: now - start, worst: Math.max(...gaps.slice(1)), scrolled: frame.scrollTop, drawn: document.querySelectorAll('#diagram-svg g.instance').length });
    };
    requestAnimationFrame(tick);
  }));
  row('frames per second while panning (3 s, 24 px a frame)', `${(pan.frames / (pan.ms / 1000)).toFixed(0)} fps (worst frame ${pan.worst.toFixed(0)} ms; ${pan.drawn} of ${instances} instances in the DOM)`);

  const cdp = await page.context().newCDPSession(page);
  await cdp.send('Performance.enable');
  const metrics = Object.fromEntries((await cdp.send('Performance.getMetrics')).metrics.map((m) => [m.name, m.value]));
  row('page memory: JS heap used / DOM nodes', `${(metrics.JSHeapUsedSize / 1048576).toFixed(1)} MiB / ${metrics.Nodes}`);
  const renderers = execFileSync('ps', ['-eo', 'rss,args']).toString().split('\n').filter((l) => l.includes('--type=renderer'));
  const rss = renderers.map((l) => Number(l.trim().split(/\s+/)[0])).reduce((a, b) => Math.max(a, b), 0);
  row('renderer process resident memory (largest)', `${(rss / 1024).toFixed(0)} MiB`);

  // Zooming in to tasks: the read of 20,000 tasks and the redraw.
  const t0 = Date.now();
  await page.focus('#diagram');
  await page.keyboard.press('Home');
  await page.keyboard.press('+');
  await page.keyboard.press('+');
  await page.waitForSelector('#diagram-svg[data-level="tasks"] g.task', { timeout: 30000 });
  row('zoom from tiles to tasks → tasks drawn', `${Date.now() - t0} ms`);
} finally {
  await browser?.close();
  agents.kill('SIGTERM');
  server.kill('SIGTERM');
}
console.log(`| ${instances} instances, ${tasks} tasks | figure |\n|---|---|\n${rows.join('\n')}`);
