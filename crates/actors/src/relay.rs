//! Events between nodes: what one node publishes reaches the live updates
//! of the others through PostgreSQL's `NOTIFY`/`LISTEN`.

use std::time::Duration;

use crate::events::EventBus;

/// The PostgreSQL channel events travel on between nodes.
const CHANNEL: &str = "trawler_events";

/// Starts relaying events between nodes through `NOTIFY`/`LISTEN` (cluster
/// mode): one thread sends what this node publishes for the others, one
/// listens on a connection of its own and publishes what the others send.
/// Events sent while the listener reconnects are not replayed: live
/// updates are best effort, the database has the data.
pub(crate) fn start_relay(pool: trawler_store::DbPool, bus: EventBus, node: &str) {
    let Some(outgoing) = bus.enable_relay(node) else {
        return;
    };
    let send_pool = pool.clone();
    let spawned = std::thread::Builder::new()
        .name("trawler-notify".into())
        .spawn(move || restarting("notify", || send(&send_pool, &outgoing)));
    if let Err(e) = spawned {
        log::error!("event relay: cannot start the sending thread: {e}");
    }
    let spawned = std::thread::Builder::new()
        .name("trawler-listen".into())
        .spawn(move || restarting("listen", || listen(pool.clone(), bus.clone())));
    if let Err(e) = spawned {
        log::error!("event relay: cannot start the listening thread: {e}");
    }
}

/// Runs a relay thread's loop, again after a panic (logged, a second
/// later), until it returns.
fn restarting(what: &str, mut body: impl FnMut()) {
    while let Err(p) = std::panic::catch_unwind(std::panic::AssertUnwindSafe(&mut body)) {
        log::error!(
            "event relay: the {what} thread panicked ({}); restarting it",
            crate::task::panic_message(p.as_ref())
        );
        std::thread::sleep(Duration::from_secs(1));
    }
}

/// Sends relayed events in batches, one statement per batch, as few
/// notifications as fit them (see [`pack`]).
fn send(pool: &trawler_store::DbPool, outgoing: &std::sync::mpsc::Receiver<String>) {
    let mut failing = false;
    while let Ok(first) = outgoing.recv() {
        let mut events = vec![first];
        events.extend(outgoing.try_iter().take(4_999));
        let batch = pack(events);
        let sent = pool
            .get()
            .map_err(|e| e.to_string())
            .and_then(|mut conn| trawler_store::notify::notify(&mut conn, CHANNEL, &batch).map_err(|e| e.to_string()));
        match sent {
            Ok(_) => failing = false,
            Err(e) if !failing => {
                failing = true;
                log::warn!("event relay: sending {} events failed: {e}", batch.len());
            }
            Err(_) => {}
        }
    }
}

/// Packs events (JSON, one line each) into notifications of up to
/// `NOTIFY`'s largest payload, one event per line. A notification costs the
/// database about as much whatever it carries: a node catching up on a
/// million runs sent two million of them, one per event, and the database
/// spent more time on them than on the runs. An event too big for a
/// notification goes alone (and is skipped by the sender).
fn pack(events: Vec<String>) -> Vec<String> {
    let mut packed: Vec<String> = Vec::new();
    for event in events {
        match packed.last_mut() {
            Some(last) if last.len() + 1 + event.len() <= trawler_store::notify::MAX_PAYLOAD => {
                last.push('\n');
                last.push_str(&event);
            }
            _ => packed.push(event),
        }
    }
    packed
}

/// Listens for the other nodes' events and publishes them here.
fn listen(pool: trawler_store::DbPool, bus: EventBus) {
    let mut failing = false;
    loop {
        let mut listener = match trawler_store::notify::Listener::connect(&pool, CHANNEL) {
            Ok(l) => l,
            Err(e) => {
                if !failing {
                    log::warn!("event relay: listening failed, retrying every second: {e}");
                }
                failing = true;
                std::thread::sleep(Duration::from_secs(1));
                continue;
            }
        };
        if failing {
            log::info!("event relay: listening again");
        }
        failing = false;
        loop {
            match listener.poll() {
                Ok(payloads) if payloads.is_empty() => std::thread::sleep(Duration::from_millis(20)),
                Ok(payloads) => {
                    for p in payloads.iter().flat_map(|p| p.lines()) {
                        if !bus.publish_relayed(p) {
                            log::warn!("event relay: an event that does not parse: {p}");
                        }
                    }
                }
                Err(e) => {
                    log::warn!("event relay: the listening connection failed: {e}");
                    break;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::pack;

    #[test]
    fn relayed_events_are_packed_a_line_each_into_notifications_that_fit() {
        let max = trawler_store::notify::MAX_PAYLOAD;
        let event = |i: usize| format!(r#"{{"node":"a","event":{{"n":{i},"pad":"{}"}}}}"#, "x".repeat(180));
        let events: Vec<String> = (0..500).map(event).collect();
        let packed = pack(events.clone());
        assert!(packed.len() < 20, "{} notifications for 500 events", packed.len());
        assert!(packed.iter().all(|p| p.len() <= max));
        let unpacked: Vec<&str> = packed.iter().flat_map(|p| p.lines()).collect();
        assert_eq!(unpacked, events.iter().map(String::as_str).collect::<Vec<_>>(), "every event, in order");
        let huge = "y".repeat(max + 1);
        assert_eq!(pack(vec![event(1), huge.clone(), event(2)]), vec![event(1), huge, event(2)]);
    }
}
