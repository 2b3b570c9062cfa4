//! Read models: what one page shows, read in a fixed number of queries
//! whatever the number of rows or of projects in the database.

use std::collections::HashMap;

use diesel::prelude::*;
use trawler_domain::ProjectId;

use crate::run::{Run, RunFilter};
use crate::schema::projects;
use crate::{AnyConnection, StoreResult};

/// A page of runs (as [`Run::search`] finds them) with the name of each
/// run's project: two queries, the second for the page's projects only.
pub fn runs_with_project_names(conn: &mut AnyConnection, filter: &RunFilter) -> StoreResult<Vec<(Run, String)>> {
    let runs = Run::search(conn, filter)?;
    let mut ids: Vec<ProjectId> = runs.iter().map(|r| r.project_id).collect();
    ids.sort();
    ids.dedup();
    let mut names: HashMap<i64, String> = HashMap::with_capacity(ids.len());
    for chunk in crate::id_chunks(&ids) {
        let rows: Vec<(i64, String)> = db_run!(conn: {
            projects::table
                .filter(projects::id.eq_any(&chunk))
                .select((projects::id, projects::name))
                .load(conn)?
        });
        names.extend(rows);
    }
    Ok(runs
        .into_iter()
        .map(|r| {
            let name = names.get(&r.project_id.0).cloned().unwrap_or_else(|| format!("#{}", r.project_id));
            (r, name)
        })
        .collect())
}

/// The nodes on this database as the cluster pages show them.
pub struct Cluster {
    /// The database's clock, epoch ms (liveness is judged by it).
    pub now_ms: i64,
    /// Every node process recorded, live or not.
    pub nodes: Vec<crate::node::Node>,
    /// Leases held per live node name.
    pub leases: Vec<(String, i64)>,
    /// Active projects in the database.
    pub active_projects: i64,
}

impl Cluster {
    /// The cluster now: one read of nodes, lease counts and active projects.
    pub fn read(conn: &mut AnyConnection) -> StoreResult<Cluster> {
        let now_ms = crate::node::Node::clock(conn)?;
        Ok(Cluster {
            now_ms,
            nodes: crate::node::Node::list(conn)?,
            leases: crate::lease::Lease::counts(conn, now_ms - crate::node::TTL_MS)?,
            active_projects: crate::lease::Lease::active_projects(conn)?,
        })
    }

    /// Projects leased out, over every live node.
    pub fn leased(&self) -> i64 {
        self.leases.iter().map(|(_, c)| c).sum()
    }

    /// The leases node `name` holds.
    pub fn leases_of(&self, name: &str) -> i64 {
        self.leases.iter().find(|(n, _)| n == name).map_or(0, |(_, c)| *c)
    }
}
