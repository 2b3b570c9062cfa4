use super::*;
use crate::Metric;

fn c(code: &str) -> Currency {
    Currency::code(code).expect("a currency code")
}

const DAY: i64 = 86_400;

/// USD 1.10 per euro from day 10, 1.20 from day 11; GBP 0.85 from day 10.
fn rates() -> FxRates {
    let mut fx = FxRates::new();
    fx.insert(c("USD"), 10 * DAY, 1.10);
    fx.insert(c("USD"), 11 * DAY, 1.20);
    fx.insert(c("GBP"), 10 * DAY, 0.85);
    fx
}

fn obs(platform: Platform, metric: &str, ts: i64, value: f64) -> Observation {
    Observation { platform, metric: metric.parse::<Metric>().expect("a metric"), ts, value }
}

#[test]
fn codes_are_three_letters_and_reporting_ones_have_rates() {
    assert_eq!(c(" usd ").as_str(), "USD");
    assert!(Currency::code("US").is_err());
    assert!(Currency::code("USDX").is_err());
    assert!(Currency::code("U$D").is_err());
    assert!(Currency::code("ÜSD").is_err());
    assert_eq!(Currency::reporting("eur"), Ok(Currency::EUR));
    assert_eq!(Currency::reporting("cad"), Ok(c("CAD")));
    let unknown = Currency::reporting("XYZ").expect_err("no rate is published for XYZ");
    assert!(unknown.to_string().contains("unknown currency `XYZ`"), "{unknown}");
    assert_eq!(c("GBP").rate_metric().as_str(), "gbp");
    assert_eq!(serde_json::to_value(c("CHF")).expect("serialises"), "CHF");
}

#[test]
fn the_rate_in_force_is_the_latest_dated_at_or_before_the_moment() {
    let fx = rates();
    let usd = c("USD");
    assert_eq!(fx.rate(Currency::EUR, usd, 10 * DAY), Ok(1.10));
    assert_eq!(fx.rate(Currency::EUR, usd, 11 * DAY - 1), Ok(1.10));
    assert_eq!(fx.rate(Currency::EUR, usd, 11 * DAY), Ok(1.20));
    // A weekend: Friday's rate still holds days later.
    assert_eq!(fx.rate(Currency::EUR, usd, 14 * DAY), Ok(1.20));
    assert_eq!(fx.rate(usd, Currency::EUR, 10 * DAY), Ok(1.0 / 1.10));
    // Across two non-euro currencies, through the euro: 1 GBP = 1.10/0.85 USD.
    assert_eq!(fx.rate(c("GBP"), usd, 10 * DAY + 5), Ok(1.10 / 0.85));
    assert_eq!(fx.rate(c("JPY"), c("JPY"), 0), Ok(1.0));
    assert_eq!(fx.newest(), Some(11 * DAY));
}

#[test]
fn before_the_first_rate_only_a_week_is_bridged() {
    let fx = rates();
    let usd = c("USD");
    assert_eq!(fx.rate(Currency::EUR, usd, 10 * DAY - RATE_GRACE_SECS), Ok(1.10));
    let missing = fx.rate(Currency::EUR, usd, 10 * DAY - RATE_GRACE_SECS - 1).expect_err("too early");
    assert_eq!(missing.currency, usd);
    assert!(missing.to_string().starts_with("no exchange rate for USD in force at 1970-"), "{missing}");
    assert!(fx.rate(c("CAD"), usd, 10 * DAY).is_err(), "no CAD rate at all");
}

#[test]
fn rates_that_are_not_positive_numbers_are_ignored() {
    let mut fx = FxRates::new();
    for bad in [0.0, -1.0, f64::NAN, f64::INFINITY] {
        fx.insert(c("USD"), DAY, bad);
    }
    fx.insert(Currency::EUR, DAY, 2.0);
    assert!(fx.is_empty());
    fx.insert(c("USD"), DAY, 1.5);
    fx.insert(c("USD"), DAY, 1.25);
    assert_eq!(fx.rate(Currency::EUR, c("USD"), DAY), Ok(1.25), "a second rate of a day replaces the first");
}

#[test]
fn a_campaign_in_euros_with_ads_paid_in_dollars_reports_in_euros() {
    let fx = rates();
    let of = BTreeMap::from([(Platform::Kickstarter, Currency::EUR), (Platform::MetaAds, c("USD"))]);
    let cur = Currencies::new(of, None);
    assert_eq!(cur.reporting, Some(Currency::EUR), "the campaign's currency by default");
    let start =
        [obs(Platform::Kickstarter, "pledged", 10 * DAY, 1_000.0), obs(Platform::MetaAds, "spend", 10 * DAY, 110.0)];
    let end = [
        obs(Platform::Kickstarter, "pledged", 11 * DAY, 4_000.0),
        obs(Platform::MetaAds, "spend", 11 * DAY, 1_310.0),
        obs(Platform::Kickstarter, "backers", 11 * DAY, 50.0),
    ];
    let conv = cur.totals(&fx, &end, &start);
    assert!(conv.unavailable.is_empty(), "{:?}", conv.unavailable);
    // Spend: 1,310 USD at 1.20 = 1,091.67 EUR at the end, 110 USD at 1.10 =
    // 100 EUR at the start.
    let spend = conv.totals.delta["spend"];
    assert!((spend - (1_310.0 / 1.20 - 100.0)).abs() < 1e-9, "{spend}");
    assert_eq!(conv.totals.delta["pledged"], 3_000.0);
    assert_eq!(conv.totals.latest["backers"], 50.0, "counts are not money");
    let d = crate::Derived::from_totals(&conv.totals);
    let blended = d.blended_roas.expect("a blended RoAS");
    assert!((blended - 3_000.0 / (1_310.0 / 1.20 - 100.0)).abs() < 1e-9);
    // Reported in dollars instead, each amount at its own time's rate.
    let usd = Currencies { reporting: Some(c("USD")), ..cur };
    let conv = usd.totals(&fx, &end, &start);
    assert!((conv.totals.delta["pledged"] - (4_000.0 * 1.20 - 1_000.0 * 1.10)).abs() < 1e-9);
    assert_eq!(conv.totals.delta["spend"], 1_200.0);
}

#[test]
fn money_without_a_rate_or_a_currency_is_left_out_with_the_reason() {
    let fx = rates();
    let of = BTreeMap::from([(Platform::Kickstarter, c("CAD")), (Platform::MetaAds, c("USD"))]);
    let cur = Currencies::new(of, Some(c("USD")));
    let end = [
        obs(Platform::Kickstarter, "pledged", 11 * DAY, 4_000.0),
        obs(Platform::MetaAds, "spend", 11 * DAY, 100.0),
        obs(Platform::MetaAds, "purchase_value", 11 * DAY, 300.0),
        obs(Platform::Html, "spend", 11 * DAY, 5.0),
    ];
    let conv = cur.totals(&fx, &end, &[]);
    assert!(!conv.totals.latest.contains_key("pledged"), "never a sum of two currencies");
    assert!(conv.unavailable["pledged"].contains("no exchange rate for CAD"), "{:?}", conv.unavailable);
    // The html source's spend has no currency: the whole metric is left out.
    assert!(conv.unavailable["spend"].contains("currency of the html source's spend is unknown"));
    assert!(!conv.totals.delta.contains_key("spend"));
    let d = crate::Derived::from_totals(&conv.totals);
    let reasons = d.reasons(&conv.totals, &conv.unavailable);
    assert!(reasons["blended_roas"].contains("CAD"), "{reasons:?}");
    assert!(reasons["roas"].contains("unknown"), "{reasons:?}");
    assert_eq!(reasons["funded_pct"], reasons["blended_roas"], "both need the pledges");
}

#[test]
fn without_any_known_currency_nothing_is_converted() {
    let cur = Currencies::new(BTreeMap::new(), None);
    assert_eq!(cur.reporting, None);
    let end = [obs(Platform::HttpJson, "spend", 0, 5.0)];
    let conv = cur.totals(&FxRates::new(), &end, &[]);
    assert_eq!(conv.totals.latest["spend"], 5.0);
}

#[test]
fn a_ratio_of_one_platforms_amounts_needs_no_currency() {
    // A Meta campaign id says no currency; the campaign does.
    let cur = Currencies::new(BTreeMap::from([(Platform::Kickstarter, Currency::EUR)]), None);
    let end = [
        obs(Platform::Kickstarter, "pledged", 11 * DAY, 4_000.0),
        obs(Platform::Kickstarter, "backers", 11 * DAY, 40.0),
        obs(Platform::MetaAds, "spend", 11 * DAY, 200.0),
        obs(Platform::MetaAds, "purchase_value", 11 * DAY, 600.0),
    ];
    let start =
        [obs(Platform::MetaAds, "spend", 10 * DAY, 100.0), obs(Platform::Kickstarter, "backers", 10 * DAY, 20.0)];
    let conv = cur.totals(&rates(), &end, &start);
    let (d, reasons) = cur.derived(&conv, &end, &start);
    assert_eq!(d.roas, Some(6.0), "Δpurchase_value / Δspend, both in the account's currency");
    assert_eq!(d.blended_roas, None, "euros against an unknown currency");
    assert_eq!(d.cost_per_backer, None, "an amount in an unknown currency per backer");
    assert!(reasons["blended_roas"].contains("unknown"), "{reasons:?}");
    assert!(!reasons.contains_key("roas"));
    // Two platforms of unknown currencies: no ratio across them.
    let end =
        [obs(Platform::MetaAds, "spend", 11 * DAY, 200.0), obs(Platform::HttpJson, "purchase_value", 11 * DAY, 600.0)];
    let conv = cur.totals(&rates(), &end, &[]);
    assert_eq!(cur.derived(&conv, &end, &[]).0.roas, None);
}
