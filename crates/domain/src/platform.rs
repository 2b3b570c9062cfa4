//! The platforms trawler knows how to read.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// A platform adapter: where the numbers come from and in which shape.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Platform {
    /// Kickstarter: `stats.json` for the hot poll, the project page for the full scrape.
    Kickstarter,
    /// Indiegogo: the campaign JSON of its public API.
    Indiegogo,
    /// Meta (Facebook) Ads: Marketing API insights of an ad account or campaign.
    MetaAds,
    /// Any JSON endpoint, metrics picked by JSON pointer.
    HttpJson,
    /// Any HTML page, metrics picked by CSS selector.
    Html,
    /// The European Central Bank's euro reference rates: the node's own
    /// source of exchange rates, not a project's.
    Ecb,
}

impl Platform {
    /// Every platform, in a stable order.
    pub const ALL: [Platform; 6] = [
        Platform::Kickstarter,
        Platform::Indiegogo,
        Platform::MetaAds,
        Platform::HttpJson,
        Platform::Html,
        Platform::Ecb,
    ];

    /// The platforms a project's sources read (all but the node's own
    /// exchange rates).
    pub const SOURCES: [Platform; 5] =
        [Platform::Kickstarter, Platform::Indiegogo, Platform::MetaAds, Platform::HttpJson, Platform::Html];

    /// The snake_case name used in the API, the database and config keys.
    pub fn as_str(self) -> &'static str {
        match self {
            Platform::Kickstarter => "kickstarter",
            Platform::Indiegogo => "indiegogo",
            Platform::MetaAds => "meta_ads",
            Platform::HttpJson => "http_json",
            Platform::Html => "html",
            Platform::Ecb => "ecb",
        }
    }
}

impl fmt::Display for Platform {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The error for a platform name that is not one of [`Platform::ALL`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown platform `{0}` (expected one of kickstarter, indiegogo, meta_ads, http_json, html, ecb)")]
pub struct UnknownPlatform(pub String);

impl FromStr for Platform {
    type Err = UnknownPlatform;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Platform::ALL.into_iter().find(|p| p.as_str() == s).ok_or_else(|| UnknownPlatform(s.to_owned()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for p in Platform::ALL {
            assert_eq!(p.as_str().parse::<Platform>(), Ok(p));
        }
        assert!("facebook".parse::<Platform>().is_err());
    }
}
