//! The configuration file: TOML, read into `key = value` pairs.

use std::path::Path;

use super::{Invalid, SECTIONS};

/// The settings in the TOML file at `path`, in the file's order. A key
/// names a setting (`full_interval = "4h"`); a table is either a section
/// (`[actors]` holds `full_interval`) or a prefix joined with `_` (`[rate]`
/// holds `kickstarter` for `rate_kickstarter`).
pub(super) fn read(path: &Path) -> Result<Vec<(String, toml::Value)>, Invalid> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| Invalid(format!("reading the configuration file {}: {e}", path.display())))?;
    let table: toml::Table =
        toml::from_str(&text).map_err(|e| Invalid(format!("{}: {}", path.display(), e.message().trim())))?;
    let mut out = Vec::new();
    flatten("", table, &mut out);
    Ok(out)
}

/// Flattens tables into `a_b = value` pairs; a section's name adds nothing.
fn flatten(prefix: &str, table: toml::Table, out: &mut Vec<(String, toml::Value)>) {
    for (k, v) in table {
        let key = if prefix.is_empty() { k } else { format!("{prefix}_{k}") };
        match v {
            toml::Value::Table(t) if prefix.is_empty() && SECTIONS.iter().any(|(name, _)| *name == key) => {
                flatten("", t, out)
            }
            toml::Value::Table(t) => flatten(&key, t, out),
            other => out.push((key, other)),
        }
    }
}
