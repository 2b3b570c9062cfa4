//! What the simulator keeps while it runs (the values served, the requests
//! per source, requests held back by faults) and the one step every
//! platform endpoint passes: count, apply a fault, answer.

use crate::fault::{break_response, Faults, Verdict};
use actix_web::{web, HttpRequest, HttpResponse};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use trawler_domain::now_secs;

/// Most log entries kept (oldest dropped first).
pub(crate) const LOG_CAPACITY: usize = 200_000;

/// One response the simulator served, with the numbers in it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LogEntry {
    /// Sequence number, from 1.
    pub seq: u64,
    /// When it was served, epoch seconds.
    pub at: i64,
    /// Which platform shape.
    pub platform: String,
    /// The project's reference.
    pub reference: String,
    /// Which endpoint (`stats.json`, `page`, `campaign`, `insights`, …).
    pub endpoint: String,
    /// The numbers a correct scraper reads from the response, by metric.
    pub values: BTreeMap<String, f64>,
}

/// One request as the simulator saw it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RequestRecord {
    /// When it arrived, epoch ms.
    pub at_ms: i64,
    /// When it arrived, epoch µs (for latencies shorter than a millisecond).
    #[serde(default)]
    pub at_us: i64,
    /// Which platform shape.
    pub platform: String,
    /// The project's reference.
    pub reference: String,
    /// `ok`, `bad_numbers`, `limited` (the platform limit's 429) or the fault's kind.
    pub outcome: String,
    /// The path asked for (a full scrape and a poll ask different ones).
    #[serde(default)]
    pub path: String,
}

/// Requests seen for one (platform, reference).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct SourceStats {
    /// How many requests.
    pub requests: u64,
    /// When the last one came, epoch seconds.
    pub last_at: i64,
}

/// The simulator's shared state.
pub struct SimState {
    /// The moment the simulated campaigns started, epoch seconds.
    pub epoch: i64,
    /// Faults and request limits in force.
    pub faults: Faults,
    pub(crate) log: Mutex<(u64, VecDeque<LogEntry>)>,
    pub(crate) requests: Mutex<VecDeque<RequestRecord>>,
    pub(crate) stats: Mutex<BTreeMap<String, SourceStats>>,
    pub(crate) delayed: Arc<DelayCounters>,
    /// Campaigns given a deadline of their own (`platform:reference` →
    /// epoch seconds).
    pub(crate) deadlines: Mutex<BTreeMap<String, Ending>>,
    /// References whose numbers go wrong on purpose (`platform:reference`).
    pub(crate) anomalies: Mutex<BTreeMap<String, crate::anomaly::Anomaly>>,
    /// Pages whose layout changes, and fixtures served again.
    pub(crate) changes: Changes,
}

/// When each reference's page changes its layout (epoch seconds), and the
/// fixtures' answers with the next one each source serves (see
/// `changes.rs`).
#[derive(Default)]
pub(crate) struct Changes {
    pub(crate) layouts: Mutex<BTreeMap<String, i64>>,
    pub(crate) fixtures: Mutex<BTreeMap<String, (Vec<trawler_domain::fixture::FixtureAnswer>, usize)>>,
}

impl Changes {
    pub(crate) fn layout_changes_at(&self, reference: &str) -> Option<i64> {
        self.layouts.lock().unwrap_or_else(|p| p.into_inner()).get(reference).copied()
    }
}

/// How one campaign ends: its deadline, its final state when it is not the
/// model's own (`canceled`), and for an ad account or campaign when it runs
/// again after its pause.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ending {
    /// The deadline (a pause, for ads), epoch seconds.
    pub deadline: i64,
    /// The campaign is canceled at its deadline instead of succeeding or
    /// failing.
    pub canceled: bool,
    /// Ads: when they run again, epoch seconds (`None`: paused for good).
    pub resume: Option<i64>,
}

/// Slow and hanging answers: how many are being waited out, and how many
/// were abandoned by their client before the end.
#[derive(Default)]
pub(crate) struct DelayCounters {
    pub(crate) in_flight: std::sync::atomic::AtomicU64,
    pub(crate) abandoned: std::sync::atomic::AtomicU64,
}

/// Counts a delayed answer while it lasts; dropped before `done`, it counts
/// the client as gone.
pub(crate) struct Delayed {
    pub(crate) counters: Arc<DelayCounters>,
    pub(crate) done: bool,
}

impl Delayed {
    pub(crate) fn new(counters: &Arc<DelayCounters>) -> Delayed {
        counters.in_flight.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        Delayed { counters: counters.clone(), done: false }
    }
}

impl Drop for Delayed {
    fn drop(&mut self) {
        use std::sync::atomic::Ordering;
        self.counters.in_flight.fetch_sub(1, Ordering::Relaxed);
        if !self.done {
            self.counters.abandoned.fetch_add(1, Ordering::Relaxed);
        }
    }
}

impl SimState {
    /// A simulator whose campaigns started at `epoch`.
    pub fn new(epoch: i64) -> SimState {
        SimState {
            epoch,
            faults: Faults::default(),
            log: Mutex::new((0, VecDeque::new())),
            requests: Mutex::new(VecDeque::new()),
            stats: Mutex::new(BTreeMap::new()),
            delayed: Arc::default(),
            deadlines: Mutex::new(BTreeMap::new()),
            anomalies: Mutex::new(BTreeMap::new()),
            changes: Default::default(),
        }
    }

    pub(crate) fn elapsed(&self, at: i64) -> i64 {
        at - self.epoch
    }

    /// Makes the campaign `reference` on `platform` end at `deadline`
    /// (epoch seconds) instead of 30 days after the epoch.
    pub fn end_campaign(&self, platform: &str, reference: &str, deadline: i64) {
        self.set_ending(platform, reference, Ending { deadline, canceled: false, resume: None });
    }

    /// Gives the campaign `reference` on `platform` its own end.
    pub fn set_ending(&self, platform: &str, reference: &str, ending: Ending) {
        self.deadlines.lock().unwrap_or_else(|p| p.into_inner()).insert(format!("{platform}:{reference}"), ending);
    }

    fn ending(&self, platform: &str, reference: &str) -> Option<Ending> {
        self.deadlines.lock().unwrap_or_else(|p| p.into_inner()).get(&format!("{platform}:{reference}")).copied()
    }

    /// Makes the numbers of `reference` on `platform` go wrong from now on
    /// (`None`: right again).
    pub fn set_anomaly(&self, platform: &str, reference: &str, anomaly: Option<crate::anomaly::Anomaly>) {
        let mut anomalies = self.anomalies.lock().unwrap_or_else(|p| p.into_inner());
        let key = format!("{platform}:{reference}");
        match anomaly {
            Some(a) => anomalies.insert(key, a),
            None => anomalies.remove(&key),
        };
    }

    /// What is wrong with `reference` on `platform`, if anything.
    pub(crate) fn anomaly(&self, platform: &str, reference: &str) -> Option<crate::anomaly::Anomaly> {
        self.anomalies.lock().unwrap_or_else(|p| p.into_inner()).get(&format!("{platform}:{reference}")).copied()
    }

    /// The ad account or campaign `object` at `at`: past its deadline (see
    /// [`SimState::end_campaign`]) it is paused and its numbers stand still,
    /// until it resumes (if it does); then they go on from where they
    /// stopped.
    pub(crate) fn ads(&self, object: &str, at: i64) -> (crate::model::Ads, bool) {
        let anomaly = self.anomaly("meta_ads", object);
        let at = anomaly.map_or(at, |a| a.moment(at));
        let (ads, paused) = match self.ending("meta_ads", object) {
            Some(Ending { deadline, resume: Some(resume), .. }) if at >= resume => {
                let paused_for = resume.saturating_sub(deadline).max(0);
                (crate::model::Ads::at(object, self.elapsed(at).saturating_sub(paused_for)), false)
            }
            Some(e) if at >= e.deadline => (crate::model::Ads::at(object, self.elapsed(e.deadline)), true),
            _ => (crate::model::Ads::at(object, self.elapsed(at)), false),
        };
        (anomaly.map_or(ads.clone(), |a| a.ads(ads)), paused)
    }

    /// The campaign `reference` on `platform` at `at` (epoch seconds).
    /// A generic page's campaign at `at`, its pledges and backers logged
    /// as served (`endpoint`) unless the answer is broken on purpose.
    pub(crate) fn generic_campaign(
        &self,
        platform: &str,
        reference: &str,
        endpoint: &str,
        at: i64,
        bad: bool,
    ) -> crate::model::Campaign {
        let c = self.campaign(platform, reference, at);
        if !bad {
            self.record(
                now_secs(),
                platform,
                reference,
                endpoint,
                &[("pledged", c.pledged()), ("backers", c.backers as f64)],
            );
        }
        c
    }

    pub(crate) fn campaign(&self, platform: &str, reference: &str, at: i64) -> crate::model::Campaign {
        let ending = self.ending(platform, reference);
        let deadline = ending.map_or(self.epoch + 30 * 86_400, |e| e.deadline);
        let anomaly = self.anomaly(platform, reference);
        let at = anomaly.map_or(at, |a| a.moment(at));
        let mut c = crate::model::Campaign::until(reference, self.epoch, self.elapsed(at), deadline);
        if ending.is_some_and(|e| e.canceled) {
            c = c.canceled();
        }
        anomaly.map_or(c.clone(), |a| a.campaign(c))
    }

    pub(crate) fn count(&self, platform: &str, reference: &str, at: i64) {
        let mut stats = self.stats.lock().unwrap_or_else(|p| p.into_inner());
        let s = stats.entry(format!("{platform}:{reference}")).or_default();
        s.requests += 1;
        s.last_at = at;
    }

    pub(crate) fn record(&self, at: i64, platform: &str, reference: &str, endpoint: &str, values: &[(&str, f64)]) {
        let mut guard = self.log.lock().unwrap_or_else(|p| p.into_inner());
        let (seq, log) = &mut *guard;
        *seq += 1;
        if log.len() >= LOG_CAPACITY {
            log.pop_front();
        }
        log.push_back(LogEntry {
            seq: *seq,
            at,
            platform: platform.to_owned(),
            reference: reference.to_owned(),
            endpoint: endpoint.to_owned(),
            values: values.iter().map(|(k, v)| ((*k).to_owned(), *v)).collect(),
        });
    }

    /// Logged responses, optionally of one platform and reference.
    pub fn entries(&self, platform: Option<&str>, reference: Option<&str>) -> Vec<LogEntry> {
        let guard = self.log.lock().unwrap_or_else(|p| p.into_inner());
        guard
            .1
            .iter()
            .filter(|e| platform.is_none_or(|p| e.platform == p) && reference.is_none_or(|r| e.reference == r))
            .cloned()
            .collect()
    }

    pub(crate) fn note_request(&self, platform: &str, reference: &str, outcome: &str, path: &str) {
        let mut requests = self.requests.lock().unwrap_or_else(|p| p.into_inner());
        if requests.len() >= LOG_CAPACITY {
            requests.pop_front();
        }
        let at_us = trawler_domain::now_micros();
        requests.push_back(RequestRecord {
            at_ms: at_us.div_euclid(1000),
            at_us,
            platform: platform.to_owned(),
            reference: reference.to_owned(),
            outcome: outcome.to_owned(),
            path: path.to_owned(),
        });
    }

    /// Every request seen, optionally of one platform, in arrival order.
    pub fn requests(&self, platform: Option<&str>) -> Vec<RequestRecord> {
        let requests = self.requests.lock().unwrap_or_else(|p| p.into_inner());
        requests.iter().filter(|r| platform.is_none_or(|p| r.platform == p)).cloned().collect()
    }

    /// Requests per `platform:reference`.
    pub fn stats(&self) -> BTreeMap<String, SourceStats> {
        self.stats.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }
}

/// Answers one platform request: counts it, applies any fault or limit,
/// and otherwise builds the normal answer (`bad_numbers` asks for numbers
/// that do not parse).
pub(crate) async fn serve(
    state: &SimState,
    req: &HttpRequest,
    platform: &str,
    reference: &str,
    build: impl FnOnce(bool) -> HttpResponse,
) -> HttpResponse {
    let at = now_secs();
    state.count(platform, reference, at);
    let (verdict, outcome) = state.faults.verdict(platform, reference, at);
    state.note_request(platform, reference, &outcome, req.path());
    match verdict {
        Verdict::Normal => build(false),
        Verdict::BadNumbers => build(true),
        // A hang: headers at once, then a body that never ends (a space
        // every 250 ms, so a client that goes away is noticed on the next
        // write and the stream is dropped).
        Verdict::Delay(d) if d >= Duration::from_secs(3600) => {
            let guard = Delayed::new(&state.delayed);
            let trickle = futures_util::stream::unfold(guard, |guard| async move {
                tokio::time::sleep(Duration::from_millis(250)).await;
                Some((Ok::<_, actix_web::Error>(web::Bytes::from_static(b" ")), guard))
            });
            HttpResponse::Ok().content_type("application/json").streaming(trickle)
        }
        Verdict::Delay(d) => {
            let mut guard = Delayed::new(&state.delayed);
            tokio::time::sleep(d).await;
            guard.done = true;
            build(false)
        }
        Verdict::Replace(resp) => resp,
        Verdict::Break(fault) => break_response(fault, build(false), req).await,
    }
}
