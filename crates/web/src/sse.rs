//! Live updates over Server-Sent Events: one project's stream for
//! dashboards (`/projects/{id}/events`: points, runs, state changes) and the
//! lifecycle stream of every project for operators (`/admin/events`).
//!
//! A stream starts with `retry:` and a comment, sends each event as
//! `id: <id>` + `event: <type>` + `data: <json>`, and a `: keep-alive`
//! comment every 15 s so proxies keep the connection. A subscriber that
//! falls too far behind (its socket full, its channel overrun) gets an
//! `event: lagged` and is closed: it reconnects, it never holds up the bus
//! or other subscribers. A client that reconnects with `Last-Event-ID`
//! (browsers' `EventSource` does by itself) first receives the events it
//! missed, or an `event: reset` when they are no longer kept: then it
//! reloads what it shows.

use std::time::Duration;

use actix_web::{web, HttpResponse};
use tokio::sync::broadcast;
use trawler_actors::{Replay, Shared};
use trawler_domain::ProjectId;
use trawler_store::{Project, ProjectToken};

use crate::auth::{Admin, Reader};
use crate::limits::Permit;
use crate::service::{db, Data};
use crate::views::*;
use crate::ApiError;

/// How often an idle stream sends a comment.
const KEEP_ALIVE: Duration = Duration::from_secs(15);

enum Phase {
    Start,
    Live,
    Done,
}

/// The frame of an event, shared: every subscriber's bytes point into the
/// one frame the envelope made, so ten thousand subscribers cost ten
/// thousand reference counts, not ten thousand copies.
struct Frame(Shared);

impl AsRef<[u8]> for Frame {
    fn as_ref(&self) -> &[u8] {
        self.0.wire(sse_frame).as_bytes()
    }
}

/// One Server-Sent Events frame: the `id:` line (for `Last-Event-ID`), the
/// `event:` line (the event's type), the `data:` line (its JSON, which has
/// no newline) and the blank line.
fn sse_frame(id: Option<&str>, name: &str, json: &str) -> String {
    let mut out = String::with_capacity(name.len() + json.len() + 48);
    if let Some(id) = id {
        out.push_str("id: ");
        out.push_str(id);
        out.push('\n');
    }
    out.push_str("event: ");
    out.push_str(name);
    out.push_str("\ndata: ");
    out.push_str(json);
    out.push_str("\n\n");
    out
}

fn frame(event: &Shared) -> web::Bytes {
    web::Bytes::from_owner(Frame(event.clone()))
}

/// How often the node looks for revoked read tokens while read-token
/// streams are open.
const REVOCATION_CHECK: Duration = Duration::from_millis(500);

/// How far back a revocation is announced again: a revocation written by
/// another node (with its own clock) is still seen if clocks differ by less.
const REVOCATION_WINDOW_MS: i64 = 30_000;

/// Tells read-token streams that their token was revoked (here or on
/// another node): one query every [`REVOCATION_CHECK`] for the whole node,
/// and none while no read-token stream is open.
pub struct Revocations {
    tx: broadcast::Sender<i64>,
    open: std::sync::atomic::AtomicUsize,
}

impl Default for Revocations {
    fn default() -> Self {
        Revocations { tx: broadcast::channel(1024).0, open: Default::default() }
    }
}

/// Keeps a stream counted among the open read-token streams.
struct OpenStream(std::sync::Arc<Revocations>);

impl Drop for OpenStream {
    fn drop(&mut self) {
        self.0.open.fetch_sub(1, std::sync::atomic::Ordering::Relaxed);
    }
}

/// Announces revoked tokens to the open streams, until the system stops.
pub async fn watch_revocations(state: Data) {
    let revocations = state.revocations.clone();
    loop {
        tokio::time::sleep(REVOCATION_CHECK).await;
        if revocations.open.load(std::sync::atomic::Ordering::Relaxed) == 0 {
            continue;
        }
        let since = trawler_domain::now_millis() - REVOCATION_WINDOW_MS;
        match db(&state, move |conn| ProjectToken::revoked_since(conn, since)).await {
            Ok(ids) => {
                for id in ids {
                    let _ = revocations.tx.send(id);
                }
            }
            Err(e) => log::warn!("sse: checking for revoked tokens failed: {e}"),
        }
    }
}

/// The frame telling a reconnecting client that what it missed is gone.
const RESET: &[u8] =
    b"event: reset\ndata: {\"reason\": \"the events since the last one received are no longer kept: reload\"}\n\n";

/// What a stream reads from: the bus, and for a read token, the revocations.
struct Source {
    rx: broadcast::Receiver<Shared>,
    /// What a reconnecting client missed, sent before the live events.
    replay: Option<Replay>,
    /// The last event sent from the replay: live events up to it are not
    /// sent twice.
    replayed_to: u64,
    tick: tokio::time::Interval,
    phase: Phase,
    /// The read token's id and the revocations it listens to.
    token: Option<(i64, broadcast::Receiver<i64>, OpenStream)>,
    /// The stream's place under the node's and the token's caps.
    _permit: Permit,
}

/// Waits until the stream's token is revoked (never without a token). A
/// revocation channel that overran may have missed it: that ends the stream
/// too, and the client reconnects with a token that still works.
async fn revoked(token: &mut Option<(i64, broadcast::Receiver<i64>, OpenStream)>) {
    let Some((id, rx, _)) = token else { return std::future::pending().await };
    loop {
        match rx.recv().await {
            Ok(revoked) if revoked == *id => return,
            Ok(_) => {}
            Err(_) => return,
        }
    }
}

/// The response streaming a receiver's events; a read-token stream ends
/// with `event: revoked` within a second of its token's revocation.
/// Whether a read token's stream carries the event: a run's log lines are
/// the operators'.
fn for_readers(event: &Shared) -> bool {
    !matches!(***event, trawler_actors::Event::RunLog { .. })
}

fn stream(
    (rx, replay): (broadcast::Receiver<Shared>, Option<Replay>),
    token: Option<(i64, &std::sync::Arc<Revocations>)>,
    permit: Permit,
) -> HttpResponse {
    let mut tick = tokio::time::interval(KEEP_ALIVE);
    tick.reset(); // the first tick after KEEP_ALIVE, not at once
    let token = token.map(|(id, revocations)| {
        revocations.open.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        (id, revocations.tx.subscribe(), OpenStream(revocations.clone()))
    });
    let source = Source { rx, replay, replayed_to: 0, tick, phase: Phase::Start, token, _permit: permit };
    let body = futures_util::stream::unfold(source, |mut s| async move {
        let bytes = match s.phase {
            Phase::Done => return None,
            Phase::Start => {
                s.phase = Phase::Live;
                let mut start = b"retry: 3000\n: connected\n\n".to_vec();
                match s.replay.take() {
                    None => {}
                    Some(Replay::Reset) => start.extend_from_slice(RESET),
                    Some(Replay::Events(missed)) => {
                        for event in &missed {
                            s.replayed_to = s.replayed_to.max(event.seq());
                            if s.token.is_some() && !for_readers(event) {
                                continue;
                            }
                            start.extend_from_slice(event.wire(sse_frame).as_bytes());
                            s.replayed_to = s.replayed_to.max(event.seq());
                        }
                    }
                }
                return Some((Ok::<_, actix_web::Error>(web::Bytes::from(start)), s));
            }
            Phase::Live => tokio::select! {
                received = s.rx.recv() => match received {
                    Ok(event) if event.seq() != 0 && event.seq() <= s.replayed_to => return Some((Ok(web::Bytes::new()), s)),
                    Ok(event) if s.token.is_some() && !for_readers(&event) => return Some((Ok(web::Bytes::new()), s)),
                    Ok(event) => frame(&event),
                    Err(broadcast::error::RecvError::Lagged(skipped)) => {
                        s.phase = Phase::Done;
                        let b = web::Bytes::from(format!("event: lagged\ndata: {{\"skipped\": {skipped}}}\n\n"));
                        return Some((Ok(b), s));
                    }
                    Err(broadcast::error::RecvError::Closed) => return None,
                },
                () = revoked(&mut s.token) => {
                    s.phase = Phase::Done;
                    return Some((Ok(web::Bytes::from_static(b"event: revoked\ndata: {}\n\n")), s));
                }
                _ = s.tick.tick() => web::Bytes::from_static(b": keep-alive\n\n"),
            },
        };
        Some((Ok(bytes), s))
    });
    HttpResponse::Ok()
        .content_type("text/event-stream")
        .insert_header(("Cache-Control", "no-cache"))
        .insert_header(("X-Accel-Buffering", "no"))
        .streaming(body)
}

/// One project's live events: `points`, `run_started`, `run_finished`,
/// `project_quarantined`, `project_resumed`, `project_archived`,
/// `campaign_ended`.
#[utoipa::path(get, path = "/api/v1/projects/{id}/events", tag = "data",
    security(("admin" = []), ("read_token" = [])),
    params(("id" = i64, Path, description = "Project id"), EventsParams),
    responses((status = 200, description = "An event stream", content_type = "text/event-stream", body = String),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 403, description = "A read token of another project", body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 429, description = "This read token holds its most at once (Retry-After)", body = ErrorBody),
        (status = 503, body = ErrorBody)))]
pub async fn project_events(
    req: actix_web::HttpRequest,
    reader: Reader,
    state: Data,
    _: web::Query<EventsParams>,
) -> Result<HttpResponse, ApiError> {
    let id: ProjectId = reader.project;
    let permit = state.limits.streams.enter(reader.token_id)?;
    db(&state, move |conn| Project::get(conn, id)).await?;
    let token = reader.token_id.map(|t| (t, &state.revocations));
    Ok(stream(state.tree.events().subscribe_project_since(id, last_event_id(&req).as_deref()), token, permit))
}

/// The `Last-Event-ID` a reconnecting client sends (at most 64 bytes of
/// it: an id is shorter; anything else asks for a reset).
fn last_event_id(req: &actix_web::HttpRequest) -> Option<String> {
    let value = req.headers().get("last-event-id")?;
    Some(value.to_str().ok().filter(|v| v.len() <= 64).unwrap_or("invalid").to_owned())
}

/// Every project's runs and state changes; with `points=true`, its points too.
#[utoipa::path(get, path = "/api/v1/admin/events", tag = "admin", params(AdminEventsParams),
    responses((status = 200, description = "An event stream", content_type = "text/event-stream", body = String),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody)))]
pub async fn admin_events(
    req: actix_web::HttpRequest,
    _: Admin,
    state: Data,
    q: web::Query<AdminEventsParams>,
) -> Result<HttpResponse, ApiError> {
    let permit = state.limits.streams.enter(None)?;
    let last = last_event_id(&req);
    let subscribed = state.tree.events().subscribe_since(last.as_deref(), q.points.unwrap_or(false));
    Ok(stream(subscribed, None, permit))
}

#[cfg(test)]
mod tests {
    use super::*;
    use trawler_actors::{Envelope, Event};

    fn test_permit() -> Permit {
        crate::Limits::default().streams.enter(None).expect("room")
    }

    #[actix_web::test]
    async fn a_subscriber_that_overran_its_channel_is_told_and_closed() {
        let (tx, rx) = broadcast::channel(4);
        for i in 0..10 {
            let _ = tx.send(Envelope::new(Event::ProjectResumed { project_id: ProjectId(i), at_ms: 0 }));
        }
        // The stream ends by itself (the sender is still alive): it was dropped.
        let body =
            actix_web::body::to_bytes(stream((rx, None), None, test_permit()).into_body()).await.expect("the body");
        let text = String::from_utf8_lossy(&body);
        assert!(text.starts_with("retry: 3000\n: connected\n\n"), "{text}");
        assert!(text.ends_with("event: lagged\ndata: {\"skipped\": 6}\n\n"), "{text}");
        drop(tx);
    }

    #[actix_web::test]
    async fn events_are_framed_with_their_type() {
        let (tx, rx) = broadcast::channel(4);
        let _ = tx.send(Envelope::new(Event::ProjectArchived { project_id: ProjectId(3), at_ms: 5 }));
        drop(tx);
        let body =
            actix_web::body::to_bytes(stream((rx, None), None, test_permit()).into_body()).await.expect("the body");
        assert!(String::from_utf8_lossy(&body).ends_with(
            "event: project_archived\ndata: {\"type\":\"project_archived\",\"project_id\":3,\"at_ms\":5}\n\n"
        ));
    }

    #[actix_web::test]
    async fn a_reconnecting_client_gets_what_it_missed_once_or_a_reset() {
        let archived =
            |seq| Envelope::sequenced(Event::ProjectArchived { project_id: ProjectId(3), at_ms: 5 }, 77, seq);
        let (tx, rx) = broadcast::channel(4);
        // Live: the last replayed event again (not sent twice), then a new one.
        let _ = tx.send(archived(2));
        let _ = tx.send(archived(3));
        drop(tx);
        let replay = Some(Replay::Events(vec![archived(1), archived(2)]));
        let body =
            actix_web::body::to_bytes(stream((rx, replay), None, test_permit()).into_body()).await.expect("body");
        let text = String::from_utf8_lossy(&body);
        let ids: Vec<&str> = text.lines().filter_map(|l| l.strip_prefix("id: ")).collect();
        assert_eq!(ids, ["77.1", "77.2", "77.3"], "{text}");
        assert!(text.starts_with("retry: 3000\n: connected\n\nid: 77.1\nevent: project_archived\n"), "{text}");
        let (tx, rx) = broadcast::channel::<Shared>(4);
        drop(tx);
        let body = actix_web::body::to_bytes(stream((rx, Some(Replay::Reset)), None, test_permit()).into_body())
            .await
            .expect("body");
        assert!(String::from_utf8_lossy(&body).contains("event: reset\ndata: {\"reason\""));
    }

    #[actix_web::test]
    async fn a_read_token_stream_ends_when_its_token_is_revoked() {
        let revocations = std::sync::Arc::new(Revocations::default());
        let (tx, rx) = broadcast::channel::<Shared>(4);
        let response = stream((rx, None), Some((7, &revocations)), test_permit());
        assert_eq!(revocations.open.load(std::sync::atomic::Ordering::Relaxed), 1, "counted while open");
        let revoke = revocations.clone();
        actix_web::rt::spawn(async move {
            tokio::time::sleep(Duration::from_millis(20)).await;
            let _ = revoke.tx.send(8); // another token: nothing happens
            tokio::time::sleep(Duration::from_millis(20)).await;
            let _ = revoke.tx.send(7);
        });
        // The sender of events stays alive: only the revocation ends the stream.
        let body = actix_web::body::to_bytes(response.into_body()).await.expect("the body");
        assert!(String::from_utf8_lossy(&body).ends_with("event: revoked\ndata: {}\n\n"));
        assert_eq!(revocations.open.load(std::sync::atomic::Ordering::Relaxed), 0, "uncounted when closed");
        drop(tx);
    }
}
