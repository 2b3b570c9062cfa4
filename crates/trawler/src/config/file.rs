//! The configuration file: read, checked, and layered under the environment
//! and the flags as their defaults.

use anyhow::{bail, Context, Result};
use std::collections::BTreeMap;

/// Layers the configuration file (`--config FILE`, `--config=FILE` or
/// TRAWLER_CONFIG) under the environment and the flags: each of its settings
/// becomes the default of the argument that reads the matching environment
/// variable, so the precedence is built-in default < file < environment <
/// flag, and nothing is written to the process environment. Keys are checked
/// against the variables the command knows: a typo is an error, not a
/// silent default.
pub fn with_file(command: clap::Command, args: &[std::ffi::OsString]) -> Result<clap::Command> {
    let args: Vec<String> = args.iter().map(|a| a.to_string_lossy().into_owned()).collect();
    let from_args = args.iter().enumerate().find_map(|(i, a)| {
        if a == "--config" {
            args.get(i + 1).cloned()
        } else {
            a.strip_prefix("--config=").map(str::to_owned)
        }
    });
    let Some(path) = from_args.or_else(|| std::env::var("TRAWLER_CONFIG").ok()) else {
        return Ok(command);
    };
    let text = std::fs::read_to_string(&path).with_context(|| format!("reading the configuration file {path}"))?;
    let table: toml::Table = toml::from_str(&text).map_err(|e| anyhow::anyhow!("{path}: {}", e.message()))?;
    let mut known = std::collections::BTreeSet::new();
    fn collect(cmd: &clap::Command, known: &mut std::collections::BTreeSet<String>) {
        for arg in cmd.get_arguments() {
            if let Some(env) = arg.get_env() {
                known.insert(env.to_string_lossy().into_owned());
            }
        }
        for sub in cmd.get_subcommands() {
            collect(sub, known);
        }
    }
    collect(&command, &mut known);
    let mut settings = Vec::new();
    flatten("", &table, &mut settings);
    let mut defaults = BTreeMap::new();
    for (key, value) in settings {
        let env =
            if key == "database_url" { "DATABASE_URL".to_owned() } else { format!("TRAWLER_{}", key.to_uppercase()) };
        if !known.contains(&env) || env == "TRAWLER_CONFIG" {
            bail!("{path}: unknown setting `{key}`");
        }
        defaults.insert(env, value);
    }
    Ok(file_defaults(command, &defaults))
}

/// Sets, in `cmd` and its subcommands, the default of every argument whose
/// environment variable `defaults` names.
pub(super) fn file_defaults(cmd: clap::Command, defaults: &BTreeMap<String, String>) -> clap::Command {
    let ids: Vec<(clap::Id, String)> = cmd
        .get_arguments()
        .filter_map(|a| {
            let env = a.get_env()?.to_string_lossy();
            defaults.get(env.as_ref()).map(|v| (a.get_id().clone(), v.clone()))
        })
        .collect();
    let mut cmd = ids.into_iter().fold(cmd, |cmd, (id, value)| cmd.mut_arg(id, |a| a.default_value(value)));
    let subs: Vec<String> = cmd.get_subcommands().map(|s| s.get_name().to_owned()).collect();
    for sub in subs {
        cmd = cmd.mut_subcommand(sub, |s| file_defaults(s, defaults));
    }
    cmd
}

/// Flattens nested tables into `a_b = value` pairs.
pub(super) fn flatten(prefix: &str, table: &toml::Table, out: &mut Vec<(String, String)>) {
    for (k, v) in table {
        let key = if prefix.is_empty() { k.clone() } else { format!("{prefix}_{k}") };
        match v {
            toml::Value::Table(t) => flatten(&key, t, out),
            toml::Value::String(s) => out.push((key, s.clone())),
            toml::Value::Integer(i) => out.push((key, i.to_string())),
            toml::Value::Float(f) => out.push((key, f.to_string())),
            toml::Value::Boolean(b) => out.push((key, b.to_string())),
            // Dates and arrays configure nothing here; keep them visible.
            other => out.push((key, format!("{other:?}"))),
        }
    }
}
