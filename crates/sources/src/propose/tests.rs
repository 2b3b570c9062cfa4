use super::*;
use serde_json::json;
use std::sync::Arc;

fn spec(platform: Platform, options: Value) -> SourceSpec {
    SourceSpec { platform, external_ref: "camp".into(), options: Arc::new(options), secret: None }
}

fn answer(body: &str) -> Vec<Kept> {
    vec![Kept { page: 0, status: 200, url: "http://x/".into(), headers: vec![], body: body.as_bytes().to_vec() }]
}

fn locators(found: &[Proposal]) -> Vec<&str> {
    found.iter().map(|p| p.locator.as_str()).collect()
}

#[test]
fn a_moved_html_number_is_found_under_its_new_markup() {
    let source = spec(Platform::Html, json!({"url": "http://x/", "metrics": {"pledged": "span.raised"}}));
    let page = r#"<html><body><p>Goal: <b>5,000</b></p>
        <div class="stats"><div data-stat="raised"><b>1,234</b> raised</div><div data-stat="backers"><b>12</b></div></div>
        </body></html>"#;
    let found = propose(&source, "pledged", 1234.0, &answer(page));
    assert_eq!(locators(&found), vec!["div[data-stat='raised'] > b"], "{found:?}");
    assert_eq!((found[0].value, found[0].closeness), (1234.0, Closeness::Same));
    // The proposal reads the page as the adapter does.
    let metrics = [("pledged".to_owned(), found[0].locator.clone())];
    assert_eq!(crate::html::extract(page, &metrics).map(|s| s[0].value), Ok(1234.0));
}

#[test]
fn formatted_rounded_and_moved_values_are_found_closest_first() {
    let source = spec(Platform::Html, json!({"url": "http://x/", "metrics": {"pledged": ".pledged"}}));
    let page = r#"<html><head><meta property="og:pledged" content="1.2k"></head><body>
        <span id="total">$1,240</span><em class="pledged-amount">1,234.00 €</em></body></html>"#;
    let found = propose(&source, "pledged", 1234.0, &answer(page));
    assert_eq!(
        found.iter().map(|p| (p.locator.as_str(), p.closeness)).collect::<Vec<_>>(),
        vec![
            ("em.pledged-amount", Closeness::Same),
            ("meta[property='og:pledged']@content", Closeness::Rounded),
            ("span#total", Closeness::Near),
        ]
    );
}

#[test]
fn json_in_a_page_and_json_answers_get_pointers() {
    let source = spec(Platform::Html, json!({"url": "http://x/", "metrics": {"backers": "b.supporters"}}));
    let page = r#"<html><head><script type="application/ld+json">{"rating": {"count": 77}}</script></head></html>"#;
    let found = propose(&source, "backers", 77.0, &answer(page));
    assert_eq!(locators(&found), vec!["script[type='application/ld+json'] => /rating/count"]);

    let source = spec(Platform::HttpJson, json!({"url": "http://x/", "metrics": {"pledged": "/campaign/raised"}}));
    let body = r#"{"data": {"stats": {"raised_total": "1,234", "goal": 5000, "a/b": 1234}}, "id": 9}"#;
    let found = propose(&source, "pledged", 1234.0, &answer(body));
    assert_eq!(locators(&found), vec!["/data/stats/raised_total", "/data/stats/a~1b"], "{found:?}");
}

#[test]
fn a_renamed_csv_column_is_found_in_the_sources_row() {
    let options = json!({"url": "http://x/", "format": "csv", "row": {"column": "id", "equals": "{ref}"},
        "metrics": {"pledged": "raised"}});
    let source = spec(Platform::HttpJson, options);
    let body = "id,amount_raised,supporters\nother,1234,3\ncamp,\"$1,234\",12\n";
    let found = propose(&source, "pledged", 1234.0, &answer(body));
    assert_eq!(locators(&found), vec!["amount_raised"]);
    assert!(propose(&source, "backers", 3.0, &answer(body)).is_empty(), "another row's value is not proposed");
}

#[test]
fn nothing_is_proposed_when_the_value_is_not_there() {
    let source = spec(Platform::Html, json!({"url": "http://x/", "metrics": {"pledged": ".raised"}}));
    assert!(propose(&source, "pledged", 1234.0, &answer("<p>Sold out: 17 left</p>")).is_empty());
    let failed = vec![Kept { status: 503, ..answer("<p>1234</p>").remove(0) }];
    assert!(propose(&source, "pledged", 1234.0, &failed).is_empty(), "an error page proposes nothing");
    assert!(propose(&source, "pledged", f64::NAN, &answer("<p>1234</p>")).is_empty());
}

#[test]
fn every_metric_a_changed_page_does_not_give_is_named() {
    let options =
        json!({"url": "http://x/", "metrics": {"pledged": ".raised", "backers": ".supporters", "title": "h1"}});
    let source = spec(Platform::Html, options);
    let page = "<h1>12</h1><div data-stat=raised><b>1,234</b></div><div data-stat=backers><b>56</b></div>";
    let mut unread = unread(&source, trawler_domain::RunKind::Full, &answer(page));
    unread.sort();
    assert_eq!(unread, vec!["backers", "pledged"]);
    let json_source =
        spec(Platform::HttpJson, json!({"url": "http://x/", "metrics": {"pledged": "/a", "backers": "/b"}}));
    let unread = super::unread(&json_source, trawler_domain::RunKind::Full, &answer(r#"{"a": 1, "c": 2}"#));
    assert_eq!(unread, vec!["backers"]);
}
