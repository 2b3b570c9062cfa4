//! Any HTML page: `options.url` with `{ref}`, and `options.metrics` mapping
//! metric names to CSS selectors. The first matching element's text is read,
//! or an attribute with `selector@attribute` (`meta[property=x]@content`),
//! and parsed tolerantly (`$1,234`, `1.234,50 €`, `3.2k`).
//!
//! JSON inside the page is read with `=> /pointer`:
//! `script[type='application/ld+json'] => /offers/price` reads the first
//! matching element whose JSON has the pointer; `var window.__DATA__ =>
//! /campaign/raised` reads the JSON value assigned to a script variable.

use scraper::{Html as Document, Selector};
use serde_json::Value;
use trawler_domain::{Platform, RunKind};

use crate::adapter::{generic_metrics, json_number, validate_generic, Adapter, BoxFuture, Fetched, Sample, SourceSpec};
use crate::http::excerpt;
use crate::number::parse_number;
use crate::request::{Answer, Conditional};
use crate::{HttpClient, Kept, SourceError};

/// The generic HTML adapter.
#[derive(Default)]
pub struct Html {
    memory: Conditional,
    jars: std::sync::Arc<crate::cookies::Jars>,
}

impl Html {
    /// The adapter, its cookies kept in `jars`.
    pub fn new(jars: std::sync::Arc<crate::cookies::Jars>) -> Html {
        Html { memory: Conditional::default(), jars }
    }
}

/// Where a metric is in a page.
enum Locator<'a> {
    /// An element's text, or one of its attributes.
    Css(&'a str, Option<&'a str>),
    /// A pointer into the JSON text of the first matching element that has it.
    JsonIn(&'a str, &'a str),
    /// A pointer into the JSON value a script assigns to a variable.
    Variable(&'a str, &'a str),
}

fn locator(text: &str) -> Result<Locator<'_>, String> {
    let Some((left, pointer)) = text.split_once("=>") else {
        let (sel, attr) = split_locator(text);
        return Ok(Locator::Css(sel, attr));
    };
    let (left, pointer) = (left.trim(), pointer.trim());
    if !(pointer.is_empty() || pointer.starts_with('/')) {
        return Err(format!("`{pointer}` is not a JSON pointer (it must start with `/`)"));
    }
    match left.strip_prefix("var ") {
        Some(name) => {
            let name = name.trim();
            let ident = |c: char| c.is_ascii_alphanumeric() || matches!(c, '_' | '$' | '.');
            if name.is_empty() || !name.chars().all(ident) {
                return Err(format!("`{name}` is not a script variable (letters, digits, `_`, `$`, `.`)"));
            }
            Ok(Locator::Variable(name, pointer))
        }
        None => Ok(Locator::JsonIn(left, pointer)),
    }
}

/// The JSON value a script assigns to `name` (`name = {…}` or `name: {…}`).
fn variable(page: &str, name: &str) -> Option<Value> {
    let mut from = 0;
    // A hostile page repeating the name is read a bounded number of times.
    for _ in 0..1_000 {
        let Some(at) = page[from..].find(name) else { break };
        let after = from + at + name.len();
        let rest = page[after..].trim_start();
        if let Some(value) = rest.strip_prefix('=').or_else(|| rest.strip_prefix(':')) {
            let mut values = serde_json::Deserializer::from_str(value.trim_start()).into_iter::<Value>();
            if let Some(Ok(v)) = values.next() {
                return Some(v);
            }
        }
        from = after;
    }
    None
}

/// A metric this answer does not give.
fn unread(metric: &str, detail: String) -> SourceError {
    SourceError::Unread { metric: metric.to_owned(), detail }
}

/// Splits `selector@attribute` into its parts.
fn split_locator(locator: &str) -> (&str, Option<&str>) {
    match locator.rsplit_once('@') {
        Some((sel, attr)) if !attr.is_empty() && !attr.contains([']', ' ', '"', '\'']) => (sel, Some(attr)),
        _ => (locator, None),
    }
}

/// Reads metrics out of a page. Synchronous: the parsed document is not
/// `Send`, so it never lives across an await.
pub(crate) fn extract(page: &str, metrics: &[(String, String)]) -> Result<Vec<Sample>, SourceError> {
    let doc = Document::parse_document(page);
    let mut out = Vec::with_capacity(metrics.len());
    for (name, text) in metrics {
        let parse =
            |sel: &str| Selector::parse(sel).map_err(|e| SourceError::Config(format!("html: selector `{sel}`: {e}")));
        let (sel, attr) = match locator(text).map_err(|e| SourceError::Config(format!("html: {e}")))? {
            Locator::Css(sel, attr) => (sel, attr),
            Locator::JsonIn(sel, pointer) => {
                let selector = parse(sel)?;
                let found = doc
                    .select(&selector)
                    .filter_map(|e| serde_json::from_str::<Value>(&e.text().collect::<String>()).ok())
                    .find_map(|json| json.pointer(pointer).cloned());
                let value = found
                    .ok_or_else(|| unread(name, format!("html: no JSON in `{sel}` has `{pointer}` for {name}")))?;
                out.push(json_sample(name, &value, pointer)?);
                continue;
            }
            Locator::Variable(var, pointer) => {
                let scripts = Selector::parse("script").map_err(|e| SourceError::Config(format!("html: {e}")))?;
                let found = doc.select(&scripts).find_map(|s| {
                    variable(&s.text().collect::<String>(), var).and_then(|v| v.pointer(pointer).cloned())
                });
                let value = found
                    .ok_or_else(|| unread(name, format!("html: no script sets `{var}` with `{pointer}` for {name}")))?;
                out.push(json_sample(name, &value, pointer)?);
                continue;
            }
        };
        let selector = parse(sel)?;
        let element = doc
            .select(&selector)
            .next()
            .ok_or_else(|| unread(name, format!("html: nothing matches `{sel}` for {name}")))?;
        let text = match attr {
            Some(a) => element
                .value()
                .attr(a)
                .ok_or_else(|| unread(name, format!("html: `{sel}` has no attribute `{a}` for {name}")))?
                .to_owned(),
            None => element.text().collect::<String>(),
        };
        let value = parse_number(&text)
            .ok_or_else(|| unread(name, format!("html: `{}` for {name} is not a number", excerpt(&text, 60))))?;
        let metric = name.parse().map_err(|e| SourceError::Config(format!("{e}")))?;
        out.push(Sample { metric, value });
    }
    Ok(out)
}

/// A metric's value from JSON found in a page.
fn json_sample(name: &str, value: &Value, pointer: &str) -> Result<Sample, SourceError> {
    let number = json_number(value).ok_or_else(|| {
        unread(name, format!("html: `{pointer}` for {name} is not a number: {}", excerpt(&value.to_string(), 60)))
    })?;
    let metric = name.parse().map_err(|e| SourceError::Config(format!("{e}")))?;
    Ok(Sample { metric, value: number })
}

impl Html {
    async fn read(
        &self,
        http: &HttpClient,
        spec: &SourceSpec,
        kind: RunKind,
        keep: &crate::Keeper,
    ) -> Result<Fetched, SourceError> {
        let sent = crate::request::send(http, spec, kind, "text/html", &self.memory, &self.jars, keep).await?;
        let remember = match sent {
            Answer::Unchanged(samples) => return Ok(Fetched { samples, ..Fetched::default() }),
            Answer::Full { response, remember, url, .. } => {
                let (page, metrics) = (response.text(), generic_metrics(&spec.options, kind));
                let read = crate::adapter::parse_off_thread(page.len(), move || extract(&page, &metrics)).await;
                let read = read.and_then(|r| r);
                keep.keep(&url, &response, read.is_err());
                (read?, remember)
            }
        };
        let (samples, remember) = remember;
        if let Some(remember) = remember {
            remember.keep(&self.memory, &samples);
        }
        Ok(Fetched { samples, ..Fetched::default() })
    }
}

impl Adapter for Html {
    fn platform(&self) -> Platform {
        Platform::Html
    }

    fn validate(&self, spec: &SourceSpec) -> Result<(), String> {
        crate::request::build(spec, "*/*")?;
        crate::cookies::check(&spec.options)?;
        validate_generic(spec, |text| {
            let sel = match locator(text)? {
                Locator::Css(sel, _) | Locator::JsonIn(sel, _) => sel,
                Locator::Variable(..) => return Ok(()),
            };
            Selector::parse(sel).map(|_| ()).map_err(|e| format!("`{sel}` is not a CSS selector: {e}"))
        })
    }

    fn circuit_host(&self, spec: &SourceSpec) -> Option<String> {
        crate::adapter::generic_host(spec)
    }

    fn fetch<'a>(
        &'a self,
        http: &'a HttpClient,
        spec: &'a SourceSpec,
        kind: RunKind,
        keep: &'a crate::Keeper,
    ) -> BoxFuture<'a, Result<Fetched, SourceError>> {
        Box::pin(self.read(http, spec, kind, keep))
    }

    fn reparse(&self, spec: &SourceSpec, kind: RunKind, answers: &[Kept]) -> Option<Result<Vec<Sample>, SourceError>> {
        let read = || {
            let answer = crate::keep::readable(answers)?;
            extract(&String::from_utf8_lossy(&answer.body), &generic_metrics(&spec.options, kind))
        };
        Some(read())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn selectors_and_attributes_are_read_tolerantly() -> Result<(), SourceError> {
        let page = r#"<html><head><meta property="x:backers" content="3.2k"></head>
            <body><div class="stats"><span class="pledged">$1,234.50</span><span class="eu">1.234,50 €</span></div></body></html>"#;
        let metrics = vec![
            ("pledged".to_string(), "div.stats .pledged".to_string()),
            ("backers".to_string(), "meta[property='x:backers']@content".to_string()),
            ("eu".to_string(), ".eu".to_string()),
        ];
        let samples = extract(page, &metrics)?;
        let values: Vec<f64> = samples.iter().map(|s| s.value).collect();
        assert_eq!(values, vec![1234.5, 3200.0, 1234.5]);
        Ok(())
    }

    #[test]
    fn json_in_a_page_is_read_by_pointer() -> Result<(), SourceError> {
        let page = r#"<html><head>
            <script type="application/ld+json">{"@type": "Organization", "name": "x"}</script>
            <script type="application/ld+json">{"@type": "Product", "offers": {"price": "1,234.50"}, "aggregateRating": {"ratingCount": 12}}</script>
            <script>window.__DATA__ = {"campaign": {"raised": 99.5, "supporters": [1, 2]}}; var other = 1;</script>
            </head><body></body></html>"#;
        let metrics = vec![
            ("pledged".to_string(), "script[type='application/ld+json'] => /offers/price".to_string()),
            ("backers".to_string(), "script[type='application/ld+json'] => /aggregateRating/ratingCount".to_string()),
            ("spend".to_string(), "var window.__DATA__ => /campaign/raised".to_string()),
        ];
        let values: Vec<f64> = extract(page, &metrics)?.iter().map(|s| s.value).collect();
        assert_eq!(values, vec![1234.5, 12.0, 99.5]);
        let missing = vec![("pledged".to_string(), "var window.__DATA__ => /campaign/goal".to_string())];
        let err = extract(page, &missing).expect_err("no goal");
        assert!(err.to_string().contains("no script sets `window.__DATA__` with `/campaign/goal`"), "{err}");
        let not_number = vec![("pledged".to_string(), "var window.__DATA__ => /campaign/supporters".to_string())];
        assert!(matches!(extract(page, &not_number), Err(SourceError::Unread { .. })));
        assert!(locator("var 1+1 => /x").is_err());
        assert!(locator("script => x").is_err());
        Ok(())
    }

    #[test]
    fn missing_elements_are_parse_errors() {
        let metrics = vec![("pledged".to_string(), ".nope".to_string())];
        assert!(
            matches!(extract("<p>1</p>", &metrics), Err(SourceError::Unread { metric, .. }) if metric == "pledged")
        );
        let metrics = vec![("pledged".to_string(), "p".to_string())];
        assert!(matches!(extract("<p>n/a</p>", &metrics), Err(SourceError::Unread { .. })));
    }

    #[test]
    fn numbers_too_large_for_a_float_are_parse_errors() {
        let huge = format!("<p>{}</p>", "9".repeat(400));
        let metrics = vec![("pledged".to_string(), "p".to_string())];
        let err = extract(&huge, &metrics).expect_err("infinity is not stored");
        assert!(matches!(&err, SourceError::Unread { metric, .. } if metric == "pledged"), "{err}");
        assert!(err.to_string().len() < 300, "the error quotes a bounded excerpt: {err}");
    }

    /// A big page is parsed off the runtime's thread: a ticker on the same
    /// current-thread runtime keeps running while it is parsed.
    #[tokio::test]
    async fn a_big_page_is_parsed_off_the_thread() {
        let rows = "<div class=row><span>1</span><b>2</b></div>".repeat(100_000);
        let page = format!("<html><body>{rows}<p class=pledged>$42</p></body></html>");
        assert!(page.len() > 4_000_000);
        let ticks = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let ticker = tokio::spawn({
            let ticks = ticks.clone();
            async move {
                loop {
                    tokio::time::sleep(std::time::Duration::from_millis(1)).await;
                    ticks.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                }
            }
        });
        let metrics = vec![("pledged".to_string(), ".pledged".to_string())];
        let before = ticks.load(std::sync::atomic::Ordering::Relaxed);
        let samples = crate::adapter::parse_off_thread(page.len(), move || extract(&page, &metrics))
            .await
            .expect("not cancelled")
            .expect("parses");
        let during = ticks.load(std::sync::atomic::Ordering::Relaxed) - before;
        ticker.abort();
        assert_eq!(samples[0].value, 42.0);
        assert!(during >= 5, "the runtime thread kept running during the parse ({during} ticks)");
    }
}
