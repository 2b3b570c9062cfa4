//! Projects' labels (`{"client": "acme"}`, kept as JSON on the project's
//! row) and the stable key an import finds a project by.

use std::collections::BTreeMap;

use diesel::prelude::*;
use trawler_domain::labels::Labels;
use trawler_domain::ProjectId;

use crate::project::{labels_text, read_labels, ProjectRow};
use crate::schema::projects;
use crate::{AnyConnection, Project, StoreError, StoreResult};

impl Project {
    /// Replaces a project's labels.
    pub fn set_labels(conn: &mut AnyConnection, id: ProjectId, labels: &Labels, now_ms: i64) -> StoreResult<Project> {
        let text = labels_text(labels);
        let n = db_run!(conn: {
            diesel::update(projects::table.find(id.0))
                .set((projects::labels.eq(text), projects::updated_at_ms.eq(now_ms)))
                .execute(conn)?
        });
        if n == 0 {
            return Err(StoreError::NotFound("project"));
        }
        Project::get(conn, id)
    }

    /// Sets or clears the key an import finds a project by. Another project
    /// holding it already is the database's unique violation (a `Query`
    /// error the caller tells by [`StoreError::is_unique_violation`]).
    pub fn set_external_key(
        conn: &mut AnyConnection,
        id: ProjectId,
        key: Option<&str>,
        now_ms: i64,
    ) -> StoreResult<Project> {
        let n = db_run!(conn: {
            diesel::update(projects::table.find(id.0))
                .set((projects::external_key.eq(key), projects::updated_at_ms.eq(now_ms)))
                .execute(conn)?
        });
        if n == 0 {
            return Err(StoreError::NotFound("project"));
        }
        Project::get(conn, id)
    }

    /// The projects holding these external keys, by key.
    pub fn by_external_keys(conn: &mut AnyConnection, keys: &[String]) -> StoreResult<BTreeMap<String, Project>> {
        let mut out = BTreeMap::new();
        for chunk in keys.chunks(500) {
            let rows: Vec<ProjectRow> = db_run!(conn: {
                projects::table
                    .filter(projects::external_key.eq_any(chunk))
                    .select(ProjectRow::as_select())
                    .load(conn)?
            });
            for row in rows {
                let p = Project::try_from(row)?;
                if let Some(key) = p.external_key.clone() {
                    out.insert(key, p);
                }
            }
        }
        Ok(out)
    }

    /// How many projects have each value of label `key`, by state: what
    /// `/metrics` aggregates by.
    pub fn label_counts(conn: &mut AnyConnection, key: &str) -> StoreResult<BTreeMap<(String, String), i64>> {
        let rows: Vec<(i64, String, Option<String>)> = db_run!(conn: {
            projects::table
                .filter(projects::labels.is_not_null())
                .select((projects::id, projects::status, projects::labels))
                .load(conn)?
        });
        let mut out = BTreeMap::new();
        for (id, status, text) in rows {
            if let Some(value) = read_labels(id, text.as_deref())?.get(key) {
                *out.entry((value.to_owned(), status)).or_default() += 1;
            }
        }
        Ok(out)
    }
}
