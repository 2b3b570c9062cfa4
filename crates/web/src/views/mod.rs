//! What the API sends and receives, as types, one file per resource: the
//! handlers build these, and the OpenAPI document is generated from the
//! same types, so the document cannot drift from the responses.

mod actors;
mod admin;
mod archive;
mod audit;
mod config;
mod health;
mod jobs;
mod monitors;
mod platforms;
mod projects;
mod runs;
mod series;
mod tokens;
mod webhooks;
pub mod wire;

pub use actors::*;
pub use admin::*;
pub use archive::*;
pub use audit::*;
pub use config::*;
pub use health::*;
pub use jobs::*;
pub use monitors::*;
pub use platforms::*;
pub use projects::*;
pub use runs::*;
pub use series::*;
pub use tokens::*;
pub use webhooks::*;
