//! The platforms' endpoints as the simulator serves them: Kickstarter's
//! stats and page, Indiegogo's campaign, Meta's insights, and generic JSON
//! and HTML pages.

use crate::model::{money, Ads};
use actix_web::{web, HttpRequest, HttpResponse};
use serde::Deserialize;
use serde_json::json;
use trawler_domain::now_secs;

use crate::state::{serve, SimState};

use trawler_domain::time::rfc3339;

/// Escapes text for HTML (element content and quoted attributes).
pub(crate) fn escape_html(s: &str) -> String {
    s.replace('&', "&amp;").replace('"', "&quot;").replace('<', "&lt;").replace('>', "&gt;").replace('\'', "&#39;")
}

/// Formats a count with `,` thousands separators (`12,345`).
pub(crate) fn grouped(n: i64) -> String {
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
pub(crate) fn euro(cents: i64) -> String {
    let units = grouped(cents / 100).replace(',', ".");
    format!("{units},{:02} €", cents % 100)
}

pub(crate) async fn kickstarter_stats(
    state: web::Data<SimState>,
    req: HttpRequest,
    path: web::Path<(String, String)>,
) -> HttpResponse {
    let reference = format!("{}/{}", path.0, path.1);
    serve(&state, &req, "kickstarter", &reference, |bad| {
        let at = now_secs();
        let c = state.campaign("kickstarter", &reference, at);
        if !bad {
            state.record(
                at,
                "kickstarter",
                &reference,
                "stats.json",
                &[("pledged", c.pledged()), ("backers", c.backers as f64), ("comments", c.comments as f64)],
            );
        }
        let mut body = json!({
            "project": {
                "id": c.id,
                "state": c.state,
                "state_changed_at": if c.state == "live" { state.epoch } else { c.deadline },
                "backers_count": if bad { json!("many") } else { json!(c.backers) },
                "pledged": if bad { "n/a".to_owned() } else { money(c.pledged_cents) },
            }
        });
        if !state.anomaly("kickstarter", &reference).is_some_and(|a| a.omits()) {
            body["project"]["comments_count"] = json!(c.comments);
        }
        HttpResponse::Ok().json(body)
    })
    .await
}

pub(crate) async fn kickstarter_page(
    state: web::Data<SimState>,
    req: HttpRequest,
    path: web::Path<(String, String)>,
) -> HttpResponse {
    let reference = format!("{}/{}", path.0, path.1);
    serve(&state, &req, "kickstarter", &reference, |bad| {
        let at = now_secs();
        let c = state.campaign("kickstarter", &reference, at);
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
            "launched_at": state.epoch,
            "state": c.state,
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

pub(crate) async fn indiegogo_campaign(
    state: web::Data<SimState>,
    req: HttpRequest,
    path: web::Path<String>,
) -> HttpResponse {
    let Some(reference) = path.strip_suffix(".json") else {
        return HttpResponse::NotFound().json(json!({"error": "not found"}));
    };
    serve(&state, &req, "indiegogo", reference, |bad| {
        let at = now_secs();
        let c = state.campaign("indiegogo", reference, at);
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
                "funding_started_at": rfc3339(state.epoch),
                "funding_ends_at": rfc3339(c.deadline),
                "status": if c.state == "live" { "open" } else { "closed" },
            }
        }))
    })
    .await
}

#[derive(Deserialize)]
pub(crate) struct InsightsQuery {
    pub(crate) after: Option<i64>,
    pub(crate) access_token: Option<String>,
}

pub(crate) fn insights_row(ads: &Ads, name: &str, bad: bool) -> serde_json::Value {
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

pub(crate) async fn meta_insights(
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
        let (ads, _) = state.ads(&object, snapshot);
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

#[derive(Deserialize)]
pub(crate) struct ObjectQuery {
    pub(crate) fields: Option<String>,
}

/// An ad account's `account_status` (1 active, 2 disabled once paused) or
/// a campaign's `effective_status` (`ACTIVE`, `PAUSED`).
pub(crate) async fn meta_object(
    state: web::Data<SimState>,
    req: HttpRequest,
    path: web::Path<(String, String)>,
    query: web::Query<ObjectQuery>,
) -> HttpResponse {
    let (_, object) = path.into_inner();
    let has_token = req
        .headers()
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("Bearer ") && v.len() > 7);
    if !has_token {
        return HttpResponse::BadRequest().json(json!({"error": {
            "message": "An access token is required to request this resource.",
            "type": "OAuthException", "code": 104, "fbtrace_id": "SimTrace"}}));
    }
    let fields = query.fields.clone().unwrap_or_default();
    serve(&state, &req, "meta_ads", &object, |_| {
        let (_, paused) = state.ads(&object, now_secs());
        let mut body = json!({"id": object});
        if fields.split(',').any(|f| f == "account_status") {
            body["account_status"] = json!(if paused { 2 } else { 1 });
        }
        if fields.split(',').any(|f| f == "effective_status") {
            body["effective_status"] = json!(if paused { "PAUSED" } else { "ACTIVE" });
        }
        if fields.split(',').any(|f| f == "currency") && object.starts_with("act_") {
            body["currency"] = json!(crate::model::Ads::currency(&object));
        }
        HttpResponse::Ok().json(body)
    })
    .await
}

pub(crate) async fn generic_json(
    state: web::Data<SimState>,
    req: HttpRequest,
    path: web::Path<String>,
) -> HttpResponse {
    let reference = path.into_inner();
    serve(&state, &req, "http_json", &reference, |bad| {
        let at = now_secs();
        let c = state.generic_campaign("http_json", &reference, "json", at, bad);
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

pub(crate) async fn generic_html(
    state: web::Data<SimState>,
    req: HttpRequest,
    path: web::Path<String>,
) -> HttpResponse {
    let reference = path.into_inner();
    serve(&state, &req, "html", &reference, |bad| {
        let c = state.generic_campaign("html", &reference, "html", now_secs(), bad);
        // The numbers twice more as sites carry them: JSON-LD (after an
        // unrelated block), and a script variable.
        let price = if bad { json!("TBD") } else { json!(c.pledged()) };
        let ld = json!({"@context": "https://schema.org", "@type": "Product", "name": c.title,
            "offers": {"@type": "Offer", "price": price, "priceCurrency": c.currency},
            "aggregateRating": {"@type": "AggregateRating", "ratingCount": c.backers}});
        let data = json!({"campaign": {"raised": price, "supporters": c.backers}});
        let body = format!(
            "<!DOCTYPE html><html><head><meta property=\"sim:backers\" content=\"{backers}\">\
             <script type=\"application/ld+json\">{{\"@type\": \"Organization\", \"name\": \"Sim\"}}</script>\
             <script type=\"application/ld+json\">{ld}</script></head><body>\
             <div class=\"campaign\"><span class=\"raised\">{raised}</span> raised by \
             <b class=\"supporters\">{backers}</b> supporters</div>\
             <script>window.__CAMPAIGN__ = {data};</script></body></html>",
            backers = grouped(c.backers),
            raised = if bad { "—".to_owned() } else { euro(c.pledged_cents) },
            ld = ld.to_string().replace("</", "<\\/"),
            data = data.to_string().replace("</", "<\\/"),
        );
        HttpResponse::Ok().content_type("text/html; charset=utf-8").body(body)
    })
    .await
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
