//! The platforms page: each platform's gate, budget and circuit.

use super::*;

pub(super) struct PlatformRow {
    pub(super) name: String,
    pub(super) rate: f64,
    pub(super) tokens: u32,
    pub(super) burst: u32,
    pub(super) circuit: String,
    pub(super) in_flight: usize,
    pub(super) max_in_flight: usize,
    pub(super) waiting: usize,
    pub(super) passed: u64,
    pub(super) throttled: u64,
    pub(super) failures: u64,
    pub(super) paused: String,
    pub(super) sources: u64,
    pub(super) required: String,
    pub(super) budget: String,
    pub(super) share_pct: u32,
    pub(super) bar_pct: u32,
    pub(super) over: bool,
    /// Sites of a generic platform with their own circuit not plainly
    /// closed: `host: state`.
    pub(super) hosts: Vec<(String, String)>,
    /// The last window's division of the polls: `3 every 2s · 5 every 9s`.
    pub(super) division: String,
}

#[derive(Template)]
#[template(path = "platforms.html")]
pub(super) struct PlatformsPage {
    pub(super) csrf: String,
    /// The user's role: what the page shows them to press.
    pub(super) role: &'static str,
    pub(super) nav: &'static str,
    pub(super) flash: Option<String>,
    pub(super) in_flight: usize,
    pub(super) max_in_flight: usize,
    pub(super) platforms: Vec<PlatformRow>,
    pub(super) warnings: Vec<String>,
}

pub async fn platforms(session: UiSession, state: Data) -> Result<HttpResponse, ApiError> {
    let view = crate::service::platforms_view(&state).await?;
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
            division: String::new(),
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
            if let Some(c) =
                view.capacity.iter().find(|c| trawler_domain::Platform::from(c.platform).as_str() == row.name)
            {
                row.sources = c.sources;
                row.required = format!("{:.2}", c.required_per_sec);
                row.budget = format!("{:.2}", c.budget_per_sec);
                row.share_pct = (c.share * 100.0).round().min(9_999.0) as u32;
                row.bar_pct = row.share_pct.min(100);
                row.over = c.warning.is_some();
                row.division = c
                    .poll_division
                    .iter()
                    .map(|s| {
                        let every = std::time::Duration::from_millis(s.interval_ms.max(0) as u64);
                        format!("{} every {}", s.projects, crate::service::span_text(every))
                    })
                    .collect::<Vec<_>>()
                    .join(" · ");
            }
            row
        })
        .collect();
    html(&PlatformsPage {
        role: session.role_str(),
        csrf: session.csrf,
        nav: "platforms",
        flash: None,
        in_flight: snap.in_flight,
        max_in_flight: snap.max_in_flight,
        platforms,
        warnings: view.warnings,
    })
}
