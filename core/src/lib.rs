/*!
Wharf's domain model, shared by the server, the portal (compiled to wasm) and the agent.

Everything here is pure: types in ECS's JSON shape, the two-stage intake of untrusted
documents (raw JSON → typed → validated), and the cluster query language of `memberOf`.
No IO, no clocks, no async.
*/

pub mod access;
pub mod account;
pub mod arn;
pub mod cluster;
pub mod error;
pub mod expr;
pub mod fuzzing;
pub mod instance;
pub mod join_token;
pub mod load_balancing;
pub mod json_locate;
pub mod names;
pub mod page;
pub mod scaling;
pub mod protocol;
pub mod secret;
pub mod service;
pub mod task;
pub mod task_definition;
pub mod task_input;
pub mod task_policy;
pub mod text;
pub mod topology;
pub mod units;

pub use error::{ErrorKind, FieldError, FieldErrors, WharfError};
