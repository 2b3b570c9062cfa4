//! The admin web UI (server-rendered with askama, live over SSE) and the
//! creator dashboard. Pages live under `/ui`; their scripts read the JSON API
//! with the session cookie (GET routes only: anything that changes state is
//! a form post carrying the session's CSRF token).

use std::collections::BTreeMap;
use std::net::IpAddr;

use actix_web::cookie::{Cookie, SameSite};
use actix_web::http::header;
use actix_web::{web, HttpRequest, HttpResponse};
use askama::Template;
use serde::Deserialize;
use serde_json::json;
use trawler_domain::{now_millis, now_secs, Platform, ProjectId, ProjectStatus, RunId, RunStatus};
use trawler_store::{Point, Project, ProjectPatch, ProjectToken, Run, Session, Source};

use crate::auth::{token_hash, UiSession, SESSION_COOKIE};
use crate::filters::{Filters, PAGE_SIZE};
use crate::handlers::{check_sources, db, Data};
use crate::views::BulkAction;
use crate::views::SourceInput;
use crate::ApiError;

/// How long a login lasts.
const SESSION_TTL_MS: i64 = 12 * 3600 * 1000;

/// Hashes a password for `TRAWLER_ADMIN_PASSWORD_HASH` (argon2id, PHC string).
pub fn hash_password(password: &str) -> Result<String, String> {
    use argon2::password_hash::{PasswordHasher, SaltString};
    let mut bytes = [0u8; 16];
    aws_lc_rs::rand::fill(&mut bytes).map_err(|_| "the system random source failed".to_owned())?;
    let salt = SaltString::encode_b64(&bytes).map_err(|e| e.to_string())?;
    argon2::Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| e.to_string())
}

/// Checks that a configured hash is a PHC string argon2 can verify against.
pub fn check_password_hash(hash: &str) -> Result<(), String> {
    argon2::password_hash::PasswordHash::new(hash).map(drop).map_err(|e| format!("not an argon2 PHC string: {e}"))
}

fn verify_password(hash: &str, password: &str) -> bool {
    use argon2::password_hash::{PasswordHash, PasswordVerifier};
    PasswordHash::new(hash).is_ok_and(|h| argon2::Argon2::default().verify_password(password.as_bytes(), &h).is_ok())
}

fn random_hex(bytes: usize) -> Result<String, ApiError> {
    let mut buf = vec![0u8; bytes];
    aws_lc_rs::rand::fill(&mut buf).map_err(|_| ApiError::Internal("the system random source failed".into()))?;
    Ok(buf.iter().map(|b| format!("{b:02x}")).collect())
}

fn see_other(location: &str) -> HttpResponse {
    HttpResponse::SeeOther().insert_header((header::LOCATION, location.to_owned())).finish()
}

fn html(template: &impl Template) -> Result<HttpResponse, ApiError> {
    let body = template.render().map_err(|e| ApiError::Internal(format!("template: {e}")))?;
    Ok(HttpResponse::Ok()
        .content_type("text/html; charset=utf-8")
        .insert_header((
            "Content-Security-Policy",
            "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'",
        ))
        .insert_header(("X-Frame-Options", "DENY"))
        .insert_header(("Referrer-Policy", "no-referrer"))
        .body(body))
}

fn ms_text(ms: Option<i64>) -> String {
    ms.map_or("–".into(), trawler_domain::time::display_ms)
}

fn number(v: Option<f64>) -> String {
    match v {
        None => "–".into(),
        Some(v) if v.abs() >= 1000.0 => {
            let s = format!("{:.0}", v.round());
            let (sign, digits) = s.strip_prefix('-').map_or(("", s.as_str()), |d| ("-", d));
            let mut out = String::new();
            for (i, c) in digits.chars().enumerate() {
                if i > 0 && (digits.len() - i) % 3 == 0 {
                    out.push(',');
                }
                out.push(c);
            }
            format!("{sign}{out}")
        }
        Some(v) => format!("{}", (v * 100.0).round() / 100.0),
    }
}

/// A form's CSRF field, checked against the session's.
#[derive(Deserialize)]
pub struct CsrfForm {
    csrf: String,
}

fn check_csrf(session: &UiSession, sent: &str) -> Result<(), ApiError> {
    if crate::AdminToken::new(session.csrf.clone()).matches(sent) {
        Ok(())
    } else {
        Err(ApiError::Forbidden("the form is stale or forged (CSRF check failed); reload the page".into()))
    }
}

// ---- login -------------------------------------------------------------

#[derive(Template)]
#[template(path = "login.html")]
struct LoginPage {
    csrf: String,
    nav: &'static str,
    flash: Option<String>,
    enabled: bool,
}

pub async fn login_page(state: Data) -> Result<HttpResponse, ApiError> {
    html(&LoginPage { csrf: String::new(), nav: "", flash: None, enabled: state.ui_password_hash.is_some() })
}

#[derive(Deserialize)]
pub struct LoginForm {
    password: String,
}

pub async fn login(state: Data, req: HttpRequest, form: web::Form<LoginForm>) -> Result<HttpResponse, ApiError> {
    let Some(hash) = state.ui_password_hash.clone() else {
        return login_page(state).await;
    };
    let peer = req.peer_addr().map_or(IpAddr::from([0, 0, 0, 0]), |a| a.ip());
    let forwarded = req.headers().get("x-forwarded-for").and_then(|v| v.to_str().ok());
    let ip = crate::login::client_address(peer, forwarded, &state.login_guard.trusted_proxies);
    let password = form.into_inner().password;
    let Ok(ok) = state.login_guard.attempt(ip, move || verify_password(&hash, &password)).await else {
        let page = LoginPage {
            csrf: String::new(),
            nav: "",
            flash: Some("A login from this address is already being checked; try again in a moment.".into()),
            enabled: true,
        };
        let mut resp = html(&page)?;
        *resp.status_mut() = actix_web::http::StatusCode::TOO_MANY_REQUESTS;
        resp.headers_mut().insert(header::RETRY_AFTER, header::HeaderValue::from_static("2"));
        return Ok(resp);
    };
    if !ok {
        log::warn!("ui: failed login from {ip}");
        let page = LoginPage { csrf: String::new(), nav: "", flash: Some("Wrong password.".into()), enabled: true };
        let mut resp = html(&page)?;
        *resp.status_mut() = actix_web::http::StatusCode::UNAUTHORIZED;
        return Ok(resp);
    }
    let (id, csrf) = (random_hex(32)?, random_hex(16)?);
    let id_hash = token_hash(&id);
    db(&state, move |conn| Session::create(conn, &id_hash, &csrf, SESSION_TTL_MS)).await?;
    let secure = state.secure_cookies || req.connection_info().scheme() == "https";
    let cookie = Cookie::build(SESSION_COOKIE, id)
        .path("/")
        .http_only(true)
        .same_site(SameSite::Strict)
        .secure(secure)
        .max_age(actix_web::cookie::time::Duration::milliseconds(SESSION_TTL_MS))
        .finish();
    Ok(HttpResponse::SeeOther().cookie(cookie).insert_header((header::LOCATION, "/ui/")).finish())
}

pub async fn logout(session: UiSession, state: Data, form: web::Form<CsrfForm>) -> Result<HttpResponse, ApiError> {
    check_csrf(&session, &form.csrf)?;
    let id_hash = session.id_hash.clone();
    db(&state, move |conn| Session::delete(conn, &id_hash)).await?;
    let mut gone = Cookie::build(SESSION_COOKIE, "").path("/").finish();
    gone.make_removal();
    Ok(HttpResponse::SeeOther().cookie(gone).insert_header((header::LOCATION, "/ui/login")).finish())
}

// ---- projects ----------------------------------------------------------

struct ProjectRow {
    id: i64,
    name: String,
    status: String,
    sources: String,
    pledged: String,
    backers: String,
    spend: String,
    spark_metric: String,
    last_run: String,
    last_status: String,
    fresh: String,
    fresh_bad: bool,
    /// The polls' share over 24 h (empty when none were seen).
    polls: String,
    polls_bad: bool,
}

/// One choice of a filter: its value, its label, whether it is on.
struct Choice {
    value: String,
    label: String,
    on: bool,
}

fn choices<T: Copy + PartialEq>(all: &[T], on: &[T], text: impl Fn(T) -> &'static str) -> Vec<Choice> {
    all.iter()
        .map(|&v| Choice { value: text(v).to_owned(), label: text(v).replace('_', " "), on: on.contains(&v) })
        .collect()
}

/// The filter form's choices, shared by the projects and runs pages.
struct FilterForm {
    platforms: Vec<Choice>,
    statuses: Vec<Choice>,
    runs: Vec<Choice>,
    nodes: Vec<Choice>,
    from: String,
    to: String,
    name: String,
    any: bool,
}

const RUN_STATUSES: [RunStatus; 6] = [
    RunStatus::Running,
    RunStatus::Succeeded,
    RunStatus::Partial,
    RunStatus::Failed,
    RunStatus::Cancelled,
    RunStatus::Aborted,
];

fn filter_form(f: &Filters, nodes: Vec<String>) -> FilterForm {
    FilterForm {
        platforms: choices(&Platform::ALL, &f.platforms, Platform::as_str),
        statuses: choices(
            &[ProjectStatus::Active, ProjectStatus::Quarantined, ProjectStatus::Archived],
            &f.project_statuses,
            ProjectStatus::as_str,
        ),
        runs: choices(&RUN_STATUSES, &f.run_statuses, RunStatus::as_str),
        nodes: nodes
            .into_iter()
            .filter(|n| !n.is_empty())
            .map(|n| Choice { on: f.nodes.contains(&n), label: n.clone(), value: n })
            .collect(),
        from: f.from.clone(),
        to: f.to.clone(),
        name: f.name.clone(),
        any: f.any(),
    }
}

/// Links to the pages before and after this one.
struct Pager {
    page: usize,
    pages: usize,
    prev: Option<String>,
    next: Option<String>,
}

fn pager(base: &str, f: &Filters, projects: bool, total: usize) -> Pager {
    let pages = total.div_ceil(PAGE_SIZE).max(1);
    let link = |page: usize| {
        let q = f.query(projects, page);
        if q.is_empty() {
            base.to_owned()
        } else {
            format!("{base}?{q}")
        }
    };
    Pager {
        page: f.page,
        pages,
        prev: (f.page > 1).then(|| link(f.page - 1)),
        next: (f.page < pages).then(|| link(f.page + 1)),
    }
}

#[derive(Template)]
#[template(path = "projects.html")]
struct ProjectsPage {
    csrf: String,
    nav: &'static str,
    flash: Option<String>,
    rows: Vec<ProjectRow>,
    total: usize,
    all: usize,
    filters: FilterForm,
    pager: Pager,
    /// This view's URL, where bulk actions come back to.
    here: String,
    /// The order shown, and links to the others.
    sort: String,
    sort_fresh: String,
    sort_name: String,
    sort_id: String,
}

#[derive(Deserialize)]
pub struct FlashQuery {
    flash: Option<String>,
    range: Option<String>,
}

/// Whether a project passes the filters, given its sources and latest run.
fn project_matches(f: &Filters, p: &Project, sources: &[Source], last: Option<&Run>) -> bool {
    (f.platforms.is_empty() || sources.iter().any(|s| f.platforms.contains(&s.platform)))
        && (f.project_statuses.is_empty() || f.project_statuses.contains(&p.status))
        && (f.run_statuses.is_empty() || last.is_some_and(|r| f.run_statuses.contains(&r.status)))
        && (f.nodes.is_empty() || last.is_some_and(|r| f.nodes.contains(&r.node)))
        && (f.from_ms.is_none() && f.to_ms.is_none() || last.is_some_and(|r| f.in_range(r.started_at_ms)))
        && (f.name.is_empty() || p.name.to_lowercase().contains(&f.name.to_lowercase()))
        && (f.projects.is_empty() || f.projects.contains(&p.id.0))
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
        let by_run = !f.run_statuses.is_empty() || !f.nodes.is_empty() || f.from_ms.is_some() || f.to_ms.is_some();
        let mut latest: BTreeMap<ProjectId, Run> = if by_run {
            Run::latest_per_project(conn)?.into_iter().map(|r| (r.project_id, r)).collect()
        } else {
            BTreeMap::new()
        };
        let matched: Vec<Project> = projects
            .into_iter()
            .filter(|p| {
                let s = sources.get(&p.id).map_or(&[][..], Vec::as_slice);
                project_matches(&f, p, s, latest.get(&p.id))
            })
            .collect();
        let total = if one_page { all } else { matched.len() };
        let (page, fresh): (Vec<Project>, Vec<_>) = match f.sort.as_deref() {
            // Worst first needs every match's freshness (one read of runs).
            Some("fresh") => {
                let fresh = crate::handlers::freshness_of(conn, &config, &matched, 86_400_000)?;
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
                let fresh = crate::handlers::freshness_of(conn, &config, &page, 86_400_000)?;
                (page, fresh)
            }
        };
        if !by_run {
            let ids: Vec<ProjectId> = page.iter().map(|p| p.id).collect();
            latest = Run::latest_for(conn, &ids)?.into_iter().map(|r| (r.project_id, r)).collect();
        }
        let mut rows = Vec::with_capacity(page.len());
        for (p, fr) in page.into_iter().zip(fresh) {
            let obs = Point::observations_at(conn, p.id, now)?;
            let mut values: BTreeMap<String, f64> = BTreeMap::new();
            for o in &obs {
                *values.entry(o.metric.as_str().to_owned()).or_default() += o.value;
            }
            let last = latest.remove(&p.id);
            // A metric the project has points of (none yet: no sparkline).
            let spark_metric = ["pledged", "spend"]
                .into_iter()
                .find(|m| values.contains_key(*m))
                .or_else(|| values.keys().next().map(String::as_str))
                .unwrap_or_default()
                .to_owned();
            rows.push(ProjectRow {
                id: p.id.0,
                name: p.name,
                status: p.status.to_string(),
                sources: sources
                    .get(&p.id)
                    .into_iter()
                    .flatten()
                    .map(|s| format!("{}:{}", s.platform, s.external_ref))
                    .collect::<Vec<_>>()
                    .join(" "),
                pledged: number(values.get("pledged").copied()),
                backers: number(values.get("backers").copied()),
                spend: number(values.get("spend").copied()),
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
        csrf: session.csrf,
        nav: "projects",
        flash: f.flash.clone(),
        rows,
        total,
        all,
        pager: pager("/ui/", &f, true, total),
        filters: filter_form(&f, nodes),
        here: if query.is_empty() { "/ui/".into() } else { format!("/ui/?{query}") },
    })
}

// ---- runs --------------------------------------------------------------

struct RunListRow {
    id: i64,
    project_id: i64,
    project: String,
    status: String,
    trigger: String,
    node: String,
    started: String,
    took: String,
    points: i64,
    error: String,
}

#[derive(Template)]
#[template(path = "runs.html")]
struct RunsPage {
    csrf: String,
    nav: &'static str,
    flash: Option<String>,
    rows: Vec<RunListRow>,
    filters: FilterForm,
    /// The next page (older runs), if there may be one.
    older: Option<String>,
    here: String,
}

/// The runs page: every project's runs, newest first, filtered by platform,
/// outcome, node and time; bulk "scrape again" for the selected runs'
/// projects.
pub async fn runs(session: UiSession, state: Data, req: HttpRequest) -> Result<HttpResponse, ApiError> {
    let f = Filters::parse(req.query_string(), false)?;
    let filter = f.run_filter(PAGE_SIZE as i64);
    let (runs, names, nodes) = db(&state, move |conn| {
        let runs = Run::search(conn, &filter)?;
        let names: BTreeMap<ProjectId, String> =
            Project::list(conn, None)?.into_iter().map(|p| (p.id, p.name)).collect();
        Ok((runs, names, Run::nodes(conn)?))
    })
    .await?;
    let older = (runs.len() == PAGE_SIZE).then(|| f.next_runs("/ui/runs", runs.last().map_or(0, |r| r.id.0), None));
    let rows = runs
        .into_iter()
        .map(|r| RunListRow {
            id: r.id.0,
            project_id: r.project_id.0,
            project: names.get(&r.project_id).cloned().unwrap_or_else(|| format!("#{}", r.project_id)),
            status: r.status.to_string(),
            trigger: r.triggered_by.to_string(),
            node: r.node,
            started: ms_text(Some(r.started_at_ms)),
            took: r.finished_at_ms.map_or("–".into(), |e| format!("{:.1} s", (e - r.started_at_ms) as f64 / 1000.0)),
            points: r.points_written,
            error: r.error.unwrap_or_default(),
        })
        .collect();
    let query = f.query(false, 1);
    html(&RunsPage {
        csrf: session.csrf,
        nav: "runs",
        flash: f.flash.clone(),
        rows,
        filters: filter_form(&f, nodes),
        older,
        here: if query.is_empty() { "/ui/runs".into() } else { format!("/ui/runs?{query}") },
    })
}

/// Applies a bulk action to the checked projects, then returns to the view
/// it came from with a message that counts what was done and skipped.
pub async fn bulk(session: UiSession, state: Data, body: web::Bytes) -> Result<HttpResponse, ApiError> {
    let mut csrf = String::new();
    let mut action = None;
    let mut back = "/ui/".to_owned();
    let mut ids = Vec::new();
    for (k, v) in url::form_urlencoded::parse(&body) {
        match k.as_ref() {
            "csrf" => csrf = v.into_owned(),
            "action" => action = Some(v.into_owned()),
            "back" => back = v.into_owned(),
            "id" => ids.push(v.parse::<i64>().map_err(|_| ApiError::BadRequest(format!("`{v}` is not a project id")))?),
            _ => {}
        }
    }
    check_csrf(&session, &csrf)?;
    let action: BulkAction =
        action.as_deref().unwrap_or_default().parse().map_err(|e: String| ApiError::BadRequest(e))?;
    let message = if ids.is_empty() {
        "Nothing was selected".to_owned()
    } else {
        crate::handlers::bulk_apply(&state, action, ids.into_iter().map(ProjectId).collect()).await?.summary(action)
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
fn return_url(back: &str) -> url::Url {
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
    let name = crate::handlers::check_name(&form.name)?;
    let sources = check_sources(&state, inputs, &[])?;
    let (project, _) = db(&state, move |conn| Project::create(conn, &name, &sources)).await?;
    state.tree.project_created(project.id).await?;
    Ok(see_other(&format!("/ui/projects/{}", project.id)))
}

struct RunRow {
    id: i64,
    started: String,
    trigger: String,
    status: String,
    points: i64,
    error: String,
    log: String,
}

struct TokenRow {
    id: i64,
    name: String,
    prefix: String,
    created: String,
    last_used: String,
    revoked: bool,
}

#[derive(Template)]
#[template(path = "project.html")]
struct ProjectPage {
    csrf: String,
    nav: &'static str,
    flash: Option<String>,
    id: i64,
    name: String,
    status: String,
    status_reason: Option<String>,
    figures: Vec<(String, String)>,
    metrics: Vec<String>,
    ranges: Vec<(String, String)>,
    range: String,
    from: i64,
    step: i64,
    runs: Vec<RunRow>,
    sources_json: String,
    tokens: Vec<TokenRow>,
    new_token: Option<String>,
}

const RANGES: [(&str, &str, i64); 4] = [
    ("1h", "last hour", 3600),
    ("24h", "last 24 hours", 86_400),
    ("7d", "last 7 days", 7 * 86_400),
    ("30d", "last 30 days", 30 * 86_400),
];

/// The figures and chart metrics of a project: latest values summed over
/// platforms, then the derived ones.
fn figures(obs: &[trawler_domain::Observation]) -> (Vec<(String, String)>, Vec<String>) {
    let mut latest: BTreeMap<String, f64> = BTreeMap::new();
    for o in obs {
        *latest.entry(o.metric.as_str().to_owned()).or_default() += o.value;
    }
    let totals = trawler_domain::Totals::from_observations(obs, &[]);
    let derived = trawler_domain::Derived::from_totals(&totals);
    let mut out: Vec<(String, String)> = latest.iter().map(|(m, v)| (m.clone(), number(Some(*v)))).collect();
    for (name, v) in
        [("roas", derived.roas), ("cost_per_backer", derived.cost_per_backer), ("funded_pct", derived.funded_pct)]
    {
        if v.is_some() {
            out.push((name.to_owned(), number(v)));
        }
    }
    (out, latest.into_keys().collect())
}

async fn project_page(
    session: UiSession,
    state: &Data,
    id: ProjectId,
    range: Option<String>,
    flash: Option<String>,
    new_token: Option<String>,
) -> Result<HttpResponse, ApiError> {
    let (range, span) = RANGES
        .iter()
        .find(|r| Some(r.0) == range.as_deref())
        .map_or(("24h".to_owned(), 86_400), |r| (r.0.to_owned(), r.2));
    let now = now_secs();
    let (project, sources, obs, runs, tokens) = db(state, move |conn| {
        let p = Project::get(conn, id)?;
        Ok((
            p,
            Source::list_for_project(conn, id)?,
            Point::observations_at(conn, id, now)?,
            Run::list_for_project(conn, id, 20)?,
            ProjectToken::list(conn, id)?,
        ))
    })
    .await?;
    let (figures, metrics) = figures(&obs);
    let sources_json = serde_json::to_string_pretty(
        &sources
            .iter()
            .map(|s| json!({"platform": s.platform, "external_ref": s.external_ref, "options": &*s.options}))
            .collect::<Vec<_>>(),
    )
    .unwrap_or_default();
    let page = ProjectPage {
        csrf: session.csrf,
        nav: "projects",
        flash,
        id: id.0,
        name: project.name,
        status: project.status.to_string(),
        status_reason: project.status_reason,
        figures,
        metrics,
        ranges: RANGES.iter().map(|r| (r.0.to_owned(), r.1.to_owned())).collect(),
        range,
        from: now - span,
        step: (span / 300).max(1),
        runs: runs
            .into_iter()
            .map(|r| RunRow {
                id: r.id.0,
                started: ms_text(Some(r.started_at_ms)),
                trigger: r.triggered_by.to_string(),
                status: r.status.to_string(),
                points: r.points_written,
                error: r.error.unwrap_or_default(),
                log: r.log,
            })
            .collect(),
        sources_json,
        tokens: tokens
            .into_iter()
            .map(|t| TokenRow {
                id: t.id,
                name: t.name,
                prefix: t.prefix,
                created: ms_text(Some(t.created_at_ms)),
                last_used: ms_text(t.last_used_at_ms),
                revoked: t.revoked_at_ms.is_some(),
            })
            .collect(),
        new_token,
    };
    html(&page)
}

pub async fn project(
    session: UiSession,
    state: Data,
    id: web::Path<i64>,
    q: web::Query<FlashQuery>,
) -> Result<HttpResponse, ApiError> {
    let q = q.into_inner();
    project_page(session, &state, ProjectId(id.into_inner()), q.range, q.flash, None).await
}

pub async fn scrape(
    session: UiSession,
    state: Data,
    req: HttpRequest,
    id: web::Path<i64>,
    form: web::Form<CsrfForm>,
) -> Result<HttpResponse, ApiError> {
    check_csrf(&session, &form.csrf)?;
    let id = ProjectId(id.into_inner());
    let run: RunId = state.tree.trigger(id).await?;
    // The page's script asks for JSON and stays on the page.
    let wants_json = req.headers().get(header::ACCEPT).is_some_and(|a| a.as_bytes().starts_with(b"application/json"));
    if wants_json {
        return Ok(HttpResponse::Accepted().json(json!({"run_id": run, "project_id": id})));
    }
    Ok(see_other(&format!("/ui/projects/{id}?flash=Scrape+started+(run+{run})")))
}

/// Cancels a run from the project page (answers JSON to its script).
pub async fn cancel(
    session: UiSession,
    state: Data,
    id: web::Path<i64>,
    form: web::Form<CsrfForm>,
) -> Result<HttpResponse, ApiError> {
    check_csrf(&session, &form.csrf)?;
    let run = state.tree.cancel(RunId(id.into_inner())).await?;
    Ok(HttpResponse::Ok().json(json!({"run_id": run.id, "status": run.status, "points_written": run.points_written})))
}

pub async fn archive(
    session: UiSession,
    state: Data,
    id: web::Path<i64>,
    form: web::Form<CsrfForm>,
) -> Result<HttpResponse, ApiError> {
    check_csrf(&session, &form.csrf)?;
    let id = ProjectId(id.into_inner());
    crate::handlers::set_project_status(&state, id, ProjectStatus::Archived).await?;
    Ok(see_other(&format!("/ui/projects/{id}?flash=Archived")))
}

pub async fn resume(
    session: UiSession,
    state: Data,
    id: web::Path<i64>,
    form: web::Form<CsrfForm>,
) -> Result<HttpResponse, ApiError> {
    check_csrf(&session, &form.csrf)?;
    let id = ProjectId(id.into_inner());
    crate::handlers::set_project_status(&state, id, ProjectStatus::Active).await?;
    Ok(see_other(&format!("/ui/projects/{id}?flash=Resumed")))
}

#[derive(Deserialize)]
pub struct SourcesForm {
    csrf: String,
    sources: String,
}

pub async fn save_sources(
    session: UiSession,
    state: Data,
    id: web::Path<i64>,
    form: web::Form<SourcesForm>,
) -> Result<HttpResponse, ApiError> {
    let form = form.into_inner();
    check_csrf(&session, &form.csrf)?;
    let id = ProjectId(id.into_inner());
    let inputs: Vec<SourceInput> = serde_json::from_str(&form.sources)
        .map_err(|e| ApiError::BadRequest(format!("sources: not a JSON list of sources: {e}")))?;
    let patch =
        ProjectPatch { name: None, sources: Some(crate::handlers::check_source_edit(&state, id, inputs).await?) };
    let p = db(&state, move |conn| Project::update(conn, id, &patch)).await?;
    if p.status == ProjectStatus::Active {
        state.tree.project_updated(id).await?;
    }
    Ok(see_other(&format!("/ui/projects/{id}?flash=Sources+saved")))
}

#[derive(Deserialize)]
pub struct TokenForm {
    csrf: String,
    name: String,
}

pub async fn make_token(
    session: UiSession,
    state: Data,
    id: web::Path<i64>,
    form: web::Form<TokenForm>,
) -> Result<HttpResponse, ApiError> {
    let form = form.into_inner();
    check_csrf(&session, &form.csrf)?;
    let id = ProjectId(id.into_inner());
    let created = crate::tokens::issue(&state, id, crate::tokens::check_label(&form.name)?).await?;
    // Rendered, not redirected: the token is shown this once.
    project_page(session, &state, id, None, Some("Token made: copy it now".into()), Some(created.token)).await
}

pub async fn revoke_token(
    session: UiSession,
    state: Data,
    path: web::Path<(i64, i64)>,
    form: web::Form<CsrfForm>,
) -> Result<HttpResponse, ApiError> {
    check_csrf(&session, &form.csrf)?;
    let (id, token) = path.into_inner();
    db(&state, move |conn| ProjectToken::revoke(conn, ProjectId(id), token)).await?;
    Ok(see_other(&format!("/ui/projects/{id}?flash=Token+revoked")))
}

// ---- actors and platforms ----------------------------------------------

struct ActorRow {
    kind: String,
    name: String,
    status: String,
    info: String,
    error: Option<String>,
    project: Option<i64>,
}

#[derive(Template)]
#[template(path = "actors.html")]
struct ActorsPage {
    csrf: String,
    nav: &'static str,
    flash: Option<String>,
    taken: String,
    actors: Vec<ActorRow>,
    /// The node described.
    node: String,
    /// The node answering (the others' trees come through the database).
    this_node: String,
    /// Every node of the registry.
    nodes: Vec<NodeRow>,
    /// Projects leased out of the active ones (cluster mode; 0 on SQLite).
    leased: i64,
    active: i64,
}

/// One node on the actors page.
struct NodeRow {
    name: String,
    alive: bool,
    /// `heartbeat 1 s ago` or `stopped`.
    seen: String,
    /// Projects it holds.
    leases: i64,
    /// Its part of the active projects, percent (the bar's width).
    pct: f64,
}

/// `?node=` of the actors page.
#[derive(Deserialize)]
pub struct ActorsQuery {
    node: Option<String>,
}

pub async fn actors(session: UiSession, state: Data, q: web::Query<ActorsQuery>) -> Result<HttpResponse, ApiError> {
    use trawler_store::node::{Node, TTL_MS};
    // This node's tree, or another live node's through the database.
    let snapshot = match q.into_inner().node.filter(|n| n != state.tree.node()) {
        Some(node) => state.tree.snapshot_of(&node).await?,
        None => serde_json::to_value(state.tree.snapshot().await?).map_err(|e| ApiError::Internal(e.to_string()))?,
    };
    let (now, list, leases, active) = db(&state, move |conn| {
        let now = Node::clock(conn)?;
        Ok((
            now,
            Node::list(conn)?,
            trawler_store::Lease::counts(conn, now - TTL_MS)?,
            trawler_store::Lease::active_projects(conn)?,
        ))
    })
    .await?;
    let nodes: Vec<NodeRow> = list
        .into_iter()
        .map(|n| {
            let alive = n.alive(now, TTL_MS);
            let seen = if n.stopped_at_ms.is_some() {
                "stopped".to_owned()
            } else {
                format!("heartbeat {:.0} s ago", (now - n.heartbeat_at_ms) as f64 / 1000.0)
            };
            let held = leases.iter().find(|(name, _)| *name == n.name).map_or(0, |(_, c)| *c);
            let pct = if active > 0 { held as f64 * 100.0 / active as f64 } else { 0.0 };
            NodeRow { name: n.name, alive, seen, leases: held, pct }
        })
        .collect();
    let leased = leases.iter().map(|(_, c)| c).sum();
    let rel = |ms: Option<i64>| {
        ms.map(|ms| {
            let s = (ms - now) / 1000;
            if s >= 0 {
                format!("in {s}s")
            } else {
                format!("{}s ago", -s)
            }
        })
    };
    let text = |v: &serde_json::Value| v.as_str().unwrap_or_default().to_owned();
    let actors = snapshot["actors"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|a| {
            let mut info = Vec::new();
            if let Some(t) = rel(a["last_run_ms"].as_i64()) {
                info.push(format!("last {t}"));
            }
            if let Some(t) = rel(a["next_run_ms"].as_i64()) {
                info.push(format!("next {t}"));
            }
            if let Some(r) = a["restarts"].as_u64().filter(|r| *r > 0) {
                info.push(format!("restarts {r}"));
            }
            if let Some(m) = a["mailbox"].as_u64() {
                info.push(format!("mailbox {m}"));
            }
            ActorRow {
                kind: text(&a["kind"]),
                name: text(&a["name"]),
                status: text(&a["status"]),
                info: info.join(" · "),
                error: a["last_error"].as_str().map(str::to_owned),
                project: a["project_id"].as_i64(),
            }
        })
        .collect();
    html(&ActorsPage {
        csrf: session.csrf,
        nav: "actors",
        flash: None,
        taken: ms_text(snapshot["taken_at_ms"].as_i64()),
        actors,
        node: text(&snapshot["node"]),
        this_node: state.tree.node().to_owned(),
        nodes,
        leased,
        active,
    })
}

struct PlatformRow {
    name: String,
    rate: f64,
    tokens: u32,
    burst: u32,
    circuit: String,
    in_flight: usize,
    max_in_flight: usize,
    waiting: usize,
    passed: u64,
    throttled: u64,
    failures: u64,
    paused: String,
    sources: u64,
    required: String,
    budget: String,
    share_pct: u32,
    bar_pct: u32,
    over: bool,
    /// Sites of a generic platform with their own circuit not plainly
    /// closed: `host: state`.
    hosts: Vec<(String, String)>,
}

#[derive(Template)]
#[template(path = "platforms.html")]
struct PlatformsPage {
    csrf: String,
    nav: &'static str,
    flash: Option<String>,
    in_flight: usize,
    max_in_flight: usize,
    platforms: Vec<PlatformRow>,
    warnings: Vec<String>,
}

pub async fn platforms(session: UiSession, state: Data) -> Result<HttpResponse, ApiError> {
    let view = crate::handlers::platforms_view(&state).await?;
    let snap = &view.gates;
    let value = serde_json::to_value(snap).unwrap_or_default();
    let platforms = value["platforms"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .iter()
        .map(|p| PlatformRow {
            name: p["platform"].as_str().unwrap_or("?").to_owned(),
            rate: p["rate_per_sec"].as_f64().unwrap_or(0.0),
            tokens: p["tokens"].as_u64().unwrap_or(0) as u32,
            burst: p["burst"].as_u64().unwrap_or(0) as u32,
            circuit: p["circuit"].as_str().unwrap_or("?").to_owned(),
            in_flight: p["in_flight"].as_u64().unwrap_or(0) as usize,
            max_in_flight: p["max_in_flight"].as_u64().unwrap_or(0) as usize,
            waiting: p["waiting"].as_u64().unwrap_or(0) as usize,
            passed: p["passed"].as_u64().unwrap_or(0),
            throttled: p["throttled"].as_u64().unwrap_or(0),
            failures: p["failures"].as_u64().unwrap_or(0),
            paused: ms_text(p["paused_until_ms"].as_i64()),
            sources: 0,
            required: String::new(),
            budget: String::new(),
            share_pct: 0,
            bar_pct: 0,
            over: false,
            hosts: p["hosts"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|h| {
                    let state = match h["circuit"].as_str() {
                        Some("closed") => format!("{} failures", h["consecutive_failures"]),
                        Some(other) => other.to_owned(),
                        None => "?".to_owned(),
                    };
                    (h["host"].as_str().unwrap_or("?").to_owned(), state)
                })
                .collect(),
        })
        .map(|mut row: PlatformRow| {
            if let Some(c) = view.capacity.iter().find(|c| c.platform.as_str() == row.name) {
                row.sources = c.sources;
                row.required = format!("{:.2}", c.required_per_sec);
                row.budget = format!("{:.2}", c.budget_per_sec);
                row.share_pct = (c.share * 100.0).round().min(9_999.0) as u32;
                row.bar_pct = row.share_pct.min(100);
                row.over = c.warning.is_some();
            }
            row
        })
        .collect();
    html(&PlatformsPage {
        csrf: session.csrf,
        nav: "platforms",
        flash: None,
        in_flight: snap.in_flight,
        max_in_flight: snap.max_in_flight,
        platforms,
        warnings: view.warnings,
    })
}

// ---- the creator dashboard ---------------------------------------------

#[derive(Template)]
#[template(path = "dashboard.html")]
struct DashboardPage {
    id: i64,
    name: String,
    token: String,
    figures: Vec<(String, String)>,
    metrics: Vec<String>,
    from: i64,
    step: i64,
}

#[derive(Deserialize)]
pub struct DashboardQuery {
    token: Option<String>,
}

/// `/d/{id}?token=…`: a project's live figures and charts for its creator.
pub async fn dashboard(
    reader: crate::auth::Reader,
    state: Data,
    q: web::Query<DashboardQuery>,
) -> Result<HttpResponse, ApiError> {
    let id = reader.project;
    let now = now_secs();
    let (project, obs) =
        db(&state, move |conn| Ok((Project::get(conn, id)?, Point::observations_at(conn, id, now)?))).await?;
    let (figures, metrics) = figures(&obs);
    let span = 7 * 86_400;
    html(&DashboardPage {
        id: id.0,
        name: project.name,
        token: q.into_inner().token.unwrap_or_default(),
        figures,
        metrics,
        from: now - span,
        step: span / 300,
    })
}

// ---- assets --------------------------------------------------------------

pub async fn asset(name: web::Path<String>) -> HttpResponse {
    let (body, content_type): (&'static [u8], &str) = match name.as_str() {
        "app.js" => (include_bytes!("../assets/app.js"), "text/javascript; charset=utf-8"),
        "app.css" => (include_bytes!("../assets/app.css"), "text/css; charset=utf-8"),
        "favicon.svg" => (include_bytes!("../assets/favicon.svg"), "image/svg+xml"),
        "uPlot.iife.min.js" => {
            (include_bytes!("../assets/vendor/uplot/uPlot.iife.min.js"), "text/javascript; charset=utf-8")
        }
        "uPlot.min.css" => (include_bytes!("../assets/vendor/uplot/uPlot.min.css"), "text/css; charset=utf-8"),
        _ => return actix_web::ResponseError::error_response(&ApiError::NotFound("no such asset".into())),
    };
    HttpResponse::Ok().content_type(content_type).insert_header(("Cache-Control", "public, max-age=3600")).body(body)
}

/// Registers the UI's routes.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource("/").route(web::get().to(|| async { see_other("/ui/") })))
        .service(web::resource("/ui").route(web::get().to(|| async { see_other("/ui/") })))
        .service(web::resource("/ui/assets/{name}").route(web::get().to(asset)))
        // Pages without a <link rel=icon> (JSON, the API docs) still get one.
        .service(web::resource("/favicon.ico").route(web::get().to(|| async {
            HttpResponse::MovedPermanently().insert_header((header::LOCATION, "/ui/assets/favicon.svg")).finish()
        })))
        .service(web::resource("/ui/login").route(web::get().to(login_page)).route(web::post().to(login)))
        .service(web::resource("/ui/logout").route(web::post().to(logout)))
        .service(web::resource("/ui/").route(web::get().to(projects)))
        .service(web::resource("/ui/runs").route(web::get().to(runs)))
        .service(web::resource("/ui/bulk").route(web::post().to(bulk)))
        .service(web::resource("/ui/projects").route(web::post().to(create_project)))
        .service(web::resource("/ui/projects/{id}").route(web::get().to(project)))
        .service(web::resource("/ui/projects/{id}/scrape").route(web::post().to(scrape)))
        .service(web::resource("/ui/projects/{id}/archive").route(web::post().to(archive)))
        .service(web::resource("/ui/runs/{id}/cancel").route(web::post().to(cancel)))
        .service(web::resource("/ui/projects/{id}/resume").route(web::post().to(resume)))
        .service(web::resource("/ui/projects/{id}/sources").route(web::post().to(save_sources)))
        .service(web::resource("/ui/projects/{id}/tokens").route(web::post().to(make_token)))
        .service(web::resource("/ui/projects/{id}/tokens/{token_id}/revoke").route(web::post().to(revoke_token)))
        .service(web::resource("/ui/actors").route(web::get().to(actors)))
        .service(web::resource("/ui/platforms").route(web::get().to(platforms)))
        .service(web::resource("/d/{id}").route(web::get().to(dashboard)));
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
