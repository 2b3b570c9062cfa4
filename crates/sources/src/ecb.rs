//! The European Central Bank's euro foreign exchange reference rates
//! (`/stats/eurofxref/eurofxref-daily.xml`, and the last 90 days in
//! `eurofxref-hist-90d.xml`): the node's own source of exchange rates.
//! Each `<Cube time='YYYY-MM-DD'>` holds `<Cube currency='USD' rate='1.0812'/>`
//! entries: units of the currency per euro, in force from that day.

use scraper::{Html, Selector};
use trawler_domain::{Currency, Platform, RunKind};

use crate::adapter::{Adapter, BoxFuture, Fetched, Sample, SourceSpec};
use crate::{HttpClient, SourceError};

/// Most days one answer is read for (the 90-day file has about 64).
const MAX_DAYS: usize = 400;

/// The reference that asks for the last 90 days instead of the last one.
pub const HISTORY: &str = "hist-90d";

/// The ECB rates adapter.
pub struct Ecb {
    base: String,
}

impl Ecb {
    /// An adapter for the ECB site at `base` (`https://www.ecb.europa.eu`).
    pub fn new(base: &str) -> Ecb {
        Ecb { base: base.trim_end_matches('/').to_owned() }
    }

    async fn read(&self, http: &HttpClient, spec: &SourceSpec) -> Result<Fetched, SourceError> {
        let file = if spec.external_ref == HISTORY { HISTORY } else { "daily" };
        let url = format!("{}/stats/eurofxref/eurofxref-{file}.xml", self.base);
        let resp = http.get(&url, &[("Accept", "application/xml, text/xml")]).await?.error_for_status()?;
        let text = resp.text();
        crate::adapter::parse_off_thread(text.len(), move || rates(&text)).await?
    }
}

/// The rates of an answer, each dated (midnight UTC of its day).
pub fn rates(xml: &str) -> Result<Fetched, SourceError> {
    // The cubes nest; HTML parsing keeps them in document order whatever
    // it makes of the self-closing ones, and order is all that is read.
    let doc = Html::parse_document(xml);
    let cube = Selector::parse("cube").map_err(|e| SourceError::Parse(format!("ecb: {e}")))?;
    let mut fetched = Fetched::default();
    let (mut day, mut days) = (None, 0usize);
    for el in doc.select(&cube) {
        let attr = |name: &str| el.value().attr(name);
        if let Some(time) = attr("time") {
            let date = chrono::NaiveDate::parse_from_str(time.trim(), "%Y-%m-%d")
                .map_err(|_| SourceError::Parse(format!("ecb: `{}` is not a date", excerpt(time))))?;
            days += 1;
            if days > MAX_DAYS {
                return Err(SourceError::Parse(format!("ecb: more than {MAX_DAYS} days in one answer")));
            }
            day = date.and_hms_opt(0, 0, 0).map(|t| t.and_utc().timestamp());
            continue;
        }
        let (Some(code), Some(rate)) = (attr("currency"), attr("rate")) else { continue };
        let Some(ts) = day else {
            return Err(SourceError::Parse("ecb: a rate before any date".into()));
        };
        let currency = Currency::code(code).map_err(|e| SourceError::Parse(format!("ecb: {e}")))?;
        let value: f64 = rate.trim().parse().ok().filter(|v: &f64| v.is_finite() && *v > 0.0).ok_or_else(|| {
            SourceError::Parse(format!("ecb: rate `{}` of {currency} is not a positive number", excerpt(rate)))
        })?;
        if currency != Currency::EUR {
            fetched.dated.push((ts, Sample { metric: currency.rate_metric(), value }));
        }
    }
    if fetched.dated.is_empty() {
        return Err(SourceError::Parse("ecb: no rates in the answer".into()));
    }
    fetched.notes.push(format!("ecb rates: {} over {days} day(s)", fetched.dated.len()));
    Ok(fetched)
}

/// At most 20 characters of a hostile value, for an error.
fn excerpt(text: &str) -> String {
    text.chars().take(20).collect()
}

impl Adapter for Ecb {
    fn platform(&self) -> Platform {
        Platform::Ecb
    }

    fn validate(&self, _: &SourceSpec) -> Result<(), String> {
        Err("`ecb` is the node's own source of exchange rates, not a project's source".into())
    }

    fn fetch<'a>(
        &'a self,
        http: &'a HttpClient,
        spec: &'a SourceSpec,
        _: RunKind,
        _keep: &'a crate::Keeper,
    ) -> BoxFuture<'a, Result<Fetched, SourceError>> {
        Box::pin(self.read(http, spec))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DAILY: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<gesmes:Envelope xmlns:gesmes="http://www.gesmes.org/xml/2002-08-01" xmlns="http://www.ecb.int/vocabulary/2002-08-01/eurofxref">
	<gesmes:subject>Reference rates</gesmes:subject>
	<gesmes:Sender><gesmes:name>European Central Bank</gesmes:name></gesmes:Sender>
	<Cube>
		<Cube time='2026-12-04'>
			<Cube currency='USD' rate='1.0812'/>
			<Cube currency='JPY' rate='161.45'/>
			<Cube currency='GBP' rate='0.83515'/>
		</Cube>
		<Cube time='2026-12-03'>
			<Cube currency='USD' rate='1.0790'/>
		</Cube>
	</Cube>
</gesmes:Envelope>"#;

    #[test]
    fn each_rate_is_dated_by_its_day() -> Result<(), SourceError> {
        let f = rates(DAILY)?;
        let day = |d: &str| {
            chrono::NaiveDate::parse_from_str(d, "%Y-%m-%d")
                .expect("a date")
                .and_hms_opt(0, 0, 0)
                .expect("midnight")
                .and_utc()
                .timestamp()
        };
        let got: Vec<(i64, String, f64)> =
            f.dated.iter().map(|(ts, s)| (*ts, s.metric.as_str().to_owned(), s.value)).collect();
        assert_eq!(
            got,
            vec![
                (day("2026-12-04"), "usd".into(), 1.0812),
                (day("2026-12-04"), "jpy".into(), 161.45),
                (day("2026-12-04"), "gbp".into(), 0.83515),
                (day("2026-12-03"), "usd".into(), 1.0790),
            ]
        );
        assert!(f.samples.is_empty(), "rates are dated samples only");
        Ok(())
    }

    #[test]
    fn damaged_answers_are_parse_errors() {
        for (xml, says) in [
            ("<html>maintenance</html>", "no rates"),
            ("<Cube currency='USD' rate='1.1'/>", "before any date"),
            ("<Cube time='2026-13-40'><Cube currency='USD' rate='1.1'/></Cube>", "not a date"),
            ("<Cube time='2026-12-04'><Cube currency='USD' rate='-1'/></Cube>", "not a positive number"),
            ("<Cube time='2026-12-04'><Cube currency='USD' rate='inf'/></Cube>", "not a positive number"),
            ("<Cube time='2026-12-04'><Cube currency='US$' rate='1'/></Cube>", "three letters"),
        ] {
            let err = rates(xml).expect_err(xml);
            assert!(matches!(&err, SourceError::Parse(m) if m.contains(says)), "{xml}: {err}");
        }
        let many = "<Cube time='2026-12-04'><Cube currency='USD' rate='1'/></Cube>".repeat(MAX_DAYS + 1);
        assert!(rates(&many).is_err(), "days are bounded");
    }
}
