// A large cluster for the scale test and the diagram benchmark: `instances` simulated hosts,
// then three services sharing `tasks` tasks. Resolves to the simulator's process once every
// task is RUNNING.
import { callApi, simulatedCluster, until } from './harness.mjs';

export async function bigCluster(base, cluster, instances, tasks) {
  const api = (method, path, body) => callApi(base, method, path, body);
  const agents = await simulatedCluster(base, cluster, instances, { agentArgs: ['--usage-seconds', '5'], quiet: true });
  const services = [['web', 256, 512, 0.4], ['api', 128, 256, 0.35], ['worker', 64, 128, 0.25]];
  let left = tasks;
  for (const [n, [name, cpu, memory, share]] of services.entries()) {
    await api('POST', '/api/v1/task-definitions', { family: name, containerDefinitions: [
      { name: 'app', image: `local/${name}:1`, cpu, memory, portMappings: [{ containerPort: 8080 }] },
      { name: 'log', image: 'local/log:1', cpu: 16, memory: 32 }] });
    const count = n === services.length - 1 ? left : Math.round(tasks * share);
    left -= count;
    await api('POST', `/api/v1/clusters/${cluster}/services`, { serviceName: name, taskDefinition: name, desiredCount: count });
  }
  await until(`${tasks} tasks RUNNING`, 300000, async () =>
    (await api('GET', `/api/v1/clusters/${cluster}/topology?detail=instances`)).summary.tasksRunning === tasks);
  return agents;
}
