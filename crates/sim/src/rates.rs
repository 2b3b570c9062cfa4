//! The European Central Bank's euro reference rates, as the simulator
//! serves them: `/ecb/stats/eurofxref/eurofxref-daily.xml` (the last working
//! day) and `eurofxref-hist-90d.xml` (the working days of the last 90),
//! in the ECB's own XML. Each rate moves a little from day to day and is the
//! same for the same day in every run, so a test can compute by hand what a
//! converted figure must be. There is no fixing on Saturdays and Sundays.

use actix_web::{web, HttpRequest, HttpResponse};
use trawler_domain::now_secs;

use crate::state::{serve, SimState};

/// Units per euro around which each currency moves.
const BASES: [(&str, f64); 29] = [
    ("USD", 1.08),
    ("JPY", 161.0),
    ("CZK", 25.2),
    ("DKK", 7.46),
    ("GBP", 0.84),
    ("HUF", 395.0),
    ("PLN", 4.30),
    ("RON", 4.97),
    ("SEK", 11.4),
    ("CHF", 0.94),
    ("ISK", 150.0),
    ("NOK", 11.6),
    ("TRY", 36.5),
    ("AUD", 1.64),
    ("BRL", 6.10),
    ("CAD", 1.47),
    ("CNY", 7.80),
    ("HKD", 8.40),
    ("IDR", 17_100.0),
    ("ILS", 3.90),
    ("INR", 90.5),
    ("KRW", 1_480.0),
    ("MXN", 20.9),
    ("MYR", 4.80),
    ("NZD", 1.80),
    ("PHP", 61.5),
    ("SGD", 1.44),
    ("THB", 37.2),
    ("ZAR", 19.6),
];

/// Whether `day` (days since 1970-01-01, a Thursday) is a working day.
pub fn fixing_day(day: i64) -> bool {
    !matches!(day.rem_euclid(7), 2 | 3)
}

/// The rate of `currency` (units per euro) fixed on `day`, rounded to five
/// significant figures as the ECB publishes them; `None` for the euro, a
/// currency without a rate, or a day without a fixing.
pub fn euro_rate(currency: &str, day: i64) -> Option<f64> {
    let (i, &(_, base)) = BASES.iter().enumerate().find(|(_, (c, _))| *c == currency)?;
    if !fixing_day(day) {
        return None;
    }
    let wave = (day as f64 * 0.37 + i as f64).sin() * 0.02 + (day as f64 * 0.05).cos() * 0.01;
    let rate = base * (1.0 + wave);
    let scale = 10f64.powi(4 - rate.log10().floor() as i32);
    Some((rate * scale).round() / scale)
}

/// The latest working day at or before `day`.
fn last_fixing(mut day: i64) -> i64 {
    while !fixing_day(day) {
        day -= 1;
    }
    day
}

/// The ECB's XML for `days`, newest first.
pub fn xml(days: &[i64]) -> String {
    let mut out = String::from(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<gesmes:Envelope xmlns:gesmes=\"http://www.gesmes.org/xml/2002-08-01\" \
         xmlns=\"http://www.ecb.int/vocabulary/2002-08-01/eurofxref\">\n\t<gesmes:subject>Reference rates</gesmes:subject>\n\
         \t<gesmes:Sender>\n\t\t<gesmes:name>European Central Bank</gesmes:name>\n\t</gesmes:Sender>\n\t<Cube>\n",
    );
    for &day in days {
        let stamp = trawler_domain::time::rfc3339(day * 86_400);
        out.push_str(&format!("\t\t<Cube time='{}'>\n", stamp.get(..10).unwrap_or(&stamp)));
        for (currency, _) in BASES {
            if let Some(rate) = euro_rate(currency, day) {
                out.push_str(&format!("\t\t\t<Cube currency='{currency}' rate='{rate}'/>\n"));
            }
        }
        out.push_str("\t\t</Cube>\n");
    }
    out.push_str("\t</Cube>\n</gesmes:Envelope>\n");
    out
}

/// `GET /ecb/stats/eurofxref/{file}`: `eurofxref-daily.xml` or
/// `eurofxref-hist-90d.xml`.
pub(crate) async fn ecb_rates(state: web::Data<SimState>, req: HttpRequest, file: web::Path<String>) -> HttpResponse {
    let span = match file.as_str() {
        "eurofxref-daily.xml" => 1,
        "eurofxref-hist-90d.xml" => 90,
        _ => return HttpResponse::NotFound().body("not found"),
    };
    serve(&state, &req, "ecb", file.trim_end_matches(".xml"), |bad| {
        let today = now_secs().div_euclid(86_400);
        let days: Vec<i64> = if span == 1 {
            vec![last_fixing(today)]
        } else {
            (today - span + 1..=today).rev().filter(|d| fixing_day(*d)).collect()
        };
        let body = if bad { xml(&days).replace("rate='", "rate='n/a") } else { xml(&days) };
        HttpResponse::Ok().content_type("text/xml; charset=utf-8").body(body)
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates_are_the_same_every_run_and_move_a_little() {
        let day = 20_000 + (4 - 20_000i64.rem_euclid(7)); // a Monday
        assert!(fixing_day(day));
        let a = euro_rate("USD", day).expect("a working day");
        assert_eq!(euro_rate("USD", day), Some(a));
        assert!((a / 1.08 - 1.0).abs() < 0.04, "{a}");
        assert!(euro_rate("USD", day + 5).is_none() && euro_rate("USD", day + 6).is_none(), "a weekend");
        assert_ne!(euro_rate("USD", day + 1), Some(a));
        assert_eq!(euro_rate("EUR", day), None);
        assert_eq!(format!("{}", euro_rate("IDR", day).expect("a rate")).len(), 5, "five figures");
    }

    #[test]
    fn the_xml_holds_every_currency_of_each_day() {
        // 1970-01-01 was a Thursday: day 20,000 is a Friday, 19,999 a Thursday.
        let text = xml(&[20_000, 19_999]);
        assert_eq!(text.matches("<Cube time=").count(), 2);
        assert_eq!(text.matches("currency=").count(), 2 * BASES.len());
    }
}
