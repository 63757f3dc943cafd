// Auto scaling in the portal, on simulated hosts (real agents' WebSocket sessions): the bounds,
// a policy and a scheduled action made in forms that refuse nonsense as it is typed, the
// schedule's next runs previewed in its own time zone, the desired count moved into the new
// bounds with the reason shown, and the load charts of the service and of an instance.
// Screenshots go to end2end/artifacts/.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { artifacts, callApi, fixtures, launchBrowser, openPage as open, simulatedCluster, startServer, until } from './harness.mjs';

const cluster = `e2e-scale-${process.pid}`;
let server, agents, browser, base;
const api = (method, path, body) => callApi(base, method, path, body);

before(async () => {
  ({ process: server, base } = await startServer(['--scheduler-interval-seconds', '1', '--scaling-interval-seconds', '1']));
  agents = await simulatedCluster(base, cluster, 2, { agentArgs: ['--usage-seconds', '1'] });
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
  agents?.kill('SIGTERM');
  server?.kill('SIGTERM');
});


test('a team sets up auto scaling on its service in the portal and sees why the count moved', async () => {
  await api('POST', '/api/v1/task-definitions', JSON.parse(readFileSync(join(fixtures, 'busybox-httpd.json'), 'utf8')));
  await api('POST', `/api/v1/clusters/${cluster}/services`, { serviceName: 'web', taskDefinition: 'hello-httpd', desiredCount: 1 });

  // The service page: a load chart from the first samples, and no auto scaling yet.
  const page = await open(browser, base, `/clusters/${cluster}/services/web`);
  await page.locator('#auto-scaling').getByText('No auto scaling').waitFor();
  await page.locator('#load-chart polyline[data-series="running tasks"]').waitFor({ state: 'attached', timeout: 30000 });
  await page.click('#open-scaling');
  await page.waitForURL(`**/clusters/${cluster}/services/web/scaling`);
  await page.waitForSelector('body[data-hydrated="true"]');

  // Bounds: a maximum below the minimum is refused as it is typed.
  await page.fill('#st-min', '5');
  await page.fill('#st-max', '3');
  await until('the bounds error', 10000, async () => (await page.locator('#scalable-target-form').textContent()).includes('3 is below minCapacity 5'));
  assert.equal(await page.isDisabled('#save-scalable-target'), true);
  await page.fill('#st-min', '2');
  await page.fill('#st-max', '4');
  await until('the form to be fine', 10000, async () => !(await page.isDisabled('#save-scalable-target')));
  await page.click('#save-scalable-target');
  // The count was 1: it moves into the bounds at once, and the activity says why.
  await page.locator('#scaling-activities tr[data-status="Successful"]').getByText('1 → 2 tasks').waitFor({ timeout: 15000 });
  assert.match(await page.locator('#scaling-activities').textContent(), /outside \[2, 4\]/);

  // A target tracking policy: a target of 0 is refused as typed; 60 % is taken.
  await page.fill('#p-target', '0');
  await until('the target error', 10000, async () => (await page.locator('#policy-form').textContent()).includes('targetValue'));
  assert.equal(await page.isDisabled('#save-policy'), true);
  await page.fill('#p-target', '60');
  await page.fill('#p-in', '120');
  await page.click('#save-policy');
  await page.locator('#scaling-policies tr[data-policy="cpu-target"]').waitFor();
  assert.match(await page.locator('#scaling-policies tr[data-policy="cpu-target"]').textContent(), /ECSServiceAverageCPUUtilization at 60.*out 300 s, in 120 s/);

  // A step scaling policy: a step line that is not three numbers is refused as typed.
  await page.fill('#p-name', 'cpu-steps');
  await page.selectOption('#p-kind', 'StepScaling');
  await page.fill('#p-steps', '0 20 one');
  await until('the steps error', 10000, async () => (await page.locator('#policy-form').textContent()).includes('steps line 1'));
  await page.fill('#p-steps', '0 20 1\n20 - 3');
  await until('the form to be fine', 10000, async () => !(await page.isDisabled('#save-policy')));
  await page.click('#save-policy');
  await page.locator('#scaling-policies tr[data-policy="cpu-steps"]').waitFor();

  // A scheduled action: a cron hour of 25 is named by the server as it is typed; a good one
  // shows its next runs in Berlin time.
  await page.fill('#a-schedule', 'cron(0 25 * * ? *)');
  await page.locator('#schedule-preview li[data-field="schedule"]', { hasText: "hours: '25' is not a value from 0 to 23" }).waitFor({ timeout: 15000 });
  await page.fill('#a-schedule', 'cron(30 7 ? * MON-FRI *)');
  await page.fill('#a-zone', 'Europe/Berlin');
  await page.fill('#a-min', '3');
  await page.locator('#schedule-preview p', { hasText: /Next runs: .*07:30 CES?T/ }).waitFor({ timeout: 15000 });
  await page.screenshot({ path: join(artifacts, 'scaling-1-forms.png'), fullPage: true });
  await page.click('#save-action');
  const action = page.locator('#scheduled-actions tr[data-action="weekday-mornings"]');
  await action.waitFor();
  await action.locator('.next-run', { hasText: /07:30 CES?T/ }).waitFor();
  await action.getByText('min 3').waitFor();
  assert.deepEqual(page.problems, []);

  // The service page: the bounds, both policies, the schedule with its next run, why the count
  // moved, and the decision marked on the chart.
  const service = await open(browser, base, `/clusters/${cluster}/services/web`);
  await service.locator('#scalable-target').getByText('at least 2, at most 4').waitFor();
  // (Live changes redraw the card: each check waits for its part.)
  await service.locator('#auto-scaling #scaling-policies tr[data-policy="cpu-steps"]').waitFor();
  await service.locator('#auto-scaling #scaling-policies tr[data-policy="cpu-target"]').waitFor();
  await service.locator('#auto-scaling #scheduled-actions .next-run', { hasText: /07:30 CES?T/ }).waitFor();
  await service.locator('#auto-scaling #scaling-activities', { hasText: '1 → 2 tasks' }).waitFor();
  await until('two tasks running on the chart', 30000, async () => {
    const points = await service.locator('#load-chart polyline[data-series="running tasks"]').getAttribute('points');
    return (points ?? '').trim().split(' ').length > 2;
  });
  await service.locator('#load-chart g.mark-out').first().waitFor({ state: 'attached' });
  assert.match(await service.locator('#load-chart g.mark-out title').first().textContent(), /Setting desired count to 2/);
  await service.screenshot({ path: join(artifacts, 'scaling-2-service.png'), fullPage: true });
  assert.deepEqual(service.problems, []);

  // A manual count past the maximum is held to it.
  const updated = await api('PATCH', `/api/v1/clusters/${cluster}/services/web`, { desiredCount: 9 });
  assert.equal(updated.service.desiredCount, 4);

  // An instance's page charts its host's use.
  const { containerInstances } = await api('GET', `/api/v1/clusters/${cluster}/container-instances`);
  const instance = await open(browser, base, `/clusters/${cluster}/instances/${containerInstances[0].id}`);
  await instance.locator('#usage-chart polyline[data-series="CPU % of registered"]').waitFor({ state: 'attached', timeout: 30000 });
  await instance.screenshot({ path: join(artifacts, 'scaling-3-instance.png'), fullPage: true });
  assert.deepEqual(instance.problems, []);
});
