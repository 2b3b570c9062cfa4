//! Paged JSON (`options.paginate` on `http_json`) and the locators that add
//! up across items and pages.
//!
//! `paginate: {"next": "/links/next"}` follows the URL at that pointer of
//! each page; `{"next": "link"}` follows the `Link: <…>; rel="next"` header.
//! At most `max_pages` pages (default 10, at most 100) and four times the
//! body limit in all are read; a next URL must stay on the first one's
//! origin and may not come twice. Pages after the first are fetched with
//! `GET` and the same headers. Each page past the first takes a token of
//! the platform's bucket, so a paged source costs what it asks.
//!
//! A metric's locator is a pointer (read on the first page), `sum /p` (the
//! values at `/p` on every page, added; `*` in `/p` stands for every element
//! of an array or object: `sum /items/*/amount`), or `count /p` (the
//! elements of the arrays at `/p`, on every page).

use std::collections::HashSet;

use serde_json::Value;

use crate::adapter::json_number;
use crate::http::shown_url;
use crate::SourceError;

/// Pages read at most by default, and the most a source may ask.
const DEFAULT_PAGES: usize = 10;
const MAX_PAGES: usize = 100;

/// How the next page is found.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Next {
    /// At this pointer of each page.
    Pointer(String),
    /// In the `Link` header, `rel="next"`.
    Link,
}

/// A source's paging.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Paging {
    pub(crate) next: Next,
    pub(crate) max_pages: usize,
}

/// The paging of a source's options, if it pages.
pub(crate) fn paging(options: &Value) -> Result<Option<Paging>, String> {
    let Some(p) = options.get("paginate") else { return Ok(None) };
    let shape = "options.paginate is {\"next\": \"/pointer\" or \"link\", \"max_pages\": n}";
    let p = p.as_object().ok_or(shape)?;
    if p.keys().any(|k| k != "next" && k != "max_pages") {
        return Err(shape.into());
    }
    let next = match p.get("next").and_then(Value::as_str) {
        Some("link") => Next::Link,
        Some(ptr) if ptr.starts_with('/') => Next::Pointer(ptr.to_owned()),
        _ => return Err(shape.into()),
    };
    let max_pages = match p.get("max_pages") {
        None => DEFAULT_PAGES,
        Some(n) => n
            .as_u64()
            .filter(|n| (1..=MAX_PAGES as u64).contains(n))
            .ok_or_else(|| format!("options.paginate.max_pages must be between 1 and {MAX_PAGES}"))?
            as usize,
    };
    Ok(Some(Paging { next, max_pages }))
}

/// Where a metric is across pages.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Locator<'a> {
    /// A pointer into the first page.
    First(&'a str),
    /// The values at a (wildcard) pointer of every page, added.
    Sum(&'a str),
    /// The elements of the arrays at a (wildcard) pointer of every page.
    Count(&'a str),
}

/// Reads a metric's locator; an error says what a locator may be.
pub(crate) fn locator(text: &str) -> Result<Locator<'_>, String> {
    let (kind, pointer) = match text.split_once(' ') {
        Some(("sum", p)) => ("sum", p.trim()),
        Some(("count", p)) => ("count", p.trim()),
        _ => ("first", text),
    };
    if !(pointer.is_empty() || pointer.starts_with('/')) {
        return Err(format!(
            "`{text}` is not a JSON pointer (it must start with `/`), `sum /pointer` or `count /pointer`"
        ));
    }
    if kind == "first" && pointer.split('/').any(|s| s == "*") {
        return Err(format!("`{text}`: `*` stands for many values; add them with `sum` or count them with `count`"));
    }
    Ok(match kind {
        "sum" => Locator::Sum(pointer),
        "count" => Locator::Count(pointer),
        _ => Locator::First(pointer),
    })
}

/// The values at a pointer whose `*` segments stand for every element.
pub(crate) fn select<'a>(value: &'a Value, pointer: &str) -> Vec<&'a Value> {
    let mut found = vec![value];
    for segment in pointer.split('/').skip(1) {
        let segment = segment.replace("~1", "/").replace("~0", "~");
        found = found
            .into_iter()
            .flat_map(|v| -> Vec<&Value> {
                match (segment.as_str(), v) {
                    ("*", Value::Array(a)) => a.iter().collect(),
                    ("*", Value::Object(o)) => o.values().collect(),
                    (s, Value::Array(a)) => s.parse::<usize>().ok().and_then(|i| a.get(i)).into_iter().collect(),
                    (s, Value::Object(o)) => o.get(s).into_iter().collect(),
                    _ => Vec::new(),
                }
            })
            .collect();
    }
    found
}

/// A metric's value over the pages read; an error names the metric.
pub(crate) fn value(pages: &[Value], name: &str, text: &str) -> Result<f64, SourceError> {
    let parse = |m: String| SourceError::Unread { metric: name.to_owned(), detail: format!("http_json: {m}") };
    match locator(text).map_err(SourceError::Config)? {
        Locator::First(pointer) => {
            let first = pages.first().and_then(|p| p.pointer(pointer));
            let v = first.ok_or_else(|| parse(format!("nothing at `{pointer}` for {name}")))?;
            json_number(v).ok_or_else(|| parse(format!("`{pointer}` for {name} is not a number")))
        }
        Locator::Sum(pointer) => {
            let values: Vec<&Value> = pages.iter().flat_map(|p| select(p, pointer)).collect();
            let mut total = 0.0;
            for v in values {
                total += json_number(v)
                    .ok_or_else(|| parse(format!("a value at `{pointer}` for {name} is not a number")))?;
            }
            Ok(total)
        }
        Locator::Count(pointer) => {
            let arrays: Vec<&Value> = pages.iter().flat_map(|p| select(p, pointer)).collect();
            if arrays.is_empty() {
                return Err(parse(format!("no list at `{pointer}` for {name}")));
            }
            let n: usize = arrays.iter().map(|a| a.as_array().map_or(1, Vec::len)).sum();
            Ok(n as f64)
        }
    }
}

/// The URL of the next page, resolved against the current one, on the
/// first page's origin and not seen before.
pub(crate) fn next_url(current: &str, next: &str, first: &str, seen: &HashSet<String>) -> Result<String, SourceError> {
    let base = reqwest::Url::parse(current).map_err(|e| SourceError::Config(format!("paging: {e}")))?;
    let url = base
        .join(next)
        .map_err(|_| SourceError::Parse(format!("paging: the next page `{}` is not a URL", shown_url(next))))?;
    let origin =
        reqwest::Url::parse(first).map(|u| u.origin()).map_err(|e| SourceError::Config(format!("paging: {e}")))?;
    if url.origin() != origin {
        return Err(SourceError::Blocked(format!(
            "paging: the next page {} is on another site",
            shown_url(url.as_str())
        )));
    }
    if seen.contains(url.as_str()) {
        return Err(SourceError::Parse(format!("paging loops: {} comes twice", shown_url(url.as_str()))));
    }
    Ok(url.into())
}

/// The `rel="next"` target of a `Link` header.
pub(crate) fn link_next(headers: &reqwest::header::HeaderMap) -> Option<String> {
    headers.get_all(reqwest::header::LINK).iter().filter_map(|v| v.to_str().ok()).flat_map(|v| v.split(',')).find_map(
        |link| {
            let (target, params) = link.split_once(';')?;
            let target = target.trim().strip_prefix('<')?.strip_suffix('>')?;
            let next = params.split(';').any(|p| {
                let p = p.trim().to_ascii_lowercase();
                p == "rel=\"next\"" || p == "rel=next"
            });
            next.then(|| target.to_owned())
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn sums_and_counts_run_over_items_and_pages() -> Result<(), SourceError> {
        let pages = [
            json!({"total": 7, "items": [{"amount": "1,000"}, {"amount": 250}], "next": "/p?page=2"}),
            json!({"items": [{"amount": 0.5}], "next": null}),
        ];
        assert_eq!(value(&pages, "pledged", "sum /items/*/amount")?, 1250.5);
        assert_eq!(value(&pages, "backers", "count /items")?, 3.0);
        assert_eq!(value(&pages, "goal", "/total")?, 7.0);
        assert!(value(&pages, "goal", "sum /items/*/missing").is_ok_and(|v| v == 0.0));
        assert!(matches!(value(&pages, "backers", "count /nothing"), Err(SourceError::Unread { .. })));
        let bad = [json!({"items": [{"amount": "soon"}]})];
        assert!(matches!(value(&bad, "pledged", "sum /items/*/amount"), Err(SourceError::Unread { .. })));
        Ok(())
    }

    #[test]
    fn locators_and_paging_options_are_checked() {
        assert!(locator("/items/*/amount").is_err(), "a wildcard needs sum or count");
        assert!(locator("sum items").is_err());
        assert_eq!(locator("count /items"), Ok(Locator::Count("/items")));
        assert!(paging(&json!({"paginate": {"next": "next"}})).is_err());
        assert!(paging(&json!({"paginate": {"next": "/next", "max_pages": 1000}})).is_err());
        assert!(paging(&json!({"paginate": {"next": "/next", "extra": 1}})).is_err());
        assert_eq!(
            paging(&json!({"paginate": {"next": "link", "max_pages": 3}})),
            Ok(Some(Paging { next: Next::Link, max_pages: 3 }))
        );
        assert_eq!(paging(&json!({})), Ok(None));
    }

    #[test]
    fn the_next_page_stays_on_the_site_and_never_comes_twice() {
        let first = "http://a.example/pages/x?page=1";
        let mut seen = HashSet::from([first.to_owned()]);
        let next = next_url(first, "?page=2", first, &seen);
        assert_eq!(next.as_deref().ok(), Some("http://a.example/pages/x?page=2"));
        assert!(matches!(next_url(first, "http://b.example/p", first, &seen), Err(SourceError::Blocked(_))));
        assert!(matches!(next_url(first, "https://a.example/p", first, &seen), Err(SourceError::Blocked(_))));
        seen.insert("http://a.example/pages/x?page=2".to_owned());
        let looped = next_url("http://a.example/pages/x?page=2", "/pages/x?page=2", first, &seen);
        assert!(matches!(looped, Err(SourceError::Parse(m)) if m.contains("comes twice")));
    }

    #[test]
    fn link_headers_name_the_next_page() {
        let mut h = reqwest::header::HeaderMap::new();
        let v = reqwest::header::HeaderValue::from_static("</p?page=1>; rel=\"prev\", </p?page=3>; rel=\"next\"");
        h.insert(reqwest::header::LINK, v);
        assert_eq!(link_next(&h).as_deref(), Some("/p?page=3"));
        assert_eq!(link_next(&reqwest::header::HeaderMap::new()), None);
    }
}
