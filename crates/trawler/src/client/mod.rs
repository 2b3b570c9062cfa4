//! The command-line client: `trawler projects …` and `trawler actors` talk
//! to a running node's API with the admin token, and print what an operator
//! needs on one screen. API errors become a one-line message and exit 1.

use anyhow::{bail, Context, Result};
use clap::Args;
use reqwest::blocking::{Client, RequestBuilder};
use serde_json::Value;
use std::time::Duration;

/// Prints a line; a closed pipe (`trawler actors | head`) ends the program
/// quietly instead of panicking.
macro_rules! out {
    ($($arg:tt)*) => {{
        use std::io::Write;
        let mut stdout = std::io::stdout().lock();
        if let Err(e) = writeln!(stdout, $($arg)*) {
            if e.kind() == std::io::ErrorKind::BrokenPipe {
                std::process::exit(0);
            }
            return Err(e.into());
        }
    }};
}

mod archive;
mod follow;
mod jobs;
mod labels;
mod monitors;
mod nodes;
mod points;
mod projects;
mod users;
mod webhooks;

pub use archive::*;
pub use jobs::{jobs, JobsArgs};
pub use nodes::*;
pub use points::*;
pub use projects::*;
pub use users::{users, UsersArgs};
pub use webhooks::*;

/// Where the node is and how to reach it.
#[derive(Args, Clone, Debug)]
pub struct Remote {
    /// The node's base URL.
    #[arg(long, env = "TRAWLER_URL", default_value = "http://127.0.0.1:8080")]
    pub url: String,
    /// The admin token.
    #[arg(long, env = "TRAWLER_ADMIN_TOKEN", hide_env_values = true)]
    pub admin_token: Option<String>,
}

struct Api {
    client: Client,
    base: String,
    token: String,
}

impl Api {
    fn new(remote: &Remote) -> Result<Api> {
        let Some(token) = remote.admin_token.clone().filter(|t| !t.is_empty()) else {
            bail!("TRAWLER_ADMIN_TOKEN (or --admin-token) is required to talk to the node");
        };
        let client = Client::builder().timeout(Duration::from_secs(30)).build()?;
        Ok(Api { client, base: remote.url.trim_end_matches('/').to_owned(), token })
    }

    fn call(&self, req: RequestBuilder) -> Result<Value> {
        let resp = req.bearer_auth(&self.token).send().with_context(|| format!("cannot reach {}", self.base))?;
        let status = resp.status();
        let body: Value = resp.json().unwrap_or(Value::Null);
        if !status.is_success() {
            let code = body["error"]["code"].as_str().unwrap_or("error");
            let message = body["error"]["message"].as_str().unwrap_or("no details");
            bail!("{} {code}: {message}", status.as_u16());
        }
        Ok(body)
    }

    fn get(&self, path: &str) -> Result<Value> {
        self.call(self.client.get(format!("{}{path}", self.base)))
    }

    fn post(&self, path: &str, body: Option<Value>) -> Result<Value> {
        let req = self.client.post(format!("{}{path}", self.base));
        self.call(match body {
            Some(b) => req.json(&b),
            None => req,
        })
    }
}
