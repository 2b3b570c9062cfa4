use serde_json::json;
use trawler_domain::Platform;

use super::*;

fn spec(options: Value, secret: Option<&str>) -> SourceSpec {
    SourceSpec {
        platform: Platform::HttpJson,
        external_ref: "lamp 1".into(),
        options: std::sync::Arc::new(options),
        secret: secret.map(str::to_owned),
    }
}

fn built(options: Value) -> Result<Request, String> {
    build(&spec(options, None), "application/json")
}

#[test]
fn a_get_by_default_with_its_headers_filled() -> Result<(), String> {
    let r = built(
        json!({"url": "https://x.example/c/{ref}", "headers": {"X-Campaign": "{ref}", "Accept-Language": "en"}}),
    )?;
    assert_eq!(r.method, reqwest::Method::GET);
    assert_eq!(r.url, "https://x.example/c/lamp%201");
    assert!(r.headers.contains(&("x-campaign".to_owned(), "lamp 1".to_owned())), "{:?}", r.headers);
    assert!(r.headers.contains(&("accept".to_owned(), "application/json".to_owned())));
    assert_eq!(r.body, None);
    Ok(())
}

#[test]
fn bodies_are_json_form_or_graphql_with_the_reference_filled() -> Result<(), String> {
    let post = |body: Value| built(json!({"url": "https://x.example/api", "method": "post", "body": body}));
    let r = post(json!({"json": {"id": "{ref}", "n": [1, "{ref}"]}}))?;
    assert_eq!(r.method, reqwest::Method::POST);
    let (bytes, kind) = r.body.ok_or("a body")?;
    assert_eq!(kind, "application/json");
    assert_eq!(serde_json::from_slice::<Value>(&bytes).ok(), Some(json!({"id": "lamp 1", "n": [1, "lamp 1"]})));
    let r = post(json!({"form": {"campaign": "{ref}", "page": "1"}}))?;
    let (bytes, kind) = r.body.ok_or("a body")?;
    assert_eq!(
        (String::from_utf8_lossy(&bytes).as_ref(), kind),
        ("campaign=lamp+1&page=1", "application/x-www-form-urlencoded")
    );
    let r = post(
        json!({"graphql": {"query": "query($id: ID!) { campaign(id: $id) { raised } }", "variables": {"id": "{ref}"}}}),
    )?;
    assert!(r.graphql);
    let (bytes, _) = r.body.ok_or("a body")?;
    let sent: Value = serde_json::from_slice(&bytes).map_err(|e| e.to_string())?;
    assert_eq!(sent["variables"], json!({"id": "lamp 1"}));
    assert!(sent["query"].as_str().is_some_and(|q| q.contains("$id")));
    Ok(())
}

#[test]
fn bad_requests_are_refused_naming_the_option() {
    let cases = [
        (json!({"url": "https://x.example", "method": "DELETE"}), "options.method"),
        (json!({"url": "https://x.example", "method": 1}), "options.method"),
        (json!({"url": "https://x.example", "headers": {"Host": "evil.example"}}), "cannot set `host`"),
        (json!({"url": "https://x.example", "headers": {"Content-Length": "5"}}), "cannot set `content-length`"),
        (json!({"url": "https://x.example", "headers": {"bad header": "x"}}), "not a header name"),
        (json!({"url": "https://x.example", "headers": {"X-A": "line\nbreak"}}), "not a valid header value"),
        (json!({"url": "https://x.example", "headers": {"X-A": 1}}), "must be a string"),
        (json!({"url": "https://x.example", "headers": ["X-A"]}), "options.headers"),
        (json!({"url": "https://x.example", "body": {"json": {}}}), "needs options.method POST"),
        (json!({"url": "https://x.example", "method": "POST", "body": {"xml": "<a/>"}}), "options.body is one of"),
        (
            json!({"url": "https://x.example", "method": "POST", "body": {"json": 1, "form": {}}}),
            "options.body is one of",
        ),
        (json!({"url": "https://x.example", "method": "POST", "body": {"graphql": {"query": " "}}}), "graphql.query"),
        (
            json!({"url": "https://x.example", "method": "POST", "body": {"graphql": {"query": "q", "variables": [1]}}}),
            "variables",
        ),
        (json!({"url": "https://x.example", "method": "POST", "body": {"json": "x".repeat(70_000)}}), "more than"),
    ];
    for (options, says) in cases {
        let err = built(options.clone()).expect_err("refused");
        assert!(err.contains(says), "{options}: {err}");
    }
    let many: serde_json::Map<String, Value> = (0..40).map(|i| (format!("x-h{i}"), json!("v"))).collect();
    assert!(built(json!({"url": "https://x.example", "headers": many})).is_err());
}

#[test]
fn the_secret_stays_in_its_own_header() -> Result<(), String> {
    let options = json!({"url": "https://x.example", "secret_header": "X-Api-Key", "headers": {"X-Other": "1"}});
    let r = build(&spec(options, Some("s3cret")), "application/json")?;
    assert!(r.headers.contains(&("x-api-key".to_owned(), "s3cret".to_owned())));
    assert!(!r.url.contains("s3cret"));
    let clash = json!({"url": "https://x.example", "secret_header": "X-Api-Key", "headers": {"x-api-key": "mine"}});
    let err = build(&spec(clash, Some("s3cret")), "application/json").expect_err("the secret's header");
    assert!(err.contains("carries the secret") && !err.contains("s3cret"), "{err}");
    Ok(())
}

#[test]
fn graphql_errors_are_read() {
    assert_eq!(
        graphql_error(&json!({"errors": [{"message": "no such campaign"}]})).as_deref(),
        Some("no such campaign")
    );
    assert_eq!(graphql_error(&json!({"data": {}})), None);
    assert_eq!(graphql_error(&json!({"errors": [{}]})).as_deref(), Some("an error without a message"));
}
