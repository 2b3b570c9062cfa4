//! Read tokens of a project.

use serde::{Deserialize, Serialize};
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

/// The body of `POST /tokens`: one read token for several projects.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateSetToken {
    /// A label, 1 to 100 characters ("Aurora Studio's campaigns").
    #[schema(
        min_length = 1,
        max_length = 100,
        pattern = "^[^\\u0000-\\u001f\\u007f-\\u009f]*[^\\s\\u0000-\\u001f\\u007f-\\u009f][^\\u0000-\\u001f\\u007f-\\u009f]*$"
    )]
    pub name: String,
    /// The projects it reads, 1 to 100 ids; the first is where it is listed,
    /// rotated and revoked.
    #[schema(min_items = 1, max_items = 100)]
    pub projects: Vec<i64>,
}

/// A new read token: the token itself is in this answer only.
#[derive(Serialize, ToSchema)]
pub struct CreatedToken {
    /// The token's record.
    #[serde(flatten)]
    pub record: ProjectToken,
    /// The token: send it as `Authorization: Bearer <token>` or `?token=`.
    pub token: String,
}

/// A project's read tokens.
#[derive(Serialize, ToSchema)]
pub struct TokenList {
    /// The project.
    pub project_id: i64,
    /// Its tokens, newest first, revoked ones included.
    pub tokens: Vec<ProjectToken>,
}

/// A read token as listed (never the token itself).
#[derive(Serialize, ToSchema)]
pub struct ProjectToken {
    /// Its id.
    pub id: i64,
    /// The project it reads.
    pub project_id: i64,
    /// A label ("creator dashboard").
    pub name: String,
    /// The token's first characters, to tell tokens apart.
    pub prefix: String,
    /// When it was made, epoch ms.
    pub created_at_ms: i64,
    /// When it was last used (to the minute), epoch ms.
    pub last_used_at_ms: Option<i64>,
    /// When it was revoked, epoch ms; a revoked token reads nothing.
    pub revoked_at_ms: Option<i64>,
    /// Every project it reads, its own first (one, unless it was made for
    /// several with `POST /tokens`).
    pub projects: Vec<i64>,
}

impl From<trawler_store::ProjectToken> for ProjectToken {
    fn from(t: trawler_store::ProjectToken) -> ProjectToken {
        let projects = t.projects().into_iter().map(|p| p.0).collect();
        let trawler_store::ProjectToken {
            id,
            project_id,
            name,
            prefix,
            created_at_ms,
            last_used_at_ms,
            revoked_at_ms,
            also: _,
        } = t;
        ProjectToken {
            id,
            project_id: project_id.0,
            name,
            prefix,
            created_at_ms,
            last_used_at_ms,
            revoked_at_ms,
            projects,
        }
    }
}
