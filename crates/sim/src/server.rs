//! The simulator's HTTP side: one route per platform endpoint, plus
//! `/_sim/log` (every value served) and `/_sim/stats` (requests per source).

use std::net::SocketAddr;

use actix_web::dev::ServerHandle;
use actix_web::{web, App, HttpResponse, HttpServer};
use serde::Deserialize;
use serde_json::json;

use crate::fault::Fault;
use crate::platforms::{
    generic_html, generic_json, indiegogo_campaign, kickstarter_page, kickstarter_stats, meta_insights, meta_object,
};
use crate::state::*;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SetFault {
    target: String,
    fault: Fault,
}

#[derive(Deserialize)]
struct TargetQuery {
    target: Option<String>,
}

async fn list_faults(state: web::Data<SimState>) -> HttpResponse {
    HttpResponse::Ok().json(json!({"faults": state.faults.list(), "limits_rejected": state.faults.rejected()}))
}

async fn set_fault(state: web::Data<SimState>, body: web::Json<SetFault>) -> HttpResponse {
    let SetFault { target, fault } = body.into_inner();
    state.faults.set(&target, fault);
    HttpResponse::Ok().json(json!({"faults": state.faults.list()}))
}

async fn clear_faults(state: web::Data<SimState>, query: web::Query<TargetQuery>) -> HttpResponse {
    state.faults.clear(query.target.as_deref());
    HttpResponse::Ok().json(json!({"faults": state.faults.list()}))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct EndCampaign {
    platform: String,
    reference: String,
    /// Seconds from now (negative: ended already).
    ends_in_secs: i64,
    /// `successful`/`failed` (the model's own, by the goal) or `canceled`.
    final_state: Option<String>,
    /// Ads: seconds from now when they run again (after the pause).
    resumes_in_secs: Option<i64>,
}

/// Gives one campaign its own deadline: past it, its numbers stand still
/// and its state is final (Kickstarter `successful`/`failed`, Indiegogo
/// `closed`; a Meta account or campaign is paused).
async fn end_campaign(state: web::Data<SimState>, body: web::Json<EndCampaign>) -> HttpResponse {
    let now = trawler_domain::now_secs();
    let deadline = now.saturating_add(body.ends_in_secs.clamp(-86_400 * 365, 86_400 * 365));
    let canceled = match body.final_state.as_deref() {
        None | Some("successful" | "failed") => false,
        Some("canceled") => true,
        Some(other) => {
            return HttpResponse::BadRequest()
                .json(json!({"error": format!("`final_state` is successful, failed or canceled, not `{other}`")}))
        }
    };
    let resume = body.resumes_in_secs.map(|s| now.saturating_add(s.clamp(-86_400 * 365, 86_400 * 365)));
    if resume.is_some_and(|r| r < deadline) {
        return HttpResponse::BadRequest().json(json!({"error": "`resumes_in_secs` comes before the pause"}));
    }
    let ending = crate::state::Ending { deadline, canceled, resume };
    state.set_ending(&body.platform, &body.reference, ending);
    HttpResponse::Ok().json(json!({
        "platform": body.platform, "reference": body.reference, "deadline": deadline, "canceled": canceled,
        "resume": resume,
    }))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SetAnomaly {
    platform: String,
    reference: String,
    /// `freeze`, `scale`, `omit` or `clear`.
    kind: String,
    /// For `scale`.
    factor: Option<f64>,
}

/// Makes one reference's numbers go wrong from now on: `freeze` (they
/// stand still, the campaign live), `scale` (multiplied by `factor`),
/// `omit` (a metric left out of the poll answer), `clear` (right again).
async fn set_anomaly(state: web::Data<SimState>, body: web::Json<SetAnomaly>) -> HttpResponse {
    use crate::anomaly::Anomaly;
    let anomaly = match (body.kind.as_str(), body.factor) {
        ("freeze", None) => Some(Anomaly::Freeze { since: trawler_domain::now_secs() }),
        ("scale", Some(f)) if f.is_finite() && f > 0.0 && f <= 1e6 => Some(Anomaly::Scale { factor: f }),
        ("omit", None) => Some(Anomaly::Omit),
        ("clear", None) => None,
        _ => {
            return HttpResponse::BadRequest().json(json!({
                "error": "`kind` is freeze, omit or clear, or scale with a `factor` between 0 and 1000000"
            }))
        }
    };
    state.set_anomaly(&body.platform, &body.reference, anomaly);
    HttpResponse::Ok().json(json!({"platform": body.platform, "reference": body.reference, "anomaly": anomaly}))
}

#[derive(Deserialize)]
struct RequestsQuery {
    platform: Option<String>,
}

#[derive(Deserialize)]
struct EmbedQuery {
    src: String,
}

/// A page of another site framing `src` (a creator's dashboard): what the
/// framed page says over `postMessage` is kept in `window.__embedded`.
async fn embed(query: web::Query<EmbedQuery>) -> HttpResponse {
    let src = &query.src;
    if !(src.starts_with("http://") || src.starts_with("https://")) || src.contains(['"', '<', '>']) {
        return HttpResponse::BadRequest().json(json!({"error": "`src` is an http(s) URL"}));
    }
    let body = format!(
        "<!doctype html><html><head><title>An agency's site</title><link rel=\"icon\" href=\"data:,\"></head><body><h1>Our client</h1>\
         <iframe id=\"frame\" src=\"{src}\" width=\"800\" height=\"600\"></iframe>\
         <script>window.addEventListener('message', (e) => {{ if (e.data && e.data.trawler) window.__embedded = e.data; }});</script>\
         </body></html>"
    );
    HttpResponse::Ok().content_type("text/html; charset=utf-8").body(body)
}

async fn requests(state: web::Data<SimState>, query: web::Query<RequestsQuery>) -> HttpResponse {
    HttpResponse::Ok().json(state.requests(query.platform.as_deref()))
}

#[derive(Deserialize)]
struct LogQuery {
    platform: Option<String>,
    reference: Option<String>,
}

async fn log(state: web::Data<SimState>, query: web::Query<LogQuery>) -> HttpResponse {
    HttpResponse::Ok().json(state.entries(query.platform.as_deref(), query.reference.as_deref()))
}

async fn stats(state: web::Data<SimState>) -> HttpResponse {
    HttpResponse::Ok().json(json!({
        "epoch": state.epoch,
        "sources": state.stats(),
        "limits_rejected": state.faults.rejected(),
        "delayed_in_flight": state.delayed.in_flight.load(std::sync::atomic::Ordering::Relaxed),
        "delayed_abandoned": state.delayed.abandoned.load(std::sync::atomic::Ordering::Relaxed),
    }))
}

async fn index(state: web::Data<SimState>) -> HttpResponse {
    HttpResponse::Ok().json(json!({
        "simulator": "trawler sim",
        "epoch": state.epoch,
        "endpoints": [
            "GET /kickstarter/projects/{creator}/{slug}",
            "GET /kickstarter/projects/{creator}/{slug}/stats.json?v=1",
            "GET /indiegogo/1.1/campaigns/{id}.json",
            "GET /meta/{version}/{act_id|campaign_id}/insights",
            "GET /meta/{version}/{act_id|campaign_id}?fields=account_status,effective_status,currency",
            "GET /ecb/stats/eurofxref/eurofxref-daily.xml|eurofxref-hist-90d.xml",
            "GET /json/{ref}",
            "GET /html/{ref}",
            "GET /_sim/log?platform=&reference=",
            "GET /_sim/stats",
            "GET /_sim/requests?platform=",
            "GET|POST|DELETE /_sim/faults",
            "POST /_sim/campaigns {platform, reference, ends_in_secs}",
            "POST /_sim/layouts {reference, in_secs} (when /layout/{reference} changes its markup)",
            "GET /fixture/{platform}/{reference} (a fixture's answers in turn: trawler sim --fixture FILE)",
            "GET /_sim/embed?src=URL (a page that frames URL, as an agency's site would)",
        ],
    }))
}

/// Registers the simulator's routes (state must be in `app_data`).
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/", web::get().to(index))
        .route("/kickstarter/projects/{creator}/{slug}/stats.json", web::get().to(kickstarter_stats))
        .route("/kickstarter/projects/{creator}/{slug}", web::get().to(kickstarter_page))
        .route("/indiegogo/1.1/campaigns/{file}", web::get().to(indiegogo_campaign))
        .route("/meta/{version}/{object}/insights", web::get().to(meta_insights))
        .route("/meta/{version}/{object}", web::get().to(meta_object))
        .route("/ecb/stats/eurofxref/{file}", web::get().to(crate::rates::ecb_rates))
        .route("/json/{reference:.*}", web::get().to(generic_json))
        .route("/html/{reference:.*}", web::get().to(generic_html))
        .route("/csv/{reference:.*}", web::get().to(crate::generic::csv_table))
        .route("/static/{reference:.*}", web::get().to(crate::generic::minutely))
        .route("/graphql", web::post().to(crate::generic::graphql))
        .route("/pages/{reference:.*}", web::get().to(crate::generic::pages))
        .route("/robots.txt", web::get().to(crate::generic::robots))
        .route("/members/{reference:.*}", web::get().to(crate::generic::members))
        .route("/layout/{reference:.*}", web::get().to(crate::changes::layout_page))
        .route("/fixture/{platform}/{reference:.*}", web::get().to(crate::changes::fixture_answer))
        .route("/_sim/layouts", web::post().to(crate::changes::set_layout))
        .route("/_sim/log", web::get().to(log))
        .route("/_sim/stats", web::get().to(stats))
        .route("/_sim/requests", web::get().to(requests))
        .route("/_sim/faults", web::get().to(list_faults))
        .route("/_sim/faults", web::post().to(set_fault))
        .route("/_sim/faults", web::delete().to(clear_faults))
        .route("/_sim/campaigns", web::post().to(end_campaign))
        .route("/_sim/anomalies", web::post().to(set_anomaly))
        .route("/_sim/embed", web::get().to(embed));
}

/// A running simulator.
pub struct SimServer {
    /// Where it listens.
    pub addr: SocketAddr,
    /// Stops it.
    pub handle: ServerHandle,
    /// Its state (log and stats).
    pub state: web::Data<SimState>,
}

impl SimServer {
    /// Binds and starts the simulator on the current actix/tokio runtime.
    pub fn start(bind: &str, epoch: i64, workers: usize) -> std::io::Result<SimServer> {
        Self::start_with(bind, SimState::new(epoch), workers)
    }

    /// Starts the simulator with prepared state (faults, limits).
    pub fn start_with(bind: &str, state: SimState, workers: usize) -> std::io::Result<SimServer> {
        let state = web::Data::new(state);
        let app_state = state.clone();
        let server = HttpServer::new(move || App::new().app_data(app_state.clone()).configure(configure))
            .workers(workers.max(1))
            .disable_signals()
            .bind(bind)?;
        let addr =
            server.addrs().first().copied().ok_or_else(|| std::io::Error::other("simulator bound no address"))?;
        let server = server.run();
        let handle = server.handle();
        actix_web::rt::spawn(server);
        Ok(SimServer { addr, handle, state })
    }
}
