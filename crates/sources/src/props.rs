//! Property tests of everything that reads what a platform sends: whatever
//! the input, the parsers answer (a value or an error) and never panic, and
//! what they accept is within bounds.

use std::net::{IpAddr, Ipv6Addr};
use std::time::Duration;

use proptest::prelude::*;
use serde_json::Value;
use trawler_domain::Platform;

use crate::gate::{GateConfig, PlatformGate};
use crate::http::{is_public, parse_retry_after};
use crate::SourceError;

/// JSON values of any shape, a few levels deep.
fn json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<f64>().prop_filter("JSON numbers are finite", |f| f.is_finite()).prop_map(|f| serde_json::json!(f)),
        any::<i64>().prop_map(|i| serde_json::json!(i)),
        ".{0,12}".prop_map(Value::String),
    ];
    leaf.prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::btree_map("[a-z/~0-9]{0,4}", inner, 0..4)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

proptest! {
    #[test]
    fn retry_after_never_panics(value in ".{0,40}", digits in "[0-9]{1,40}") {
        let now = chrono::Utc::now();
        let _ = parse_retry_after(&value, now);
        // Digits always read, saturating past 64 bits.
        prop_assert!(parse_retry_after(&digits, now).is_some());
    }

    #[test]
    fn numbers_are_finite_or_refused(text in ".{0,60}", digits in "[1-9][0-9]{310,400}") {
        if let Some(v) = crate::number::parse_number(&text) {
            prop_assert!(v.is_finite(), "{text:?} -> {v}");
        }
        prop_assert_eq!(crate::number::parse_number(&digits), None);
        prop_assert_eq!(crate::number::parse_number(&format!("{digits}k")), None);
    }

    #[test]
    fn json_pointers_and_numbers_never_panic(doc in json(), pointer in "(/[a-z~0-9]{0,3}){0,4}") {
        if let Some(v) = doc.pointer(&pointer) {
            if let Some(n) = crate::adapter::json_number(v) {
                prop_assert!(n.is_finite());
            }
        }
    }

    #[test]
    fn css_selectors_and_pages_never_panic(selector in ".{0,20}", page in ".{0,200}") {
        let metrics = vec![("pledged".to_owned(), selector)];
        match crate::html::extract(&page, &metrics) {
            Ok(samples) => prop_assert!(samples.iter().all(|s| s.value.is_finite())),
            Err(SourceError::Parse(_) | SourceError::Unread { .. } | SourceError::Config(_)) => {}
            Err(other) => prop_assert!(false, "unexpected error {other:?}"),
        }
    }

    #[test]
    fn any_pause_asked_for_is_capped(secs in any::<u64>(), nanos in 0u32..1_000_000_000, host in proptest::option::of("[a-z]{1,8}:[0-9]{2}")) {
        let gate = PlatformGate::new(Platform::HttpJson, GateConfig::default());
        let wait = Duration::new(secs, nanos);
        gate.record(host.as_deref(), &Err::<(), _>(SourceError::Throttled { retry_after: Some(wait), detail: String::new(), platform_wide: true }));
        let snap = gate.snapshot();
        let cap = crate::GateConfig::default().max_pause.as_millis() as i64 + 1_000;
        let now = trawler_domain::now_millis();
        let until = snap.paused_until_ms.into_iter().chain(snap.hosts.iter().filter_map(|h| h.paused_until_ms));
        for t in until {
            prop_assert!(t <= now + cap, "paused {} ms", t - now);
        }
    }

    #[test]
    fn addresses_carrying_a_private_ipv4_are_refused(v4 in any::<[u8; 4]>(), prefix in any::<[u16; 4]>()) {
        let ip = std::net::Ipv4Addr::from(v4);
        let private = !is_public(IpAddr::V4(ip));
        let [a, b, c, d] = v4.map(u16::from);
        // NAT64, 6to4 and IPv4-mapped forms judge the IPv4 they carry.
        let nat64 = Ipv6Addr::new(0x64, 0xff9b, 0, 0, 0, 0, (a << 8) | b, (c << 8) | d);
        let six_to_four = Ipv6Addr::new(0x2002, (a << 8) | b, (c << 8) | d, prefix[0], prefix[1], prefix[2], prefix[3], 1);
        for carried in [nat64, six_to_four, ip.to_ipv6_mapped()] {
            prop_assert_eq!(!is_public(IpAddr::V6(carried)), private, "{} carries {}", carried, ip);
        }
    }
}
