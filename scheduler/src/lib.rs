/*!
`wharf-scheduler`: where tasks go and what a service needs next, decided over an in-memory
snapshot of the cluster. Pure and deterministic: no IO, no clock, no randomness but the seed
it is handed, so the same snapshot and request always give the same plan, and the server can
commit the plan in one transaction afterwards.

- [`snapshot`]: the instances as placement sees them.
- [`rules`]: strategies, constraints and the filter pipeline.
- [`place`]: placing N tasks through an index (about log n per task).
- [`explain`]: why a task could not be placed, counted per filter.
- [`service`]: what a REPLICA or DAEMON service starts and stops next, within ECS's bounds.
- [`scaling`]: service auto scaling: what target tracking and step scaling policies make of
  the metrics, within the scalable target's bounds and each policy's cooldowns.
*/

pub mod explain;
pub mod place;
pub mod rules;
pub mod scaling;
pub mod service;
pub mod snapshot;

pub use explain::Explanation;
pub use place::{Plan, Request};
pub use rules::{Constraint, Rejection, Resource, Strategy};
pub use snapshot::{Demand, HostPort, Instance, InstanceStatus, Snapshot};
