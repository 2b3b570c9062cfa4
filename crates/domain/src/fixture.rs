//! A simulator fixture: the answers a failed run's sources got, exported
//! from the response archive so that the simulator can serve them again
//! (`trawler sim --fixture FILE`) and a layout change seen in production
//! becomes a regression test.

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// The format this module reads and writes.
pub const FORMAT: &str = "trawler-fixture/1";

/// What a source's URL template becomes in a fixture: the simulator's
/// address (`{sim}`, replaced by whoever starts it) and the path it serves
/// the source's answers at.
pub fn url_template(platform: &str) -> String {
    format!("{{sim}}/fixture/{platform}/{{ref}}")
}

/// A fixture.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Fixture {
    /// [`FORMAT`].
    pub format: String,
    /// The project the answers came from.
    pub project_id: i64,
    /// The run, if the fixture is one run's.
    pub run_id: Option<i64>,
    /// Its sources, each with its answers.
    pub sources: Vec<FixtureSource>,
}

/// One source of a fixture.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FixtureSource {
    /// Its platform.
    pub platform: String,
    /// Its reference.
    pub external_ref: String,
    /// Its options, `url` pointing at the simulator (see [`url_template`]).
    pub options: Value,
    /// Its answers, in the order they came: the simulator serves them in
    /// turn, the last one again once all are served.
    pub answers: Vec<FixtureAnswer>,
}

/// One answer of a fixture.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FixtureAnswer {
    /// When it was fetched, epoch ms.
    pub fetched_at_ms: i64,
    /// The HTTP status.
    pub status: u16,
    /// The headers it came with (type, validators, dates).
    pub headers: Vec<(String, String)>,
    /// The body, when it is text.
    #[serde(default)]
    pub body: String,
    /// The body's bytes, when it is not text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body_bytes: Option<Vec<u8>>,
}

impl FixtureAnswer {
    /// An answer, its body as text when it is.
    pub fn new(fetched_at_ms: i64, status: u16, headers: Vec<(String, String)>, body: Vec<u8>) -> FixtureAnswer {
        match String::from_utf8(body) {
            Ok(text) => FixtureAnswer { fetched_at_ms, status, headers, body: text, body_bytes: None },
            Err(e) => {
                FixtureAnswer { fetched_at_ms, status, headers, body: String::new(), body_bytes: Some(e.into_bytes()) }
            }
        }
    }

    /// The body's bytes.
    pub fn bytes(&self) -> Vec<u8> {
        self.body_bytes.clone().unwrap_or_else(|| self.body.clone().into_bytes())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bodies_round_trip_as_text_or_bytes() -> Result<(), serde_json::Error> {
        let text = FixtureAnswer::new(1, 200, vec![], b"<p>1,234</p>".to_vec());
        let binary = FixtureAnswer::new(2, 200, vec![], vec![0xff, 0x00, 0x41]);
        let fixture = Fixture {
            format: FORMAT.into(),
            project_id: 1,
            run_id: Some(2),
            sources: vec![FixtureSource {
                platform: "html".into(),
                external_ref: "a".into(),
                options: serde_json::json!({"url": url_template("html")}),
                answers: vec![text, binary],
            }],
        };
        let back: Fixture = serde_json::from_str(&serde_json::to_string(&fixture)?)?;
        assert_eq!(back, fixture);
        assert_eq!(back.sources[0].answers[0].bytes(), b"<p>1,234</p>");
        assert_eq!(back.sources[0].answers[1].bytes(), vec![0xff, 0x00, 0x41]);
        assert_eq!(url_template("html"), "{sim}/fixture/html/{ref}");
        Ok(())
    }
}
