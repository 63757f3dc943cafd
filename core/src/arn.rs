/*!
ARNs in ECS's layout, `arn:wharf:ecs:<region>:<account>:<kind>/…`, so an ECS-compatible API can
be laid over the same data. One Wharf installation is one region and one account.
*/

pub const REGION: &str = "local";
pub const ACCOUNT: &str = "000000000000";

fn arn(resource: &str) -> String {
    format!("arn:wharf:ecs:{REGION}:{ACCOUNT}:{resource}")
}

pub fn cluster(name: &str) -> String {
    arn(&format!("cluster/{name}"))
}

pub fn task_definition(family: &str, revision: i64) -> String {
    arn(&format!("task-definition/{family}:{revision}"))
}

pub fn service(cluster: &str, name: &str) -> String {
    arn(&format!("service/{cluster}/{name}"))
}

pub fn container_instance(cluster: &str, id: &str) -> String {
    arn(&format!("container-instance/{cluster}/{id}"))
}

pub fn task(cluster: &str, id: &str) -> String {
    arn(&format!("task/{cluster}/{id}"))
}

/// Application Auto Scaling's ARNs of a service's policies and scheduled actions.
pub fn scaling_policy(cluster: &str, service: &str, name: &str) -> String {
    format!("arn:wharf:autoscaling:{REGION}:{ACCOUNT}:scalingPolicy:service/{cluster}/{service}:policyName/{name}")
}

pub fn scheduled_action(cluster: &str, service: &str, name: &str) -> String {
    format!("arn:wharf:autoscaling:{REGION}:{ACCOUNT}:scheduledAction:service/{cluster}/{service}:scheduledActionName/{name}")
}
