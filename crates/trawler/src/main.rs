//! The `trawler` command: `serve` (production), `demo` (simulator + server
//! on SQLite with seeded projects), `sim` (the platform simulator alone) and
//! `migrate`. Configuration comes from flags and `TRAWLER_*` / `DATABASE_URL`
//! environment variables; a bad value is a one-line error and exit code 2.

mod bench;
mod bench_sse;
mod bench_sse_baseline;
mod client;
mod config;
mod demo;
mod logs;
mod reload;
mod serve;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::config::{NodeArgs, SimArgs, StoreArgs};

/// mimalloc instead of the system's malloc, when built with `--features
/// mimalloc`: a poll allocates and frees dozens of blocks (its task,
/// request, answer, points, messages), and glibc's malloc and free were a
/// third of the actors' thread at 20,000 polls a second. Measured: 1.5-1.9x
/// the pages a second past capacity, and 10-15% more resident memory per
/// idle project, so the default stays the system's (docs/benchmarks.md,
/// "Allocator").
#[cfg(feature = "mimalloc")]
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// trawler keeps dashboards fed with numbers scraped from crowdfunding and ad platforms.
#[derive(Parser)]
#[command(name = "trawler", version, about, long_about = None)]
struct Cli {
    /// A TOML file of settings, under the environment and flags:
    /// `full_interval = "1h"` stands for TRAWLER_FULL_INTERVAL, a `[rate]`
    /// table's `kickstarter = 5` for TRAWLER_RATE_KICKSTARTER; a section
    /// table (`[actors]`, `[sources]`, `[store]`, `[web]`) holds its
    /// settings by name.
    #[arg(long, global = true, env = "TRAWLER_CONFIG")]
    config: Option<std::path::PathBuf>,

    /// How log lines are written on standard error: `text` for people, or
    /// `json`, one object a line with the node, and the project, run and
    /// platform a line concerns, as fields.
    #[arg(long, global = true, env = "TRAWLER_LOG_FORMAT", default_value = "text", value_parser = ["text", "json"])]
    log_format: String,

    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the service: scrapers, ingestion and the HTTP API.
    Serve(NodeArgs),
    /// Run the simulator and the service on SQLite with ~20 seeded projects.
    Demo(demo::DemoArgs),
    /// Run the platform simulator alone.
    Sim(SimArgs),
    /// Apply pending database migrations and exit.
    Migrate(StoreArgs),
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
    /// List, add, remove users of the admin UI or change their roles.
    Users(client::UsersArgs),
    /// List, show or cancel the node's bulk jobs (`projects bulk --filter`).
    Jobs(client::JobsArgs),
    /// List runs of every project, filtered by outcome, platform, node and time.
    Runs(client::RunsArgs),
    /// Stream a project's points to a file (CSV or JSON lines).
    Export(client::ExportArgs),
    /// Write a run's kept answers as a simulator fixture (`trawler sim --fixture FILE` serves them).
    Fixture(client::FixtureArgs),
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
    Rotate(StoreArgs),
}

#[derive(Subcommand)]
enum ConfigCommand {
    /// Validate flags and environment, print the effective settings (secrets
    /// masked) and exit; a bad value is a one-line error and exit code 2.
    Check(NodeArgs),
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
    let cli = match Cli::try_parse() {
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
            // One line: the first paragraph of clap's message says what was
            // wrong (a list of missing arguments follows its first line).
            let rendered = e.render().to_string();
            let first: Vec<&str> = rendered.lines().map(str::trim).take_while(|l| !l.is_empty()).collect();
            let first = if first.is_empty() { "invalid arguments".to_owned() } else { first.join(" ") };
            eprintln!("trawler: error: {}", first.trim_start_matches("error: "));
            return ExitCode::from(2);
        }
    };
    // The settings of the commands that have them: a value that does not
    // read is a one-line error and exit code 2, before anything starts.
    let file = cli.config.as_deref();
    let settings = match &cli.command {
        Command::Serve(args) | Command::Config { what: ConfigCommand::Check(args) } => Some(args.load(file)),
        Command::Migrate(args) | Command::Secrets { what: SecretsCommand::Rotate(args) } => Some(args.load(file)),
        _ => None,
    };
    let settings = match settings.transpose() {
        Ok(settings) => settings.unwrap_or_default(),
        Err(e) => {
            eprintln!("trawler: error: {e}");
            return ExitCode::from(2);
        }
    };
    let node = settings.actors.node_name.as_ref().map_or_else(trawler_actors::host_name, |n| n.as_str().to_owned());
    logs::init(cli.log_format == "json", &node, settings.actors.log_level.map(|l| l.0));
    let result = match cli.command {
        Command::Serve(args) => serve::run(settings, reload::Origins { file: cli.config.clone(), args: args.clone() }),
        Command::Demo(args) => demo::run(args),
        Command::Sim(args) => serve::run_sim(args),
        Command::Migrate(_) => serve::migrate(settings),
        Command::Bench(args) => bench::run(args),
        Command::Projects(args) => client::projects(args),
        Command::Actors(args) => client::actors(args),
        Command::Cluster(args) => client::cluster(args),
        Command::Runs(args) => client::runs(args),
        Command::Jobs(args) => client::jobs(args),
        Command::Users(args) => client::users(args),
        Command::Webhooks(args) => client::webhooks(args),
        Command::Export(args) => client::export(args),
        Command::Fixture(args) => client::fixture(args),
        Command::Import(args) => client::import(args),
        Command::HashPassword => hash_password(),
        Command::Secrets { what: SecretsCommand::NewKey } => {
            trawler_store::secret::new_key().map(|key| println!("{key}")).map_err(anyhow::Error::msg)
        }
        Command::Secrets { what: SecretsCommand::Rotate(_) } => serve::rotate(settings),
        Command::Config { what: ConfigCommand::Check(_) } => settings.check().and_then(|()| {
            for (name, value) in settings.describe() {
                println!("{name}={value}");
            }
            println!("# configuration is valid");
            match settings.capacity_report() {
                Ok((lines, failed)) => {
                    lines.iter().for_each(|l| println!("{l}"));
                    if failed {
                        anyhow::bail!("projects' own poll intervals do not fit a platform's budget (the ERROR lines)");
                    }
                }
                Err(e) => println!("# capacity: not checked ({})", format!("{e:#}").replace('\n', " ")),
            }
            Ok(())
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
    use clap::CommandFactory;

    /// Every setting any command reads from the environment (and so from the
    /// file) is explained in its argument's help and listed in
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

    /// `serve` has a flag for every setting, and `config check` shows each.
    #[test]
    fn serve_has_a_flag_and_check_a_line_for_every_setting() {
        let command = Cli::command();
        let serve = command.find_subcommand("serve").expect("a serve command");
        let settings = config::Settings::default();
        let shown: Vec<String> = settings.describe().into_iter().map(|(name, _)| name).collect();
        for field in config::fields() {
            let flag = config::flag_name(field.key);
            assert!(serve.get_arguments().any(|a| a.get_long() == Some(flag.as_str())), "no --{flag}");
            assert!(shown.contains(&config::env_name(field.key)), "check leaves out {}", field.key);
        }
    }

    /// With no file, no environment and no flag, the settings are each
    /// section's defaults, and the libraries' runtime defaults are theirs.
    #[test]
    fn one_default_per_setting() {
        let cli = Cli::try_parse_from(["trawler", "serve"]).expect("serve parses");
        let Command::Serve(args) = cli.command else { panic!("serve") };
        let settings = args.load(None).expect("the defaults load");
        // Variables set in the test's environment would show up here.
        let from_env: Vec<_> =
            config::fields().filter(|f| std::env::var_os(config::env_name(f.key)).is_some()).collect();
        if from_env.is_empty() {
            assert_eq!(settings, config::Settings::default());
        }
        let sources = config::Settings::default().sources.config();
        assert_eq!(format!("{sources:?}"), format!("{:?}", trawler_sources::SourcesConfig::default()));
        let limits = config::Settings::default().web.limits();
        assert_eq!(limits, trawler_web::LimitsConfig::default());
    }
}
