//! Requests a fetch made beyond the one its pass let through (the pages of
//! a paged source after the first): they take their tokens afterwards, from
//! the platform's bucket and the host's, so a source costs what it asks and
//! the rate holds on average.

use super::PlatformGate;

impl PlatformGate {
    /// Takes `extra` more tokens for requests already made, waiting for
    /// them as the buckets refill.
    pub async fn charge(&self, extra: u32, host: Option<&str>) {
        let limiter = self.bucket().limiter.clone();
        let share = self.bucket().share;
        let own = host.filter(|_| self.hosts.any()).and_then(|h| self.hosts.limiter(h, share));
        for _ in 0..extra {
            limiter.until_ready().await;
            if let Some(own) = &own {
                own.until_ready().await;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, Instant};

    use crate::gate::{GateConfig, PlatformGate};

    #[tokio::test]
    async fn extra_requests_take_tokens_from_the_bucket() {
        let g = PlatformGate::new(
            trawler_domain::Platform::HttpJson,
            GateConfig { rate_per_sec: 10.0, ..GateConfig::default() },
        );
        let started = Instant::now();
        // A burst of 10, then 10 more at 10 a second.
        g.charge(20, None).await;
        assert!(started.elapsed() >= Duration::from_millis(900), "{:?}", started.elapsed());
    }
}
