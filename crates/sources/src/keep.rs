//! The answers a generic source's fetch brought back, kept for the archive:
//! what a fixed parser reads again after a page changed its layout.
//!
//! A [`Keeper`] is handed to every fetch; only the generic adapters put
//! anything in it, and only when the node keeps answers. Each try of a fetch
//! starts it over, so it holds the answers of the try that counted.

use std::sync::Mutex;

use crate::http::{shown_url, HttpResponse};

/// Response headers worth keeping with an answer: what says what it is and
/// how old. Cookies and anything else a site may put a secret in are not.
const KEPT_HEADERS: [&str; 10] = [
    "content-type",
    "content-language",
    "content-encoding",
    "etag",
    "last-modified",
    "date",
    "age",
    "cache-control",
    "expires",
    "link",
];

/// The longest header value kept.
const MAX_HEADER_VALUE: usize = 512;

/// One answer, as it came.
#[derive(Debug, Clone, PartialEq)]
pub struct Kept {
    /// Its page within the fetch: 0, then 1, 2… for the next pages of a
    /// paged source.
    pub page: u32,
    /// The HTTP status (`304` for an answer that said nothing changed).
    pub status: u16,
    /// The URL asked, as shown (no query values that could be secrets).
    pub url: String,
    /// The headers in [`KEPT_HEADERS`], lower-case, in the order they came.
    pub headers: Vec<(String, String)>,
    /// The body, as received (decompressed by the client).
    pub body: Vec<u8>,
}

/// Which answers a fetch keeps.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Keeping {
    /// None.
    #[default]
    Nothing,
    /// Only those of a fetch that failed (an error status, or a metric that
    /// could not be read): the others are never copied.
    Failures,
    /// Every answer.
    Everything,
}

/// Where a fetch puts its answers.
#[derive(Debug, Default)]
pub struct Keeper {
    keeping: Keeping,
    kept: Mutex<Vec<Kept>>,
}

/// Answers one fetch keeps at most (a paged source's pages).
const MAX_KEPT: usize = 64;

impl Keeper {
    /// A keeper that keeps nothing.
    pub fn off() -> Keeper {
        Keeper::default()
    }

    /// A keeper that keeps every answer.
    pub fn on() -> Keeper {
        Keeper::new(Keeping::Everything)
    }

    /// A keeper that keeps what `keeping` says.
    pub fn new(keeping: Keeping) -> Keeper {
        Keeper { keeping, kept: Mutex::default() }
    }

    /// Whether it keeps anything.
    pub fn is_on(&self) -> bool {
        self.keeping != Keeping::Nothing
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<Kept>> {
        self.kept.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Whether an answer whose read `failed` (or not) is kept.
    fn wants(&self, failed: bool) -> bool {
        match self.keeping {
            Keeping::Nothing => false,
            Keeping::Failures => failed,
            Keeping::Everything => true,
        }
    }

    /// Keeps an answer to a request for `url`, whose read `failed` or not.
    pub(crate) fn keep(&self, url: &str, response: &HttpResponse, failed: bool) {
        self.answer(url, response.status, &response.headers, &response.body, failed);
    }

    /// Keeps an answer given in parts (its body moved through a parser).
    pub(crate) fn answer(
        &self,
        url: &str,
        status: u16,
        headers: &reqwest::header::HeaderMap,
        body: &[u8],
        failed: bool,
    ) {
        if !self.wants(failed) {
            return;
        }
        let headers = headers
            .iter()
            .filter(|(name, _)| KEPT_HEADERS.contains(&name.as_str()))
            .filter_map(|(name, value)| {
                let value = value.to_str().ok()?;
                Some((name.as_str().to_owned(), crate::http::excerpt(value, MAX_HEADER_VALUE)))
            })
            .collect();
        let mut kept = self.lock();
        if kept.len() < MAX_KEPT {
            let page = u32::try_from(kept.len()).unwrap_or(u32::MAX);
            kept.push(Kept { page, status, url: shown_url(url), headers, body: body.to_vec() });
        }
    }

    /// Forgets what an earlier try kept.
    pub(crate) fn start_over(&self) {
        if self.is_on() {
            self.lock().clear();
        }
    }

    /// The answers kept, in the order they came.
    pub fn take(&self) -> Vec<Kept> {
        std::mem::take(&mut *self.lock())
    }
}

/// The first answer of a kept fetch, if it is one a parser reads (a 2xx).
pub(crate) fn readable(answers: &[Kept]) -> Result<&Kept, crate::SourceError> {
    let first = answers.first().ok_or_else(|| crate::SourceError::Parse("no answer was kept".into()))?;
    if !(200..300).contains(&first.status) {
        let detail = "the kept answer is not one a parser reads".into();
        return Err(crate::SourceError::HttpStatus { status: first.status, detail });
    }
    Ok(first)
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::{HeaderMap, HeaderValue};

    fn response(status: u16, body: &str) -> HttpResponse {
        let mut headers = HeaderMap::new();
        headers.insert("content-type", HeaderValue::from_static("text/html"));
        headers.insert("set-cookie", HeaderValue::from_static("session=secret"));
        headers.insert("etag", HeaderValue::from_static("\"v1\""));
        HttpResponse { status, headers, body: body.as_bytes().to_vec() }
    }

    #[test]
    fn answers_are_kept_without_their_cookies_or_secret_query_values() {
        let keeper = Keeper::on();
        keeper.keep("https://example.com/p?access_token=abc", &response(200, "<p>1</p>"), false);
        keeper.keep("https://example.com/p?page=2", &response(200, "<p>2</p>"), false);
        let kept = keeper.take();
        assert_eq!(kept.len(), 2);
        assert_eq!((kept[0].page, kept[1].page), (0, 1));
        assert!(!kept[0].url.contains("abc"), "{}", kept[0].url);
        let names: Vec<&str> = kept[0].headers.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(names, vec!["content-type", "etag"]);
        assert_eq!(kept[1].body, b"<p>2</p>");
        assert!(keeper.take().is_empty(), "taken once");
    }

    #[test]
    fn a_keeper_that_is_off_keeps_nothing_and_each_try_starts_over() {
        let off = Keeper::off();
        off.keep("https://example.com/", &response(200, "x"), true);
        assert!(off.take().is_empty());
        let on = Keeper::on();
        on.keep("https://example.com/", &response(503, "busy"), true);
        on.start_over();
        on.keep("https://example.com/", &response(200, "ok"), false);
        let kept = on.take();
        assert_eq!(kept.len(), 1);
        assert_eq!((kept[0].status, kept[0].page), (200, 0));
        let failures = Keeper::new(Keeping::Failures);
        failures.keep("https://example.com/", &response(200, "read well"), false);
        assert!(failures.take().is_empty(), "an answer read well is not kept");
        failures.keep("https://example.com/", &response(200, "<p>changed</p>"), true);
        assert_eq!(failures.take().len(), 1, "one that failed is");
    }
}
