//! Labels and external keys as the API takes them: checked, named in every
//! refusal, and stored.

use trawler_domain::labels::Labels;
use trawler_domain::{now_millis, ProjectId};
use trawler_store::{AnyConnection, Project, StoreError};

use crate::ApiError;

/// Longest external key.
pub const KEY_MAX: usize = 200;

/// `labels` as a body gives it: an object of strings.
pub(crate) fn check_labels(value: &serde_json::Value) -> Result<Labels, ApiError> {
    let object = value
        .as_object()
        .ok_or_else(|| ApiError::BadRequest("`labels` must be an object of strings ({\"client\": \"acme\"})".into()))?;
    let mut labels = Labels::new();
    for (k, v) in object {
        let v = v.as_str().ok_or_else(|| ApiError::BadRequest(format!("`labels.{k}` must be a string")))?;
        labels.set(k, v).map_err(|e| ApiError::BadRequest(format!("`labels`: {e}")))?;
    }
    Ok(labels)
}

/// An external key: 1 to 200 characters, no control characters, not padded
/// (`""`: none).
pub(crate) fn check_external_key(key: &str) -> Result<Option<String>, ApiError> {
    if key.is_empty() {
        return Ok(None);
    }
    if key.chars().count() > KEY_MAX || key.chars().any(char::is_control) || key.trim() != key {
        return Err(ApiError::BadRequest(format!(
            "`external_key` has 1 to {KEY_MAX} characters, no control characters and no spaces around it"
        )));
    }
    Ok(Some(key.to_owned()))
}

/// Gives project `id` its external key, refusing one another project holds.
pub(crate) fn store_external_key(
    conn: &mut AnyConnection,
    id: ProjectId,
    key: Option<&str>,
) -> Result<Project, ApiError> {
    if let Some(key) = key {
        if let Some(other) = Project::by_external_keys(conn, &[key.to_owned()])?.remove(key) {
            if other.id != id {
                return Err(taken(key, other.id));
            }
        }
    }
    Project::set_external_key(conn, id, key, now_millis()).map_err(|e| match e {
        e if e.is_unique_violation() => {
            ApiError::Conflict(format!("external key `{}` belongs to another project", key.unwrap_or_default()))
        }
        e => ApiError::from(e),
    })
}

/// The refusal of a key another project holds.
pub(crate) fn taken(key: &str, other: ProjectId) -> ApiError {
    ApiError::Conflict(format!("external key `{key}` belongs to project {other}"))
}

/// Stores labels and an external key given with a create or an update.
pub(crate) fn store(
    conn: &mut AnyConnection,
    id: ProjectId,
    labels: Option<&Labels>,
    key: Option<Option<&str>>,
) -> Result<Option<Project>, ApiError> {
    let mut project = None;
    if let Some(labels) = labels {
        project = Some(Project::set_labels(conn, id, labels, now_millis()).map_err(|e: StoreError| ApiError::from(e))?);
    }
    if let Some(key) = key {
        project = Some(store_external_key(conn, id, key)?);
    }
    Ok(project)
}

/// Labels to set (a value) or remove (`None`), by key.
pub(crate) type LabelChange = std::collections::BTreeMap<String, Option<String>>;

/// Action `label`'s `labels`: an object whose values are strings (set) or
/// `null` (remove).
pub(crate) fn check_label_change(value: &serde_json::Value) -> Result<LabelChange, ApiError> {
    let object = value.as_object().filter(|o| !o.is_empty()).ok_or_else(|| {
        ApiError::BadRequest("`labels` must be an object of strings to set and nulls to remove".into())
    })?;
    let mut change = LabelChange::new();
    let mut probe = Labels::new();
    for (k, v) in object {
        trawler_domain::labels::check_key(k).map_err(|e| ApiError::BadRequest(format!("`labels`: {e}")))?;
        match v {
            serde_json::Value::Null => change.insert(k.clone(), None),
            serde_json::Value::String(s) => {
                probe.set(k, s).map_err(|e| ApiError::BadRequest(format!("`labels`: {e}")))?;
                change.insert(k.clone(), Some(s.clone()))
            }
            _ => return Err(ApiError::BadRequest(format!("`labels.{k}` must be a string or null"))),
        };
    }
    Ok(change)
}

/// The bulk bar's label field: `wave=spring, old=` (an empty value
/// removes), as action `label`'s `labels`.
pub(crate) fn form_change(text: &str) -> Result<serde_json::Value, ApiError> {
    let mut object = serde_json::Map::new();
    for piece in text.split([',', ';']).map(str::trim).filter(|p| !p.is_empty()) {
        let (k, v) =
            piece.split_once('=').ok_or_else(|| ApiError::BadRequest(format!("`{piece}` is not key=value")))?;
        let v = v.trim();
        object.insert(k.trim().to_owned(), if v.is_empty() { serde_json::Value::Null } else { v.into() });
    }
    Ok(serde_json::Value::Object(object))
}
