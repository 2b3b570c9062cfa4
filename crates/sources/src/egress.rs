//! The egress allowlist's matching of a host against its entries, shared
//! by the HTTP client, the proxies' host patterns and the hosts' rates.

/// Whether `host` matches one entry of an egress allowlist: the same name
/// (case-insensitive; IPv6 literals with or without brackets), or for
/// `*.example.com` the domain itself or any subdomain.
pub fn host_allowed(allow: &[String], host: &str) -> bool {
    let host = host.trim_start_matches('[').trim_end_matches(']').trim_end_matches('.').to_ascii_lowercase();
    allow.iter().any(|entry| {
        let entry = entry.trim().trim_start_matches('[').trim_end_matches(']').to_ascii_lowercase();
        match entry.strip_prefix("*.") {
            Some(domain) => host == domain || host.ends_with(&format!(".{domain}")),
            None => host == entry,
        }
    })
}
