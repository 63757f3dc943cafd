-- Counts of live tasks (not STOPPED), kept by triggers as tasks are inserted, change status or
-- are deleted, so pages read a cluster's, a deployment's or an instance's counts in a few rows
-- instead of adding up every live task on each view. A task changes status a few times in
-- its life; reports that change only its containers touch no count. Absent keys are ''.
CREATE TABLE task_counts_by_cluster (
    cluster      TEXT NOT NULL,
    last_status  TEXT NOT NULL,
    n            BIGINT NOT NULL,
    cpu          BIGINT NOT NULL,
    memory       BIGINT NOT NULL,
    PRIMARY KEY (cluster, last_status)
);
CREATE TABLE task_counts_by_instance (
    cluster                TEXT NOT NULL,
    container_instance_id  TEXT NOT NULL,
    service_id             TEXT NOT NULL,
    task_group             TEXT NOT NULL,
    last_status            TEXT NOT NULL,
    n                      BIGINT NOT NULL,
    cpu                    BIGINT NOT NULL,
    memory                 BIGINT NOT NULL,
    PRIMARY KEY (cluster, container_instance_id, service_id, task_group, last_status)
);
CREATE TABLE task_counts_by_deployment (
    service_id   TEXT NOT NULL,
    started_by   TEXT NOT NULL,
    last_status  TEXT NOT NULL,
    n            BIGINT NOT NULL,
    PRIMARY KEY (service_id, started_by, last_status)
);

INSERT INTO task_counts_by_cluster
    SELECT cluster, last_status, COUNT(*), SUM(cpu), SUM(memory) FROM tasks WHERE last_status <> 'STOPPED' GROUP BY cluster, last_status;
INSERT INTO task_counts_by_instance
    SELECT cluster, COALESCE(container_instance_id, ''), COALESCE(service_id, ''), COALESCE(task_group, ''), last_status, COUNT(*), SUM(cpu), SUM(memory)
    FROM tasks WHERE last_status <> 'STOPPED' GROUP BY 1, 2, 3, 4, 5;
INSERT INTO task_counts_by_deployment
    SELECT service_id, COALESCE(started_by, ''), last_status, COUNT(*) FROM tasks
    WHERE last_status <> 'STOPPED' AND service_id IS NOT NULL GROUP BY 1, 2, 3;

CREATE TRIGGER task_counts_add AFTER INSERT ON tasks WHEN NEW.last_status <> 'STOPPED'
BEGIN
    INSERT INTO task_counts_by_cluster VALUES (NEW.cluster, NEW.last_status, 1, NEW.cpu, NEW.memory)
        ON CONFLICT (cluster, last_status) DO UPDATE SET n = n + 1, cpu = cpu + excluded.cpu, memory = memory + excluded.memory;
    INSERT INTO task_counts_by_instance VALUES (NEW.cluster, COALESCE(NEW.container_instance_id, ''), COALESCE(NEW.service_id, ''),
            COALESCE(NEW.task_group, ''), NEW.last_status, 1, NEW.cpu, NEW.memory)
        ON CONFLICT (cluster, container_instance_id, service_id, task_group, last_status)
        DO UPDATE SET n = n + 1, cpu = cpu + excluded.cpu, memory = memory + excluded.memory;
    INSERT INTO task_counts_by_deployment SELECT NEW.service_id, COALESCE(NEW.started_by, ''), NEW.last_status, 1 WHERE NEW.service_id IS NOT NULL
        ON CONFLICT (service_id, started_by, last_status) DO UPDATE SET n = n + 1;
END;

CREATE TRIGGER task_counts_remove AFTER DELETE ON tasks WHEN OLD.last_status <> 'STOPPED'
BEGIN
    UPDATE task_counts_by_cluster SET n = n - 1, cpu = cpu - OLD.cpu, memory = memory - OLD.memory
        WHERE cluster = OLD.cluster AND last_status = OLD.last_status;
    UPDATE task_counts_by_instance SET n = n - 1, cpu = cpu - OLD.cpu, memory = memory - OLD.memory
        WHERE cluster = OLD.cluster AND container_instance_id = COALESCE(OLD.container_instance_id, '') AND service_id = COALESCE(OLD.service_id, '')
          AND task_group = COALESCE(OLD.task_group, '') AND last_status = OLD.last_status;
    UPDATE task_counts_by_deployment SET n = n - 1
        WHERE service_id = OLD.service_id AND started_by = COALESCE(OLD.started_by, '') AND last_status = OLD.last_status;
END;

CREATE TRIGGER task_counts_move AFTER UPDATE OF last_status ON tasks WHEN OLD.last_status <> NEW.last_status
BEGIN
    UPDATE task_counts_by_cluster SET n = n - 1, cpu = cpu - OLD.cpu, memory = memory - OLD.memory
        WHERE cluster = OLD.cluster AND last_status = OLD.last_status AND OLD.last_status <> 'STOPPED';
    UPDATE task_counts_by_instance SET n = n - 1, cpu = cpu - OLD.cpu, memory = memory - OLD.memory
        WHERE cluster = OLD.cluster AND container_instance_id = COALESCE(OLD.container_instance_id, '') AND service_id = COALESCE(OLD.service_id, '')
          AND task_group = COALESCE(OLD.task_group, '') AND last_status = OLD.last_status AND OLD.last_status <> 'STOPPED';
    UPDATE task_counts_by_deployment SET n = n - 1
        WHERE service_id = OLD.service_id AND started_by = COALESCE(OLD.started_by, '') AND last_status = OLD.last_status AND OLD.last_status <> 'STOPPED';
    INSERT INTO task_counts_by_cluster SELECT NEW.cluster, NEW.last_status, 1, NEW.cpu, NEW.memory WHERE NEW.last_status <> 'STOPPED'
        ON CONFLICT (cluster, last_status) DO UPDATE SET n = n + 1, cpu = cpu + excluded.cpu, memory = memory + excluded.memory;
    INSERT INTO task_counts_by_instance SELECT NEW.cluster, COALESCE(NEW.container_instance_id, ''), COALESCE(NEW.service_id, ''),
            COALESCE(NEW.task_group, ''), NEW.last_status, 1, NEW.cpu, NEW.memory WHERE NEW.last_status <> 'STOPPED'
        ON CONFLICT (cluster, container_instance_id, service_id, task_group, last_status)
        DO UPDATE SET n = n + 1, cpu = cpu + excluded.cpu, memory = memory + excluded.memory;
    INSERT INTO task_counts_by_deployment SELECT NEW.service_id, COALESCE(NEW.started_by, ''), NEW.last_status, 1
        WHERE NEW.service_id IS NOT NULL AND NEW.last_status <> 'STOPPED'
        ON CONFLICT (service_id, started_by, last_status) DO UPDATE SET n = n + 1;
END;
