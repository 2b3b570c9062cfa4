//! The admin web UI (server-rendered with askama, live over SSE) and the
//! creator dashboard. Pages live under `/ui`; their scripts read the JSON API
//! with the session cookie (GET routes only: anything that changes state is
//! a form post carrying the session's CSRF token).

mod actors;
mod archive;
mod audit;
mod config;
mod dashboard;
mod jobs;
mod login;
mod monitors;
mod node;
mod parts;
mod platforms;
mod project;
mod projects;
mod runs;
mod users;

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
use crate::service::{check_cadence, check_sources, db, span_text, Data};
use crate::views::BulkAction;
use crate::views::SourceInput;
use crate::ApiError;

use actors::actors;
use dashboard::{dashboard, dashboards};
use login::{login, login_page, logout};
use monitors::{save_monitors, silence};
use parts::{figures, filter_form, pager, FilterForm, FlashQuery, Pager, RANGES};
use platforms::platforms;
use project::{
    archive, cadence, cancel, currency, make_token, project, resume, revoke_token, save_sources, schedule, scrape,
};
use projects::{bulk, create_project, projects};
use runs::runs;

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

/// The pages' Content Security Policy, but for who may frame them.
const CSP: &str = "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'";

fn html(template: &impl Template) -> Result<HttpResponse, ApiError> {
    framed_by(template, &[])
}

/// A page that the sites of `origins` may show in a frame (none: no site
/// may, as every page but the creator's dashboard).
fn framed_by(template: &impl Template, origins: &[String]) -> Result<HttpResponse, ApiError> {
    let body = template.render().map_err(|e| ApiError::Internal(format!("template: {e}")))?;
    let mut response = HttpResponse::Ok();
    response.content_type("text/html; charset=utf-8").insert_header(("Referrer-Policy", "no-referrer"));
    if origins.is_empty() {
        response
            .insert_header(("Content-Security-Policy", format!("{CSP}; frame-ancestors 'none'")))
            .insert_header(("X-Frame-Options", "DENY"));
    } else {
        // Checked origins (`EmbedOrigin`): nothing in them ends the directive.
        let policy = format!("{CSP}; frame-ancestors 'self' {}", origins.join(" "));
        response.insert_header(("Content-Security-Policy", policy));
    }
    Ok(response.body(body))
}

fn ms_text(ms: Option<i64>) -> String {
    ms.map_or("–".into(), trawler_domain::time::display_ms)
}

/// How long a run took (`–` while it runs).
fn took_text(run: &Run) -> String {
    run.finished_at_ms.map_or("–".into(), |e| format!("{:.1} s", (e - run.started_at_ms) as f64 / 1000.0))
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

pub async fn asset(name: web::Path<String>) -> HttpResponse {
    let (body, content_type): (&'static [u8], &str) = match name.as_str() {
        "app.js" => (include_bytes!("../../assets/app.js"), "text/javascript; charset=utf-8"),
        "app.css" => (include_bytes!("../../assets/app.css"), "text/css; charset=utf-8"),
        "favicon.svg" => (include_bytes!("../../assets/favicon.svg"), "image/svg+xml"),
        "uPlot.iife.min.js" => {
            (include_bytes!("../../assets/vendor/uplot/uPlot.iife.min.js"), "text/javascript; charset=utf-8")
        }
        "uPlot.min.css" => (include_bytes!("../../assets/vendor/uplot/uPlot.min.css"), "text/css; charset=utf-8"),
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
        .service(web::resource("/ui/jobs").route(web::get().to(jobs::jobs_page)))
        .service(web::resource("/ui/jobs/{id}").route(web::get().to(jobs::job_page)))
        .service(web::resource("/ui/jobs/{id}/cancel").route(web::post().to(jobs::cancel_job)))
        .service(web::resource("/ui/projects").route(web::post().to(create_project)))
        .service(web::resource("/ui/projects/{id}").route(web::get().to(project)))
        .service(web::resource("/ui/projects/{id}/scrape").route(web::post().to(scrape)))
        .service(web::resource("/ui/projects/{id}/archive").route(web::post().to(archive)))
        .service(web::resource("/ui/runs/{id}/cancel").route(web::post().to(cancel)))
        .service(web::resource("/ui/runs/{id}").route(web::get().to(archive::run_page)))
        .service(web::resource("/ui/responses/{id}").route(web::get().to(archive::response_page)))
        .service(web::resource("/ui/projects/{id}/repair").route(web::post().to(archive::repair)))
        .service(web::resource("/ui/projects/{id}/reparse").route(web::post().to(archive::reparse)))
        .service(web::resource("/ui/projects/{id}/resume").route(web::post().to(resume)))
        .service(web::resource("/ui/projects/{id}/schedule/{verb}").route(web::post().to(schedule)))
        .service(web::resource("/ui/projects/{id}/cadence").route(web::post().to(cadence)))
        .service(web::resource("/ui/projects/{id}/currency").route(web::post().to(currency)))
        .service(web::resource("/ui/projects/{id}/labels").route(web::post().to(project::labels)))
        .service(web::resource("/ui/projects/{id}/monitors").route(web::post().to(save_monitors)))
        .service(web::resource("/ui/projects/{id}/monitors/{monitor}/{verb}").route(web::post().to(silence)))
        .service(web::resource("/ui/projects/{id}/sources").route(web::post().to(save_sources)))
        .service(web::resource("/ui/projects/{id}/tokens").route(web::post().to(make_token)))
        .service(web::resource("/ui/projects/{id}/tokens/{token_id}/revoke").route(web::post().to(revoke_token)))
        .service(web::resource("/ui/actors").route(web::get().to(actors)))
        .service(web::resource("/ui/platforms").route(web::get().to(platforms)))
        .service(web::resource("/ui/node").route(web::get().to(node::node)))
        .service(web::resource("/ui/config").route(web::get().to(config::config_page)))
        .service(web::resource("/ui/audit").route(web::get().to(audit::audit_page)))
        .service(
            web::resource("/ui/users").route(web::get().to(users::users_page)).route(web::post().to(users::add_user)),
        )
        .service(web::resource("/ui/users/{name}/role").route(web::post().to(users::set_role)))
        .service(web::resource("/ui/users/{name}/remove").route(web::post().to(users::remove_user)))
        .service(web::resource("/ui/config/reload").route(web::post().to(config::reload)))
        .service(web::resource("/d/{id}").route(web::get().to(dashboard)))
        .service(web::resource("/d").route(web::get().to(dashboards)));
}
