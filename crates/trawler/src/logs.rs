//! The log on standard error: lines for people (`text`, the default), or
//! one JSON object a line (`TRAWLER_LOG_FORMAT=json`) for log pipelines,
//! with the node, and the fields a line carries — `project`, `run`,
//! `platform` — as keys of their own.

use std::io::Write;
use std::sync::atomic::{AtomicUsize, Ordering};

use log::LevelFilter;

use log::kv::{Key, Value, VisitSource};

/// The default filter: the node's own news, the web server's warnings.
const FILTER: &str = "info,actix_server=warn,actix_web=warn";

/// Collects a record's fields into a JSON object.
struct Fields<'a>(&'a mut serde_json::Map<String, serde_json::Value>);

impl<'kvs> VisitSource<'kvs> for Fields<'_> {
    fn visit_pair(&mut self, key: Key<'kvs>, value: Value<'kvs>) -> Result<(), log::kv::Error> {
        let json = if let Some(n) = value.to_i64() {
            serde_json::Value::from(n)
        } else if let Some(n) = value.to_u64() {
            serde_json::Value::from(n)
        } else if let Some(b) = value.to_bool() {
            serde_json::Value::from(b)
        } else {
            serde_json::Value::from(value.to_string())
        };
        self.0.insert(key.as_str().to_owned(), json);
        Ok(())
    }
}

/// One record as a JSON line.
fn json_line(record: &log::Record<'_>, node: &str, at: chrono::DateTime<chrono::Utc>) -> String {
    let mut object = serde_json::Map::new();
    object.insert("ts".into(), at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true).into());
    object.insert("level".into(), record.level().as_str().into());
    object.insert("target".into(), record.target().into());
    object.insert("node".into(), node.into());
    object.insert("message".into(), record.args().to_string().into());
    // A field never replaces the line's own keys.
    let mut fields = serde_json::Map::new();
    let _ = record.key_values().visit(&mut Fields(&mut fields));
    for (k, v) in fields {
        object.entry(k).or_insert(v);
    }
    serde_json::Value::Object(object).to_string()
}

/// The level a setting gave every line (`usize::MAX`: none, `RUST_LOG`
/// filters), and the most verbose level `RUST_LOG` lets through.
static LEVEL: AtomicUsize = AtomicUsize::new(usize::MAX);
static FILTERED_MAX: AtomicUsize = AtomicUsize::new(0);

fn level() -> Option<LevelFilter> {
    let n = LEVEL.load(Ordering::Relaxed);
    LevelFilter::iter().find(|l| *l as usize == n)
}

/// The log: `RUST_LOG`'s filter, or one level for every line when the
/// settings give one (`TRAWLER_LOG_LEVEL`, which a reload may change).
struct Logger {
    filtered: env_logger::Logger,
    open: env_logger::Logger,
}

impl log::Log for Logger {
    fn enabled(&self, meta: &log::Metadata<'_>) -> bool {
        match level() {
            Some(l) => meta.level() <= l,
            None => self.filtered.enabled(meta),
        }
    }

    fn log(&self, record: &log::Record<'_>) {
        match level() {
            Some(l) if record.level() <= l => self.open.log(record),
            Some(_) => {}
            None => self.filtered.log(record),
        }
    }

    fn flush(&self) {
        self.filtered.flush();
    }
}

fn builder(json: bool, node: &str) -> env_logger::Builder {
    let mut builder = env_logger::Builder::from_env(env_logger::Env::default().default_filter_or(FILTER));
    if json {
        let node = node.to_owned();
        builder.format(move |out, record| writeln!(out, "{}", json_line(record, &node, chrono::Utc::now())));
    } else {
        builder.format_timestamp_millis();
    }
    builder
}

/// Starts the log: `RUST_LOG` filters it as usual, unless `level` is set.
pub fn init(json: bool, node: &str, level: Option<LevelFilter>) {
    let filtered = builder(json, node).build();
    let open = builder(json, node).filter_level(LevelFilter::Trace).build();
    FILTERED_MAX.store(filtered.filter() as usize, Ordering::Relaxed);
    if log::set_boxed_logger(Box::new(Logger { filtered, open })).is_ok() {
        set_level(level);
    }
}

/// Gives every line one level (`None`: back to `RUST_LOG`'s filter).
pub fn set_level(level: Option<LevelFilter>) {
    LEVEL.store(level.map_or(usize::MAX, |l| l as usize), Ordering::Relaxed);
    let filtered = LevelFilter::iter().find(|l| *l as usize == FILTERED_MAX.load(Ordering::Relaxed));
    log::set_max_level(level.or(filtered).unwrap_or(LevelFilter::Info));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_json_line_carries_the_node_and_the_records_fields() {
        let fields: [(&str, log::kv::Value<'_>); 3] =
            [("project", 7i64.into()), ("platform", "kickstarter".into()), ("message", "not mine".into())];
        let record = log::Record::builder()
            .level(log::Level::Warn)
            .target("trawler_actors::scraper")
            .args(format_args!("run 12 of project 7 failed: \"quoted\""))
            .key_values(&fields)
            .build();
        let at = chrono::DateTime::from_timestamp_millis(1_796_630_400_123).expect("a time");
        let line: serde_json::Value = serde_json::from_str(&json_line(&record, "node-1", at)).expect("JSON");
        assert_eq!(line["ts"], "2026-12-07T08:00:00.123Z");
        assert_eq!(line["level"], "WARN");
        assert_eq!(line["node"], "node-1");
        assert_eq!(line["project"], 7);
        assert_eq!(line["platform"], "kickstarter");
        assert_eq!(line["message"], "run 12 of project 7 failed: \"quoted\"", "the line's own message stays");
    }
}
