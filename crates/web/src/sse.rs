//! Live updates over Server-Sent Events: one project's stream for
//! dashboards (`/projects/{id}/events`: points, runs, state changes) and the
//! lifecycle stream of every project for operators (`/admin/events`).
//!
//! A stream starts with `retry:` and a comment, sends each event as
//! `event: <type>` + `data: <json>`, and a `: keep-alive` comment every 15 s
//! so proxies keep the connection. A subscriber that falls too far behind
//! (its socket full, its channel overrun) gets an `event: lagged` and is
//! closed: it reconnects, it never holds up the bus or other subscribers.

use std::time::Duration;

use actix_web::{web, HttpResponse};
use tokio::sync::broadcast;
use trawler_actors::Shared;
use trawler_domain::ProjectId;
use trawler_store::Project;

use crate::auth::{Admin, Reader};
use crate::handlers::{db, Data};
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
        self.0.sse_frame().as_bytes()
    }
}

fn frame(event: &Shared) -> web::Bytes {
    web::Bytes::from_owner(Frame(event.clone()))
}

/// The response streaming a receiver's events.
fn stream(rx: broadcast::Receiver<Shared>) -> HttpResponse {
    let mut tick = tokio::time::interval(KEEP_ALIVE);
    tick.reset(); // the first tick after KEEP_ALIVE, not at once
    let body = futures_util::stream::unfold((rx, tick, Phase::Start), |(mut rx, mut tick, phase)| async move {
        let bytes = match phase {
            Phase::Done => return None,
            Phase::Start => {
                return Some((
                    Ok::<_, actix_web::Error>(web::Bytes::from_static(b"retry: 3000\n: connected\n\n")),
                    (rx, tick, Phase::Live),
                ))
            }
            Phase::Live => tokio::select! {
                received = rx.recv() => match received {
                    Ok(event) => frame(&event),
                    Err(broadcast::error::RecvError::Lagged(skipped)) => {
                        let b = web::Bytes::from(format!("event: lagged\ndata: {{\"skipped\": {skipped}}}\n\n"));
                        return Some((Ok(b), (rx, tick, Phase::Done)));
                    }
                    Err(broadcast::error::RecvError::Closed) => return None,
                },
                _ = tick.tick() => web::Bytes::from_static(b": keep-alive\n\n"),
            },
        };
        Some((Ok(bytes), (rx, tick, Phase::Live)))
    });
    HttpResponse::Ok()
        .content_type("text/event-stream")
        .insert_header(("Cache-Control", "no-cache"))
        .insert_header(("X-Accel-Buffering", "no"))
        .streaming(body)
}

/// One project's live events: `points`, `run_started`, `run_finished`,
/// `project_quarantined`, `project_resumed`, `project_archived`.
#[utoipa::path(get, path = "/api/v1/projects/{id}/events", tag = "data",
    security(("admin" = []), ("read_token" = [])),
    params(("id" = i64, Path, description = "Project id"), EventsParams),
    responses((status = 200, description = "An event stream", content_type = "text/event-stream", body = String),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 403, description = "A read token of another project", body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 503, body = ErrorBody)))]
pub async fn project_events(
    reader: Reader,
    state: Data,
    _: web::Query<EventsParams>,
) -> Result<HttpResponse, ApiError> {
    let id: ProjectId = reader.project;
    db(&state, move |conn| Project::get(conn, id)).await?;
    Ok(stream(state.tree.events().subscribe_project(id)))
}

/// Every project's runs and state changes; with `points=true`, its points too.
#[utoipa::path(get, path = "/api/v1/admin/events", tag = "admin", params(AdminEventsParams),
    responses((status = 200, description = "An event stream", content_type = "text/event-stream", body = String),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody)))]
pub async fn admin_events(_: Admin, state: Data, q: web::Query<AdminEventsParams>) -> Result<HttpResponse, ApiError> {
    let events = state.tree.events();
    Ok(stream(if q.points.unwrap_or(false) { events.subscribe_all() } else { events.subscribe() }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use trawler_actors::{Envelope, Event};

    #[actix_web::test]
    async fn a_subscriber_that_overran_its_channel_is_told_and_closed() {
        let (tx, rx) = broadcast::channel(4);
        for i in 0..10 {
            let _ = tx.send(Envelope::new(Event::ProjectResumed { project_id: ProjectId(i), at_ms: 0 }));
        }
        // The stream ends by itself (the sender is still alive): it was dropped.
        let body = actix_web::body::to_bytes(stream(rx).into_body()).await.expect("the body");
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
        let body = actix_web::body::to_bytes(stream(rx).into_body()).await.expect("the body");
        assert!(String::from_utf8_lossy(&body).ends_with(
            "event: project_archived\ndata: {\"type\":\"project_archived\",\"project_id\":3,\"at_ms\":5}\n\n"
        ));
    }
}
