//! Any HTML page: `options.url` with `{ref}`, and `options.metrics` mapping
//! metric names to CSS selectors. The first matching element's text is read,
//! or an attribute with `selector@attribute` (`meta[property=x]@content`),
//! and parsed tolerantly (`$1,234`, `1.234,50 €`, `3.2k`).

use scraper::{Html as Document, Selector};
use trawler_domain::{Platform, RunKind};

use crate::adapter::{
    fill_template, generic_metrics, option_str, validate_generic, Adapter, BoxFuture, Fetched, Sample, SourceSpec,
};
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
            .ok_or_else(|| SourceError::Parse(format!("html: `{}` for {name} is not a number", text.trim())))?;
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
        let resp = http.get(&url, &[("Accept", "text/html")]).await?.error_for_status()?;
        let samples = extract(&resp.text(), &generic_metrics(&spec.options, kind))?;
        Ok(Fetched { samples, notes: Vec::new() })
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
}
