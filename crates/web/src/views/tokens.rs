//! Read tokens of a project.

use serde::{Deserialize, Serialize};
use trawler_domain::ProjectId;
use utoipa::ToSchema;

/// The body of `POST /projects/{id}/tokens`.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateToken {
    /// A label, 1 to 100 characters ("creator dashboard").
    #[schema(
        min_length = 1,
        max_length = 100,
        pattern = "^[^\\u0000-\\u001f\\u007f-\\u009f]*[^\\s\\u0000-\\u001f\\u007f-\\u009f][^\\u0000-\\u001f\\u007f-\\u009f]*$"
    )]
    pub name: String,
}

/// A new read token: the token itself is in this answer only.
#[derive(Serialize, ToSchema)]
pub struct CreatedToken {
    /// The token's record.
    #[serde(flatten)]
    pub record: trawler_store::ProjectToken,
    /// The token: send it as `Authorization: Bearer <token>` or `?token=`.
    pub token: String,
}

/// A project's read tokens.
#[derive(Serialize, ToSchema)]
pub struct TokenList {
    /// The project.
    pub project_id: ProjectId,
    /// Its tokens, newest first, revoked ones included.
    pub tokens: Vec<trawler_store::ProjectToken>,
}
