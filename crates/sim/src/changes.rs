//! Pages that change: a campaign page whose layout changes at a chosen
//! time (`/layout/{ref}`, `POST /_sim/layouts`), and the answers of a
//! fixture exported from trawler's response archive, served again in turn
//! (`/fixture/{platform}/{ref}`, `trawler sim --fixture FILE`).

use actix_web::{web, HttpRequest, HttpResponse};
use serde::Deserialize;
use serde_json::json;
use trawler_domain::fixture::Fixture;
use trawler_domain::now_secs;

use crate::platforms::grouped;
use crate::state::{serve, SimState};

/// `$1,234.56`, as an American page writes money.
fn dollars(cents: i64) -> String {
    format!("{}.{:02}", grouped(cents / 100), (cents % 100).abs())
}

/// `/layout/{ref}`: a campaign page; from the moment set for its reference,
/// the same numbers in another markup (as a site's redesign does).
pub(crate) async fn layout_page(state: web::Data<SimState>, req: HttpRequest, path: web::Path<String>) -> HttpResponse {
    let reference = path.into_inner();
    let changed = state.changes.layout_changes_at(&reference).is_some_and(|at| now_secs() >= at);
    serve(&state, &req, "html", &reference, |bad| {
        let endpoint = if changed { "layout:new" } else { "layout:old" };
        let c = state.generic_campaign("html", &reference, endpoint, now_secs(), bad);
        let raised = if bad { "—".to_owned() } else { dollars(c.pledged_cents) };
        let backers = grouped(c.backers);
        let body = if changed {
            format!(
                "<!DOCTYPE html><html><body><header><h1>{title}</h1><p>Goal: <b>${goal}</b></p></header>\
                 <section class=\"stats\"><div data-stat=\"raised\"><strong>{raised}</strong> USD pledged</div>\
                 <div data-stat=\"backers\"><strong>{backers}</strong> backers</div></section></body></html>",
                title = c.title,
                goal = dollars(c.goal_cents),
            )
        } else {
            format!(
                "<!DOCTYPE html><html><body><h1>{title}</h1><div class=\"campaign\">\
                 <span class=\"raised\">${raised}</span> raised by <b class=\"supporters\">{backers}</b> \
                 supporters</div></body></html>",
                title = c.title,
            )
        };
        HttpResponse::Ok().content_type("text/html; charset=utf-8").body(body)
    })
    .await
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct SetLayout {
    reference: String,
    /// Seconds from now (0: at once; negative: already changed).
    in_secs: i64,
}

/// `POST /_sim/layouts {reference, in_secs}`: when `/layout/{reference}`
/// changes its layout.
pub(crate) async fn set_layout(state: web::Data<SimState>, body: web::Json<SetLayout>) -> HttpResponse {
    let at = now_secs().saturating_add(body.in_secs.clamp(-86_400 * 365, 86_400 * 365));
    state.changes.layouts.lock().unwrap_or_else(|p| p.into_inner()).insert(body.reference.clone(), at);
    HttpResponse::Ok().json(json!({"reference": body.reference, "changes_at": at}))
}

impl SimState {
    /// Serves a fixture's answers (see `trawler_domain::fixture`); returns
    /// the sources it serves, as `platform/reference`.
    pub fn load_fixture(&self, fixture: Fixture) -> Result<Vec<String>, String> {
        if fixture.format != trawler_domain::fixture::FORMAT {
            return Err(format!("a fixture of format `{}`, not `{}`", fixture.format, trawler_domain::fixture::FORMAT));
        }
        let mut served = Vec::new();
        let mut fixtures = self.changes.fixtures.lock().unwrap_or_else(|p| p.into_inner());
        for source in fixture.sources {
            if source.answers.is_empty() {
                continue;
            }
            let key = format!("{}/{}", source.platform, source.external_ref);
            served.push(key.clone());
            fixtures.insert(key, (source.answers, 0));
        }
        Ok(served)
    }
}

/// `/fixture/{platform}/{ref}`: the fixture's answers for that source, in
/// turn, the last again once all are served.
pub(crate) async fn fixture_answer(state: web::Data<SimState>, path: web::Path<(String, String)>) -> HttpResponse {
    let (platform, reference) = path.into_inner();
    let key = format!("{platform}/{reference}");
    let answer = {
        let mut fixtures = state.changes.fixtures.lock().unwrap_or_else(|p| p.into_inner());
        fixtures.get_mut(&key).and_then(|(answers, next)| {
            let answer = answers.get(*next).or(answers.last()).cloned();
            *next = (*next + 1).min(answers.len());
            answer
        })
    };
    let Some(answer) = answer else {
        return HttpResponse::NotFound().json(json!({"error": format!("no fixture serves {key}")}));
    };
    let status = actix_web::http::StatusCode::from_u16(answer.status).unwrap_or(actix_web::http::StatusCode::OK);
    let mut out = HttpResponse::build(status);
    for (name, value) in &answer.headers {
        if matches!(name.as_str(), "content-type" | "etag" | "last-modified" | "date" | "cache-control" | "link") {
            out.insert_header((name.as_str(), value.as_str()));
        }
    }
    out.body(answer.bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn money_is_written_as_an_american_page_writes_it() {
        assert_eq!(dollars(123_456), "1,234.56");
        assert_eq!(dollars(5), "0.05");
    }
}
