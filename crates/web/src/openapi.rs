//! The OpenAPI 3 document, generated from the handlers' annotations and the
//! view types, served at `/api/v1/openapi.json` with Swagger UI at
//! `/api/v1/docs/`.

use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

use crate::api::*;
use crate::sse::*;

/// The whole API.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "trawler",
        description = "Numbers scraped from crowdfunding and ad platforms, for dashboards. \
            Every route but /healthz and /readyz needs `Authorization: Bearer <admin token>`. \
            Errors are `{\"error\": {\"code\", \"message\"}}`."
    ),
    paths(
        get_healthz, get_readyz, get_metrics,
        list_projects, create_project, get_project, update_project, archive_project, resume_project, trigger_scrape,
        get_series, get_summary, export_csv, export_jsonl, import_points,
        list_runs, search_runs, get_run, cancel_run, bulk_projects,
        project_events, admin_events,
        create_token, create_set_token, list_tokens, revoke_token, rotate_token,
        get_monitors, put_monitors, list_alerts,
        get_actors, get_platforms, get_freshness, get_cluster, get_history,
        start_jobs, list_jobs, get_job, cancel_job, job_events,
        get_config, reload_config, import_projects, get_audit, export_audit,
        list_users, create_user, update_user, delete_user,
        list_webhooks, create_webhook, get_webhook, update_webhook, delete_webhook, ping_webhook, list_deliveries,
        list_responses, get_response, get_response_body, list_breaks, reparse, repair, get_fixture,
    ),
    modifiers(&BearerAuth),
    security(("admin" = [])),
    tags(
        (name = "projects", description = "Projects, their sources, triggers"),
        (name = "data", description = "Series, summaries, exports"),
        (name = "runs", description = "Scrape runs and their logs"),
        (name = "archive", description = "Answers kept, broken selectors, re-parse, fixtures"),
        (name = "admin", description = "The supervision tree, rate gates, metrics"),
        (name = "webhooks", description = "Signed event deliveries and their log"),
        (name = "tokens", description = "Per-project read tokens for dashboards"),
        (name = "monitors", description = "Monitors on the numbers: rules, silences, alerts"),
        (name = "health", description = "Liveness and readiness"),
    )
)]
pub struct ApiDoc;

/// Declares the admin bearer token.
struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "admin",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some("The node's admin token (TRAWLER_ADMIN_TOKEN)"))
                    .build(),
            ),
        );
        components.add_security_scheme(
            "read_token",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some("A project's read token (`trw_…`): reads that project only"))
                    .build(),
            ),
        );
    }
}

/// The document.
pub fn document() -> utoipa::openapi::OpenApi {
    let mut doc = ApiDoc::openapi();
    doc.info.version = env!("CARGO_PKG_VERSION").to_owned();
    doc
}
