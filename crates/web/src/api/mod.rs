//! The JSON API's handlers, one file per resource, named
//! `<verb>_<resource>`; wired in `routes.rs`.

pub mod admin;
pub mod archive;
pub mod audit;
pub mod config;
mod derived;
pub mod export;
mod gaps;
pub mod health;
pub mod history;
pub mod import;
pub mod jobs;
pub mod monitors;
pub mod projects;
pub mod projects_import;
pub mod runs;
pub mod series;
pub mod tokens;
pub mod users;
pub mod webhooks;

pub use admin::*;
pub use archive::*;
pub use audit::*;
pub use config::*;
pub use export::*;
pub use health::*;
pub use history::*;
pub use import::*;
pub use jobs::*;
pub use monitors::*;
pub use projects::*;
pub use projects_import::*;
pub use runs::*;
pub use series::*;
pub use tokens::*;
pub use users::*;
pub use webhooks::*;

use actix_web::web;

use crate::ApiError;

/// A JSON body as the API takes it: an object (serde would also take an
/// array for a struct), whose `sources`, if any, are objects too.
pub(crate) type Body = web::Json<serde_json::Map<String, serde_json::Value>>;

/// Reads a [`Body`] into its type.
pub(crate) fn from_body<T: serde::de::DeserializeOwned>(body: Body) -> Result<T, ApiError> {
    let map = body.into_inner();
    if let Some(serde_json::Value::Array(items)) = map.get("sources") {
        if let Some(i) = items.iter().position(|x| !x.is_object()) {
            return Err(ApiError::BadRequest(format!("invalid JSON body: sources[{i}] must be an object")));
        }
    }
    serde_json::from_value(serde_json::Value::Object(map))
        .map_err(|e| ApiError::BadRequest(format!("invalid JSON body: {e}")))
}
