//! Why a series has no point: each empty slot of a line gets its cause from
//! what was recorded while it passed (the spans of the timeline, the
//! failed runs) and from the line's own cadence.
//!
//! The causes, strongest first: the project archived, its campaign ended,
//! its schedule paused, the project quarantined, the node fenced, the
//! platform's circuit open, the platform throttling, a source edited since
//! the last point, a fetch that failed; else a slot is not yet due (the
//! next scrape of a metric read every few hours has not come, the project
//! is younger than its cadence) or missed (nothing recorded: the node was
//! down, or the poll was shed).

use std::fmt;

use serde::Serialize;

use crate::Platform;

/// Why a slot has no point.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Cause {
    /// The project was archived.
    Archived,
    /// The campaign had ended: its final numbers are in.
    CampaignEnded,
    /// An admin paused the project's schedule.
    Paused,
    /// The supervisor quarantined the project after repeated crashes.
    Quarantined,
    /// The node that scrapes the project lost its database and stopped.
    NodeFenced,
    /// The platform (or the source's host) was failing: its circuit was open.
    CircuitOpen,
    /// The platform asked to slow down.
    Throttled,
    /// A source was edited since the last point.
    SourceEdited,
    /// The fetch failed (the reason says how).
    Failed,
    /// No scrape was due yet.
    NotYetDue,
    /// Nothing was recorded: the node was not running, or the poll was shed.
    Missed,
}

impl Cause {
    /// Every cause, strongest first.
    pub const ALL: [Cause; 11] = [
        Cause::Archived,
        Cause::CampaignEnded,
        Cause::Paused,
        Cause::Quarantined,
        Cause::NodeFenced,
        Cause::CircuitOpen,
        Cause::Throttled,
        Cause::SourceEdited,
        Cause::Failed,
        Cause::NotYetDue,
        Cause::Missed,
    ];

    /// Its stable snake_case name (API, database).
    pub fn as_str(self) -> &'static str {
        match self {
            Cause::Archived => "archived",
            Cause::CampaignEnded => "campaign_ended",
            Cause::Paused => "paused",
            Cause::Quarantined => "quarantined",
            Cause::NodeFenced => "node_fenced",
            Cause::CircuitOpen => "circuit_open",
            Cause::Throttled => "throttled",
            Cause::SourceEdited => "source_edited",
            Cause::Failed => "failed",
            Cause::NotYetDue => "not_yet_due",
            Cause::Missed => "missed",
        }
    }

    /// The cause of a stored name, if it is one.
    pub fn parse(name: &str) -> Option<Cause> {
        Cause::ALL.into_iter().find(|c| c.as_str() == name)
    }

    /// The cause of a failed fetch's error kind: the circuit and throttling
    /// have their own; anything else is a failure.
    pub fn of_error(kind: &str) -> Cause {
        match kind {
            "circuit_open" => Cause::CircuitOpen,
            "throttled" => Cause::Throttled,
            _ => Cause::Failed,
        }
    }
}

impl fmt::Display for Cause {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What was recorded: a span of time (`to_ms` `None` while it lasts) or, for
/// a failure or an edit, a moment (`to_ms == Some(from_ms)`).
#[derive(Debug, Clone, PartialEq)]
pub struct Span {
    /// What happened.
    pub cause: Cause,
    /// The platform it concerns; `None`: every platform.
    pub platform: Option<Platform>,
    /// The host it concerns (a generic platform's failing site).
    pub host: Option<String>,
    /// What a person reads about it.
    pub detail: String,
    /// Its start, epoch ms.
    pub from_ms: i64,
    /// Its end, epoch ms; `None` while it lasts.
    pub to_ms: Option<i64>,
}

impl Span {
    /// A moment (a failure, an edit), as opposed to a state that lasts: it
    /// explains the slots after it until the line's next point.
    pub fn moment(cause: Cause, platform: Option<Platform>, detail: String, at_ms: i64) -> Span {
        Span { cause, platform, host: None, detail, from_ms: at_ms, to_ms: Some(at_ms) }
    }

    fn is_moment(&self) -> bool {
        self.to_ms == Some(self.from_ms)
    }

    fn overlaps(&self, start_ms: i64, end_ms: i64) -> bool {
        self.from_ms < end_ms && self.to_ms.is_none_or(|t| t > start_ms)
    }

    /// Whether it concerns a line of `platform` whose sources reach `hosts`.
    pub fn concerns(&self, platform: Platform, hosts: &[String]) -> bool {
        self.platform.is_none_or(|p| p == platform) && self.host.as_ref().is_none_or(|h| hosts.contains(h))
    }
}

/// A run of empty slots with one cause.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Gap {
    /// The first empty slot's start, epoch seconds.
    pub from: i64,
    /// The end of the last one (exclusive), epoch seconds.
    pub until: i64,
    /// Why.
    pub cause: Cause,
    /// What a person reads: the platform's error, the quarantine's reason.
    pub reason: String,
}

/// What explains one line's empty slots.
#[derive(Debug, Clone)]
pub struct Explain<'a> {
    /// The spans and moments that concern the line (see [`Span::concerns`]).
    pub spans: &'a [Span],
    /// When the project was created, epoch ms.
    pub created_ms: i64,
    /// Now, epoch ms: slots from now on are not reported.
    pub now_ms: i64,
    /// How often the line gets a point, in ms.
    pub cadence_ms: i64,
}

/// A point late by up to half its cadence is on time.
fn due_by(last_ms: i64, cadence_ms: i64) -> i64 {
    last_ms.saturating_add(cadence_ms.saturating_add(cadence_ms / 2))
}

impl Explain<'_> {
    /// The cause of an empty slot `[start_ms, end_ms)` whose line's last
    /// point before it was at `last_ms`.
    pub fn slot(&self, start_ms: i64, end_ms: i64, last_ms: Option<i64>) -> (Cause, String) {
        if end_ms <= self.created_ms {
            return (Cause::NotYetDue, "before the project was created".into());
        }
        let lasting = self.spans.iter().filter(|s| !s.is_moment() && s.overlaps(start_ms, end_ms));
        if let Some(s) = lasting.min_by_key(|s| (s.cause, std::cmp::Reverse(s.from_ms))) {
            return (s.cause, s.detail.clone());
        }
        // Since the last point (or the project's creation), the latest
        // moment that explains the silence.
        let since = last_ms.unwrap_or(self.created_ms);
        if end_ms <= due_by(since, self.cadence_ms) {
            let why = match last_ms {
                Some(_) => "the next scrape was not due yet",
                None => "the project's first scrape was not due yet",
            };
            return (Cause::NotYetDue, why.into());
        }
        let moments = self.spans.iter().filter(|s| s.is_moment() && s.from_ms > since && s.from_ms < end_ms);
        // An edit explains more than the failures that followed it.
        if let Some(s) = moments.min_by_key(|s| (s.cause, std::cmp::Reverse(s.from_ms))) {
            return (s.cause, s.detail.clone());
        }
        (Cause::Missed, "no scrape was recorded (the node may have been down)".into())
    }

    /// The gaps of a line downsampled to `step`: each bucket wholly inside
    /// `[from, to]` and before now without a point (a bucket cut by the
    /// range's edge, or under way, may yet have its point). `points` are
    /// the buckets' (ts, value) in time order; `before` is the time of the
    /// line's last point before `from`, epoch seconds.
    pub fn stepped(&self, points: &[(i64, f64)], before: Option<i64>, (from, to): (i64, i64), step: i64) -> Vec<Gap> {
        let step = step.max(1);
        let mut gaps = Vec::new();
        let mut last = before.map(|s| s.saturating_mul(1000));
        let mut next = points.iter().peekable();
        let mut bucket = from.div_euclid(step) * step;
        while bucket <= to && bucket.saturating_mul(1000) < self.now_ms {
            let end = bucket.saturating_add(step);
            let mut filled = false;
            while let Some(&&(ts, _)) = next.peek() {
                if ts >= end {
                    break;
                }
                filled |= ts >= bucket;
                last = Some(ts.saturating_mul(1000));
                next.next();
            }
            let whole = bucket >= from && end <= to.saturating_add(1);
            if !filled && whole {
                let end_ms = end.saturating_mul(1000).min(self.now_ms);
                let (cause, reason) = self.slot(bucket.saturating_mul(1000), end_ms, last);
                push(&mut gaps, Gap { from: bucket, until: end, cause, reason });
            }
            bucket = end;
        }
        gaps
    }

    /// The gaps of a raw line: where two points (or the range's start and
    /// end) lie further apart than the cadence allows, the time between
    /// them cut into slots of the cadence, each explained.
    pub fn raw(&self, points: &[(i64, f64)], before: Option<i64>, (from, to): (i64, i64)) -> Vec<Gap> {
        let cadence = (self.cadence_ms / 1000).max(1);
        let end = to.min(self.now_ms.div_euclid(1000));
        // At most about 10,000 slots are explained, however long the range.
        let width = cadence.max(end.saturating_sub(from) / 10_000);
        let mut gaps = Vec::new();
        let mut last = before;
        let walk = |last: Option<i64>, next: i64, gaps: &mut Vec<Gap>| {
            // The first slot that had a point due, and the ones after it.
            let mut slot = match last {
                Some(l) => l.saturating_add(cadence).max(from),
                None => from,
            };
            while slot.saturating_add(cadence) <= next {
                let until = slot.saturating_add(width).min(next);
                let (cause, reason) =
                    self.slot(slot.saturating_mul(1000), until.saturating_mul(1000), last.map(|l| l * 1000));
                push(gaps, Gap { from: slot, until, cause, reason });
                slot = until;
            }
        };
        for &(ts, _) in points {
            if last.is_none_or(|l| ts.saturating_sub(l) > cadence + cadence / 2) {
                walk(last, ts, &mut gaps);
            }
            last = Some(ts);
        }
        if last.is_none_or(|l| end.saturating_sub(l) > cadence + cadence / 2) {
            walk(last, end, &mut gaps);
        }
        gaps
    }
}

/// Appends a gap, joined to the last one when it continues it with the
/// same cause and reason.
fn push(gaps: &mut Vec<Gap>, gap: Gap) {
    match gaps.last_mut() {
        Some(g) if g.until == gap.from && g.cause == gap.cause && g.reason == gap.reason => g.until = gap.until,
        _ => gaps.push(gap),
    }
}

#[cfg(test)]
mod tests;
