//! The `trawler` command: `serve` (production), `demo` (simulator + server
//! on SQLite with seeded projects), `sim` (the platform simulator alone) and
//! `migrate`. Configuration comes from flags and `TRAWLER_*` / `DATABASE_URL`
//! environment variables; a bad value is a one-line error and exit code 2.

mod bench;
mod bench_sse;
mod client;
mod config;
mod demo;
mod serve;

use std::process::ExitCode;

use clap::{CommandFactory, FromArgMatches, Parser, Subcommand};

use crate::config::{ServeArgs, SimArgs};

/// trawler keeps dashboards fed with numbers scraped from crowdfunding and ad platforms.
#[derive(Parser)]
#[command(name = "trawler", version, about, long_about = None)]
struct Cli {
    /// A TOML file of settings, under the environment and flags:
    /// `full_interval = "1h"` stands for TRAWLER_FULL_INTERVAL, a `[rate]`
    /// table's `kickstarter = 5` for TRAWLER_RATE_KICKSTARTER.
    #[arg(long, global = true, env = "TRAWLER_CONFIG")]
    config: Option<std::path::PathBuf>,

    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the service: scrapers, ingestion and the HTTP API.
    Serve(Box<ServeArgs>),
    /// Run the simulator and the service on SQLite with ~20 seeded projects.
    Demo(demo::DemoArgs),
    /// Run the platform simulator alone.
    Sim(SimArgs),
    /// Apply pending database migrations and exit.
    Migrate(config::MigrateArgs),
    /// Run a benchmark and print its figures.
    Bench(bench::BenchArgs),
    /// List, add, archive, resume or scrape projects on a running node, one or many.
    Projects(client::ProjectsArgs),
    /// List, add, remove or ping webhooks, and show their delivery logs.
    Webhooks(client::WebhooksArgs),
    /// Print a running node's supervision tree.
    Actors(client::ActorsArgs),
    /// Print the nodes sharing the database and the projects each leases.
    Cluster(client::ClusterArgs),
    /// List runs of every project, filtered by outcome, platform, node and time.
    Runs(client::RunsArgs),
    /// Stream a project's points to a file (CSV or JSON lines).
    Export(client::ExportArgs),
    /// Load points into a project from a file (CSV or JSON lines, as exported).
    Import(client::ImportArgs),
    /// Read a password on standard input and print its argon2 hash, for
    /// TRAWLER_ADMIN_PASSWORD_HASH.
    HashPassword,
    /// Keys of the secrets stored with sources and webhooks.
    Secrets {
        #[command(subcommand)]
        what: SecretsCommand,
    },
    /// Inspect the configuration.
    Config {
        #[command(subcommand)]
        what: ConfigCommand,
    },
}

#[derive(Subcommand)]
enum SecretsCommand {
    /// Print a new random key for TRAWLER_SECRET_KEY.
    NewKey,
    /// Seal every stored secret with TRAWLER_SECRET_KEY, opening each with
    /// the key that sealed it (from TRAWLER_SECRET_KEYS_OLD); then the old
    /// keys can go.
    Rotate(config::RotateArgs),
}

#[derive(Subcommand)]
enum ConfigCommand {
    /// Validate flags and environment, print the effective settings (secrets
    /// masked) and exit; a bad value is a one-line error and exit code 2.
    Check(Box<ServeArgs>),
}

fn hash_password() -> anyhow::Result<()> {
    let mut password = String::new();
    std::io::stdin().read_line(&mut password)?;
    let password = password.trim_end_matches(['\n', '\r']);
    if password.chars().count() < 12 {
        anyhow::bail!("use a password of at least 12 characters");
    }
    println!("{}", trawler_web::hash_password(password).map_err(anyhow::Error::msg)?);
    Ok(())
}

fn main() -> ExitCode {
    // The file's settings become the arguments' defaults before the flags
    // and the environment are parsed: file < environment < flag.
    let args: Vec<std::ffi::OsString> = std::env::args_os().collect();
    let command = match config::with_file(Cli::command(), &args) {
        Ok(command) => command,
        Err(e) => {
            eprintln!("trawler: error: {e:#}");
            return ExitCode::from(2);
        }
    };
    let parsed = command.try_get_matches_from(&args).and_then(|m| Cli::from_arg_matches(&m));
    let cli = match parsed {
        Ok(cli) => cli,
        Err(e) => {
            use clap::error::ErrorKind;
            if matches!(
                e.kind(),
                ErrorKind::DisplayHelp
                    | ErrorKind::DisplayVersion
                    | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand
            ) {
                let _ = e.print();
                return ExitCode::SUCCESS;
            }
            // One line: the first line of clap's message says what was wrong.
            let rendered = e.render().to_string();
            let first = rendered.lines().next().unwrap_or("invalid arguments").trim_start_matches("error: ");
            eprintln!("trawler: error: {first}");
            return ExitCode::from(2);
        }
    };
    env_logger::Builder::from_env(
        env_logger::Env::default().default_filter_or("info,actix_server=warn,actix_web=warn"),
    )
    .format_timestamp_millis()
    .init();
    let result = match cli.command {
        Command::Serve(args) => serve::run(*args),
        Command::Demo(args) => demo::run(args),
        Command::Sim(args) => serve::run_sim(args),
        Command::Migrate(args) => serve::migrate(args),
        Command::Bench(args) => bench::run(args),
        Command::Projects(args) => client::projects(args),
        Command::Actors(args) => client::actors(args),
        Command::Cluster(args) => client::cluster(args),
        Command::Runs(args) => client::runs(args),
        Command::Webhooks(args) => client::webhooks(args),
        Command::Export(args) => client::export(args),
        Command::Import(args) => client::import(args),
        Command::HashPassword => hash_password(),
        Command::Secrets { what: SecretsCommand::NewKey } => {
            trawler_store::secret::new_key().map(|key| println!("{key}")).map_err(anyhow::Error::msg)
        }
        Command::Secrets { what: SecretsCommand::Rotate(args) } => serve::rotate(args),
        Command::Config { what: ConfigCommand::Check(args) } => args.config().map(|config| {
            for (name, value) in config.describe() {
                println!("{name}={value}");
            }
            println!("# configuration is valid");
            match config.capacity_report() {
                Ok(lines) => lines.iter().for_each(|l| println!("{l}")),
                Err(e) => println!("# capacity: not checked ({})", format!("{e:#}").replace('\n', " ")),
            }
        }),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            let text = format!("{e:#}");
            eprintln!("trawler: error: {}", text.split_whitespace().collect::<Vec<_>>().join(" "));
            ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every setting any command reads from the environment (and so from the
    /// file) is explained in its argument's doc comment and listed in
    /// docs/configuration.md.
    #[test]
    fn every_setting_is_documented() {
        let doc = include_str!("../../../docs/configuration.md");
        fn walk(cmd: &clap::Command, doc: &str, missing: &mut Vec<String>) {
            for arg in cmd.get_arguments() {
                let Some(env) = arg.get_env() else { continue };
                let env = env.to_string_lossy();
                if !doc.contains(&format!("`{env}`")) {
                    missing.push(format!("{env} is not in docs/configuration.md"));
                }
                if arg.get_help().is_none_or(|h| h.to_string().trim().is_empty()) {
                    missing.push(format!("{env} has no doc comment"));
                }
            }
            for sub in cmd.get_subcommands() {
                walk(sub, doc, missing);
            }
        }
        let mut missing = Vec::new();
        walk(&Cli::command(), doc, &mut missing);
        missing.sort();
        missing.dedup();
        assert!(missing.is_empty(), "{missing:#?}");
    }

    /// One default per setting: `trawler serve` with no flags builds the
    /// same settings as each library's `Default`, apart from what depends on
    /// the machine (the node's name, the data directory) or is made per
    /// process (the cipher's key).
    #[test]
    fn the_flags_defaults_are_the_libraries_defaults() {
        let cli = Cli::try_parse_from(["trawler", "serve", "--admin-token", "0123456789abcdef-token"])
            .expect("serve parses with only a token");
        let Command::Serve(args) = cli.command else { panic!("serve") };
        let config = args.config().expect("a valid configuration");
        let mut actors = config.actors;
        let defaults = trawler_actors::ActorsConfig::default();
        actors.node = defaults.node.clone();
        actors.cipher = defaults.cipher.clone();
        actors.ingest.spool_dir = defaults.ingest.spool_dir.clone();
        assert_eq!(format!("{actors:?}"), format!("{defaults:?}"), "actors: flags vs ActorsConfig::default()");
        let sources = trawler_sources::SourcesConfig::default();
        assert_eq!(
            format!("{:?}", config.sources),
            format!("{sources:?}"),
            "sources: flags vs SourcesConfig::default()"
        );
        let limits = trawler_web::LimitsConfig::default();
        assert_eq!(format!("{:?}", config.limits), format!("{limits:?}"), "limits: flags vs LimitsConfig::default()");
    }

    /// `trawler config check` shows every setting `serve` reads, so a new
    /// flag cannot be left out of what operators see.
    #[test]
    fn config_check_shows_every_setting_of_serve() {
        let cli = Cli::try_parse_from(["trawler", "serve", "--admin-token", "0123456789abcdef-token"])
            .expect("serve parses with only a token");
        let Command::Serve(args) = cli.command else { panic!("serve") };
        let shown: Vec<&str> = args.config().expect("valid").describe().into_iter().map(|(name, _)| name).collect();
        let command = Cli::command();
        let serve = command.find_subcommand("serve").expect("a serve command");
        let mut missing: Vec<String> = serve
            .get_arguments()
            .filter_map(|a| a.get_env().map(|e| e.to_string_lossy().into_owned()))
            .filter(|env| env != "TRAWLER_CONFIG" && !shown.contains(&env.as_str()))
            .collect();
        missing.sort();
        assert!(missing.is_empty(), "config check leaves out {missing:?}");
    }
}
