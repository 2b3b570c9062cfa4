//! The simulator's HTTP side: one route per platform endpoint, plus
//! `/_sim/log` (every value served) and `/_sim/stats` (requests per source).

use std::collections::{BTreeMap, VecDeque};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use actix_web::dev::ServerHandle;
use actix_web::{web, App, HttpRequest, HttpResponse, HttpServer};
use serde::{Deserialize, Serialize};
use serde_json::json;
use trawler_domain::now_secs;

use crate::fault::{break_response, Fault, Faults, Verdict};
use crate::model::{money, Ads, Campaign};

/// Most log entries kept (oldest dropped first).
const LOG_CAPACITY: usize = 200_000;

/// One response the simulator served, with the numbers in it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LogEntry {
    /// Sequence number, from 1.
    pub seq: u64,
    /// When it was served, epoch seconds.
    pub at: i64,
    /// Which platform shape.
    pub platform: String,
    /// The project's reference.
    pub reference: String,
    /// Which endpoint (`stats.json`, `page`, `campaign`, `insights`, …).
    pub endpoint: String,
    /// The numbers a correct scraper reads from the response, by metric.
    pub values: BTreeMap<String, f64>,
}

/// One request as the simulator saw it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RequestRecord {
    /// When it arrived, epoch ms.
    pub at_ms: i64,
    /// When it arrived, epoch µs (for latencies shorter than a millisecond).
    #[serde(default)]
    pub at_us: i64,
    /// Which platform shape.
    pub platform: String,
    /// The project's reference.
    pub reference: String,
    /// `ok`, `bad_numbers`, `limited` (the platform limit's 429) or the fault's kind.
    pub outcome: String,
    /// The path asked for (a full scrape and a poll ask different ones).
    #[serde(default)]
    pub path: String,
}

/// Requests seen for one (platform, reference).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct SourceStats {
    /// How many requests.
    pub requests: u64,
    /// When the last one came, epoch seconds.
    pub last_at: i64,
}

/// The simulator's shared state.
pub struct SimState {
    /// The moment the simulated campaigns started, epoch seconds.
    pub epoch: i64,
    /// Faults and request limits in force.
    pub faults: Faults,
    log: Mutex<(u64, VecDeque<LogEntry>)>,
    requests: Mutex<VecDeque<RequestRecord>>,
    stats: Mutex<BTreeMap<String, SourceStats>>,
    delayed: Arc<DelayCounters>,
}

/// Slow and hanging answers: how many are being waited out, and how many
/// were abandoned by their client before the end.
#[derive(Default)]
struct DelayCounters {
    in_flight: std::sync::atomic::AtomicU64,
    abandoned: std::sync::atomic::AtomicU64,
}

/// Counts a delayed answer while it lasts; dropped before `done`, it counts
/// the client as gone.
struct Delayed {
    counters: Arc<DelayCounters>,
    done: bool,
}

impl Delayed {
    fn new(counters: &Arc<DelayCounters>) -> Delayed {
        counters.in_flight.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        Delayed { counters: counters.clone(), done: false }
    }
}

impl Drop for Delayed {
    fn drop(&mut self) {
        use std::sync::atomic::Ordering;
        self.counters.in_flight.fetch_sub(1, Ordering::Relaxed);
        if !self.done {
            self.counters.abandoned.fetch_add(1, Ordering::Relaxed);
        }
    }
}

impl SimState {
    /// A simulator whose campaigns started at `epoch`.
    pub fn new(epoch: i64) -> SimState {
        SimState {
            epoch,
            faults: Faults::default(),
            log: Mutex::new((0, VecDeque::new())),
            requests: Mutex::new(VecDeque::new()),
            stats: Mutex::new(BTreeMap::new()),
            delayed: Arc::default(),
        }
    }

    fn elapsed(&self, at: i64) -> i64 {
        at - self.epoch
    }

    fn count(&self, platform: &str, reference: &str, at: i64) {
        let mut stats = self.stats.lock().unwrap_or_else(|p| p.into_inner());
        let s = stats.entry(format!("{platform}:{reference}")).or_default();
        s.requests += 1;
        s.last_at = at;
    }

    fn record(&self, at: i64, platform: &str, reference: &str, endpoint: &str, values: &[(&str, f64)]) {
        let mut guard = self.log.lock().unwrap_or_else(|p| p.into_inner());
        let (seq, log) = &mut *guard;
        *seq += 1;
        if log.len() >= LOG_CAPACITY {
            log.pop_front();
        }
        log.push_back(LogEntry {
            seq: *seq,
            at,
            platform: platform.to_owned(),
            reference: reference.to_owned(),
            endpoint: endpoint.to_owned(),
            values: values.iter().map(|(k, v)| ((*k).to_owned(), *v)).collect(),
        });
    }

    /// Logged responses, optionally of one platform and reference.
    pub fn entries(&self, platform: Option<&str>, reference: Option<&str>) -> Vec<LogEntry> {
        let guard = self.log.lock().unwrap_or_else(|p| p.into_inner());
        guard
            .1
            .iter()
            .filter(|e| platform.is_none_or(|p| e.platform == p) && reference.is_none_or(|r| e.reference == r))
            .cloned()
            .collect()
    }

    fn note_request(&self, platform: &str, reference: &str, outcome: &str, path: &str) {
        let mut requests = self.requests.lock().unwrap_or_else(|p| p.into_inner());
        if requests.len() >= LOG_CAPACITY {
            requests.pop_front();
        }
        let at_us = trawler_domain::now_micros();
        requests.push_back(RequestRecord {
            at_ms: at_us.div_euclid(1000),
            at_us,
            platform: platform.to_owned(),
            reference: reference.to_owned(),
            outcome: outcome.to_owned(),
            path: path.to_owned(),
        });
    }

    /// Every request seen, optionally of one platform, in arrival order.
    pub fn requests(&self, platform: Option<&str>) -> Vec<RequestRecord> {
        let requests = self.requests.lock().unwrap_or_else(|p| p.into_inner());
        requests.iter().filter(|r| platform.is_none_or(|p| r.platform == p)).cloned().collect()
    }

    /// Requests per `platform:reference`.
    pub fn stats(&self) -> BTreeMap<String, SourceStats> {
        self.stats.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }
}

/// Escapes text for HTML (element content and quoted attributes).
fn escape_html(s: &str) -> String {
    s.replace('&', "&amp;").replace('"', "&quot;").replace('<', "&lt;").replace('>', "&gt;").replace('\'', "&#39;")
}

/// Formats a count with `,` thousands separators (`12,345`).
fn grouped(n: i64) -> String {
    let digits = n.abs().to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    if n < 0 {
        format!("-{out}")
    } else {
        out
    }
}

/// Formats cents the European way (`12.345,50 €`).
fn euro(cents: i64) -> String {
    let units = grouped(cents / 100).replace(',', ".");
    format!("{units},{:02} €", cents % 100)
}

/// Answers one platform request: counts it, applies any fault or limit,
/// and otherwise builds the normal answer (`bad_numbers` asks for numbers
/// that do not parse).
async fn serve(
    state: &SimState,
    req: &HttpRequest,
    platform: &str,
    reference: &str,
    build: impl FnOnce(bool) -> HttpResponse,
) -> HttpResponse {
    let at = now_secs();
    state.count(platform, reference, at);
    let (verdict, outcome) = state.faults.verdict(platform, reference, at);
    state.note_request(platform, reference, &outcome, req.path());
    match verdict {
        Verdict::Normal => build(false),
        Verdict::BadNumbers => build(true),
        // A hang: headers at once, then a body that never ends (a space
        // every 250 ms, so a client that goes away is noticed on the next
        // write and the stream is dropped).
        Verdict::Delay(d) if d >= Duration::from_secs(3600) => {
            let guard = Delayed::new(&state.delayed);
            let trickle = futures_util::stream::unfold(guard, |guard| async move {
                tokio::time::sleep(Duration::from_millis(250)).await;
                Some((Ok::<_, actix_web::Error>(web::Bytes::from_static(b" ")), guard))
            });
            HttpResponse::Ok().content_type("application/json").streaming(trickle)
        }
        Verdict::Delay(d) => {
            let mut guard = Delayed::new(&state.delayed);
            tokio::time::sleep(d).await;
            guard.done = true;
            build(false)
        }
        Verdict::Replace(resp) => resp,
        Verdict::Break(fault) => break_response(fault, build(false), req).await,
    }
}

async fn kickstarter_stats(
    state: web::Data<SimState>,
    req: HttpRequest,
    path: web::Path<(String, String)>,
) -> HttpResponse {
    let reference = format!("{}/{}", path.0, path.1);
    serve(&state, &req, "kickstarter", &reference, |bad| {
        let at = now_secs();
        let c = Campaign::at(&reference, state.epoch, state.elapsed(at));
        if !bad {
            state.record(
                at,
                "kickstarter",
                &reference,
                "stats.json",
                &[("pledged", c.pledged()), ("backers", c.backers as f64), ("comments", c.comments as f64)],
            );
        }
        HttpResponse::Ok().json(json!({
            "project": {
                "id": c.id,
                "state": "live",
                "state_changed_at": state.epoch,
                "backers_count": if bad { json!("many") } else { json!(c.backers) },
                "pledged": if bad { "n/a".to_owned() } else { money(c.pledged_cents) },
                "comments_count": c.comments,
            }
        }))
    })
    .await
}

async fn kickstarter_page(
    state: web::Data<SimState>,
    req: HttpRequest,
    path: web::Path<(String, String)>,
) -> HttpResponse {
    let reference = format!("{}/{}", path.0, path.1);
    serve(&state, &req, "kickstarter", &reference, |bad| {
        let at = now_secs();
        let c = Campaign::at(&reference, state.epoch, state.elapsed(at));
        if !bad {
            state.record(
                at,
                "kickstarter",
                &reference,
                "page",
                &[
                    ("pledged", c.pledged()),
                    ("backers", c.backers as f64),
                    ("goal", c.goal()),
                    ("comments", c.comments as f64),
                ],
            );
        }
        let project = json!({
            "id": c.id,
            "name": c.title,
            "goal": c.goal(),
            "pledged": if bad { json!("TBD") } else { json!(c.pledged()) },
            "currency": c.currency,
            "deadline": c.deadline,
            "state": "live",
            "backers_count": c.backers,
            "comments_count": c.comments,
        });
        let body = format!(
            "<!DOCTYPE html><html><head><title>{title} — Kickstarter</title>\
             <meta property=\"og:title\" content=\"{title}\"></head><body>\
             <h1>{title}</h1><div id=\"pledged\">{pledged} {currency}</div>\
             <script>window.current_project = \"{embedded}\";</script></body></html>",
            title = escape_html(&c.title),
            pledged = money(c.pledged_cents),
            currency = c.currency,
            embedded = escape_html(&project.to_string()),
        );
        HttpResponse::Ok().content_type("text/html; charset=utf-8").body(body)
    })
    .await
}

async fn indiegogo_campaign(state: web::Data<SimState>, req: HttpRequest, path: web::Path<String>) -> HttpResponse {
    let Some(reference) = path.strip_suffix(".json") else {
        return HttpResponse::NotFound().json(json!({"error": "not found"}));
    };
    serve(&state, &req, "indiegogo", reference, |bad| {
        let at = now_secs();
        let c = Campaign::at(reference, state.epoch, state.elapsed(at));
        if !bad {
            state.record(
                at,
                "indiegogo",
                reference,
                "campaign",
                &[("pledged", c.pledged()), ("backers", c.backers as f64), ("goal", c.goal())],
            );
        }
        HttpResponse::Ok().json(json!({
            "response": {
                "id": c.id,
                "title": c.title,
                "collected_funds": if bad { json!("unknown") } else { json!(c.pledged()) },
                "goal": c.goal(),
                "contributions_count": c.backers,
                "currency": {"iso_code": c.currency, "symbol": "$"},
                "funding_started_at": "2026-01-01T00:00:00-08:00",
                "funding_ends_at": "2026-12-31T23:59:59-08:00",
            }
        }))
    })
    .await
}

#[derive(Deserialize)]
struct InsightsQuery {
    after: Option<i64>,
    access_token: Option<String>,
}

fn insights_row(ads: &Ads, name: &str, bad: bool) -> serde_json::Value {
    json!({
        "spend": if bad { "n/a".to_owned() } else { money(ads.spend_cents) },
        "impressions": ads.impressions.to_string(),
        "clicks": ads.clicks.to_string(),
        "actions": [
            {"action_type": "link_click", "value": ads.clicks.to_string()},
            {"action_type": "offsite_conversion.fb_pixel_purchase", "value": ads.purchases.to_string()},
            {"action_type": "purchase", "value": ads.purchases.to_string()},
        ],
        "action_values": [
            {"action_type": "offsite_conversion.fb_pixel_purchase", "value": money(ads.purchase_value_cents)},
            {"action_type": "purchase", "value": money(ads.purchase_value_cents)},
        ],
        "campaign_name": name,
        "date_start": "2026-01-01",
        "date_stop": "2026-12-31",
    })
}

async fn meta_insights(
    state: web::Data<SimState>,
    req: HttpRequest,
    path: web::Path<(String, String)>,
    query: web::Query<InsightsQuery>,
) -> HttpResponse {
    let (version, object) = path.into_inner();
    let has_token = req
        .headers()
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("Bearer ") && v.len() > 7)
        || query.access_token.as_deref().is_some_and(|t| !t.is_empty());
    if !has_token {
        return HttpResponse::BadRequest().json(json!({"error": {
            "message": "An access token is required to request this resource.",
            "type": "OAuthException", "code": 104, "fbtrace_id": "SimTrace"}}));
    }
    serve(&state, &req, "meta_ads", &object, |bad| {
        let at = now_secs();
        // The cursor pins the snapshot, so both pages describe the same moment.
        let snapshot = query.after.unwrap_or(at);
        let ads = Ads::at(&object, state.elapsed(snapshot));
        if query.after.is_none() && !bad {
            state.record(at, "meta_ads", &object, "insights", &[
                ("spend", ads.spend_cents as f64 / 100.0),
                ("impressions", ads.impressions as f64),
                ("clicks", ads.clicks as f64),
                ("purchases", ads.purchases as f64),
                ("purchase_value", ads.purchase_value_cents as f64 / 100.0),
            ]);
        }
        let usage = json!({"acc_id_util_pct": 4.2, "reset_time_duration": 0, "ads_api_access_tier": "standard_access"});
        let mut resp = HttpResponse::Ok();
        resp.insert_header(("x-ad-account-usage", usage.to_string()));
        if !object.starts_with("act_") {
            return resp.json(json!({"data": [insights_row(&ads, &object, bad)],
                "paging": {"cursors": {"before": "MAZDZD", "after": "MAZDZD"}}}));
        }
        // An ad account: two campaigns, one page each.
        let [first, second] = ads.split();
        match query.after {
            None => {
                let info = req.connection_info();
                let next = format!(
                    "{}://{}/meta/{version}/{object}/insights?fields=spend,impressions,clicks,actions,action_values&date_preset=maximum&after={snapshot}",
                    info.scheme(),
                    info.host()
                );
                resp.json(json!({"data": [insights_row(&first, "Campaign A", bad)],
                    "paging": {"cursors": {"before": "MA", "after": snapshot.to_string()}, "next": next}}))
            }
            Some(_) => resp.json(json!({"data": [insights_row(&second, "Campaign B", bad)],
                "paging": {"cursors": {"before": "MB", "after": "MB"}}})),
        }
    })
    .await
}

async fn generic_json(state: web::Data<SimState>, req: HttpRequest, path: web::Path<String>) -> HttpResponse {
    let reference = path.into_inner();
    serve(&state, &req, "http_json", &reference, |bad| {
        let at = now_secs();
        let c = Campaign::at(&reference, state.epoch, state.elapsed(at));
        if !bad {
            state.record(
                at,
                "http_json",
                &reference,
                "json",
                &[("pledged", c.pledged()), ("backers", c.backers as f64)],
            );
        }
        HttpResponse::Ok().json(json!({
            "campaign": {
                "raised": if bad { "TBD".to_owned() } else { format!("${}", money(c.pledged_cents)) },
                "supporters": c.backers,
                "updated_at": at,
            }
        }))
    })
    .await
}

async fn generic_html(state: web::Data<SimState>, req: HttpRequest, path: web::Path<String>) -> HttpResponse {
    let reference = path.into_inner();
    serve(&state, &req, "html", &reference, |bad| {
        let at = now_secs();
        let c = Campaign::at(&reference, state.epoch, state.elapsed(at));
        if !bad {
            state.record(at, "html", &reference, "html", &[("pledged", c.pledged()), ("backers", c.backers as f64)]);
        }
        let body = format!(
            "<!DOCTYPE html><html><head><meta property=\"sim:backers\" content=\"{backers}\"></head><body>\
             <div class=\"campaign\"><span class=\"raised\">{raised}</span> raised by \
             <b class=\"supporters\">{backers}</b> supporters</div></body></html>",
            backers = grouped(c.backers),
            raised = if bad { "—".to_owned() } else { euro(c.pledged_cents) },
        );
        HttpResponse::Ok().content_type("text/html; charset=utf-8").body(body)
    })
    .await
}

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
struct RequestsQuery {
    platform: Option<String>,
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
            "GET /json/{ref}",
            "GET /html/{ref}",
            "GET /_sim/log?platform=&reference=",
            "GET /_sim/stats",
            "GET /_sim/requests?platform=",
            "GET|POST|DELETE /_sim/faults",
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
        .route("/json/{reference:.*}", web::get().to(generic_json))
        .route("/html/{reference:.*}", web::get().to(generic_html))
        .route("/_sim/log", web::get().to(log))
        .route("/_sim/stats", web::get().to(stats))
        .route("/_sim/requests", web::get().to(requests))
        .route("/_sim/faults", web::get().to(list_faults))
        .route("/_sim/faults", web::post().to(set_fault))
        .route("/_sim/faults", web::delete().to(clear_faults));
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_match_what_tolerant_parsing_expects() {
        assert_eq!(grouped(1_234_567), "1,234,567");
        assert_eq!(grouped(12), "12");
        assert_eq!(euro(1_234_550), "12.345,50 €");
        assert_eq!(euro(5_050), "50,50 €");
    }
}
