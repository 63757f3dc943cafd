/*!
SQL of container instances. Remaining resources are not stored: they are the registered ones
less what the instance's unfinished tasks reserve, computed at read so they cannot drift.
*/

use super::tasks::{self, Reservation};
use super::{Result, corrupt};
use sqlx::{AnyConnection, Row, any::AnyRow};
use std::collections::BTreeMap;
use wharf_core::arn;
use wharf_core::instance::{ContainerInstance, Resource};
use wharf_core::page::Page;

const SELECT: &str = "SELECT i.id, i.cluster, i.name, i.status, i.agent_connected, i.registered_resources,
    i.attributes, i.admin_attributes, i.version_info, i.registered_at, i.last_heartbeat_at, i.private_ip_address,
    (SELECT CAST(COALESCE(SUM(k.n), 0) AS BIGINT) FROM task_counts_by_instance k WHERE k.cluster = i.cluster AND k.container_instance_id = i.id
        AND k.last_status = 'RUNNING') AS running,
    (SELECT CAST(COALESCE(SUM(k.n), 0) AS BIGINT) FROM task_counts_by_instance k WHERE k.cluster = i.cluster AND k.container_instance_id = i.id
        AND k.last_status IN ('PROVISIONING', 'PENDING', 'ACTIVATING')) AS pending
  FROM container_instances i";

/// [`SELECT`] without the task counts, which cost a look at every task of the cluster.
const SELECT_UNCOUNTED: &str = "SELECT i.id, i.cluster, i.name, i.status, i.agent_connected, i.registered_resources,
    i.attributes, i.admin_attributes, i.version_info, i.registered_at, i.last_heartbeat_at, i.private_ip_address, 0 AS running, 0 AS pending
  FROM container_instances i";

fn from_row(row: AnyRow) -> Result<ContainerInstance> {
    let json = |col: &str| -> Result<String> { Ok(row.try_get::<String, _>(col)?) };
    let id: String = row.try_get("id")?;
    let cluster: String = row.try_get("cluster")?;
    let connected: i64 = row.try_get("agent_connected")?;
    let registered: Vec<Resource> = serde_json::from_str(&json("registered_resources")?).map_err(corrupt("resources"))?;
    Ok(ContainerInstance {
        container_instance_arn: arn::container_instance(&cluster, &id),
        name: row.try_get("name")?,
        status: row.try_get("status")?,
        agent_connected: connected != 0,
        remaining_resources: registered.clone(),
        registered_resources: registered,
        attributes: serde_json::from_str(&json("attributes")?).map_err(corrupt("attributes"))?,
        admin_attributes: serde_json::from_str(&json("admin_attributes")?).map_err(corrupt("admin attributes"))?,
        version_info: serde_json::from_str(&json("version_info")?).map_err(corrupt("version info"))?,
        private_ip_address: row.try_get("private_ip_address")?,
        running_tasks_count: row.try_get("running")?,
        pending_tasks_count: row.try_get("pending")?,
        registered_at: row.try_get("registered_at")?,
        last_heartbeat_at: row.try_get("last_heartbeat_at")?,
        usage: None,
        cluster_name: cluster,
        id,
    })
}

/// Subtracts what the instances' tasks hold from their registered resources.
fn apply_reservations(instances: &mut [ContainerInstance], reservations: Vec<Reservation>) -> Result<()> {
    let mut held: BTreeMap<String, (i64, i64, Vec<String>)> = BTreeMap::new();
    for r in reservations {
        let entry = held.entry(r.instance_id).or_default();
        entry.0 = entry.0.saturating_add(r.cpu);
        entry.1 = entry.1.saturating_add(r.memory);
        let ports: Vec<String> = serde_json::from_str(&r.host_ports).map_err(corrupt("task host ports"))?;
        entry.2.extend(ports);
    }
    for instance in instances {
        let Some((cpu, memory, ports)) = held.get(&instance.id) else {
            continue;
        };
        for resource in &mut instance.remaining_resources {
            match resource.name.as_str() {
                "CPU" => resource.integer_value = resource.integer_value.map(|v| v.saturating_sub(*cpu)),
                "MEMORY" => resource.integer_value = resource.integer_value.map(|v| v.saturating_sub(*memory)),
                "PORTS" | "PORTS_UDP" => {
                    let proto = if resource.name == "PORTS" { "tcp:" } else { "udp:" };
                    let mut set: Vec<String> = ports.iter().filter_map(|p| p.strip_prefix(proto)).map(str::to_string).collect();
                    set.sort_by_key(|p| p.parse::<u32>().unwrap_or(u32::MAX));
                    set.dedup();
                    resource.string_set_value = Some(set);
                }
                _ => {}
            }
        }
    }
    Ok(())
}

pub async fn get(conn: &mut AnyConnection, cluster: &str, id: &str) -> Result<Option<ContainerInstance>> {
    let row = sqlx::query(&format!("{SELECT} WHERE i.cluster = $1 AND i.id = $2")).bind(cluster).bind(id).fetch_optional(&mut *conn).await?;
    let Some(row) = row else { return Ok(None) };
    let mut found = [from_row(row)?];
    apply_reservations(&mut found, tasks::reservations(conn, cluster, &[id.to_string()]).await?)?;
    let [instance] = found;
    Ok(Some(instance))
}

/// A page's key: the instance's name and id (names need not be unique).
pub fn page_key(i: &ContainerInstance) -> String {
    format!("{}\n{}", i.name, i.id)
}

/// Up to `page.limit + 1` instances of `status` (none: all but INACTIVE) by name (as people
/// look for hosts), after the page's key ([`page_key`]); only those instances' tasks are read
/// for what they hold.
pub async fn list(conn: &mut AnyConnection, cluster: &str, status: Option<&str>, page: &Page) -> Result<Vec<ContainerInstance>> {
    let after = page.after.clone().unwrap_or_default();
    let (name, id) = after.split_once('\n').unwrap_or((after.as_str(), ""));
    let of_status = if status.is_some() { "i.status = $5" } else { "i.status <> $5" };
    let rows = sqlx::query(&format!("{SELECT} WHERE i.cluster = $1 AND {of_status} AND (i.name, i.id) > ($2, $3) ORDER BY i.name, i.id LIMIT $4"))
        .bind(cluster)
        .bind(name)
        .bind(id)
        .bind(page.limit + 1)
        .bind(status.unwrap_or("INACTIVE"))
        .fetch_all(&mut *conn)
        .await?;
    let mut found = rows.into_iter().map(from_row).collect::<Result<Vec<_>>>()?;
    let ids: Vec<String> = found.iter().map(|i| i.id.clone()).collect();
    apply_reservations(&mut found, tasks::reservations(conn, cluster, &ids).await?)?;
    Ok(found)
}

/// Every instance of the cluster that is not deregistered, without reservations or task
/// counts (the scheduler computes both from the tasks it holds anyway).
pub async fn all(conn: &mut AnyConnection, cluster: &str) -> Result<Vec<ContainerInstance>> {
    let rows =
        sqlx::query(&format!("{SELECT_UNCOUNTED} WHERE i.cluster = $1 AND i.status <> 'INACTIVE' ORDER BY i.id")).bind(cluster).fetch_all(&mut *conn).await?;
    rows.into_iter().map(from_row).collect()
}

/// What a cluster's totals need of one instance: the CPU and memory it registered and whether
/// its agent is connected.
pub struct Registered {
    pub id: String,
    pub agent_connected: bool,
    pub cpu: i64,
    pub memory: i64,
}

/// The cluster's instances as its totals need them: a narrower read than [`all`] (no attributes,
/// versions or ARNs), for pages that show only the sums.
pub async fn registered(conn: &mut AnyConnection, cluster: &str) -> Result<Vec<Registered>> {
    #[derive(serde::Deserialize)]
    struct Integer {
        name: String,
        #[serde(rename = "integerValue")]
        integer_value: Option<i64>,
    }
    let rows = sqlx::query("SELECT id, agent_connected, registered_resources FROM container_instances WHERE cluster = $1 AND status <> 'INACTIVE'")
        .bind(cluster)
        .fetch_all(&mut *conn)
        .await?;
    rows.into_iter()
        .map(|row| {
            let resources: Vec<Integer> = serde_json::from_str(&row.try_get::<String, _>("registered_resources")?).map_err(corrupt("resources"))?;
            let value = |name: &str| resources.iter().find(|r| r.name == name).and_then(|r| r.integer_value).unwrap_or(0);
            Ok(Registered { id: row.try_get("id")?, agent_connected: row.try_get::<i64, _>("agent_connected")? != 0, cpu: value("CPU"), memory: value("MEMORY") })
        })
        .collect()
}

pub struct NewInstance<'a> {
    pub id: &'a str,
    pub cluster: &'a str,
    pub name: &'a str,
    pub resources: &'a str,
    pub attributes: &'a str,
    pub version_info: &'a str,
    pub credential_hash: &'a str,
    pub join_token_id: &'a str,
}

/// Registers a host: ACTIVE, not yet connected.
pub async fn insert(conn: &mut AnyConnection, i: &NewInstance<'_>, now: &str) -> Result<()> {
    sqlx::query(
        "INSERT INTO container_instances (id, cluster, name, status, agent_connected, registered_resources,
            remaining_resources, attributes, version_info, registered_at, credential_hash, join_token_id)
         VALUES ($1, $2, $3, 'ACTIVE', 0, $4, $4, $5, $6, $7, $8, $9)",
    )
    .bind(i.id)
    .bind(i.cluster)
    .bind(i.name)
    .bind(i.resources)
    .bind(i.attributes)
    .bind(i.version_info)
    .bind(now)
    .bind(i.credential_hash)
    .bind(i.join_token_id)
    .execute(conn)
    .await?;
    Ok(())
}

/// What an agent's credential check needs: the instance's cluster, status, credential hash,
/// the hash of a credential handed out and not yet confirmed, and when the current one was
/// issued.
pub struct Credential {
    pub cluster: String,
    pub status: String,
    pub hash: Option<String>,
    pub next_hash: Option<String>,
    pub issued_at: String,
}

pub async fn credential(conn: &mut AnyConnection, id: &str) -> Result<Option<Credential>> {
    let row = sqlx::query(
        "SELECT cluster, status, credential_hash, next_credential_hash, COALESCE(credential_issued_at, registered_at) AS issued_at
         FROM container_instances WHERE id = $1",
    )
    .bind(id)
    .fetch_optional(conn)
    .await?;
    row.map(|row| {
        Ok(Credential {
            cluster: row.try_get("cluster")?,
            status: row.try_get("status")?,
            hash: row.try_get("credential_hash")?,
            next_hash: row.try_get("next_credential_hash")?,
            issued_at: row.try_get("issued_at")?,
        })
    })
    .transpose()
}

/// Hands out a new credential: kept beside the current one until confirmed. A credential
/// handed out before and never confirmed is replaced. False when the instance is gone.
pub async fn offer_credential(conn: &mut AnyConnection, id: &str, next_hash: &str) -> Result<bool> {
    let done = sqlx::query("UPDATE container_instances SET next_credential_hash = $2 WHERE id = $1 AND status <> 'INACTIVE'")
        .bind(id)
        .bind(next_hash)
        .execute(conn)
        .await?;
    Ok(done.rows_affected() == 1)
}

/// The agent holds the new credential (it said so, or signed in with it): it replaces the old
/// one, which stops working. False when that credential is no longer the one on offer.
pub async fn confirm_credential(conn: &mut AnyConnection, id: &str, next_hash: &str, now: &str) -> Result<bool> {
    let done = sqlx::query(
        "UPDATE container_instances SET credential_hash = next_credential_hash, next_credential_hash = NULL, credential_issued_at = $3
         WHERE id = $1 AND next_credential_hash = $2",
    )
    .bind(id)
    .bind(next_hash)
    .bind(now)
    .execute(conn)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// What an agent's hello says about its host.
pub struct HostReport<'a> {
    pub name: &'a str,
    pub resources: &'a str,
    pub attributes: &'a str,
    pub version_info: &'a str,
    pub runtime: &'a str,
    pub address: Option<&'a str>,
}

/// An agent connected: its host facts replace the stored ones.
pub async fn connected(conn: &mut AnyConnection, id: &str, host: &HostReport<'_>, now: &str) -> Result<()> {
    sqlx::query(
        "UPDATE container_instances SET agent_connected = 1, name = $2, registered_resources = $3,
            remaining_resources = $3, attributes = $4, version_info = $5, runtime = $6, last_heartbeat_at = $7,
            private_ip_address = $8
         WHERE id = $1",
    )
    .bind(id)
    .bind(host.name)
    .bind(host.resources)
    .bind(host.attributes)
    .bind(host.version_info)
    .bind(host.runtime)
    .bind(now)
    .bind(host.address)
    .execute(conn)
    .await?;
    Ok(())
}

/// The attributes placement sees, as weighed again (the cluster's trust changed).
pub async fn set_attributes(conn: &mut AnyConnection, id: &str, attributes: &str) -> Result<()> {
    sqlx::query("UPDATE container_instances SET attributes = $2 WHERE id = $1").bind(id).bind(attributes).execute(conn).await?;
    Ok(())
}

pub async fn set_admin_attributes(conn: &mut AnyConnection, id: &str, attributes: &str) -> Result<()> {
    sqlx::query("UPDATE container_instances SET admin_attributes = $2 WHERE id = $1").bind(id).bind(attributes).execute(conn).await?;
    Ok(())
}

pub async fn set_connected(conn: &mut AnyConnection, id: &str, connected: bool) -> Result<()> {
    sqlx::query("UPDATE container_instances SET agent_connected = $2 WHERE id = $1").bind(id).bind(connected as i64).execute(conn).await?;
    Ok(())
}

/// At server start no agent is connected yet, whatever the store says.
pub async fn disconnect_all(conn: &mut AnyConnection) -> Result<()> {
    sqlx::query("UPDATE container_instances SET agent_connected = 0 WHERE agent_connected <> 0").execute(conn).await?;
    Ok(())
}

/// Records heartbeats of many instances in one statement.
pub async fn heartbeats(conn: &mut AnyConnection, ids: &[String], at: &str) -> Result<()> {
    for chunk in ids.chunks(500) {
        let placeholders: Vec<String> = (0..chunk.len()).map(|i| format!("${}", i + 2)).collect();
        let sql = format!("UPDATE container_instances SET last_heartbeat_at = $1 WHERE id IN ({})", placeholders.join(", "));
        let mut query = sqlx::query(&sql).bind(at);
        for id in chunk {
            query = query.bind(id);
        }
        query.execute(&mut *conn).await?;
    }
    Ok(())
}

pub async fn set_status(conn: &mut AnyConnection, id: &str, status: &str, now: &str) -> Result<()> {
    let deregistered = (status == "INACTIVE").then_some(now);
    sqlx::query("UPDATE container_instances SET status = $2, deregistered_at = COALESCE($3, deregistered_at) WHERE id = $1")
        .bind(id)
        .bind(status)
        .bind(deregistered)
        .execute(conn)
        .await?;
    Ok(())
}

/// The cluster's live instances that joined with a join token.
pub async fn joined_with(conn: &mut AnyConnection, cluster: &str, join_token_id: &str) -> Result<Vec<String>> {
    let rows = sqlx::query("SELECT id FROM container_instances WHERE cluster = $1 AND join_token_id = $2 AND status <> 'INACTIVE' ORDER BY id")
        .bind(cluster)
        .bind(join_token_id)
        .fetch_all(conn)
        .await?;
    rows.into_iter().map(|r| Ok(r.try_get::<String, _>(0)?)).collect()
}
