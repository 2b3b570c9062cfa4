//! CSV answers (`options.format: "csv"` on `http_json`): each metric is a
//! column, named by its header; `options.row` picks the row — an index (0
//! the first data row, -1 the last; the default is 0) or
//! `{"column": "id", "equals": "{ref}"}`. Values are parsed tolerantly
//! (`$1,234`, `1.234,50 €`).

use serde_json::Value;

use crate::adapter::Sample;
use crate::http::excerpt;
use crate::number::parse_number;
use crate::SourceError;

/// Which row of the table holds the source's numbers.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Row {
    /// By position: from the first data row, or from the last if negative.
    Index(i64),
    /// The first row whose `column` equals `equals`.
    Where {
        /// The column's header.
        column: String,
        /// The value, its `{ref}` filled.
        equals: String,
    },
}

/// The row option of a source; an error names what is wrong.
pub(crate) fn row(options: &Value, reference: &str) -> Result<Row, String> {
    match options.get("row") {
        None => Ok(Row::Index(0)),
        Some(Value::Number(n)) => n.as_i64().map(Row::Index).ok_or_else(|| "options.row must be a whole number".into()),
        Some(Value::Object(o)) => {
            let column = o.get("column").and_then(Value::as_str).filter(|c| !c.is_empty());
            let equals = o.get("equals").and_then(Value::as_str);
            match (column, equals, o.len()) {
                (Some(column), Some(equals), 2) => {
                    Ok(Row::Where { column: column.to_owned(), equals: equals.replace("{ref}", reference) })
                }
                _ => Err("options.row is a row number or {\"column\": \"…\", \"equals\": \"…\"}".into()),
            }
        }
        Some(_) => Err("options.row is a row number or {\"column\": \"…\", \"equals\": \"…\"}".into()),
    }
}

/// Reads the metrics (name → column) out of a CSV body.
pub(crate) fn extract(body: &[u8], metrics: &[(String, String)], row: &Row) -> Result<Vec<Sample>, SourceError> {
    let mut reader = csv::ReaderBuilder::new().flexible(true).trim(csv::Trim::All).from_reader(body);
    let headers = reader.headers().map_err(|e| SourceError::Parse(format!("csv: {e}")))?.clone();
    let column = |name: &str| headers.iter().position(|h| h == name);
    let mut records = reader.records();
    let found = match row {
        Row::Index(i) if *i >= 0 => records.nth(*i as usize),
        Row::Index(i) => {
            let all: Vec<_> = records.collect::<Result<_, _>>().map_err(|e| SourceError::Parse(format!("csv: {e}")))?;
            all.len().checked_sub(i.unsigned_abs() as usize).and_then(|at| all.into_iter().nth(at)).map(Ok)
        }
        Row::Where { column: c, equals } => {
            let at = column(c).ok_or_else(|| SourceError::Parse(format!("csv: no column `{c}`")))?;
            records.find(|r| r.as_ref().map_or(true, |r| r.get(at) == Some(equals.as_str())))
        }
    };
    let record = found
        .ok_or_else(|| SourceError::Parse(format!("csv: no row {}", describe(row))))?
        .map_err(|e| SourceError::Parse(format!("csv: {e}")))?;
    let mut out = Vec::with_capacity(metrics.len());
    for (name, header) in metrics {
        let at = column(header).ok_or_else(|| SourceError::Unread {
            metric: name.clone(),
            detail: format!("csv: no column `{header}` for {name}"),
        })?;
        let text = record.get(at).unwrap_or_default();
        let value = parse_number(text).ok_or_else(|| {
            let detail = format!("csv: `{}` in column `{header}` for {name} is not a number", excerpt(text, 60));
            SourceError::Unread { metric: name.clone(), detail }
        })?;
        let metric = name.parse().map_err(|e| SourceError::Config(format!("{e}")))?;
        out.push(Sample { metric, value });
    }
    Ok(out)
}

fn describe(row: &Row) -> String {
    match row {
        Row::Index(i) => format!("at {i}"),
        Row::Where { column, equals } => format!("with {column} = `{}`", excerpt(equals, 60)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const TABLE: &[u8] = b"id,name,raised,supporters\nlamp,Lamp,\"$1,234.50\",12\nchair, Chair ,99,3\n";

    fn metrics() -> Vec<(String, String)> {
        vec![("pledged".into(), "raised".into()), ("backers".into(), "supporters".into())]
    }

    fn values(row: &Row) -> Result<Vec<f64>, SourceError> {
        Ok(extract(TABLE, &metrics(), row)?.iter().map(|s| s.value).collect())
    }

    #[test]
    fn a_row_by_position_or_by_a_columns_value() -> Result<(), SourceError> {
        assert_eq!(values(&Row::Index(0))?, vec![1234.5, 12.0]);
        assert_eq!(values(&Row::Index(-1))?, vec![99.0, 3.0]);
        let chair = row(&json!({"row": {"column": "id", "equals": "{ref}"}}), "chair").map_err(SourceError::Config)?;
        assert_eq!(values(&chair)?, vec![99.0, 3.0]);
        Ok(())
    }

    #[test]
    fn what_is_missing_is_named() {
        let err = values(&Row::Index(5)).expect_err("no such row");
        assert!(err.to_string().contains("no row at 5"), "{err}");
        assert!(values(&Row::Index(-3)).is_err());
        let none = Row::Where { column: "id".into(), equals: "sofa".into() };
        assert!(values(&none).expect_err("no sofa").to_string().contains("id = `sofa`"));
        let wrong = vec![("pledged".to_string(), "amount".to_string())];
        let err = extract(TABLE, &wrong, &Row::Index(0)).expect_err("no column");
        assert!(err.to_string().contains("no column `amount` for pledged"), "{err}");
        let text = b"id,raised\nlamp,soon\n";
        let err = extract(text, &wrong[..0], &Row::Index(0)).map(|v| v.len());
        assert_eq!(err.ok(), Some(0));
        let err = extract(text, &[("pledged".into(), "raised".into())], &Row::Index(0)).expect_err("not a number");
        assert!(err.to_string().contains("`soon`"), "{err}");
        assert!(row(&json!({"row": "last"}), "x").is_err());
        assert!(row(&json!({"row": {"column": "id"}}), "x").is_err());
    }

    #[test]
    fn hostile_bytes_are_errors_not_panics() {
        for body in [&b""[..], b"\xff\xfe\x00", b"a,b\n\"unterminated", b"\n\n\n"] {
            let _ = extract(body, &metrics(), &Row::Index(0));
            let _ = extract(body, &metrics(), &Row::Index(-1));
        }
    }
}
