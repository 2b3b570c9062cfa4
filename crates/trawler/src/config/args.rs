//! The settings as flags: one flag per field, with its environment variable,
//! generated from the sections' fields so that nothing is typed twice.

use clap::parser::ValueSource;
use clap::{Arg, ArgAction, ArgMatches, Command};
use std::path::Path;
use trawler_domain::settings::{Field, Section};
use trawler_store::StoreSettings;

use super::{env_name, fields, flag_name, Invalid, Origin, Settings};

/// The flag of `field`, reading its environment variable too; its help is
/// the field's doc comment and its default.
fn arg(field: &'static Field) -> Arg {
    let doc: String = field.doc.lines().map(str::trim).filter(|l| !l.is_empty()).collect::<Vec<_>>().join(" ");
    let default = Settings::default().show(field.key).unwrap_or_default();
    let help = format!("{doc} [default: {default}]");
    let mut arg = Arg::new(field.key)
        .long(flag_name(field.key))
        .env(env_name(field.key))
        .value_name(field.key.to_ascii_uppercase())
        .help(help)
        .action(ArgAction::Set);
    if field.secret {
        arg = arg.hide_env_values(true);
    }
    if field.switch {
        arg = arg.num_args(0..=1).default_missing_value("true");
    }
    arg
}

/// The values `fields` were given, from the environment or a flag.
fn given(m: &ArgMatches, fields: impl Iterator<Item = &'static Field>) -> Vec<(&'static str, String, Origin)> {
    fields
        .filter_map(|f| {
            let text = m.get_raw(f.key)?.next_back()?.to_string_lossy().into_owned();
            let origin = match m.value_source(f.key) {
                Some(ValueSource::EnvVariable) => Origin::Env,
                _ => Origin::Flag,
            };
            Some((f.key, text, origin))
        })
        .collect()
}

/// Every setting of a node as flags and environment variables (`serve`,
/// `config check`).
#[derive(Debug, Clone, Default)]
pub struct NodeArgs {
    given: Vec<(&'static str, String, Origin)>,
}

impl NodeArgs {
    /// The settings: the defaults, the file, then these.
    pub fn load(&self, file: Option<&Path>) -> Result<Settings, Invalid> {
        Settings::load(file, &self.given)
    }

    /// The settings given as flags or in the environment, and which.
    pub fn given(&self) -> Vec<(&'static str, Origin)> {
        self.given.iter().map(|(key, _, origin)| (*key, *origin)).collect()
    }
}

impl clap::FromArgMatches for NodeArgs {
    fn from_arg_matches(m: &ArgMatches) -> Result<Self, clap::Error> {
        Ok(NodeArgs { given: given(m, fields()) })
    }
    fn update_from_arg_matches(&mut self, m: &ArgMatches) -> Result<(), clap::Error> {
        *self = Self::from_arg_matches(m)?;
        Ok(())
    }
}

impl clap::Args for NodeArgs {
    fn augment_args(cmd: Command) -> Command {
        cmd.args(fields().map(arg))
    }
    fn augment_args_for_update(cmd: Command) -> Command {
        Self::augment_args(cmd)
    }
}

/// The store's settings alone as flags and environment variables
/// (`migrate`, `secrets rotate`).
#[derive(Debug, Clone, Default)]
pub struct StoreArgs {
    given: Vec<(&'static str, String, Origin)>,
}

impl StoreArgs {
    /// The settings: the defaults, the file, then these. The file may hold
    /// any setting; only the store's are used.
    pub fn load(&self, file: Option<&Path>) -> Result<Settings, Invalid> {
        Settings::load(file, &self.given)
    }
}

impl clap::FromArgMatches for StoreArgs {
    fn from_arg_matches(m: &ArgMatches) -> Result<Self, clap::Error> {
        Ok(StoreArgs { given: given(m, StoreSettings::FIELDS.iter()) })
    }
    fn update_from_arg_matches(&mut self, m: &ArgMatches) -> Result<(), clap::Error> {
        *self = Self::from_arg_matches(m)?;
        Ok(())
    }
}

impl clap::Args for StoreArgs {
    fn augment_args(cmd: Command) -> Command {
        cmd.args(StoreSettings::FIELDS.iter().map(arg))
    }
    fn augment_args_for_update(cmd: Command) -> Command {
        Self::augment_args(cmd)
    }
}
