//! Any HTML page: `options.url` with `{ref}`, and `options.metrics` mapping
//! metric names to CSS selectors. The first matching element's text is read,
//! or an attribute with `selector@attribute` (`meta[property=x]@content`),
//! and parsed tolerantly (`$1,234`, `1.234,50 €`, `3.2k`).

use scraper::{Html as Document, Selector};
use trawler_domain::{Platform, RunKind};

use crate::adapter::{
    fill_template, generic_metrics, option_str, validate_generic, Adapter, BoxFuture, Fetched, Sample, SourceSpec,
};
use crate::http::excerpt;
use crate::number::parse_number;
use crate::{HttpClient, SourceError};

/// The generic HTML adapter.
pub struct Html;

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
    for (name, locator) in metrics {
        let (sel, attr) = split_locator(locator);
        let selector = Selector::parse(sel).map_err(|e| SourceError::Config(format!("html: selector `{sel}`: {e}")))?;
        let element = doc
            .select(&selector)
            .next()
            .ok_or_else(|| SourceError::Parse(format!("html: nothing matches `{sel}` for {name}")))?;
        let text = match attr {
            Some(a) => element
                .value()
                .attr(a)
                .ok_or_else(|| SourceError::Parse(format!("html: `{sel}` has no attribute `{a}` for {name}")))?
                .to_owned(),
            None => element.text().collect::<String>(),
        };
        let value = parse_number(&text)
            .ok_or_else(|| SourceError::Parse(format!("html: `{}` for {name} is not a number", excerpt(&text, 60))))?;
        let metric = name.parse().map_err(|e| SourceError::Config(format!("{e}")))?;
        out.push(Sample { metric, value });
    }
    Ok(out)
}

impl Html {
    async fn read(&self, http: &HttpClient, spec: &SourceSpec, kind: RunKind) -> Result<Fetched, SourceError> {
        let template =
            option_str(&spec.options, "url").ok_or_else(|| SourceError::Config("options.url missing".into()))?;
        let url = fill_template(template, &spec.external_ref);
        let secret = crate::adapter::secret_header(spec).map_err(SourceError::Config)?;
        let mut headers = vec![("Accept", "text/html")];
        if let Some((name, value)) = &secret {
            headers.push((name.as_str(), value.as_str()));
        }
        let resp = http.get(&url, &headers).await?.error_for_status()?;
        let (page, metrics) = (resp.text(), generic_metrics(&spec.options, kind));
        let samples = crate::adapter::parse_off_thread(page.len(), move || extract(&page, &metrics)).await??;
        Ok(Fetched { samples, ..Fetched::default() })
    }
}

impl Adapter for Html {
    fn platform(&self) -> Platform {
        Platform::Html
    }

    fn validate(&self, spec: &SourceSpec) -> Result<(), String> {
        validate_generic(spec, |locator| {
            let (sel, _) = split_locator(locator);
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
    ) -> BoxFuture<'a, Result<Fetched, SourceError>> {
        Box::pin(self.read(http, spec, kind))
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
    fn missing_elements_are_parse_errors() {
        let metrics = vec![("pledged".to_string(), ".nope".to_string())];
        assert!(matches!(extract("<p>1</p>", &metrics), Err(SourceError::Parse(_))));
        let metrics = vec![("pledged".to_string(), "p".to_string())];
        assert!(matches!(extract("<p>n/a</p>", &metrics), Err(SourceError::Parse(_))));
    }

    #[test]
    fn numbers_too_large_for_a_float_are_parse_errors() {
        let huge = format!("<p>{}</p>", "9".repeat(400));
        let metrics = vec![("pledged".to_string(), "p".to_string())];
        let err = extract(&huge, &metrics).expect_err("infinity is not stored");
        assert!(matches!(&err, SourceError::Parse(m) if m.contains("pledged")), "{err}");
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
