//! A platform's budget and this node's share of it: both rebuild the
//! token bucket, empty, so a change never adds a burst.

use std::num::NonZeroU32;
use std::time::Instant;

use super::{Bucket, PlatformGate};

impl PlatformGate {
    /// Sets this node's share of the platform's rate (cluster mode): the
    /// gate lets through `rate_per_sec * share`. A change of less than 1%
    /// is ignored, so a bucket is not rebuilt at every project created.
    /// The new bucket starts empty, so a change never adds a burst on top of
    /// what the other nodes' buckets allow. Returns whether it changed.
    pub fn set_share(&self, share: f64) -> bool {
        let share = if share.is_finite() { share.clamp(1e-6, 1.0) } else { 1.0 };
        let mut bucket = self.bucket();
        if (bucket.share - share).abs() <= bucket.share * 0.01 {
            return false;
        }
        let budget = bucket.budget;
        self.replace_bucket(&mut bucket, Bucket::new(budget, share));
        true
    }

    /// Sets the platform's budget, requests per second across the nodes
    /// (a reload of the settings); this node keeps its share of it. The new
    /// bucket starts empty, as with a new share. Returns whether it changed.
    pub fn set_budget(&self, budget: f64) -> bool {
        if !(budget.is_finite() && budget > 0.0) {
            return false;
        }
        let mut bucket = self.bucket();
        if bucket.budget == budget {
            return false;
        }
        let share = bucket.share;
        self.replace_bucket(&mut bucket, Bucket::new(budget, share));
        true
    }

    /// Puts `fresh` in place of the bucket, empty: a change never adds a
    /// burst on top of what was let through.
    fn replace_bucket(&self, bucket: &mut Bucket, fresh: Bucket) {
        if let Some(n) = NonZeroU32::new(fresh.burst) {
            let _ = fresh.limiter.check_n(n);
        }
        let mut state = self.lock();
        state.remaining_burst = 0;
        state.last_token_at = Some(Instant::now());
        drop(state);
        *bucket = fresh;
        self.hosts.reset();
    }
}
