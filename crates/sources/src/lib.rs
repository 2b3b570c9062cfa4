//! trawler's side of the platforms: one [`Adapter`] per platform behind one
//! trait, the bounded HTTP client they share (size, time, redirects, SSRF
//! guard), per-platform rate gates, and tolerant number parsing for pages
//! written for humans.

mod adapter;
mod adapters;
pub mod cookies;
pub mod ecb;
mod egress;
mod error;
mod gate;
mod html;
mod http;
mod http_json;
mod indiegogo;
mod keep;
mod kickstarter;
mod meta_ads;
pub mod number;
mod paging;
pub mod propose;
#[cfg(test)]
mod props;
pub mod proxy;
pub mod request;
mod robots;
mod settings;
mod table;

pub use adapter::{Adapter, BoxFuture, Fetched, Sample, SourceSpec};
pub use adapters::{Adapters, RetryBudget, SourcesConfig};
pub use error::SourceError;
pub use gate::{
    GateChange, GateConfig, GateEvent, GateSnapshot, Gates, GatesSnapshot, HostCircuit, LinePlace, Pass, PauseAsked,
    PlatformGate, Standing,
};
pub use http::{shown_url, HttpClient, HttpConfig, HttpResponse};
pub use keep::{Keeper, Keeping, Kept};
pub use settings::{BaseUrl, HostPattern, HostRate, ProxyRoute, SourcesSettings};
