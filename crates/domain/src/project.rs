//! Projects, runs and their states.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// The id of a project (a creator's campaign and its ad spend).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct ProjectId(pub i64);

impl fmt::Display for ProjectId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// The id of one scrape run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct RunId(pub i64);

impl fmt::Display for RunId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// The error for a state name that the database or a client sent but that is
/// not one of the known values.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown {kind} `{value}`")]
pub struct UnknownName {
    /// What was being parsed ("project status", "run status", ...).
    pub kind: &'static str,
    /// The text that did not parse.
    pub value: String,
}

/// Declares a string-backed enum with `as_str`, `Display` and `FromStr`.
macro_rules! named_enum {
    ($(#[$meta:meta])* $name:ident, $kind:literal, { $($(#[$vmeta:meta])* $variant:ident => $text:literal),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
        #[serde(rename_all = "snake_case")]
        pub enum $name { $($(#[$vmeta])* $variant),+ }

        impl $name {
            /// The snake_case name stored in the database and sent by the API.
            pub fn as_str(self) -> &'static str {
                match self { $($name::$variant => $text),+ }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl FromStr for $name {
            type Err = UnknownName;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                match s {
                    $($text => Ok($name::$variant),)+
                    _ => Err(UnknownName { kind: $kind, value: s.to_owned() }),
                }
            }
        }
    };
}

named_enum!(
    /// Whether a project is being scraped.
    ProjectStatus, "project status", {
        /// Scraped on its schedule.
        Active => "active",
        /// Stopped for good by an admin; its data stays readable.
        Archived => "archived",
        /// Stopped by the supervisor after crashing too often; an admin resumes it.
        Quarantined => "quarantined",
        /// Its campaign is over and its final numbers are in: nothing is
        /// scheduled, its data stays served; an admin may resume it.
        Ended => "ended",
    }
);

named_enum!(
    /// What a run fetched.
    RunKind, "run kind", {
        /// Every metric of every source of the project.
        Full => "full",
        /// The hot metric only (the fast poll).
        Poll => "poll",
    }
);

named_enum!(
    /// Why a run started.
    RunTrigger, "run trigger", {
        /// Its slot in the schedule came.
        Schedule => "schedule",
        /// An admin asked for it.
        Manual => "manual",
        /// The campaign ended: the scrape of its final numbers.
        Final => "final",
    }
);

named_enum!(
    /// Where a run stands.
    RunStatus, "run status", {
        /// Fetching now.
        Running => "running",
        /// Every source answered and its points were handed to ingestion.
        Succeeded => "succeeded",
        /// Some sources answered, some failed.
        Partial => "partial",
        /// No source answered.
        Failed => "failed",
        /// The process stopped before the run finished.
        Aborted => "aborted",
        /// An admin cancelled it; the points fetched before are kept.
        Cancelled => "cancelled",
    }
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_round_trip() {
        for s in [RunStatus::Running, RunStatus::Succeeded, RunStatus::Partial, RunStatus::Failed, RunStatus::Aborted] {
            assert_eq!(s.as_str().parse::<RunStatus>(), Ok(s));
        }
        assert_eq!("archived".parse::<ProjectStatus>(), Ok(ProjectStatus::Archived));
        let err = "paused".parse::<ProjectStatus>().unwrap_err();
        assert_eq!(err.to_string(), "unknown project status `paused`");
    }
}
