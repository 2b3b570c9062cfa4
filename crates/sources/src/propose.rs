//! When a page changed its layout and a metric's selector or pointer finds
//! nothing, the new answer still holds the number, somewhere: this module
//! looks for the metric's last good value in it and proposes a locator
//! that reads it.
//!
//! A candidate is any text, attribute or JSON value that reads as a number
//! close enough to the last good value: the same value (written plainly or
//! formatted, `1,234`, `$1,234.00`), the value rounded for display (`1.2k`
//! for 1,234: within half the step of its last shown digit), or near it
//! (within 5 %: the number moved since it was last read). Each proposal is
//! checked by reading the answer with it as the adapter would, so what is
//! proposed is known to work on that answer. The best come first: the
//! closest match, then the locator most like the old one, then the
//! shortest.

use scraper::{ElementRef, Html as Document, Selector};
use serde::Serialize;
use serde_json::Value;
use trawler_domain::{Platform, RunKind};

use crate::number::read;
use crate::{Kept, SourceSpec};

/// How a proposal's value compares with the last good one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Closeness {
    /// The same value.
    Same,
    /// The value rounded for display.
    Rounded,
    /// Within 5 % of it.
    Near,
}

/// A locator that reads a metric in an answer where the old one does not.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Proposal {
    /// The selector or pointer, in the source's `options.metrics` syntax.
    pub locator: String,
    /// What it reads in the answer.
    pub value: f64,
    /// How that compares with the last good value.
    pub closeness: Closeness,
}

/// The metrics of a generic source that its answers (one fetch's, as
/// kept) do not give, each tried alone: a layout change often breaks
/// several at once, while a fetch's error names the first.
pub fn unread(spec: &SourceSpec, kind: RunKind, answers: &[Kept]) -> Vec<String> {
    let Ok(first) = crate::keep::readable(answers) else { return Vec::new() };
    let metrics = crate::adapter::generic_metrics(&spec.options, kind);
    let page = (spec.platform == Platform::Html).then(|| String::from_utf8_lossy(&first.body).into_owned());
    metrics
        .into_iter()
        .filter(|(name, locator)| {
            let one = [(name.clone(), locator.clone())];
            let read = match (&page, spec.platform) {
                (Some(page), _) => crate::html::extract(page, &one),
                (None, Platform::HttpJson) => {
                    let mut options = (*spec.options).clone();
                    if let Some(o) = options.as_object_mut() {
                        let mut alone = serde_json::Map::new();
                        alone.insert(name.clone(), Value::String(locator.clone()));
                        o.insert("metrics".into(), Value::Object(alone));
                        o.remove("hot");
                    }
                    let alone = SourceSpec { options: std::sync::Arc::new(options), ..spec.clone() };
                    crate::http_json::reread(&alone, kind, answers)
                }
                _ => return false,
            };
            matches!(read, Err(crate::SourceError::Unread { .. }))
        })
        .map(|(name, _)| name)
        .collect()
}

/// Proposals kept at most.
const MAX_PROPOSALS: usize = 3;
/// Candidates looked at most in one answer (a hostile page of numbers).
const MAX_CANDIDATES: usize = 2_000;

/// How close `found` (shown with a last digit of `step`) is to `last`.
fn closeness(found: f64, step: f64, last: f64) -> Option<Closeness> {
    let diff = (found - last).abs();
    if diff == 0.0 {
        Some(Closeness::Same)
    } else if diff <= step / 2.0 {
        Some(Closeness::Rounded)
    } else if last != 0.0 && diff <= last.abs() * 0.05 {
        Some(Closeness::Near)
    } else {
        None
    }
}

/// Proposes locators for `metric` in the first answer of a fetch (`answers`,
/// as kept) of a generic source as it is configured now, given the
/// metric's last good value. Empty when nothing fits (or for a paged
/// source, whose metrics are sums and counts).
pub fn propose(spec: &SourceSpec, metric: &str, last: f64, answers: &[Kept]) -> Vec<Proposal> {
    let options = &*spec.options;
    let Some(first) = answers.first().filter(|a| (200..300).contains(&a.status)) else { return Vec::new() };
    if !last.is_finite() || options.get("paginate").is_some() {
        return Vec::new();
    }
    let old = options.get("metrics").and_then(|m| m.get(metric)).and_then(Value::as_str).unwrap_or_default();
    let mut found = match spec.platform {
        Platform::Html => html(&String::from_utf8_lossy(&first.body), metric, last),
        Platform::HttpJson if options.get("format").and_then(Value::as_str) == Some("csv") => {
            csv(options, &spec.external_ref, &first.body, last)
        }
        Platform::HttpJson => serde_json::from_slice::<Value>(&first.body)
            .map(|json| json_leaves(&json, last).into_iter().map(|(p, v, c)| proposal(p, v, c)).collect())
            .unwrap_or_default(),
        _ => Vec::new(),
    };
    found.sort_by(|a, b| {
        (a.closeness, std::cmp::Reverse(likeness(old, &a.locator)), a.locator.len()).cmp(&(
            b.closeness,
            std::cmp::Reverse(likeness(old, &b.locator)),
            b.locator.len(),
        ))
    });
    let mut seen = std::collections::HashSet::new();
    found.retain(|p| seen.insert(p.locator.clone()));
    found.truncate(MAX_PROPOSALS);
    found
}

fn proposal(locator: String, value: f64, closeness: Closeness) -> Proposal {
    Proposal { locator, value, closeness }
}

/// Words two locators share (`.raised` and `[data-stat='raised'] b`
/// share `raised`).
fn likeness(old: &str, new: &str) -> usize {
    let words = |s: &str| -> std::collections::HashSet<String> {
        s.split(|c: char| !c.is_alphanumeric()).filter(|w| w.len() > 2).map(str::to_lowercase).collect()
    };
    words(old).intersection(&words(new)).count()
}

/// JSON values that read as a number close to `last`: `(pointer, value,
/// closeness)`.
fn json_leaves(json: &Value, last: f64) -> Vec<(String, f64, Closeness)> {
    let mut out = Vec::new();
    let mut stack = vec![(String::new(), json)];
    let mut looked = 0usize;
    while let Some((pointer, value)) = stack.pop() {
        looked += 1;
        if looked > MAX_CANDIDATES * 10 {
            break;
        }
        match value {
            Value::Object(o) => stack
                .extend(o.iter().map(|(k, v)| (format!("{pointer}/{}", k.replace('~', "~0").replace('/', "~1")), v))),
            Value::Array(a) => stack.extend(a.iter().enumerate().map(|(i, v)| (format!("{pointer}/{i}"), v))),
            Value::Number(n) => {
                if let Some(c) = n.as_f64().and_then(|v| closeness(v, 0.0, last)) {
                    out.push((pointer, n.as_f64().unwrap_or_default(), c));
                }
            }
            Value::String(s) => {
                if let Some((v, c)) = read(s).and_then(|(v, step)| Some((v, closeness(v, step, last)?))) {
                    out.push((pointer, v, c));
                }
            }
            _ => {}
        }
    }
    out
}

/// A CSV answer: the columns of the source's row that hold the value.
fn csv(options: &Value, reference: &str, body: &[u8], last: f64) -> Vec<Proposal> {
    let Ok(row) = crate::table::row(options, reference) else { return Vec::new() };
    let mut reader = csv::ReaderBuilder::new().flexible(true).trim(csv::Trim::All).from_reader(body);
    let Ok(headers) = reader.headers().cloned() else { return Vec::new() };
    let probe: Vec<(String, String)> = headers.iter().map(|h| (h.to_owned(), h.to_owned())).collect();
    let mut out = Vec::new();
    for (name, header) in probe {
        let one = [("probe".to_owned(), header.clone())];
        let Ok(samples) = crate::table::extract(body, &one, &row) else { continue };
        let Some(sample) = samples.first() else { continue };
        if let Some(c) = closeness(sample.value, 1.0, last) {
            out.push(proposal(name, sample.value, c));
        }
    }
    out
}

/// An HTML answer: elements whose text or attribute reads as the value,
/// and JSON in its `application/ld+json` scripts.
fn html(page: &str, metric: &str, last: f64) -> Vec<Proposal> {
    let doc = Document::parse_document(page);
    let mut candidates = Vec::new();
    let Ok(all) = Selector::parse("*") else { return Vec::new() };
    for element in doc.select(&all).take(MAX_CANDIDATES * 10) {
        if candidates.len() >= MAX_CANDIDATES {
            break;
        }
        let name = element.value().name();
        if name == "script" {
            if element.value().attr("type") == Some("application/ld+json") {
                if let Ok(json) = serde_json::from_str::<Value>(&element.text().collect::<String>()) {
                    for (pointer, v, c) in json_leaves(&json, last) {
                        let locator = format!("script[type='application/ld+json'] => {pointer}");
                        candidates.push(proposal(locator, v, c));
                    }
                }
            }
            continue;
        }
        if name == "style" {
            continue;
        }
        for (attr, text) in element.value().attrs() {
            if matches!(attr, "content" | "value" | "title" | "aria-label") || attr.starts_with("data-") {
                if let Some((v, c)) = read(text).and_then(|(v, step)| Some((v, closeness(v, step, last)?))) {
                    if let Some(sel) = selector(&doc, element) {
                        candidates.push(proposal(format!("{sel}@{attr}"), v, c));
                    }
                }
            }
        }
        // The innermost element that holds the number: its text is short
        // and none of its children holds it alone.
        let text: String = element.text().collect();
        if text.trim().is_empty() || text.trim().chars().count() > 40 {
            continue;
        }
        let Some((v, c)) = read(&text).and_then(|(v, step)| Some((v, closeness(v, step, last)?))) else {
            continue;
        };
        let in_child = element.children().filter_map(ElementRef::wrap).any(|child| {
            read(&child.text().collect::<String>()).is_some_and(|(cv, step)| closeness(cv, step, last).is_some())
        });
        if !in_child {
            if let Some(sel) = selector(&doc, element) {
                candidates.push(proposal(sel, v, c));
            }
        }
    }
    // Each is checked the way the adapter reads it.
    candidates
        .into_iter()
        .filter(|p| {
            let metrics = [(metric.to_owned(), p.locator.clone())];
            crate::html::extract(page, &metrics).is_ok_and(|s| s.first().is_some_and(|s| s.value == p.value))
        })
        .collect()
}

/// A CSS identifier that needs no escaping.
fn plain(ident: &str) -> bool {
    let mut chars = ident.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
        && ident.len() <= 60
}

/// What names an element by itself: its tag, id, classes and the
/// attributes that describe it.
fn own(element: ElementRef<'_>) -> String {
    let e = element.value();
    let mut out = e.name().to_owned();
    if let Some(id) = e.id().filter(|id| plain(id)) {
        return format!("{out}#{id}");
    }
    for class in e.classes().filter(|c| plain(c)).take(3) {
        out.push('.');
        out.push_str(class);
    }
    for (attr, value) in e.attrs() {
        let describes = attr.starts_with("data-") || matches!(attr, "itemprop" | "property" | "name");
        if describes && plain(attr) && value.len() <= 60 && !value.contains(['\'', '\\']) {
            out.push_str(&format!("[{attr}='{value}']"));
        }
    }
    out
}

/// The shortest selector, from the element up through at most four of its
/// ancestors, whose first match in the page is the element, and that names
/// something more than tags (`strong` alone would read whatever comes
/// first once the page changes again).
fn selector(doc: &Document, element: ElementRef<'_>) -> Option<String> {
    let mut chain = vec![own(element)];
    let mut at = element;
    for _ in 0..5 {
        let described = chain.iter().any(|part| part.contains(['#', '.', '[']));
        let sel = chain.iter().rev().cloned().collect::<Vec<_>>().join(" > ");
        let parsed = Selector::parse(&sel).ok()?;
        if described && doc.select(&parsed).next().is_some_and(|first| first.id() == element.id()) {
            return Some(sel);
        }
        at = at.parent().and_then(ElementRef::wrap)?;
        if matches!(at.value().name(), "html" | "body") {
            return None;
        }
        chain.push(own(at));
    }
    None
}

#[cfg(test)]
mod tests;
