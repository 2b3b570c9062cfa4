//! The response archive: answers kept compressed, read back whole, listed
//! by source and run, and never past their bounds of age and bytes.

use trawler_domain::{Platform, ProjectId, RunId, RunKind};
use trawler_store::archive::Usage;
use trawler_store::testing::TestDb;
use trawler_store::{Archive, Bounds, NewResponse, NewSource, Project, ResponseFilter};

fn html(reference: &str) -> NewSource {
    NewSource {
        platform: Platform::Html,
        external_ref: reference.into(),
        options: serde_json::json!({"url": "http://127.0.0.1/html/{ref}", "metrics": {"pledged": ".raised"}}),
        secret: None,
    }
}

fn answer(project: ProjectId, reference: &str, at: i64, body: String) -> NewResponse {
    NewResponse {
        project_id: project,
        platform: Platform::Html,
        external_ref: reference.into(),
        run_id: None,
        kind: RunKind::Poll,
        fetched_at_ms: at,
        page: 0,
        status: 200,
        url: format!("http://127.0.0.1/html/{reference}"),
        headers: vec![("content-type".into(), "text/html".into())],
        body: body.into_bytes(),
        outcome: "ok".into(),
        error: None,
        metric: None,
        proposals: None,
    }
}

const ROOMY: Bounds = Bounds { max_age_ms: i64::MAX / 4, project_bytes: i64::MAX / 4, total_bytes: i64::MAX / 4 };

#[test]
fn answers_are_kept_compressed_and_read_back_whole() -> anyhow::Result<()> {
    for db in TestDb::all()? {
        let conn = &mut *db.pool.get()?;
        let (p, _) = Project::create(conn, "p", &[html("a")])?;
        let page = format!("<html><body>{}<span class=raised>$1,234</span></body></html>", "<p>filler</p>".repeat(500));
        let mut failed = answer(p.id, "a", 2_000, page.clone());
        (failed.outcome, failed.metric, failed.run_id) = ("parse".into(), Some("pledged".into()), Some(RunId(7)));
        failed.error = Some("html: nothing matches `.raised` for pledged".into());
        Archive::keep(conn, &[answer(p.id, "a", 1_000, page.clone()), failed], &ROOMY, 3_000, None)?;
        let all = Archive::list(conn, p.id, &ResponseFilter { limit: 10, ..ResponseFilter::default() })?;
        assert_eq!(all.iter().map(|r| r.fetched_at_ms).collect::<Vec<_>>(), vec![2_000, 1_000], "newest first");
        assert!(all[0].stored_bytes < page.len() as i64 / 5, "compressed: {} of {}", all[0].stored_bytes, page.len());
        assert_eq!(all[0].body_bytes, page.len() as i64);
        let (row, body) = Archive::get(conn, all[0].id)?.expect("kept");
        assert_eq!(String::from_utf8(body)?, page);
        assert_eq!(row.header_pairs(), vec![("content-type".to_owned(), "text/html".to_owned())]);
        let failures = ResponseFilter { failures_only: true, limit: 10, ..ResponseFilter::default() };
        let listed = Archive::list(conn, p.id, &failures)?;
        assert_eq!(listed.iter().map(|r| r.metric.as_deref()).collect::<Vec<_>>(), vec![Some("pledged")]);
        let of_run = ResponseFilter { run_id: Some(RunId(7)), limit: 10, ..ResponseFilter::default() };
        assert_eq!(Archive::list(conn, p.id, &of_run)?.len(), 1);
        let since = Archive::since(conn, p.id, (Platform::Html, "a"), 1_500, 0, 100)?;
        assert_eq!(since.iter().map(|(r, _)| r.fetched_at_ms).collect::<Vec<_>>(), vec![2_000]);
        let breaks = Archive::breaks(conn, p.id)?;
        assert_eq!(breaks.len(), 1);
        assert_eq!((breaks[0].metric.as_deref(), breaks[0].since_ms, breaks[0].failures), (Some("pledged"), 2_000, 1));
        assert_eq!(breaks[0].last_ok_ms, Some(1_000));
        assert_eq!(Archive::oldest_unrecovered(conn, p.id, (Platform::Html, "a"))?, Some(2_000));
        Archive::mark_recovered(conn, &[all[0].id], &[], 4_000)?;
        assert_eq!(Archive::get(conn, all[0].id)?.map(|(r, _)| r.recovered_at_ms), Some(Some(4_000)));
        assert!(Archive::breaks(conn, p.id)?.is_empty(), "recovered");
        assert_eq!(Archive::oldest_unrecovered(conn, p.id, (Platform::Html, "a"))?, None);
        assert_eq!(Archive::usage(conn, Some(ProjectId(p.id.0 + 1)))?, Usage::default());
        assert_eq!(Archive::usage(conn, None)?.rows, 2);
    }
    Ok(())
}

#[test]
fn the_archive_never_holds_more_than_its_bounds() -> anyhow::Result<()> {
    for db in TestDb::all()? {
        let conn = &mut *db.pool.get()?;
        let (a, _) = Project::create(conn, "a", &[html("a")])?;
        let (b, _) = Project::create(conn, "b", &[html("b")])?;
        let bounds = Bounds { max_age_ms: 1_000_000, project_bytes: 20_000, total_bytes: 30_000 };
        // Pages that do not compress (each a different pseudo-random text).
        let page = |seed: u64| {
            let mut x = seed.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
            (0..3_000)
                .map(|_| {
                    x ^= x << 13;
                    x ^= x >> 7;
                    x ^= x << 17;
                    char::from(b'a' + (x % 26) as u8)
                })
                .collect::<String>()
        };
        let mut known = Usage::default();
        for i in 0..40 {
            let project = if i % 4 == 0 { b.id } else { a.id };
            // Every other batch trusts the usage the last one returned.
            let trusted = (i % 2 == 1).then_some(known);
            let one = [answer(project, "x", 10_000 + i, page(i as u64))];
            let (_, after) = Archive::keep(conn, &one, &bounds, 10_000 + i, trusted)?;
            let (ua, ub, all) =
                (Archive::usage(conn, Some(a.id))?, Archive::usage(conn, Some(b.id))?, Archive::usage(conn, None)?);
            assert!(ua.bytes <= 20_000 && ub.bytes <= 20_000, "{ua:?} {ub:?}");
            assert!(all.bytes <= 30_000, "{all:?}");
            assert_eq!(after, all, "the usage returned is the archive's");
            known = after;
        }
        let kept = Archive::list(conn, a.id, &ResponseFilter { limit: 100, ..ResponseFilter::default() })?;
        assert!(kept.len() >= 4, "the newest are kept: {}", kept.len());
        assert_eq!(kept[0].fetched_at_ms, 10_039, "the newest answer is there");
        // Past the age, everything goes.
        let (_, left) = Archive::keep(conn, &[], &bounds, 10_040 + 1_000_000, Some(known))?;
        assert_eq!(left, Usage::default(), "the aged answers' bytes are counted out");
        assert_eq!(Archive::usage(conn, None)?.rows, 0);
    }
    Ok(())
}
