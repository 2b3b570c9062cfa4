//! The generic platforms' richer endpoints: a CSV table, a GraphQL endpoint
//! that checks its header secret, and JSON that changes once a minute and
//! answers a conditional request with `304 Not Modified`.

use actix_web::{web, HttpRequest, HttpResponse};
use serde::Deserialize;
use serde_json::{json, Value};
use trawler_domain::now_secs;

use crate::model::money;
use crate::state::{serve, SimState};

/// The key the GraphQL endpoint wants in `X-Api-Key`.
pub const GRAPHQL_KEY: &str = "sim-key";

/// `/csv/{ref}`: a table of campaigns, the asked one among two others
/// (`id,name,raised,supporters`; `raised` with a currency sign and
/// separators, as spreadsheets export it).
pub(crate) async fn csv_table(state: web::Data<SimState>, req: HttpRequest, path: web::Path<String>) -> HttpResponse {
    let reference = path.into_inner();
    serve(&state, &req, "http_json", &reference, |bad| {
        let at = now_secs();
        let row = |r: &str| {
            let c = state.campaign("http_json", r, at);
            let raised = if bad { "TBD".to_owned() } else { format!("\"${}\"", money(c.pledged_cents)) };
            (c.pledged(), c.backers, format!("{},{},{raised},{}\n", csv_field(r), csv_field(&c.title), c.backers))
        };
        let (pledged, backers, mine) = row(&reference);
        if !bad {
            state.record(at, "http_json", &reference, "csv", &[("pledged", pledged), ("backers", backers as f64)]);
        }
        let (_, _, before) = row(&format!("{reference}-before"));
        let (_, _, after) = row(&format!("{reference}-after"));
        let body = format!("id,name,raised,supporters\n{before}{mine}{after}");
        HttpResponse::Ok().content_type("text/csv; charset=utf-8").body(body)
    })
    .await
}

/// A CSV field, quoted when it must be.
fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_owned()
    }
}

#[derive(Deserialize)]
pub(crate) struct GraphQl {
    query: String,
    #[serde(default)]
    variables: Value,
}

/// `POST /graphql`: `{"query": …, "variables": {"ref": …}}` with the key in
/// `X-Api-Key`; answers `{"data": {"campaign": {"raised", "supporters"}}}`,
/// or GraphQL errors (with 200, as GraphQL servers do) for a query without
/// its variable; 401 without the key.
pub(crate) async fn graphql(state: web::Data<SimState>, req: HttpRequest, body: web::Json<GraphQl>) -> HttpResponse {
    let key = req.headers().get("x-api-key").and_then(|v| v.to_str().ok());
    if key != Some(GRAPHQL_KEY) {
        return HttpResponse::Unauthorized().json(json!({"errors": [{"message": "missing or wrong X-Api-Key"}]}));
    }
    let Some(reference) = body.variables.get("ref").and_then(Value::as_str).map(str::to_owned) else {
        return HttpResponse::Ok().json(json!({"data": null, "errors": [{"message": "variable `ref` is required"}]}));
    };
    if !body.query.contains("campaign") {
        return HttpResponse::Ok().json(json!({"data": null, "errors": [{"message": "unknown field"}]}));
    }
    serve(&state, &req, "http_json", &reference, |bad| {
        let c = state.generic_campaign("http_json", &reference, "graphql", now_secs(), bad);
        let raised = if bad { json!("TBD") } else { json!(c.pledged()) };
        HttpResponse::Ok().json(json!({"data": {"campaign": {"raised": raised, "supporters": c.backers}}}))
    })
    .await
}

/// `/static/{ref}`: the campaign as it stood at the start of the current
/// minute, with an `ETag` and `Last-Modified`; a request that names the
/// current `ETag` (`If-None-Match`) gets `304 Not Modified`.
pub(crate) async fn minutely(state: web::Data<SimState>, req: HttpRequest, path: web::Path<String>) -> HttpResponse {
    let reference = path.into_inner();
    let now = now_secs();
    let minute = now - now.rem_euclid(60);
    let etag = format!("\"{}-{minute}\"", crate::model::seed(&reference));
    let asked = req.headers().get("if-none-match").and_then(|v| v.to_str().ok());
    if asked.is_some_and(|a| a.split(',').any(|t| t.trim() == etag)) {
        state.count("http_json", &reference, now);
        state.note_request("http_json", &reference, "not_modified", req.path());
        return HttpResponse::NotModified().insert_header(("ETag", etag)).finish();
    }
    serve(&state, &req, "http_json", &reference, |bad| {
        let c = state.generic_campaign("http_json", &reference, "static", minute, bad);
        HttpResponse::Ok()
            .insert_header(("ETag", etag.clone()))
            .insert_header(("Last-Modified", trawler_domain::time::http_date(minute)))
            .json(json!({"campaign": {"raised": if bad { json!("TBD") } else { json!(c.pledged()) }, "supporters": c.backers}}))
    })
    .await
}

#[derive(Deserialize)]
pub(crate) struct PageQuery {
    page: Option<u32>,
    /// The moment the first page showed (later pages show the same one).
    at: Option<i64>,
    /// Page 2 names itself as the next page.
    #[serde(default, rename = "loop")]
    looping: bool,
}

/// Items per page, and pages.
const PER_PAGE: i64 = 2;
const PAGES: u32 = 3;

/// `/pages/{ref}?page=n`: the campaign's pledges as six items
/// (`{"amount"}`) over three pages, adding up to its pledged amount at the
/// moment of the first page; each page names the next in `next` (relative)
/// and in a `Link` header, the last has `next: null`. `loop=true` makes
/// page 2 name itself.
pub(crate) async fn pages(
    state: web::Data<SimState>,
    req: HttpRequest,
    path: web::Path<String>,
    query: web::Query<PageQuery>,
) -> HttpResponse {
    let reference = path.into_inner();
    let page = query.page.unwrap_or(1).clamp(1, PAGES);
    let at = query.at.unwrap_or_else(now_secs);
    serve(&state, &req, "http_json", &reference, |_| {
        let c = state.campaign("http_json", &reference, at);
        if page == 1 {
            state.record(now_secs(), "http_json", &reference, "pages", &[("pledged", c.pledged())]);
        }
        let items = PER_PAGE * i64::from(PAGES);
        let each = c.pledged_cents / items;
        let amounts: Vec<f64> = (0..PER_PAGE)
            .map(|i| {
                let index = i64::from(page - 1) * PER_PAGE + i;
                let cents = if index == items - 1 { c.pledged_cents - each * (items - 1) } else { each };
                cents as f64 / 100.0
            })
            .collect();
        let loop_arg = if query.looping { "&loop=true" } else { "" };
        let next = match page {
            _ if query.looping && page == 2 => Some(format!("?page=2&at={at}{loop_arg}")),
            p if p < PAGES => Some(format!("?page={}&at={at}{loop_arg}", p + 1)),
            _ => None,
        };
        let body = json!({"page": page, "items": amounts.iter().map(|a| json!({"amount": a})).collect::<Vec<_>>(), "next": next});
        let mut resp = HttpResponse::Ok();
        if let Some(n) = &next {
            resp.insert_header(("Link", format!("<{n}>; rel=\"next\"")));
        }
        resp.json(body)
    })
    .await
}

/// The simulator's `robots.txt`: `trawler` may not fetch `/json/forbidden-…`
/// and must wait a second between requests; others may not fetch
/// `/html/private-…`.
pub const ROBOTS_TXT: &str = "User-agent: *\nDisallow: /html/private-\n\n\
    User-agent: trawler\nDisallow: /json/forbidden-\nCrawl-delay: 1\n";

/// `/robots.txt` (counted in `/_sim/requests` as platform `robots`).
pub(crate) async fn robots(state: web::Data<SimState>, req: HttpRequest) -> HttpResponse {
    state.note_request("robots", "", "ok", req.path());
    HttpResponse::Ok().content_type("text/plain").body(ROBOTS_TXT)
}

/// The session cookie `/members/{ref}` sets and wants.
pub const SESSION_COOKIE: &str = "sim_session";

/// `/members/{ref}`: JSON like `/json/{ref}`, for a client with the
/// session cookie only; without it, 401 and the cookie (as a site that
/// opens a session on the first visit), logged as `no_session`.
pub(crate) async fn members(state: web::Data<SimState>, req: HttpRequest, path: web::Path<String>) -> HttpResponse {
    let reference = path.into_inner();
    let session = format!("s{}", crate::model::seed(&reference) % 1_000_000);
    let has = req.cookie(SESSION_COOKIE).is_some_and(|c| c.value() == session);
    if !has {
        state.note_request("http_json", &reference, "no_session", req.path());
        return HttpResponse::Unauthorized()
            .insert_header((
                "Set-Cookie",
                format!("{SESSION_COOKIE}={session}; Path=/members; Max-Age=86400; HttpOnly"),
            ))
            .json(json!({"error": "sign in first"}));
    }
    serve(&state, &req, "http_json", &reference, |bad| {
        let c = state.generic_campaign("http_json", &reference, "members", now_secs(), bad);
        HttpResponse::Ok().json(json!({"campaign": {"raised": if bad { json!("TBD") } else { json!(c.pledged()) }, "supporters": c.backers}}))
    })
    .await
}
