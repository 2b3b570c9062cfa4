//! A simulator of the platforms trawler scrapes. It serves Kickstarter-,
//! Indiegogo- and Meta-Ads-shaped endpoints (plus a generic JSON and HTML
//! page) with deterministic values that grow with time, and logs every value
//! it served, so a test can check that what trawler stored is what the
//! platform said.

pub mod anomaly;
mod changes;
pub mod fault;
pub mod generic;
pub mod model;
mod platforms;
pub mod rates;
mod server;
mod state;

pub use fault::Fault;
pub use model::{Ads, Campaign};
pub use server::{configure, SimServer};
pub use state::{Ending, LogEntry, RequestRecord, SimState};
