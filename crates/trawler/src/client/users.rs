//! `trawler users …`: who may log in to the admin UI, with which role.

use std::io::{BufRead, IsTerminal};

use anyhow::{bail, Result};
use clap::{Args, Subcommand};
use serde_json::json;

use super::*;

/// `trawler users …`
#[derive(Args, Clone, Debug)]
pub struct UsersArgs {
    #[command(flatten)]
    pub remote: Remote,
    #[command(subcommand)]
    pub what: UsersCommand,
}

/// What to do with users.
#[derive(Subcommand, Clone, Debug)]
pub enum UsersCommand {
    /// List the users and their roles.
    List,
    /// Add a user; the password is read on standard input (one line).
    Add {
        /// 1 to 64 lower-case letters, digits, `.`, `_` or `-`.
        name: String,
        /// `admin`, `operator` (scrape now, resume, pause, cancel) or
        /// `viewer` (read only).
        #[arg(long, value_parser = ["admin", "operator", "viewer"])]
        role: String,
    },
    /// Give a user another role.
    Role {
        /// The user.
        name: String,
        /// `admin`, `operator` or `viewer`.
        #[arg(value_parser = ["admin", "operator", "viewer"])]
        role: String,
    },
    /// Set a user's password (read on standard input); their sessions end.
    Password {
        /// The user.
        name: String,
    },
    /// Remove a user; their sessions end at once.
    Remove {
        /// The user.
        name: String,
    },
}

/// One line of standard input, without its newline.
fn read_password() -> Result<String> {
    if std::io::stdin().is_terminal() {
        eprint!("password (at least 10 characters): ");
    }
    let mut line = String::new();
    std::io::stdin().lock().read_line(&mut line)?;
    let password = line.trim_end_matches(['\n', '\r']).to_owned();
    if password.is_empty() {
        bail!("no password on standard input");
    }
    Ok(password)
}

/// `trawler users …`
pub fn users(args: UsersArgs) -> Result<()> {
    let api = Api::new(&args.remote)?;
    match args.what {
        UsersCommand::List => {
            let list = api.get("/api/v1/admin/users")?;
            let users = list["users"].as_array().cloned().unwrap_or_default();
            for u in &users {
                out!("{:<24} {}", u["name"].as_str().unwrap_or("?"), u["role"].as_str().unwrap_or("?"));
            }
            out!("{} user{}", users.len(), if users.len() == 1 { "" } else { "s" });
        }
        UsersCommand::Add { name, role } => {
            let password = read_password()?;
            let u = api.post("/api/v1/admin/users", Some(json!({"name": name, "role": role, "password": password})))?;
            out!("added {} ({})", u["name"].as_str().unwrap_or("?"), u["role"].as_str().unwrap_or("?"));
        }
        UsersCommand::Role { name, role } => {
            let req = api.client.patch(format!("{}/api/v1/admin/users/{name}", api.base)).json(&json!({"role": role}));
            let u = api.call(req)?;
            out!("{name} is {} now", u["role"].as_str().unwrap_or("?"));
        }
        UsersCommand::Password { name } => {
            let password = read_password()?;
            let req = api
                .client
                .patch(format!("{}/api/v1/admin/users/{name}", api.base))
                .json(&json!({"password": password}));
            api.call(req)?;
            out!("{name}'s password is changed; their sessions ended");
        }
        UsersCommand::Remove { name } => {
            let resp = api
                .client
                .delete(format!("{}/api/v1/admin/users/{name}", api.base))
                .bearer_auth(&api.token)
                .send()
                .map_err(|e| anyhow::anyhow!("cannot reach {}: {e}", api.base))?;
            if resp.status() != 204 {
                let status = resp.status().as_u16();
                let body: serde_json::Value = resp.json().unwrap_or_default();
                bail!("{status}: {}", body["error"]["message"].as_str().unwrap_or("no details"));
            }
            out!("removed {name}");
        }
    }
    Ok(())
}
