// The relationship diagram with real agents (`wharf-agent simulate`, three instances in three
// zones) and a real server: tasks drawn inside the right instances, live updates without a
// reload, search, filters, navigation and SVG export. Screenshots go to end2end/artifacts/.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { artifacts, callApi, launchBrowser, openPage as open, simulatedCluster, startServer, until } from './harness.mjs';

const cluster = `e2e-diagram-${process.pid}`;
let server, agents, browser, base;

const api = (method, path, body) => callApi(base, method, path, body);

before(async () => {
  ({ process: server, base } = await startServer());
  browser = await launchBrowser();
  agents = await simulatedCluster(base, cluster, 3);
  await api('POST', '/api/v1/task-definitions', { family: 'web', containerDefinitions: [{ name: 'app', image: 'local/web:1', cpu: 128, memory: 256 }] });
  await api('POST', '/api/v1/task-definitions', { family: 'worker', containerDefinitions: [{ name: 'run', image: 'local/worker:1', cpu: 64, memory: 64 }] });
  await api('POST', `/api/v1/clusters/${cluster}/services`, { serviceName: 'web', taskDefinition: 'web', desiredCount: 6 });
  await api('POST', `/api/v1/clusters/${cluster}/services`, { serviceName: 'worker', taskDefinition: 'worker', desiredCount: 2 });
  await until('8 tasks RUNNING', 30000, async () =>
    (await api('GET', `/api/v1/clusters/${cluster}/topology`)).summary.tasksRunning === 8);
});

after(async () => {
  await browser?.close();
  agents?.kill('SIGTERM');
  server?.kill('SIGTERM');
});

const openPage = (path) => open(browser, base, path);

/** Task ids drawn inside each instance box, as the browser shows them. */
async function drawn(page) {
  return page.$$eval('#diagram-svg g.instance', (gs) => Object.fromEntries(gs.map((g) =>
    [g.dataset.instance, [...g.querySelectorAll('g.task')].map((a) => a.dataset.task).sort()])));
}

test('tasks appear inside their instances, and a stopped task leaves the diagram without a reload', async () => {
  const page = await openPage(`/clusters/${cluster}`);
  await page.click('#open-diagram');
  await page.waitForURL(`**/clusters/${cluster}/diagram`);
  await page.locator('#diagram-svg g.instance').first().waitFor();
  await page.locator('#live.live-on').waitFor();
  const topology = await api('GET', `/api/v1/clusters/${cluster}/topology`);
  const tasks = (await api('GET', `/api/v1/clusters/${cluster}/tasks?desiredStatus=RUNNING`)).tasks;
  const expected = {};
  for (const t of tasks) (expected[t.containerInstanceArn.split('/').pop()] ??= []).push(t.taskArn.split('/').pop());
  for (const k of Object.keys(expected)) expected[k].sort();
  assert.deepEqual(await drawn(page), expected, 'every task is drawn inside the instance it runs on');
  // Grouped by zone by default: one frame per zone, each named.
  assert.equal(await page.locator('#diagram-svg .group-label').count(), 3);
  assert.match(await page.textContent('#summary'), /3 \(3 connected\)/);
  assert.match(await page.textContent('#summary'), /8 running, 0 pending/);
  assert.match(await page.textContent('#legend'), /web/);
  await page.screenshot({ path: join(artifacts, '10-diagram.png'), fullPage: true });

  // Stop one task through the API: the page hears it on the live feed and redraws.
  const victim = tasks.find((t) => t.group === 'service:worker').taskArn.split('/').pop();
  const marker = page.locator(`#diagram-svg g.task[data-task="${victim}"]`);
  assert.equal(await marker.count(), 1);
  const reloads = [];
  page.on('framenavigated', (f) => { if (f === page.mainFrame()) reloads.push(f.url()); });
  const stopped = Date.now();
  await api('POST', `/api/v1/clusters/${cluster}/tasks/${victim}/stop`, { reason: 'diagram test' });
  await marker.waitFor({ state: 'detached', timeout: 2000 });
  const took = Date.now() - stopped;
  assert.deepEqual(reloads, [], 'no reload');
  console.log(`stopped task left the diagram after ${took} ms`);
  assert.ok(topology.instances.length === 3);
  assert.deepEqual(page.problems, []);
  await page.close();
});

test('search centres the match, filters hide the rest, clicks open detail pages, the view lives in the URL', async () => {
  const topology = await api('GET', `/api/v1/clusters/${cluster}/topology`);
  const target = topology.instances[2];
  const page = await openPage(`/clusters/${cluster}/diagram?group=none&zoom=2.00`);
  await page.locator('#diagram-svg g.instance').first().waitFor();
  assert.equal(await page.locator('#diagram-svg .group-label').count(), 1, 'group=none from the URL');
  assert.equal(await page.textContent('#d-zoom'), 'tasks 200%', 'three hosts open at the tasks level');
  await page.fill('#d-search', target.name);
  await page.press('#d-search', 'Enter');
  await page.waitForURL(/q=/);
  const hit = page.locator(`#diagram-svg g.instance.hit[data-instance="${target.id}"]`);
  await hit.waitFor();
  // The match is scrolled into the middle of the diagram's viewport.
  await until('the match centred', 3000, async () => {
    const [frame, box] = [await page.locator('#diagram').boundingBox(), await hit.boundingBox()];
    const [fc, bc] = [frame.x + frame.width / 2, box.x + box.width / 2];
    return Math.abs(fc - bc) < frame.width / 4 && box.y >= frame.y && box.y + 20 <= frame.y + frame.height;
  });
  await page.screenshot({ path: join(artifacts, '11-diagram-search.png') });

  await page.selectOption('#d-service', 'worker');
  await page.waitForURL(/service=worker/);
  const workers = async () => (await api('GET', `/api/v1/clusters/${cluster}/topology`)).instances.flatMap((i) => i.tasks).filter((t) => t.group === 'service:worker').length;
  await until('only worker tasks drawn', 5000, async () => {
    const services = await page.$$eval('#diagram-svg g.task', (ts) => ts.map((t) => t.dataset.service));
    return services.length === await workers() && services.every((s) => s === 'worker');
  });
  // The URL alone reproduces the view in a fresh page.
  const shared = page.url();
  const colleague = await openPage(shared.replace(base, ''));
  await colleague.locator('#diagram-svg g.instance').first().waitFor();
  assert.deepEqual(new Set(await colleague.$$eval('#diagram-svg g.task', (ts) => ts.map((t) => t.dataset.service))), new Set(['worker']));
  assert.equal(await colleague.locator('#diagram-svg g.instance.hit').count(), 1);
  await colleague.close();

  // Export: a standalone SVG that parses and contains the instances.
  const [download] = await Promise.all([page.waitForEvent('download'), page.click('#d-export')]);
  const svg = readFileSync(await download.path(), 'utf8');
  assert.match(svg, /^<\?xml/);
  assert.match(svg, /<svg[^>]*xmlns="http:\/\/www.w3.org\/2000\/svg"/);
  assert.ok(svg.includes(target.name));
  const parsed = await page.evaluate((text) => {
    const doc = new DOMParser().parseFromString(text, 'image/svg+xml');
    return { error: doc.querySelector('parsererror')?.textContent ?? null, boxes: doc.querySelectorAll('g.instance').length };
  }, svg);
  assert.deepEqual(parsed, { error: null, boxes: 3 });

  // Dark systems get the dark picture (its styles live inside the SVG, so exports keep them).
  await page.emulateMedia({ colorScheme: 'dark' });
  const fill = await page.$eval('#diagram-svg .instance rect.box', (r) => getComputedStyle(r).fill);
  assert.equal(fill, 'rgb(22, 28, 36)');
  await page.screenshot({ path: join(artifacts, '12-diagram-dark.png') });
  await page.emulateMedia({ colorScheme: 'light' });

  // Keyboard: zoom out from the diagram itself, along the ladder of stops.
  await page.focus('#diagram');
  await page.keyboard.press('-');
  await page.waitForURL(/level=tasks&zoom=1.25/);

  // Ctrl+wheel zooms in; past the tasks level's largest stop come the containers.
  const frame = await page.locator('#diagram').boundingBox();
  await page.mouse.move(frame.x + frame.width / 2, frame.y + 60);
  await page.keyboard.down('Control');
  await page.mouse.wheel(0, -100);
  await page.keyboard.up('Control');
  await page.waitForURL(/level=tasks&zoom=1.50/);
  await page.focus('#diagram');
  await page.keyboard.press('+');
  await page.waitForURL(/level=containers/);
  await page.locator('#diagram-svg g.task.card').first().waitFor();
  const card = await page.textContent(`#diagram-svg g.task.card[data-service="worker"]`);
  assert.match(card, /run · local\/worker:1 · RUNNING/, 'the closest level lists each task\'s containers');

  // PNG export: a real PNG at twice the picture's size.
  const [png] = await Promise.all([page.waitForEvent('download'), page.click('#d-export-png')]);
  const bytes = readFileSync(await png.path());
  assert.equal(bytes.subarray(1, 4).toString(), 'PNG');
  const svgWidth = Number(await page.$eval('#diagram-svg', (s) => s.viewBox.baseVal.width));
  assert.equal(bytes.readUInt32BE(16), svgWidth * 2, 'IHDR width');

  // Clicking an instance opens its page.
  await page.click('#d-zoom-reset');
  await page.waitForURL((u) => !/zoom=|level=/.test(u.search));
  await page.click(`#diagram-svg g.instance[data-instance="${target.id}"] g.head text.name`);
  await page.waitForURL(`**/clusters/${cluster}/instances/${target.id}`);
  assert.deepEqual(page.problems, []);
  await page.close();
});

test('tracing a service links it to its tasks across instances and dims the rest', async () => {
  const page = await openPage(`/clusters/${cluster}/diagram`);
  await page.locator('#diagram-svg g.instance').first().waitFor();
  await page.click('#legend button.legend-entry:has-text("web")');
  await page.waitForURL(/trace=web/);
  await page.locator('#diagram-svg g.rail[data-service="web"]').waitFor();
  const web = (await api('GET', `/api/v1/clusters/${cluster}/tasks?serviceName=web&desiredStatus=RUNNING`)).tasks.length;
  const branches = await page.$$eval('#diagram-svg g.branches path', (ps) => ps.map((p) => (p.getAttribute('d').match(/M/g) ?? []).length).reduce((a, b) => a + b, 0));
  assert.equal(branches, web, 'one branch per task of the service');
  const dimmed = await page.$$eval('#diagram-svg g.task.dim', (ts) => ts.map((t) => t.dataset.service));
  assert.ok(dimmed.length > 0 && dimmed.every((s) => s === 'worker'), 'the other service is dimmed');
  assert.equal(await page.getAttribute('#legend button.legend-entry:has-text("web")', 'aria-pressed'), 'true');
  await page.screenshot({ path: join(artifacts, '13-diagram-trace.png') });
  // The rail stands for the service: a click opens its page.
  await page.click('#diagram-svg g.rail text');
  await page.waitForURL(`**/clusters/${cluster}/services/web`);
  assert.deepEqual(page.problems, []);
  await page.close();
});
