//! Caps on what clients hold open or keep busy: event streams, and the
//! expensive reads (series, summaries, exports). Each has a cap for the
//! node and one per read token. Past the node's cap a request gets 503,
//! past its token's 429, both with `Retry-After`; nothing queues. The admin
//! counts against the node's cap only.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use crate::ApiError;

/// The caps, from the configuration.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LimitsConfig {
    /// Event streams open at once on the node.
    pub max_streams: usize,
    /// Event streams open at once with one read token.
    pub max_streams_per_token: usize,
    /// Expensive reads in progress at once on the node.
    pub max_reads: usize,
    /// Expensive reads in progress at once with one read token.
    pub max_reads_per_token: usize,
}

impl Default for LimitsConfig {
    /// The caps of the default settings.
    fn default() -> Self {
        crate::WebSettings::default().limits()
    }
}

/// What is held now, of one kind.
#[derive(Default)]
struct Held {
    total: usize,
    /// By read token id; an entry goes when its count drops to zero, so the
    /// map holds at most one entry per permit.
    per_token: HashMap<i64, usize>,
}

/// One kind of capped use (streams or reads).
pub struct Cap {
    what: &'static str,
    node: usize,
    per_token: usize,
    /// Seconds a refused client is told to wait.
    retry_after: u64,
    held: Mutex<Held>,
}

/// A use being held; dropping it frees it.
pub struct Permit {
    cap: Arc<Cap>,
    token: Option<i64>,
}

impl Drop for Permit {
    fn drop(&mut self) {
        let mut held = self.cap.lock();
        held.total = held.total.saturating_sub(1);
        if let Some(t) = self.token {
            if let Some(n) = held.per_token.get_mut(&t) {
                *n -= 1;
                if *n == 0 {
                    held.per_token.remove(&t);
                }
            }
        }
    }
}

impl Cap {
    fn new(what: &'static str, node: usize, per_token: usize, retry_after: u64) -> Arc<Cap> {
        Arc::new(Cap { what, node: node.max(1), per_token: per_token.max(1), retry_after, held: Mutex::default() })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Held> {
        self.held.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Takes one use for `token` (a read token's id; `None` for the admin),
    /// or refuses: 503 at the node's cap, 429 at the token's.
    pub fn enter(self: &Arc<Self>, token: Option<i64>) -> Result<Permit, ApiError> {
        let mut held = self.lock();
        if held.total >= self.node {
            return Err(ApiError::Busy {
                message: format!("this node serves at most {} {} at once; try again shortly", self.node, self.what),
                retry_after_secs: self.retry_after,
            });
        }
        if let Some(t) = token {
            let n = held.per_token.entry(t).or_insert(0);
            if *n >= self.per_token {
                return Err(ApiError::TooManyRequests {
                    message: format!("a read token may hold at most {} {} at once", self.per_token, self.what),
                    retry_after_secs: self.retry_after,
                });
            }
            *n += 1;
        }
        held.total += 1;
        Ok(Permit { cap: self.clone(), token })
    }

    /// Uses held now.
    pub fn held(&self) -> usize {
        self.lock().total
    }
}

/// Every cap of a node.
pub struct Limits {
    /// Open event streams.
    pub streams: Arc<Cap>,
    /// Expensive reads in progress.
    pub reads: Arc<Cap>,
}

impl Limits {
    /// The caps of `config`.
    pub fn new(config: LimitsConfig) -> Limits {
        Limits {
            streams: Cap::new("event streams", config.max_streams, config.max_streams_per_token, 5),
            reads: Cap::new(
                "expensive reads (series, summaries, exports)",
                config.max_reads,
                config.max_reads_per_token,
                1,
            ),
        }
    }
}

impl Default for Limits {
    fn default() -> Self {
        Limits::new(LimitsConfig::default())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn caps_refuse_past_the_node_and_the_token_and_free_on_drop() {
        let cap = Cap::new("streams", 3, 2, 5);
        let a = cap.enter(Some(1)).expect("first");
        let b = cap.enter(Some(1)).expect("second");
        let err = cap.enter(Some(1)).err().expect("the token's third");
        assert!(matches!(err, ApiError::TooManyRequests { retry_after_secs: 5, .. }), "{err:?}");
        let c = cap.enter(None).expect("the admin, under the node's cap");
        let err = cap.enter(Some(2)).err().expect("the node is full");
        assert!(matches!(err, ApiError::Busy { .. }), "{err:?}");
        drop((a, c));
        assert_eq!(cap.held(), 1);
        let _d = cap.enter(Some(2)).expect("room again");
        drop(b);
        assert!(!cap.lock().per_token.contains_key(&1), "a token with nothing held leaves the map");
    }
}
