//! Money in several currencies: ISO 4217 codes, the exchange rates in force
//! at a moment (the European Central Bank's reference rates, in units of a
//! currency per euro), and a project's totals converted into its reporting
//! currency. A figure that would mix currencies is never computed: it is
//! absent, with the reason.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::{Derived, Metric, Observation, Platform, Totals};

/// The currencies the ECB publishes reference rates for (against the euro),
/// besides the euro itself: the ones a figure can be converted between.
pub const ECB_CURRENCIES: [&str; 29] = [
    "USD", "JPY", "CZK", "DKK", "GBP", "HUF", "PLN", "RON", "SEK", "CHF", "ISK", "NOK", "TRY", "AUD", "BRL", "CAD",
    "CNY", "HKD", "IDR", "ILS", "INR", "KRW", "MXN", "MYR", "NZD", "PHP", "SGD", "THB", "ZAR",
];

/// How long after a moment the first known rate may still stand for it:
/// a point stored before the rates were first fetched converts at the
/// earliest rate if that is at most this much younger (the ECB publishes on
/// working days, so a rate is always a few days old somewhere).
pub const RATE_GRACE_SECS: i64 = 7 * 86_400;

/// A currency: three upper-case ASCII letters (ISO 4217).
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Currency([u8; 3]);

/// The error for a currency code that is not three letters, or not one
/// rates are published for.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InvalidCurrency {
    /// Not three ASCII letters.
    #[error("invalid currency code `{0}`: use three letters (ISO 4217, e.g. USD, EUR)")]
    Shape(String),
    /// Three letters, but no exchange rate is published for it.
    #[error("unknown currency `{0}`: exchange rates are published for EUR and {list}", list = ECB_CURRENCIES.join(", "))]
    Unknown(String),
}

impl Currency {
    /// The euro, the currency the reference rates are quoted against.
    pub const EUR: Currency = Currency(*b"EUR");

    /// A code as a platform writes it (any case, surrounding spaces), if it
    /// is three ASCII letters. Not checked against [`ECB_CURRENCIES`]: a
    /// campaign's currency is whatever its platform says.
    pub fn code(text: &str) -> Result<Currency, InvalidCurrency> {
        let t = text.trim().as_bytes();
        match t {
            [a, b, c] if t.iter().all(u8::is_ascii_alphabetic) => {
                Ok(Currency([a.to_ascii_uppercase(), b.to_ascii_uppercase(), c.to_ascii_uppercase()]))
            }
            _ => Err(InvalidCurrency::Shape(text.chars().take(20).collect())),
        }
    }

    /// A code figures can be reported in: the euro or a currency the ECB
    /// publishes a rate for.
    pub fn reporting(text: &str) -> Result<Currency, InvalidCurrency> {
        let c = Currency::code(text)?;
        if c.is_convertible() {
            Ok(c)
        } else {
            Err(InvalidCurrency::Unknown(c.as_str().to_owned()))
        }
    }

    /// Whether rates are published for it.
    pub fn is_convertible(self) -> bool {
        self == Currency::EUR || ECB_CURRENCIES.contains(&self.as_str())
    }

    /// The code, e.g. `USD`.
    pub fn as_str(&self) -> &str {
        // Built only from ASCII letters.
        std::str::from_utf8(&self.0).unwrap_or("???")
    }

    /// The metric its rates are stored under: the code in lower case
    /// (`usd`: US dollars per euro).
    pub fn rate_metric(self) -> Metric {
        // Three lower-case letters are always a valid metric name.
        self.as_str().to_ascii_lowercase().parse().expect("a currency code is a metric name")
    }
}

impl fmt::Display for Currency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Debug for Currency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Currency {
    type Err = InvalidCurrency;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Currency::code(s)
    }
}

impl TryFrom<String> for Currency {
    type Error = InvalidCurrency;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        Currency::code(&s)
    }
}

impl From<Currency> for String {
    fn from(c: Currency) -> String {
        c.as_str().to_owned()
    }
}

/// Whether a metric is an amount of money (converted between currencies):
/// pledges, goals, ad spend and purchase values.
pub fn is_money(metric: &str) -> bool {
    [Metric::PLEDGED, Metric::GOAL, Metric::SPEND, Metric::PURCHASE_VALUE].contains(&metric)
}

/// No rate for a currency at a moment.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("no exchange rate for {currency} in force at {at}", at = crate::time::rfc3339(*ts))]
pub struct RateMissing {
    /// The currency without a rate.
    pub currency: Currency,
    /// The moment, epoch seconds.
    pub ts: i64,
}

/// Reference rates over time: for each currency, units per euro from each
/// rate's date on.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct FxRates {
    per_euro: BTreeMap<Currency, Vec<(i64, f64)>>,
}

impl FxRates {
    /// No rates.
    pub fn new() -> FxRates {
        FxRates::default()
    }

    /// Adds a rate: `per_euro` units of `currency` for one euro from `ts`
    /// on. A rate that is not a positive finite number is ignored.
    pub fn insert(&mut self, currency: Currency, ts: i64, per_euro: f64) {
        if !(per_euro.is_finite() && per_euro > 0.0) || currency == Currency::EUR {
            return;
        }
        let list = self.per_euro.entry(currency).or_default();
        match list.binary_search_by_key(&ts, |r| r.0) {
            Ok(i) => list[i].1 = per_euro,
            Err(i) => list.insert(i, (ts, per_euro)),
        }
    }

    /// Whether no rate is known.
    pub fn is_empty(&self) -> bool {
        self.per_euro.is_empty()
    }

    /// The date of the newest rate known, epoch seconds.
    pub fn newest(&self) -> Option<i64> {
        self.per_euro.values().filter_map(|l| l.last().map(|r| r.0)).max()
    }

    /// Units of `currency` per euro in force at `ts`: the latest rate dated
    /// at or before it, or the first one if it is at most
    /// [`RATE_GRACE_SECS`] later.
    fn per_euro_at(&self, currency: Currency, ts: i64) -> Result<f64, RateMissing> {
        if currency == Currency::EUR {
            return Ok(1.0);
        }
        let missing = RateMissing { currency, ts };
        let list = self.per_euro.get(&currency).ok_or(missing.clone())?;
        let i = list.partition_point(|r| r.0 <= ts);
        if i > 0 {
            return Ok(list[i - 1].1);
        }
        match list.first() {
            Some(&(first, rate)) if first.saturating_sub(ts) <= RATE_GRACE_SECS => Ok(rate),
            _ => Err(missing),
        }
    }

    /// What one unit of `from` is worth in `to` at `ts` (through the euro).
    pub fn rate(&self, from: Currency, to: Currency, ts: i64) -> Result<f64, RateMissing> {
        if from == to {
            return Ok(1.0);
        }
        Ok(self.per_euro_at(to, ts)? / self.per_euro_at(from, ts)?)
    }
}

/// A project's totals in its reporting currency, and the metrics that could
/// not be converted, with why.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Converted {
    /// The totals of every metric that could be converted (and every metric
    /// that is not money).
    pub totals: Totals,
    /// Money metrics left out, with the reason.
    pub unavailable: BTreeMap<String, String>,
}

/// Where each platform's money is counted, and in what it is reported.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Currencies {
    /// The currency of each of the project's platforms, where known.
    pub of: BTreeMap<Platform, Currency>,
    /// The currency figures are reported in; `None` when no source's
    /// currency is known and the project names none (nothing is converted).
    pub reporting: Option<Currency>,
}

impl Currencies {
    /// The project's `chosen` reporting currency, or its campaign's: the
    /// currency of its first crowdfunding source, else of any source.
    pub fn new(of: BTreeMap<Platform, Currency>, chosen: Option<Currency>) -> Currencies {
        let campaign = [Platform::Kickstarter, Platform::Indiegogo]
            .iter()
            .find_map(|p| of.get(p))
            .or_else(|| of.values().next())
            .copied();
        Currencies { reporting: chosen.or(campaign), of }
    }

    /// `value` of `metric` observed on `platform` at `ts`, in the reporting
    /// currency.
    pub fn convert(&self, fx: &FxRates, platform: Platform, metric: &str, ts: i64, value: f64) -> Result<f64, String> {
        let Some(to) = self.reporting.filter(|_| is_money(metric)) else { return Ok(value) };
        let Some(&from) = self.of.get(&platform) else {
            return Err(format!(
                "the currency of the {platform} source's {metric} is unknown (set the source's `currency` option)"
            ));
        };
        let rate = fx.rate(from, to, ts).map_err(|e| format!("{metric} in {from} not converted to {to}: {e}"))?;
        let v = value * rate;
        if v.is_finite() {
            Ok(v)
        } else {
            Err(format!("{metric} in {from} converted to {to} is not a finite number"))
        }
    }

    /// The totals over a range (see [`Totals::from_observations`]) with
    /// every amount converted into the reporting currency at the rate in
    /// force at its own time.
    pub fn totals(&self, fx: &FxRates, end: &[Observation], start: &[Observation]) -> Converted {
        let mut unavailable = BTreeMap::new();
        let mut convert = |list: &[Observation]| -> Vec<Observation> {
            let mut out = Vec::with_capacity(list.len());
            for o in list {
                match self.convert(fx, o.platform, o.metric.as_str(), o.ts, o.value) {
                    Ok(value) => out.push(Observation { value, ..o.clone() }),
                    Err(reason) => {
                        unavailable.entry(o.metric.as_str().to_owned()).or_insert(reason);
                    }
                }
            }
            out
        };
        let (end, start) = (convert(end), convert(start));
        let mut totals = Totals::from_observations(&end, &start);
        for metric in unavailable.keys() {
            totals.latest.remove(metric);
            totals.delta.remove(metric);
        }
        Converted { totals, unavailable }
    }

    /// The derived figures of `converted` (the totals of `end` and
    /// `start`), and why each absent one is. A ratio of two amounts that all
    /// come from one platform whose currency is unknown (a Meta campaign id's
    /// RoAS) needs no conversion: it is computed as the platform reports
    /// them.
    pub fn derived(
        &self,
        converted: &Converted,
        end: &[Observation],
        start: &[Observation],
    ) -> (Derived, BTreeMap<String, String>) {
        let mut derived = Derived::from_totals(&converted.totals);
        for name in Derived::NAMES {
            let Some((num, den, _)) = Derived::inputs(name) else { continue };
            let blocked = converted.unavailable.contains_key(num) || converted.unavailable.contains_key(den);
            if derived.get(name).is_some() || !blocked || !is_money(num) || !is_money(den) {
                continue;
            }
            let inputs = |o: &&Observation| o.metric.as_str() == num || o.metric.as_str() == den;
            let mut platforms = end.iter().chain(start).filter(inputs).map(|o| o.platform);
            let Some(first) = platforms.next() else { continue };
            if platforms.all(|p| p == first) && !self.of.contains_key(&first) {
                let as_reported = Derived::from_totals(&Totals::from_observations(end, start));
                derived.set(name, as_reported.get(name));
            }
        }
        let reasons = derived.reasons(&converted.totals, &converted.unavailable);
        (derived, reasons)
    }
}

#[cfg(test)]
mod tests;
