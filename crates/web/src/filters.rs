//! Filters of the projects and runs lists (the UI pages and `GET
//! /api/v1/runs`), read from the query string. Values of a key may repeat
//! (`platform=kickstarter&platform=indiegogo`, as a form of checkboxes sends
//! them) or be comma-separated (`platform=kickstarter,indiegogo`), so any
//! view is a URL that can be bookmarked and shared.

use std::collections::HashMap;

use trawler_domain::{Platform, ProjectId, ProjectStatus, RunStatus};
use trawler_store::{AnyConnection, Project, Run, Source, StoreResult};

use crate::error::ApiError;

/// Most items per page.
pub const PAGE_SIZE: usize = 50;

/// What a list is filtered by; empty lists match everything.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Filters {
    /// Projects with a source on one of these platforms.
    pub platforms: Vec<Platform>,
    /// Project states (projects page) .
    pub project_statuses: Vec<ProjectStatus>,
    /// Run outcomes: of the runs (runs page), of each project's latest run
    /// (projects page).
    pub run_statuses: Vec<RunStatus>,
    /// Nodes that ran them.
    pub nodes: Vec<String>,
    /// Start of the time range as given (`YYYY-MM-DD` or epoch seconds).
    pub from: String,
    /// End of the time range as given (a date counts whole).
    pub to: String,
    /// Start of the range, epoch ms (inclusive).
    pub from_ms: Option<i64>,
    /// End of the range, epoch ms (exclusive).
    pub to_ms: Option<i64>,
    /// Part of a project's name, any case.
    pub name: String,
    /// Only projects with these ids (runs page: one project's runs).
    pub projects: Vec<i64>,
    /// Only projects with every one of these labels (`client=acme`: that
    /// value; `client`: any value).
    pub labels: Vec<(String, Option<String>)>,
    /// Page number, from 1.
    pub page: usize,
    /// Runs older than this run id (the runs list's next page).
    pub before: Option<i64>,
    /// A message to show once (after a redirect).
    pub flash: Option<String>,
    /// The projects page's chart range (kept through redirects).
    pub range: Option<String>,
    /// The projects page's order: `fresh` (lowest 24-hour freshness
    /// first) or `name`; by id when absent.
    pub sort: Option<String>,
}

/// Parses a time bound: epoch seconds, or a `YYYY-MM-DD` date (midnight
/// UTC; as an end, the midnight after, so the day counts whole).
pub(crate) fn bound(name: &str, value: &str, end: bool) -> Result<Option<i64>, ApiError> {
    if value.is_empty() {
        return Ok(None);
    }
    if value.bytes().all(|b| b.is_ascii_digit()) && value.len() <= 12 {
        let secs: i64 = value.parse().map_err(|_| ApiError::BadRequest(format!("`{name}` is too large")))?;
        return Ok(Some(secs * 1000));
    }
    let midnight = trawler_domain::time::parse_date(value).ok_or_else(|| {
        ApiError::BadRequest(format!("`{name}` must be a date (YYYY-MM-DD) or epoch seconds, not `{value}`"))
    })?;
    Ok(Some((midnight + if end { 86_400 } else { 0 }) * 1000))
}

impl Filters {
    /// Reads filters from a query string. `statuses` says what `status`
    /// means: project states (`true`, projects page, where `last` holds the
    /// latest run's outcome) or run outcomes (`false`).
    pub fn parse(query: &str, project_statuses: bool) -> Result<Filters, ApiError> {
        let mut f = Filters { page: 1, ..Filters::default() };
        for (key, value) in url::form_urlencoded::parse(query.as_bytes()) {
            let values = value.split(',').map(str::trim).filter(|v| !v.is_empty());
            match key.as_ref() {
                "platform" => {
                    for v in values {
                        let p = v.parse().map_err(|e| ApiError::BadRequest(format!("platform: {e}")))?;
                        if !f.platforms.contains(&p) {
                            f.platforms.push(p);
                        }
                    }
                }
                "status" if project_statuses => {
                    for v in values {
                        f.project_statuses.push(v.parse().map_err(|e| {
                            ApiError::BadRequest(format!("status: {e} (active, quarantined, ended or archived)"))
                        })?);
                    }
                }
                "status" | "last" => {
                    for v in values {
                        f.run_statuses.push(v.parse().map_err(|e| ApiError::BadRequest(format!("{key}: {e}")))?);
                    }
                }
                "node" => {
                    for v in values {
                        if v.len() > 64 {
                            return Err(ApiError::BadRequest("node: a node name has at most 64 characters".into()));
                        }
                        f.nodes.push(v.to_owned());
                    }
                }
                "project" => {
                    for v in values {
                        f.projects.push(
                            v.parse()
                                .map_err(|_| ApiError::BadRequest(format!("project: `{v}` is not a project id")))?,
                        );
                    }
                }
                "label" => {
                    for v in values {
                        let (k, want) = match v.split_once('=') {
                            Some((k, want)) => (k.trim(), Some(want.trim().to_owned())),
                            None => (v, None),
                        };
                        trawler_domain::labels::check_key(k)
                            .map_err(|e| ApiError::BadRequest(format!("label: {e}")))?;
                        if f.labels.len() >= trawler_domain::labels::MOST_LABELS {
                            return Err(ApiError::BadRequest("label: at most 16 labels in a filter".into()));
                        }
                        f.labels.push((k.to_owned(), want));
                    }
                }
                "from" => {
                    f.from_ms = bound("from", value.trim(), false)?;
                    f.from = value.trim().to_owned();
                }
                "to" => {
                    f.to_ms = bound("to", value.trim(), true)?;
                    f.to = value.trim().to_owned();
                }
                "q" => f.name = value.trim().chars().take(200).collect(),
                "page" => {
                    f.page = value
                        .parse()
                        .ok()
                        .filter(|p| (1..=1_000_000).contains(p))
                        .ok_or_else(|| ApiError::BadRequest("page: a number from 1".into()))?;
                }
                "before" => {
                    f.before =
                        Some(value.parse().map_err(|_| ApiError::BadRequest("`before` must be a run id".into()))?);
                }
                "flash" => f.flash = Some(value.chars().take(500).collect()),
                "range" => f.range = Some(value.into_owned()),
                "sort" => match value.as_ref() {
                    "fresh" | "name" => f.sort = Some(value.into_owned()),
                    "" | "id" => f.sort = None,
                    other => return Err(ApiError::BadRequest(format!("sort: `{other}` (fresh, name or id)"))),
                },
                // Other keys (a token, a cache buster) do not filter.
                _ => {}
            }
        }
        if let (Some(from), Some(to)) = (f.from_ms, f.to_ms) {
            if from >= to {
                return Err(ApiError::BadRequest("`from` must come before `to`".into()));
            }
        }
        Ok(f)
    }

    /// Whether anything is filtered.
    pub fn any(&self) -> bool {
        !(self.platforms.is_empty()
            && self.project_statuses.is_empty()
            && self.run_statuses.is_empty()
            && self.nodes.is_empty()
            && self.from_ms.is_none()
            && self.to_ms.is_none()
            && self.name.is_empty()
            && self.projects.is_empty()
            && self.labels.is_empty())
    }

    /// The query string of these filters (without the flash) at `page`,
    /// in a stable order: what links and redirects carry.
    pub fn query(&self, project_statuses: bool, page: usize) -> String {
        let mut out = url::form_urlencoded::Serializer::new(String::new());
        for p in &self.platforms {
            out.append_pair("platform", p.as_str());
        }
        for s in &self.project_statuses {
            out.append_pair("status", s.as_str());
        }
        let runs_key = if project_statuses { "last" } else { "status" };
        for s in &self.run_statuses {
            out.append_pair(runs_key, s.as_str());
        }
        for n in &self.nodes {
            out.append_pair("node", n);
        }
        for p in &self.projects {
            out.append_pair("project", &p.to_string());
        }
        for (k, v) in &self.labels {
            match v {
                Some(v) => out.append_pair("label", &format!("{k}={v}")),
                None => out.append_pair("label", k),
            };
        }
        for (k, v) in [("from", &self.from), ("to", &self.to), ("q", &self.name)] {
            if !v.is_empty() {
                out.append_pair(k, v);
            }
        }
        if let Some(range) = &self.range {
            out.append_pair("range", range);
        }
        if let Some(sort) = &self.sort {
            out.append_pair("sort", sort);
        }
        if page > 1 {
            out.append_pair("page", &page.to_string());
        }
        out.finish()
    }

    /// The store's run query for these filters, at most `limit` runs, with
    /// the labels turned into the projects that carry them (runs have no
    /// labels of their own).
    pub fn run_filter_in(&self, conn: &mut AnyConnection, limit: i64) -> StoreResult<trawler_store::RunFilter> {
        let mut filter = self.run_filter(limit);
        if !self.labels.is_empty() {
            let labelled = Project::list(conn, None)?
                .into_iter()
                .filter(|p| p.labels.matches(&self.labels))
                .filter(|p| self.projects.is_empty() || self.projects.contains(&p.id.0))
                .map(|p| p.id);
            filter.projects = labelled.collect();
            if filter.projects.is_empty() {
                // No project carries them: no run matches (id 0 is no project's).
                filter.projects.push(ProjectId(0));
            }
        }
        Ok(filter)
    }

    /// The store's run query for these filters, at most `limit` runs.
    pub fn run_filter(&self, limit: i64) -> trawler_store::RunFilter {
        trawler_store::RunFilter {
            platforms: self.platforms.clone(),
            statuses: self.run_statuses.clone(),
            nodes: self.nodes.clone(),
            projects: self.projects.iter().map(|&p| trawler_domain::ProjectId(p)).collect(),
            from_ms: self.from_ms,
            to_ms: self.to_ms,
            before_id: self.before,
            limit,
        }
    }

    /// The URL of the runs after `last` at `path` (`limit` kept when given).
    pub fn next_runs(&self, path: &str, last: i64, limit: Option<i64>) -> String {
        let mut q = self.query(false, 1);
        if let Some(limit) = limit {
            q.push_str(&format!("{}limit={limit}", if q.is_empty() { "" } else { "&" }));
        }
        format!("{path}?{q}{}before={last}", if q.is_empty() { "" } else { "&" })
    }

    /// Whether the projects page's filters ask about each project's latest
    /// run (its outcome, node or time).
    pub fn by_latest_run(&self) -> bool {
        !self.run_statuses.is_empty() || !self.nodes.is_empty() || self.from_ms.is_some() || self.to_ms.is_some()
    }

    /// Whether a project passes the projects page's filters, given its
    /// sources and latest run.
    pub fn matches_project(&self, p: &Project, sources: &[Source], last: Option<&Run>) -> bool {
        (self.platforms.is_empty() || sources.iter().any(|s| self.platforms.contains(&s.platform)))
            && (self.project_statuses.is_empty() || self.project_statuses.contains(&p.status))
            && (self.run_statuses.is_empty() || last.is_some_and(|r| self.run_statuses.contains(&r.status)))
            && (self.nodes.is_empty() || last.is_some_and(|r| self.nodes.contains(&r.node)))
            && (self.from_ms.is_none() && self.to_ms.is_none() || last.is_some_and(|r| self.in_range(r.started_at_ms)))
            && (self.name.is_empty() || p.name.to_lowercase().contains(&self.name.to_lowercase()))
            && (self.projects.is_empty() || self.projects.contains(&p.id.0))
            && p.labels.matches(&self.labels)
    }

    /// Every project the projects page's filters match, by id, ascending
    /// (every page of the view, not one).
    pub fn matching_projects(&self, conn: &mut AnyConnection) -> StoreResult<Vec<ProjectId>> {
        let projects = Project::list(conn, None)?;
        let mut sources: HashMap<ProjectId, Vec<Source>> = HashMap::new();
        if !self.platforms.is_empty() {
            for s in Source::list_all(conn)? {
                sources.entry(s.project_id).or_default().push(s);
            }
        }
        let latest: HashMap<ProjectId, Run> = if self.by_latest_run() {
            Run::latest_per_project(conn)?.into_iter().map(|r| (r.project_id, r)).collect()
        } else {
            HashMap::new()
        };
        let mut ids: Vec<ProjectId> = projects
            .iter()
            .filter(|p| {
                let own = sources.get(&p.id).map_or(&[][..], Vec::as_slice);
                self.matches_project(p, own, latest.get(&p.id))
            })
            .map(|p| p.id)
            .collect();
        ids.sort();
        Ok(ids)
    }

    /// The projects of every run the runs page's filters match, by id,
    /// ascending (every page of the view, not one).
    pub fn projects_of_matching_runs(&self, conn: &mut AnyConnection) -> StoreResult<Vec<ProjectId>> {
        let mut filter = self.run_filter_in(conn, 0)?;
        filter.before_id = None;
        Run::projects_matching(conn, &filter)
    }

    /// Whether a time falls in the range.
    pub fn in_range(&self, ms: i64) -> bool {
        self.from_ms.is_none_or(|f| ms >= f) && self.to_ms.is_none_or(|t| ms < t)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repeated_and_comma_separated_values_read_the_same() {
        let a = Filters::parse("platform=kickstarter&platform=indiegogo&last=failed&node=n1", true).expect("valid");
        let b = Filters::parse("platform=kickstarter,indiegogo&last=failed&node=n1", true).expect("valid");
        assert_eq!(a, b);
        assert_eq!(a.platforms, vec![Platform::Kickstarter, Platform::Indiegogo]);
        assert_eq!(a.run_statuses, vec![RunStatus::Failed]);
        // The query string round-trips.
        assert_eq!(Filters::parse(&a.query(true, 1), true).expect("valid"), a);
        // The next page of runs keeps the filters and starts before the last.
        let f = Filters::parse("status=failed&before=90", false).expect("valid");
        assert_eq!(f.run_filter(20).before_id, Some(90));
        let next = f.next_runs("/api/v1/runs", 70, Some(20));
        assert_eq!(next, "/api/v1/runs?status=failed&limit=20&before=70");
        let page = Filters::parse(next.split_once('?').map_or("", |(_, q)| q), false).expect("valid");
        assert_eq!((page.run_statuses, page.before), (vec![RunStatus::Failed], Some(70)));
        assert!(Filters::parse("before=x", false).is_err());
    }

    #[test]
    fn dates_cover_whole_days_and_bad_values_are_refused() {
        let f = Filters::parse("from=2026-11-25&to=2026-11-25", false).expect("valid");
        assert_eq!(f.to_ms.zip(f.from_ms).map(|(t, f)| t - f), Some(86_400_000));
        assert!(f.in_range(f.from_ms.unwrap_or_default()));
        assert!(!f.in_range(f.to_ms.unwrap_or_default()));
        for bad in ["platform=myspace", "status=sleeping", "from=yesterday", "from=2026-11-26&to=2026-11-25", "page=0"]
        {
            assert!(Filters::parse(bad, false).is_err(), "{bad}");
        }
        assert!(Filters::parse("status=quarantined", true).is_ok());
        assert!(Filters::parse("status=quarantined", false).is_err(), "runs are never quarantined");
    }
}
