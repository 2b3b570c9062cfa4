//! The projects page: filters, pages, bulk actions, and a new project.

use super::*;
use crate::views::JobTarget;

pub(super) struct ProjectRow {
    pub(super) id: i64,
    pub(super) name: String,
    pub(super) status: String,
    pub(super) paused: bool,
    pub(super) sources: String,
    pub(super) pledged: String,
    pub(super) backers: String,
    pub(super) spend: String,
    pub(super) spark_metric: String,
    pub(super) last_run: String,
    pub(super) last_status: String,
    pub(super) fresh: String,
    pub(super) fresh_bad: bool,
    /// The polls' share over 24 h (empty when none were seen).
    pub(super) polls: String,
    pub(super) polls_bad: bool,
    /// Open monitor alerts: monitor, how many, good news (a milestone).
    pub(super) alerts: Vec<(String, i64, bool)>,
    /// Its labels, key and value.
    pub(super) labels: Vec<(String, String)>,
}

#[derive(Template)]
#[template(path = "projects.html")]
pub(super) struct ProjectsPage {
    pub(super) csrf: String,
    /// The user's role: what the page shows them to press.
    pub(super) role: &'static str,
    pub(super) nav: &'static str,
    pub(super) flash: Option<String>,
    pub(super) rows: Vec<ProjectRow>,
    pub(super) total: usize,
    pub(super) all: usize,
    pub(super) filters: FilterForm,
    pub(super) pager: Pager,
    /// This view's URL, where bulk actions come back to.
    pub(super) here: String,
    /// The filter alone (no page, order or range): what "all matching" acts on.
    pub(super) filter_query: String,
    /// The order shown, and links to the others.
    pub(super) sort: String,
    pub(super) sort_fresh: String,
    pub(super) sort_name: String,
    pub(super) sort_id: String,
}

/// The projects page: filtered by platform, state, latest run (outcome,
/// node, time) and name, a page at a time, with bulk actions.
pub async fn projects(session: UiSession, state: Data, req: HttpRequest) -> Result<HttpResponse, ApiError> {
    let f = Filters::parse(req.query_string(), true)?;
    let now = now_secs();
    let config = state.tree.config().clone();
    let filters = f.clone();
    let now_ms = now_millis();
    let polls = state.tree.poll_freshness(None, now_ms - 86_400_000, now_ms).await?;
    let (rows, total, all, nodes) = db(&state, move |conn| {
        let f = filters;
        // The default view (no filter, by id) reads its page alone; a
        // filter or another order reads every project and filters here.
        let one_page = !f.any() && f.sort.is_none();
        let (projects, all) = if one_page {
            let offset = ((f.page - 1) * PAGE_SIZE) as i64;
            (Project::list_at(conn, offset, PAGE_SIZE as i64)?, Project::count(conn)? as usize)
        } else {
            let projects = Project::list(conn, None)?;
            let all = projects.len();
            (projects, all)
        };
        let mut sources: BTreeMap<ProjectId, Vec<Source>> = BTreeMap::new();
        let listed = if one_page {
            Source::list_for_projects(conn, &projects.iter().map(|p| p.id).collect::<Vec<_>>())?
        } else {
            Source::list_all(conn)?
        };
        for s in listed {
            sources.entry(s.project_id).or_default().push(s);
        }
        // Every project's latest run only when a filter asks about it;
        // otherwise only the shown page's (at 100,000 projects and a
        // million runs, the difference between a second and a blink).
        let by_run = f.by_latest_run();
        let mut latest: BTreeMap<ProjectId, Run> = if by_run {
            Run::latest_per_project(conn)?.into_iter().map(|r| (r.project_id, r)).collect()
        } else {
            BTreeMap::new()
        };
        let matched: Vec<Project> = projects
            .into_iter()
            .filter(|p| {
                let s = sources.get(&p.id).map_or(&[][..], Vec::as_slice);
                f.matches_project(p, s, latest.get(&p.id))
            })
            .collect();
        let total = if one_page { all } else { matched.len() };
        let (page, fresh): (Vec<Project>, Vec<_>) = match f.sort.as_deref() {
            // Worst first needs every match's freshness (one read of runs).
            Some("fresh") => {
                let fresh = crate::service::freshness_of(conn, &config, &matched, 86_400_000)?;
                let mut both: Vec<_> = matched.into_iter().zip(fresh).collect();
                both.sort_by(|a, b| a.1.share.unwrap_or(1.0).total_cmp(&b.1.share.unwrap_or(1.0)));
                both.into_iter().skip((f.page - 1) * PAGE_SIZE).take(PAGE_SIZE).unzip()
            }
            sort => {
                let mut matched = matched;
                if sort == Some("name") {
                    matched.sort_by_key(|p| p.name.to_lowercase());
                }
                let skip = if one_page { 0 } else { (f.page - 1) * PAGE_SIZE };
                let page: Vec<Project> = matched.into_iter().skip(skip).take(PAGE_SIZE).collect();
                let fresh = crate::service::freshness_of(conn, &config, &page, 86_400_000)?;
                (page, fresh)
            }
        };
        if !by_run {
            let ids: Vec<ProjectId> = page.iter().map(|p| p.id).collect();
            latest = Run::latest_for(conn, &ids)?.into_iter().map(|r| (r.project_id, r)).collect();
        }
        let mut open_alerts = trawler_store::Alert::open_counts(conn)?;
        let mut observed =
            trawler_store::view::latest_values(conn, &page.iter().map(|p| p.id).collect::<Vec<_>>(), now)?;
        // Each row's money in its project's reporting currency: the rates
        // of every currency on the page, read once.
        let currencies: BTreeMap<ProjectId, trawler_domain::Currencies> = page
            .iter()
            .map(|p| {
                let of = Source::currencies(sources.get(&p.id).into_iter().flatten());
                (p.id, trawler_domain::Currencies::new(of, p.reporting_currency))
            })
            .collect();
        let mut needed: Vec<trawler_domain::Currency> =
            currencies.values().flat_map(|c| c.of.values().copied().chain(c.reporting)).collect();
        needed.sort();
        needed.dedup();
        let fx = if needed.len() > 1 { Point::rates(conn, &needed)? } else { trawler_domain::FxRates::new() };
        let mut rows = Vec::with_capacity(page.len());
        for (p, fr) in page.into_iter().zip(fresh) {
            let obs = observed.remove(&p.id).unwrap_or_default();
            let money = currencies.get(&p.id).cloned().unwrap_or_default();
            let values = money.totals(&fx, &obs, &[]).totals.latest;
            let unit = money.reporting.map_or_else(String::new, |c| format!(" {c}"));
            let amount = |m: &str| values.get(m).map(|v| format!("{}{unit}", number(Some(*v))));
            let last = latest.remove(&p.id);
            // A metric the project has points of (none yet: no sparkline).
            let spark_metric = ["pledged", "spend"]
                .into_iter()
                .find(|m| values.contains_key(*m))
                .or_else(|| values.keys().next().map(String::as_str))
                .unwrap_or_default()
                .to_owned();
            rows.push(ProjectRow {
                labels: p.labels.iter().map(|(k, v)| (k.to_owned(), v.to_owned())).collect(),
                id: p.id.0,
                name: p.name,
                status: p.status.to_string(),
                paused: p.paused,
                sources: sources
                    .get(&p.id)
                    .into_iter()
                    .flatten()
                    .map(|s| format!("{}:{}", s.platform, s.external_ref))
                    .collect::<Vec<_>>()
                    .join(" "),
                pledged: amount("pledged").unwrap_or_else(|| number(None)),
                backers: number(values.get("backers").copied()),
                spend: amount("spend").unwrap_or_else(|| number(None)),
                spark_metric,
                last_status: last.as_ref().map_or(String::new(), |r| r.status.to_string()),
                last_run: last.map_or("–".into(), |r| ms_text(Some(r.started_at_ms))),
                fresh: fr.share.map_or("–".into(), |s| format!("{:.1}% of {}", s * 100.0, fr.slots)),
                fresh_bad: fr.share.is_some_and(|s| s < config.slo_target),
                polls: polls
                    .get(&p.id)
                    .and_then(|f| f.share.map(|s| format!("{:.1}% of {}", s * 100.0, f.slots)))
                    .unwrap_or_default(),
                polls_bad: polls.get(&p.id).and_then(|f| f.share).is_some_and(|s| s < config.slo_target),
                alerts: open_alerts
                    .remove(&p.id)
                    .into_iter()
                    .flatten()
                    .map(|(k, n)| (k.as_str().to_owned(), n, k == trawler_domain::monitor::MonitorKind::Milestone))
                    .collect(),
            });
        }
        Ok((rows, total, all, Run::nodes(conn)?))
    })
    .await?;
    let query = f.query(true, f.page);
    let sorted = |sort: Option<&str>| {
        let mut g = f.clone();
        g.sort = sort.map(str::to_owned);
        let q = g.query(true, 1);
        if q.is_empty() {
            "/ui/".to_owned()
        } else {
            format!("/ui/?{q}")
        }
    };
    html(&ProjectsPage {
        sort_fresh: sorted(Some("fresh")),
        sort_name: sorted(Some("name")),
        sort_id: sorted(None),
        sort: f.sort.clone().unwrap_or_else(|| "id".into()),
        role: session.role_str(),
        csrf: session.csrf,
        nav: "projects",
        flash: f.flash.clone(),
        rows,
        total,
        all,
        pager: pager("/ui/", &f, true, total),
        filters: filter_form(&f, nodes),
        here: if query.is_empty() { "/ui/".into() } else { format!("/ui/?{query}") },
        filter_query: {
            let mut g = f.clone();
            (g.sort, g.range) = (None, None);
            g.query(true, 1)
        },
    })
}

/// Applies a bulk action to the checked projects, then returns to the view
/// it came from with a message that counts what was done and skipped.
pub async fn bulk(
    session: UiSession,
    state: Data,
    req: HttpRequest,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let mut csrf = String::new();
    let mut action = None;
    let mut back = "/ui/".to_owned();
    let mut ids = Vec::new();
    let (mut full_interval, mut poll_interval, mut labels) = (None, None, None);
    // "All N matching": the view's filter, what it lists, the count shown.
    let (mut every, mut filter, mut of, mut expect) = (false, String::new(), JobTarget::Projects, None);
    for (k, v) in url::form_urlencoded::parse(&body) {
        match k.as_ref() {
            "csrf" => csrf = v.into_owned(),
            "full_interval" if !v.trim().is_empty() => full_interval = Some(serde_json::Value::String(v.trim().into())),
            "poll_interval" if !v.trim().is_empty() => poll_interval = Some(serde_json::Value::String(v.trim().into())),
            "labels" if !v.trim().is_empty() => labels = Some(crate::labels::form_change(&v)?),
            "action" => action = Some(v.into_owned()),
            "back" => back = v.into_owned(),
            "scope" => every = v == "filter",
            "filter" => filter = v.into_owned(),
            "of" if v == "runs" => of = JobTarget::Runs,
            "expect" => expect = v.parse::<u64>().ok(),
            "id" => ids.push(v.parse::<i64>().map_err(|_| ApiError::BadRequest(format!("`{v}` is not a project id")))?),
            _ => {}
        }
    }
    check_csrf(&session, &csrf)?;
    let action: BulkAction =
        action.as_deref().unwrap_or_default().parse().map_err(|e: String| ApiError::BadRequest(e))?;
    // An operator triggers, resumes and pauses; the rest is an admin's.
    if matches!(action, BulkAction::Archive | BulkAction::Cadence | BulkAction::Label) {
        session.require(crate::auth::Role::Admin)?;
    }
    // The cadence fields are read for the cadence button only, the labels
    // for the label button.
    let cadence = action == BulkAction::Cadence;
    let values = crate::views::BulkValues {
        full_interval: full_interval.filter(|_| cadence),
        poll_interval: poll_interval.filter(|_| cadence),
        labels: labels.filter(|_| action == BulkAction::Label),
    };
    let message = if every {
        match super::jobs::start_from_view(
            &state,
            action,
            of,
            filter,
            expect,
            values,
            crate::audit::Actor { name: session.user.clone(), role: session.role_str() },
        )
        .await?
        {
            Ok(job) => {
                crate::audit::note(&req, Vec::new(), Some(serde_json::json!({"action": action, "job": job})));
                return Ok(see_other(&format!("/ui/jobs/{job}")));
            }
            Err(message) => message,
        }
    } else if ids.is_empty() {
        "Nothing was selected".to_owned()
    } else {
        let ids = ids.into_iter().map(ProjectId).collect();
        let result = crate::service::bulk_apply(&state, action, ids, &values).await?;
        let detail = serde_json::json!({"action": action, "done": result.done.len(), "skipped": result.skipped.len()});
        crate::audit::note(&req, result.done.iter().map(|p| p.0).collect(), Some(detail));
        result.summary(action)
    };
    let mut to = return_url(&back);
    let kept: Vec<(String, String)> =
        to.query_pairs().filter(|(k, _)| k != "flash").map(|(k, v)| (k.into_owned(), v.into_owned())).collect();
    to.query_pairs_mut().clear().extend_pairs(kept).append_pair("flash", &message);
    Ok(see_other(&format!("{}?{}", to.path(), to.query().unwrap_or_default())))
}

/// Where a form may send the browser back to: `back` resolved the way a
/// browser resolves it (`\` reads as `/`, `..` and `.` collapse, a leading
/// `//` names another host), kept only if it stays on this origin under
/// `/ui/`; anything else goes to `/ui/`. Never an open redirect.
pub(super) fn return_url(back: &str) -> url::Url {
    // The scheme and host are placeholders: only the path and query are sent.
    let origin = url::Url::parse("http://this.host/").expect("a valid literal");
    let home = origin.join("/ui/").unwrap_or_else(|_| origin.clone());
    match origin.join(back) {
        Ok(to) if to.origin() == origin.origin() && to.path().starts_with("/ui/") && !to.path().contains("//") => to,
        _ => home,
    }
}

#[derive(Deserialize)]
pub struct NewProjectForm {
    csrf: String,
    name: String,
    sources: String,
}

pub async fn create_project(
    session: UiSession,
    state: Data,
    form: web::Form<NewProjectForm>,
) -> Result<HttpResponse, ApiError> {
    let form = form.into_inner();
    check_csrf(&session, &form.csrf)?;
    let mut inputs = Vec::new();
    for line in form.sources.lines().map(str::trim).filter(|l| !l.is_empty()) {
        let Some((platform, reference)) = line.split_once(':') else {
            return Err(ApiError::BadRequest(format!("`{line}` is not platform:reference")));
        };
        inputs.push(SourceInput {
            platform: platform.trim().to_owned(),
            external_ref: reference.trim().to_owned(),
            options: None,
            secret: None,
        });
    }
    let name = crate::service::check_name(&form.name)?;
    let sources = check_sources(&state, inputs, &[])?;
    let (project, _) = state.tree.create_project(name, sources, Default::default(), None).await?;
    Ok(see_other(&format!("/ui/projects/{}", project.id)))
}

#[cfg(test)]
mod tests {
    use super::return_url;

    #[test]
    fn a_return_path_never_leaves_the_ui() {
        let path = |back: &str| {
            let to = return_url(back);
            format!("{}{}", to.path(), to.query().map(|q| format!("?{q}")).unwrap_or_default())
        };
        assert_eq!(path("/ui/projects?status=failed"), "/ui/projects?status=failed");
        assert_eq!(path("/ui/projects/7"), "/ui/projects/7");
        for hostile in [
            "/ui/..\\\\evil.example",
            "/ui/..\\evil.example",
            "/ui/../..//evil.example",
            "//evil.example/ui/",
            "\\\\evil.example/ui/",
            "https://evil.example/ui/",
            "/ui/%2e%2e/%2e%2e//evil.example",
            "/ui/../admin",
            "javascript:alert(1)//ui/",
            "/ui\\..\\..\\evil.example",
            "",
        ] {
            let to = path(hostile);
            assert!(to.starts_with("/ui/") && !to.starts_with("//") && !to.contains("evil"), "{hostile:?} -> {to}");
        }
    }
}
