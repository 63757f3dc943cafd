// The relationship diagram at scale: 2,000 simulated instances (`wharf-agent simulate`, real
// WebSocket sessions) running 20,000 tasks of three services. The picture opens as legible
// tiles, draws only what is on screen, finds and names a chosen host, and zooms in to its
// tasks. Screenshots go to end2end/artifacts/.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { artifacts, callApi, launchBrowser, openPage as open, startServer, until } from './harness.mjs';
import { bigCluster } from './big-cluster.mjs';

const cluster = `e2e-scale-${process.pid}`;
let server, agents, browser, base, token;

const api = (method, path, body) => callApi(base, method, path, body);

before(async () => {
  ({ process: server, base, token } = await startServer());
  browser = await launchBrowser();
  agents = await bigCluster(base, cluster, 2000, 20000);
});

after(async () => {
  await browser?.close();
  agents?.kill('SIGTERM');
  server?.kill('SIGTERM');
});

test('2,000 instances and 20,000 tasks: legible tiles, only what is on screen drawn, a chosen host found by name and zoomed into', async () => {
  const page = await open(browser, base, `/clusters/${cluster}/diagram`);
  const tiles = page.locator('#diagram-svg[data-level="tiles"] g.instance');
  await tiles.first().waitFor();
  // The page carried the first screen's hosts only; the browser reads the rest.
  const html = await (await fetch(`${base}/clusters/${cluster}/diagram`, { headers: { authorization: `Bearer ${token}` } })).text();
  assert.ok(html.length < 200 * 1024, `the first page is ${html.length} bytes`);
  assert.match(html, /data-partial="true"/);
  await page.locator('#diagram-svg:not([data-partial])').waitFor({ timeout: 15000 });
  assert.match(await page.textContent('#summary'), /2000 \(2000 connected\)/);
  assert.match(await page.textContent('#summary'), /20000 running, 0 pending/);
  assert.equal(await page.textContent('#d-zoom'), 'tiles 100%', 'a large cluster opens as tiles');

  // Names are legible at the default zoom: drawn at 12 px or more, one line, not clipped.
  const first = await page.$eval('#diagram-svg g.instance .name', (t) => {
    const box = t.getBoundingClientRect();
    return { text: t.textContent, size: parseFloat(getComputedStyle(t).fontSize), height: box.height, width: box.width };
  });
  assert.match(first.text, /^sim-\d{4}$/);
  assert.ok(first.size * (await page.$eval('#diagram-svg', (s) => s.getBoundingClientRect().width / s.viewBox.baseVal.width)) >= 12,
    `name drawn at ${first.size}px`);
  assert.ok(first.height >= 12 && first.width > 40, `name box ${first.width}×${first.height}`);
  await page.screenshot({ path: join(artifacts, '14-diagram-2000.png') });

  // Only rows near the screen are in the DOM, however large the cluster.
  const drawn = await tiles.count();
  assert.ok(drawn > 20 && drawn < 600, `${drawn} of 2,000 instances drawn`);

  // A colleague's host, by name: search centres it and the DOM reads back its name.
  const chosen = (await api('GET', `/api/v1/clusters/${cluster}/topology?detail=instances`)).instances.find((i) => i.name === 'sim-1234');
  await page.fill('#d-search', 'sim-1234');
  await page.press('#d-search', 'Enter');
  const hit = page.locator(`#diagram-svg g.instance.hit[data-instance="${chosen.id}"]`);
  await hit.waitFor();
  assert.equal(await hit.locator('.name').textContent(), 'sim-1234');
  await until('the chosen host on screen', 3000, async () => {
    const [frame, box] = [await page.locator('#diagram').boundingBox(), await hit.boundingBox()];
    return box.y >= frame.y && box.y + box.height <= frame.y + frame.height;
  });
  assert.match(await hit.locator('title').textContent(), new RegExp(`sim-1234 \\(${chosen.id}\\)[\\s\\S]*CPU reserved`));
  await page.screenshot({ path: join(artifacts, '15-diagram-2000-search.png') });

  // Zooming in past the tiles reads the tasks and draws them inside the chosen host.
  await page.focus('#diagram');
  // Three presses at once: the third comes before the tasks have been read, and steps on from
  // the level asked for (tasks), not back from the tiles still drawn.
  await page.keyboard.press('+');
  await page.keyboard.press('+');
  await page.keyboard.press('+');
  await page.waitForURL(/level=tasks&zoom=1\.25/);
  await until('the tasks drawn at 125 %', 10000, async () => (await page.textContent('#d-zoom')) === 'tasks 125%');
  const mine = (await api('GET', `/api/v1/clusters/${cluster}/tasks?containerInstance=${chosen.id}&desiredStatus=RUNNING`)).tasks.map((t) => t.taskArn.split('/').pop()).sort();
  const cells = page.locator(`#diagram-svg g.instance[data-instance="${chosen.id}"] g.task`);
  await until('the chosen host\'s tasks drawn', 10000, async () => (await cells.count()) === mine.length);
  assert.deepEqual((await cells.evaluateAll((ts) => ts.map((t) => t.dataset.task))).sort(), mine);
  await until('the chosen host still in view after zooming', 3000, async () => {
    const [fr, box] = [await page.locator('#diagram').boundingBox(), await page.locator(`#diagram-svg g.instance[data-instance="${chosen.id}"]`).boundingBox()];
    return box.y < fr.y + fr.height && box.y + box.height > fr.y;
  });
  await page.screenshot({ path: join(artifacts, '16-diagram-2000-tasks.png') });

  // Dragging pans: the frame scrolls with the pointer and nothing opens.
  const frame = await page.locator('#diagram').boundingBox();
  const top = await page.$eval('#diagram', (f) => f.scrollTop);
  await page.mouse.move(frame.x + 30, frame.y + 300);
  await page.mouse.down();
  await page.mouse.move(frame.x + 30, frame.y + 100, { steps: 5 });
  await page.mouse.up();
  assert.equal(await page.$eval('#diagram', (f) => f.scrollTop), top + 200, 'a drag moves the view with the pointer');
  assert.match(page.url(), /diagram/);
  // What scrolled into view got drawn.
  await until('rows drawn after panning', 3000, async () => {
    const seen = await page.$$eval('#diagram-svg g.instance', (gs, fr) => gs.some((g) => {
      const b = g.getBoundingClientRect();
      return b.top > fr.y + fr.height - 120 && b.top < fr.y + fr.height;
    }), frame);
    return seen;
  });
  assert.deepEqual(page.problems, []);
  await page.close();

  // A link to a task: tiles draw no tasks, so the picture zooms in to find and centre it.
  const task = mine[0];
  const linked = await open(browser, base, `/clusters/${cluster}/diagram?q=${task}`);
  await linked.waitForURL(/level=tasks/, { timeout: 10000 });
  const found = linked.locator(`#diagram-svg g.task.hit[data-task="${task}"]`);
  await found.waitFor({ timeout: 10000 });
  await until('the linked task on screen', 3000, async () => {
    const [fr, box] = [await linked.locator('#diagram').boundingBox(), await found.boundingBox()];
    return box.y >= fr.y && box.y + box.height <= fr.y + fr.height;
  });
  assert.deepEqual(linked.problems, []);
  await linked.close();

  // Filtering by status picks tasks, which tiles do not draw: it zooms in to them.
  const filtered = await open(browser, base, `/clusters/${cluster}/diagram`);
  await filtered.locator('#diagram-svg[data-level="tiles"] g.instance').first().waitFor();
  await filtered.selectOption('#d-status', 'RUNNING');
  await filtered.waitForURL(/status=RUNNING&level=tasks/);
  await filtered.locator('#diagram-svg[data-level="tasks"] g.task').first().waitFor({ timeout: 10000 });
  await filtered.close();
});
