//! At most one fetch per source in flight on a node. A full scrape waits
//! for a poll of the same source to finish before it fetches; a poll that
//! comes due while a full scrape fetches the source does not fetch at all:
//! it is satisfied by that fetch and takes its outcome.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use tokio::sync::watch;

/// The fetches in flight, by source id. Each holds a channel that says how
/// it ended (`Some(ok)`).
#[derive(Default)]
pub(crate) struct Fetching {
    map: Mutex<HashMap<i64, watch::Receiver<Option<bool>>>>,
}

/// The right to fetch one source; dropping it without [`Claim::done`]
/// (a cancelled run, a panic) counts as a failed fetch.
pub(crate) struct Claim {
    fetching: Arc<Fetching>,
    source: i64,
    tx: watch::Sender<Option<bool>>,
}

impl Fetching {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<i64, watch::Receiver<Option<bool>>>> {
        self.map.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Claims `source`, or hands back the channel of the fetch in flight.
    pub(crate) fn try_claim(self: &Arc<Self>, source: i64) -> Result<Claim, watch::Receiver<Option<bool>>> {
        let mut map = self.lock();
        if let Some(rx) = map.get(&source) {
            return Err(rx.clone());
        }
        let (tx, rx) = watch::channel(None);
        map.insert(source, rx);
        Ok(Claim { fetching: self.clone(), source, tx })
    }

    /// Waits until no fetch of `source` is in flight, then claims it.
    pub(crate) async fn claim(self: &Arc<Self>, source: i64) -> Claim {
        loop {
            match self.try_claim(source) {
                Ok(claim) => return claim,
                Err(rx) => {
                    let _ = outcome(rx).await;
                }
            }
        }
    }

    /// Sources being fetched now.
    pub(crate) fn len(&self) -> usize {
        self.lock().len()
    }
}

/// How the fetch behind `rx` ended: `Some(ok)`, or `None` if it vanished.
pub(crate) async fn outcome(mut rx: watch::Receiver<Option<bool>>) -> Option<bool> {
    rx.wait_for(Option::is_some).await.ok().and_then(|v| *v)
}

impl Claim {
    /// The fetch ended; tells whoever waits for it.
    pub(crate) fn done(self, ok: bool) {
        // Free the source first, so a waiter that wakes can claim it.
        self.fetching.lock().remove(&self.source);
        let _ = self.tx.send(Some(ok));
    }
}

impl Drop for Claim {
    fn drop(&mut self) {
        self.fetching.lock().remove(&self.source);
        self.tx.send_if_modified(|v| {
            let unset = v.is_none();
            if unset {
                *v = Some(false);
            }
            unset
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn one_fetch_per_source_and_the_others_take_its_outcome() {
        let fetching = Arc::new(Fetching::default());
        let Ok(claim) = fetching.try_claim(7) else { panic!("free") };
        let Err(joined) = fetching.try_claim(7) else { panic!("in flight") };
        assert!(fetching.try_claim(8).is_ok(), "another source is free");
        let waiter = tokio::spawn({
            let fetching = fetching.clone();
            async move { fetching.claim(7).await.source }
        });
        tokio::task::yield_now().await;
        assert!(!waiter.is_finished(), "a full scrape waits for the fetch in flight");
        claim.done(true);
        assert_eq!(outcome(joined).await, Some(true), "a joined poll takes the outcome");
        assert_eq!(waiter.await.ok(), Some(7));
        // A claim dropped without an outcome (cancelled, panicked) is a failure.
        let Ok(claim) = fetching.try_claim(9) else { panic!("free") };
        let Err(joined) = fetching.try_claim(9) else { panic!("in flight") };
        drop(claim);
        assert_eq!(outcome(joined).await, Some(false));
        assert_eq!(fetching.len(), 0);
    }
}
