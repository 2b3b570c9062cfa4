//! Money in one currency, on the real binary against the simulator: a
//! campaign in euros advertised from an ad account billed in dollars. The
//! node fetches the ECB's reference rates (served by the simulator), learns
//! each source's currency from its platform, and reports pledges, spend and
//! the derived figures in the campaign's currency, with the rate in force at
//! each point's time — the figures a person computes by hand from the
//! simulator's values and rates. Derived figures come as series that equal
//! the summary at every step; bad currencies, derived figures without their
//! sources and a failing rate source get clear answers.

mod common;

use std::time::Duration;

use anyhow::{anyhow, ensure, Context, Result};
use common::{account_in, campaign_in, server_env, start_server, start_sim, wait_until, Api};
use reqwest::Method;
use serde_json::{json, Value};

/// Units of `currency` per euro in force at `ts` as the simulator fixes
/// them: the rate of the last working day at or before it.
fn per_euro(currency: &str, ts: i64) -> Result<f64> {
    let day = ts.div_euclid(86_400);
    (0..7)
        .find_map(|back| trawler_sim::rates::euro_rate(currency, day - back))
        .ok_or_else(|| anyhow!("no {currency} rate near day {day}"))
}

fn number(v: &Value, what: &str) -> Result<f64> {
    v.as_f64().ok_or_else(|| anyhow!("{what} is not a number: {v}"))
}

/// The summary's observation of `metric`.
fn observation<'a>(summary: &'a Value, metric: &str) -> Result<&'a Value> {
    summary["observations"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|o| o["metric"] == metric)
        .ok_or_else(|| anyhow!("no {metric} observed: {summary}"))
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() <= 1e-9 * a.abs().max(b.abs()).max(1.0)
}

fn patch(api: &Api, id: i64, body: Value) -> Result<(u16, Value)> {
    api.send(Method::PATCH, &format!("/api/v1/projects/{id}"), Some(body))
}

/// The summary's figure `name` over `[from, to]`.
fn summary_figure(api: &Api, id: i64, from: i64, to: i64, name: &str) -> Result<(Option<f64>, Value)> {
    let s = api.ok(&format!("/api/v1/projects/{id}/summary?from={from}&to={to}"))?;
    Ok((s["derived"][name].as_f64(), s["absent"][name].clone()))
}

#[test]
fn a_euro_campaign_with_dollar_ads_reports_in_euros() -> Result<()> {
    let db = trawler_store::testing::TestDb::sqlite()?;
    let sim = start_sim(trawler_domain::now_secs() - 600, &[])?;
    let env = [
        ("TRAWLER_FULL_INTERVAL", "1h"),
        ("TRAWLER_POLL_INTERVAL", "1s"),
        ("TRAWLER_MIN_INTERVAL", "1s"),
        ("TRAWLER_WEIGHTED_POLLS", "false"),
        ("TRAWLER_EXCHANGE_RATES_INTERVAL", "2s"),
    ];
    let (_server, api) = start_server(&server_env(&db.url, &sim.addr, &env))?;
    let (campaign, account) = (campaign_in("EUR")?, account_in("USD")?);
    let created_at = trawler_domain::now_secs();
    let body = json!({"name": "Euro lamp", "sources": [
        {"platform": "kickstarter", "external_ref": campaign},
        {"platform": "meta_ads", "external_ref": account, "secret": "sim-token"},
    ]});
    let (status, made) = api.send(Method::POST, "/api/v1/projects", Some(body))?;
    ensure!(status == 201, "{status} {made}");
    let id = made["id"].as_i64().ok_or_else(|| anyhow!("no id: {made}"))?;

    // Each platform says its currency; the rates arrive; polls add points.
    wait_until("currencies, rates and a few polls", Duration::from_secs(20), || {
        let p = api.ok(&format!("/api/v1/projects/{id}"))?;
        let currencies: Vec<&Value> = p["sources"].as_array().into_iter().flatten().map(|s| &s["currency"]).collect();
        let s = api.ok(&format!("/api/v1/projects/{id}/summary"))?;
        Ok(currencies == [&json!("EUR"), &json!("USD")]
            && !s["exchange_rates"]["newest"].is_null()
            && trawler_domain::now_secs() - created_at >= 5)
    })?;

    // The whole history: each figure is its latest value.
    let to = trawler_domain::now_secs();
    let s = api.ok(&format!("/api/v1/projects/{id}/summary?to={to}"))?;
    ensure!(s["currency"] == "EUR", "the campaign's currency by default: {s}");
    let pledged = observation(&s, "pledged")?;
    let spend = observation(&s, "spend")?;
    ensure!(pledged["currency"] == "EUR" && spend["currency"] == "USD", "each amount names its currency: {s}");
    let usd = per_euro("USD", spend["ts"].as_i64().unwrap_or_default())?;
    let spend_eur = number(&spend["value"], "spend")? / usd;
    let by_hand = number(&pledged["value"], "pledged")? / spend_eur;
    let blended = number(&s["derived"]["blended_roas"], "blended RoAS")?;
    ensure!(close(blended, by_hand), "blended RoAS {blended}, by hand {by_hand}: {s}");
    ensure!(close(number(&s["latest"]["spend"]["value"], "spend")?, spend_eur), "spend in euros: {s}");
    let backers = number(&observation(&s, "backers")?["value"], "backers")?;
    let per_backer = number(&s["derived"]["cost_per_backer"], "cost per backer")?;
    ensure!(close(per_backer, spend_eur / backers), "cost per backer {per_backer}: {s}");
    let pv = number(&observation(&s, "purchase_value")?["value"], "purchase value")?;
    let roas = number(&s["derived"]["roas"], "RoAS")?;
    ensure!(close(roas, pv / number(&spend["value"], "spend")?), "RoAS of one currency: {roas}");
    ensure!(s["exchange_rates"]["age_secs"].as_i64().is_some_and(|a| (0..8 * 86_400).contains(&a)), "{s}");

    // Exports name the currency of every amount, and of nothing else.
    let lines = api
        .client
        .get(format!("{}/api/v1/projects/{id}/export.jsonl?to={to}", api.base))
        .bearer_auth(common::TOKEN)
        .send()?
        .text()?;
    let rows: Vec<Value> = lines.lines().map(serde_json::from_str).collect::<Result<_, _>>()?;
    for (metric, currency) in [("pledged", json!("EUR")), ("spend", json!("USD")), ("backers", Value::Null)] {
        let of: Vec<&Value> = rows.iter().filter(|r| r["metric"] == metric).map(|r| &r["currency"]).collect();
        ensure!(!of.is_empty() && of.iter().all(|c| **c == currency), "{metric} rows: {of:?}");
    }
    let csv = api
        .client
        .get(format!("{}/api/v1/projects/{id}/export.csv", api.base))
        .bearer_auth(common::TOKEN)
        .send()?
        .text()?;
    ensure!(csv.starts_with("project_id,platform,metric,ts,time,value,resolution,currency\n"), "{csv}");
    ensure!(csv.lines().any(|l| l.contains(",pledged,") && l.ends_with(",EUR")), "{csv}");

    // A derived series equals the summary over the same range at each step,
    // from the start (cumulative) or over each bucket alone.
    let from = created_at - 1;
    for over in ["cumulative", "bucket"] {
        let path = format!("/api/v1/projects/{id}/series?metric=blended_roas&from={from}&to={to}&step=2&over={over}");
        let series = api.ok(&path)?;
        let line = &series["series"][0];
        ensure!(line["platform"].is_null() && series["step"] == 2, "{series}");
        let points = line["points"].as_array().cloned().unwrap_or_default();
        ensure!(points.len() >= 2, "at least two buckets with a value ({over}): {series}");
        for p in &points {
            let bucket = p[0].as_i64().ok_or_else(|| anyhow!("bad point {p}"))?;
            let start = if over == "cumulative" { from } else { bucket.max(from) };
            let (figure, _) = summary_figure(&api, id, start, (bucket + 1).min(to), "blended_roas")?;
            let value = number(&p[1], "a series value")?;
            ensure!(
                figure.is_some_and(|f| close(f, value)),
                "{over} bucket {bucket}: series {value}, summary {figure:?}"
            );
        }
        for gap in series["gaps"].as_array().into_iter().flatten() {
            let bucket = gap["ts"].as_i64().ok_or_else(|| anyhow!("bad gap {gap}"))?;
            let start = if over == "cumulative" { from } else { bucket.max(from) };
            let (figure, absent) = summary_figure(&api, id, start, (bucket + 1).min(to), "blended_roas")?;
            ensure!(figure.is_none() && absent == gap["reason"], "{over} gap {gap}: summary {figure:?} {absent}");
        }
    }

    // Reported in dollars: each amount at the rate of its own time.
    let (status, changed) = patch(&api, id, json!({"reporting_currency": "usd"}))?;
    ensure!(status == 200 && changed["reporting_currency"] == "USD", "{status} {changed}");
    let s = api.ok(&format!("/api/v1/projects/{id}/summary?to={to}"))?;
    let pledged = observation(&s, "pledged")?;
    let pledged_usd =
        number(&pledged["value"], "pledged")? * per_euro("USD", pledged["ts"].as_i64().unwrap_or_default())?;
    let spend_usd = number(&observation(&s, "spend")?["value"], "spend")?;
    ensure!(s["currency"] == "USD", "{s}");
    let blended = number(&s["derived"]["blended_roas"], "blended RoAS")?;
    ensure!(close(blended, pledged_usd / spend_usd), "in dollars: {blended} against {}", pledged_usd / spend_usd);

    // Bad currencies are refused, naming the field; nothing changes.
    for bad in [json!("XYZ"), json!("US"), json!(5)] {
        let (status, body) = patch(&api, id, json!({"reporting_currency": bad}))?;
        ensure!(status == 422 && body["error"]["code"] == "invalid_currency", "{bad}: {status} {body}");
        ensure!(body["error"]["message"].as_str().is_some_and(|m| m.contains("reporting_currency")), "{body}");
    }
    ensure!(api.ok(&format!("/api/v1/projects/{id}"))?["reporting_currency"] == "USD");
    let (status, body) = patch(&api, id, json!({"reporting_currency": "default"}))?;
    ensure!(status == 200 && body["reporting_currency"].is_null(), "{status} {body}");

    // A derived figure asked of a project without the sources it needs.
    let body = json!({"name": "No ads", "sources": [{"platform": "kickstarter", "external_ref": campaign}],
        "reporting_currency": "GBP"});
    let (status, lone) = api.send(Method::POST, "/api/v1/projects", Some(body))?;
    ensure!(status == 201 && lone["reporting_currency"] == "GBP", "{status} {lone}");
    let lone = lone["id"].as_i64().ok_or_else(|| anyhow!("no id"))?;
    let (status, body) = api.get(&format!("/api/v1/projects/{lone}/series?metric=roas&step=60"))?;
    ensure!(status == 422 && body["error"]["code"] == "missing_sources", "{status} {body}");
    ensure!(body["error"]["message"].as_str().is_some_and(|m| m.contains("spend")), "{body}");
    let (status, body) = api.get(&format!("/api/v1/projects/{id}/series?metric=roas"))?;
    ensure!(status == 400 && body["error"]["message"].as_str().is_some_and(|m| m.contains("step")), "{body}");

    // The rate source fails: the rates known stay in use, and say how old.
    let newest = api.ok(&format!("/api/v1/projects/{id}/summary"))?["exchange_rates"]["newest"].clone();
    let fault = json!({"target": "ecb:eurofxref-daily", "fault": {"kind": "server_error", "status": 503}});
    let resp = reqwest::blocking::Client::new().post(format!("{}/_sim/faults", sim.addr)).json(&fault).send()?;
    ensure!(resp.status() == 200, "the simulator refused the fault");
    wait_until("the rate source to fail", Duration::from_secs(20), || {
        let actors = api.ok("/api/v1/admin/actors")?;
        let rates = actors["actors"].as_array().into_iter().flatten().find(|a| a["kind"] == "rates").cloned();
        Ok(rates.is_some_and(|r| r["last_error"].as_str().is_some_and(|e| e.contains("503"))))
    })
    .context("the failure shows in /admin/actors")?;
    let s = api.ok(&format!("/api/v1/projects/{id}/summary"))?;
    ensure!(s["exchange_rates"]["newest"] == newest && s["derived"]["blended_roas"].is_number(), "{s}");
    Ok(())
}
