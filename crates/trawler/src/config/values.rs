//! How each kind of setting is read: durations, rates, shares, sizes,
//! addresses, URLs; each refusal says what was wrong.

use anyhow::Result;
use std::time::Duration;
use trawler_domain::Platform;
use trawler_store::DbUrl;

pub(super) fn duration(s: &str) -> Result<Duration, String> {
    let d = humantime::parse_duration(s).map_err(|e| format!("`{s}` is not a duration like 5s, 5m or 4h: {e}"))?;
    if d.is_zero() {
        return Err("must be longer than zero".into());
    }
    if d > Duration::from_secs(10 * 365 * 86_400) {
        return Err(format!("`{s}` is longer than ten years"));
    }
    Ok(d)
}

pub(super) fn cidr(s: &str) -> Result<trawler_web::Cidr, String> {
    s.parse()
}

pub(super) fn rate(s: &str) -> Result<f64, String> {
    let r: f64 = s.parse().map_err(|_| format!("`{s}` is not a number of requests per second"))?;
    if !r.is_finite() || r <= 0.0 || r > 100_000.0 {
        return Err(format!("`{s}` must be between 0 and 100000 requests per second"));
    }
    Ok(r)
}

/// The retention setting: a duration, or `off`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Retention(pub Option<Duration>);

pub(super) fn retention(s: &str) -> Result<Retention, String> {
    if s.eq_ignore_ascii_case("off") {
        return Ok(Retention(None));
    }
    let d = duration(s)?;
    if d < Duration::from_secs(3600) {
        return Err(format!("`{s}` is shorter than an hour, the rollups' resolution"));
    }
    Ok(Retention(Some(d)))
}

pub(super) fn share(s: &str) -> Result<f64, String> {
    let v: f64 = s.parse().map_err(|_| format!("`{s}` is not a number"))?;
    if !(0.0..=1.0).contains(&v) {
        return Err(format!("`{s}` must be between 0 and 1 (0.999 = 99.9%)"));
    }
    Ok(v)
}

pub(super) fn egress_entry(s: &str) -> Result<String, String> {
    let entry = s.trim();
    let name = entry.strip_prefix("*.").unwrap_or(entry);
    let ok = !name.is_empty()
        && name.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | ':' | '[' | ']' | '_'));
    if !ok {
        return Err(format!("`{s}` is not a host name, an IP address or *.domain"));
    }
    Ok(entry.to_owned())
}

pub(super) fn password_hash(s: &str) -> Result<String, String> {
    trawler_web::check_password_hash(s.trim())?;
    Ok(s.trim().to_owned())
}

pub(super) fn database_url(s: &str) -> Result<DbUrl, String> {
    DbUrl::parse(s).map_err(|e| e.to_string())
}

pub(super) fn bytes(s: &str) -> Result<usize, String> {
    let n: usize = s.parse().map_err(|_| format!("`{s}` is not a number of bytes"))?;
    if n < 1024 {
        return Err("must be at least 1024 bytes".into());
    }
    Ok(n)
}

pub(super) fn limit(s: &str) -> Result<(String, u64), String> {
    let (platform, n) = s.split_once('=').ok_or_else(|| format!("`{s}` is not platform=requests_per_second"))?;
    platform.parse::<Platform>().map_err(|e| e.to_string())?;
    let n: u64 = n.parse().map_err(|_| format!("`{n}` is not a number of requests per second"))?;
    Ok((platform.to_owned(), n))
}
