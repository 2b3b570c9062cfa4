//! The chunk layout: compaction moves points from the head into chunks and
//! no read notices, on SQLite and (when `TRAWLER_TEST_DATABASE_URL` is set)
//! PostgreSQL.

use anyhow::{ensure, Result};
use trawler_domain::{Agg, Metric, Platform, ProjectId};
use trawler_store::testing::TestDb;
use trawler_store::{AnyConnection, Chunks, ExportRow, Point, Project, SeriesQuery, SeriesResult};

const DAY: i64 = 86_400;
const START: i64 = 1_760_000_000 - 1_760_000_000 % DAY;

fn point(project: ProjectId, platform: Platform, metric: &str, ts: i64, value: f64) -> trawler_domain::Point {
    trawler_domain::Point {
        project_id: project,
        platform,
        metric: metric.parse().expect("test metric names are valid"),
        ts,
        value,
    }
}

/// Three days of 5-minute polls with a few seconds of jitter: pledged (in
/// cents) on two platforms, backers on one; values that repeat and rise.
fn three_days(project: ProjectId) -> Vec<trawler_domain::Point> {
    let mut out = Vec::new();
    for i in 0..(3 * DAY / 300) {
        let ts = START + i * 300 + i % 4;
        out.push(point(project, Platform::Kickstarter, "pledged", ts, (100_000 + (i / 3) * 2_537) as f64 / 100.0));
        out.push(point(project, Platform::Indiegogo, "pledged", ts + 1, (i * i % 977) as f64 * 0.25));
        out.push(point(project, Platform::Kickstarter, "backers", ts, (i / 7) as f64));
    }
    out
}

/// Everything a reader can ask of a project.
#[derive(Debug, PartialEq)]
struct Reads {
    series: Vec<SeriesResult>,
    observations: Vec<Vec<trawler_domain::Observation>>,
    export: Vec<ExportRow>,
    metrics: Vec<String>,
    count: i64,
    page: Vec<Option<Vec<trawler_domain::Observation>>>,
}

fn reads(conn: &mut AnyConnection, p: ProjectId, q: ProjectId) -> Result<Reads> {
    let mut series = Vec::new();
    for metric in [Metric::PLEDGED, Metric::BACKERS] {
        for (step, agg) in [
            (None, Agg::Last),
            (Some(3600), Agg::Last),
            (Some(3600), Agg::Min),
            (Some(7200), Agg::Max),
            (Some(DAY), Agg::Avg),
        ] {
            for (from, to) in [(0, i64::MAX), (START + DAY / 2, START + DAY + 3 * 3600)] {
                let query =
                    SeriesQuery { project: p, metric: Metric::known(metric), platform: None, from, to, step, agg };
                series.push(Point::series(conn, &query)?);
            }
        }
    }
    let observations = [START + DAY + 1234, START + 3 * DAY]
        .into_iter()
        .map(|at| Point::observations_at(conn, p, at))
        .collect::<Result<_, _>>()?;
    let mut export = Vec::new();
    let mut cursor = Some(Point::export_start(conn, p, None)?);
    while let Some(c) = cursor {
        let (rows, next) = Point::export_chunk(conn, p, 0, i64::MAX, c, 97)?;
        export.extend(rows);
        cursor = next;
    }
    let page = [START + DAY + 1234, START + 3 * DAY]
        .into_iter()
        .map(|at| {
            trawler_store::view::latest_values(conn, &[p, q], at).map(|mut m| {
                let mut obs = m.remove(&p);
                if let Some(o) = obs.as_mut() {
                    o.sort_by(|a, b| (a.platform, &a.metric).cmp(&(b.platform, &b.metric)));
                }
                obs
            })
        })
        .collect::<Result<_, _>>()?;
    Ok(Reads {
        series,
        observations,
        export,
        metrics: Point::metrics_of(conn, p)?,
        count: Point::count_for_project(conn, p)?,
        page,
    })
}

fn head_count(conn: &mut AnyConnection) -> Result<i64> {
    use diesel::prelude::*;
    use trawler_store::schema::points;
    Ok(trawler_store::db_run!(conn: { points::table.count().get_result(conn)? }))
}

#[test]
fn compaction_changes_no_read() -> Result<()> {
    for db in TestDb::all()? {
        let mut conn = db.pool.get()?;
        let (p, _) = Project::create(&mut conn, "P", &[])?;
        let (q, _) = Project::create(&mut conn, "Q", &[])?;
        let batch = three_days(p.id);
        Point::insert_batch(&mut conn, &batch)?;
        Point::insert_batch(&mut conn, &[point(q.id, Platform::MetaAds, "spend", START + 100, 3.5)])?;
        let before = reads(&mut conn, p.id, q.id)?;
        ensure!(before.count == batch.len() as i64 && before.export.len() == batch.len());

        // Two days close; the third stays in the head. Small batches: many
        // transactions, series cut between them.
        let moved = Chunks::compact(&mut conn, START + 2 * DAY, DAY, 101)?;
        ensure!(moved == (2 * DAY / 300 * 3 + 1) as u64, "moved {moved}");
        ensure!(head_count(&mut conn)? == DAY / 300 * 3, "the third day stays in the head");
        let after = reads(&mut conn, p.id, q.id)?;
        ensure!(after == before, "reads differ after compaction on {:?}", db.pool.backend());

        // Everything closes: the head is empty and still nothing changes.
        Chunks::compact(&mut conn, START + 4 * DAY, DAY, 10_000)?;
        ensure!(head_count(&mut conn)? == 0);
        ensure!(reads(&mut conn, p.id, q.id)? == before, "reads differ with an empty head");
        ensure!(Chunks::compact(&mut conn, START + 4 * DAY, DAY, 10_000)? == 0, "nothing left to move");
    }
    Ok(())
}

#[test]
fn late_points_merge_into_their_chunk_and_the_first_value_stays() -> Result<()> {
    for db in TestDb::all()? {
        let mut conn = db.pool.get()?;
        let (p, _) = Project::create(&mut conn, "P", &[])?;
        let pts: Vec<_> =
            (0..10).map(|i| point(p.id, Platform::Kickstarter, "pledged", START + i * 600, i as f64)).collect();
        Point::insert_batch(&mut conn, &pts)?;
        Chunks::compact(&mut conn, START + DAY, DAY, 1000)?;
        // A late point for the closed day, and a replay of a stored one with
        // another value: the first stored value stays, as in the head.
        Point::insert_batch(
            &mut conn,
            &[
                point(p.id, Platform::Kickstarter, "pledged", START + 301, -1.0),
                point(p.id, Platform::Kickstarter, "pledged", START + 600, 99.0),
            ],
        )?;
        let query = series_query(p.id);
        let read = |conn: &mut AnyConnection| -> Result<Vec<(i64, f64)>> {
            Ok(Point::series(conn, &query)?.series.remove(0).points)
        };
        let mut expected: Vec<(i64, f64)> = pts.iter().map(|p| (p.ts, p.value)).collect();
        expected.insert(1, (START + 301, -1.0));
        ensure!(read(&mut conn)? == expected, "before the merge: {:?}", read(&mut conn)?);
        ensure!(Chunks::compact(&mut conn, START + DAY, DAY, 1000)? == 2);
        ensure!(read(&mut conn)? == expected, "after the merge");
        ensure!(Point::count_for_project(&mut conn, p.id)? == 11, "one chunk of 11 points, no double");
        ensure!(head_count(&mut conn)? == 0);
    }
    Ok(())
}

/// A reader that reads while the compactor moves points, in many small
/// transactions, sees every point exactly once each time.
#[test]
fn reads_during_compaction_never_miss_or_double_a_point() -> Result<()> {
    for db in TestDb::all()? {
        let (p, expected) = {
            let mut conn = db.pool.get()?;
            let (p, _) = Project::create(&mut conn, "P", &[])?;
            Point::insert_batch(&mut conn, &three_days(p.id))?;
            let query = series_query(p.id);
            (p.id, Point::series(&mut conn, &query)?)
        };
        let pool = db.pool.clone();
        let compactor = std::thread::spawn(move || -> Result<()> {
            let mut conn = pool.get()?;
            for day in 1..=4 {
                Chunks::compact(&mut conn, START + day * DAY, 6 * 3600, 13)?;
            }
            Ok(())
        });
        let mut conn = db.pool.get()?;
        let mut readings = 0;
        while !compactor.is_finished() || readings == 0 {
            let got = Point::series(&mut conn, &series_query(p))?;
            ensure!(got == expected, "a read during compaction differs on {:?}", db.pool.backend());
            readings += 1;
        }
        compactor.join().map_err(|_| anyhow::anyhow!("the compactor panicked"))??;
        ensure!(head_count(&mut conn)? == 0);
        ensure!(Point::series(&mut conn, &series_query(p))? == expected);
        ensure!(readings > 1, "only {readings} reads overlapped the compaction");
    }
    Ok(())
}

fn series_query(p: ProjectId) -> SeriesQuery {
    SeriesQuery {
        project: p,
        metric: Metric::known(Metric::PLEDGED),
        platform: None,
        from: 0,
        to: i64::MAX,
        step: None,
        agg: Agg::Last,
    }
}

/// Retention rolls chunks into hourly rollups as it rolls head points: a
/// compacted project and a twin left in the head read the same after it.
#[test]
fn retention_rolls_chunks_as_it_rolls_the_head() -> Result<()> {
    for db in TestDb::all()? {
        let mut conn = db.pool.get()?;
        // A 1-hour span: a chunk per day, so the first day's is all older
        // than the cutoff.
        let (a, b) = twins(&mut conn, 3600)?;
        let rolled = Point::roll_up_before(&mut conn, START + DAY + 1)?.moved;
        ensure!(rolled == 2 * (DAY / 300 * 3) as u64, "one day of each twin rolled: {rolled}");
        read_alike(&mut conn, a, b)?;
    }
    Ok(())
}

/// Two projects with the same three days of points: the first compacted
/// into chunks of `span`, its twin left in the head.
fn twins(conn: &mut AnyConnection, span: i64) -> Result<(ProjectId, ProjectId)> {
    let (a, _) = Project::create(conn, "compacted", &[])?;
    let (b, _) = Project::create(conn, "head", &[])?;
    Point::insert_batch(conn, &three_days(a.id))?;
    Chunks::compact(conn, START + 3 * DAY, span, 10_000)?;
    Point::insert_batch(conn, &three_days(b.id))?;
    Ok((a.id, b.id))
}

/// Two projects with the same points read the same: series raw and
/// downsampled by every aggregate, and the observations of a rolled-up
/// moment.
fn read_alike(conn: &mut AnyConnection, a: ProjectId, b: ProjectId) -> Result<()> {
    let read = |conn: &mut AnyConnection, p: ProjectId, agg: Agg, step: Option<i64>| -> Result<SeriesResult> {
        Ok(Point::series(conn, &SeriesQuery { agg, step, ..series_query(p) })?)
    };
    for (agg, step) in [(Agg::Last, None), (Agg::Avg, Some(3600)), (Agg::Min, Some(DAY)), (Agg::Max, Some(7200))] {
        let (x, y) = (read(conn, a, agg, step)?, read(conn, b, agg, step)?);
        ensure!(x.series.len() == y.series.len() && x.truncated == y.truncated);
        for (s, t) in x.series.iter().zip(&y.series) {
            ensure!(s.platform == t.platform && s.points.len() == t.points.len(), "{agg:?} {step:?}");
            for (p, q) in s.points.iter().zip(&t.points) {
                // Sums may add in another order: equal to the last bits.
                let close = (p.1 - q.1).abs() <= 1e-9 * p.1.abs().max(1.0);
                ensure!(p.0 == q.0 && close, "{agg:?} {step:?}: {p:?} != {q:?}");
            }
        }
    }
    ensure!(Point::observations_at(conn, a, START + DAY / 2)?.len() == 3);
    ensure!(Point::observations_at(conn, a, START + DAY / 2)? == Point::observations_at(conn, b, START + DAY / 2)?);
    Ok(())
}

/// Retention rolls chunks a few at a time, each batch in one statement:
/// with a span that does not divide an hour, two chunks of a series share
/// an hour (in one batch or in two), and its rollup holds both parts once,
/// as the head's twin's does.
#[test]
fn retention_in_batches_merges_an_hour_two_chunks_share() -> Result<()> {
    for db in TestDb::all()? {
        let mut conn = db.pool.get()?;
        // A 1,000-second span: day chunks of 24,000 s and week chunks of
        // 168,000 s, which begin and end inside hours.
        let (a, b) = twins(&mut conn, 1000)?;
        let before = Chunks::points_total(&mut conn)?;
        // On the hour and between two day chunks: no chunk reaches past it.
        let cutoff = START + 216_000;
        ensure!(cutoff % 24_000 == 0 && cutoff % 3600 == 0);
        let chunks = Chunks::census(&mut conn)?.1;
        let pass = Chunks::roll_up_before(&mut conn, cutoff, 2)?;
        ensure!(!pass.busy && pass.moved == (216_000 / 300 * 3) as u64, "{pass:?}");
        let left = Chunks::census(&mut conn)?.1;
        ensure!(chunks - left > 2, "several batches of whole chunks are gone: {chunks} then {left}");
        let head = Point::roll_up_before(&mut conn, cutoff)?;
        ensure!(head.moved == pass.moved, "the twin rolls as many points from the head: {head:?}");
        let rolled = Point::rolled_total(&mut conn)?;
        ensure!(rolled == (head.moved + pass.moved) as i64 && Chunks::points_total(&mut conn)? + rolled == before);
        read_alike(&mut conn, a, b)?;
    }
    Ok(())
}

fn chunk_count(conn: &mut AnyConnection) -> Result<i64> {
    use diesel::prelude::*;
    use trawler_store::schema::chunks;
    Ok(trawler_store::db_run!(conn: { chunks::table.count().get_result(conn)? }))
}

/// Recent points join their day's chunk as the compactor brings them;
/// once a week has closed, its days become one chunk; reads do not change.
#[test]
fn chunks_grow_by_day_and_closed_weeks_become_one() -> Result<()> {
    for db in TestDb::all()? {
        let mut conn = db.pool.get()?;
        let (p, _) = Project::create(&mut conn, "P", &[])?;
        // A 5-minute span: "days" of 2 hours, "weeks" of 14. Five hours of a
        // point a minute.
        let (span, day, week) = (300, 7200, 14 * 3600);
        let base = START - START % week;
        let pts: Vec<_> = (0..300)
            .map(|i| point(p.id, Platform::Kickstarter, "pledged", base + i * 60, (i * 13 % 101) as f64 / 4.0))
            .collect();
        Point::insert_batch(&mut conn, &pts)?;
        let expected = Point::series(&mut conn, &series_query(p.id))?;
        // Passes every span, as the compactor makes them: one chunk per
        // "day", the open one rewritten, the head emptied up to the span.
        for pass in 1..=(5 * 3600 / span) {
            Chunks::compact(&mut conn, base + pass * span, span, 1000)?;
            ensure!(head_count(&mut conn)? == 300 - pass * span / 60, "pass {pass}");
            ensure!(chunk_count(&mut conn)? == (pass * span - 1) / day + 1, "pass {pass}: {}", chunk_count(&mut conn)?);
            ensure!(Point::series(&mut conn, &series_query(p.id))? == expected, "pass {pass}");
        }
        ensure!(chunk_count(&mut conn)? == 3);
        // The "week" closes: its chunks become one.
        Chunks::compact(&mut conn, base + week, span, 1000)?;
        ensure!(chunk_count(&mut conn)? == 1, "{} chunks", chunk_count(&mut conn)?);
        ensure!(Point::series(&mut conn, &series_query(p.id))? == expected);
        ensure!(Point::count_for_project(&mut conn, p.id)? == 300);
    }
    Ok(())
}

/// `a` and `b` hold the same series, values equal up to the rounding of a
/// mean summed in another order.
fn same_up_to_rounding(a: &SeriesResult, b: &SeriesResult) -> bool {
    a.truncated == b.truncated
        && a.series.len() == b.series.len()
        && a.series.iter().zip(&b.series).all(|(x, y)| {
            x.platform == y.platform
                && x.points.len() == y.points.len()
                && x.points
                    .iter()
                    .zip(&y.points)
                    .all(|(p, q)| p.0 == q.0 && (p.1 - q.1).abs() <= 1e-12 * p.1.abs().max(q.1.abs()).max(1.0))
        })
}

#[test]
fn a_read_by_whole_chunks_answers_from_their_aggregates_without_decoding() -> Result<()> {
    use diesel::prelude::*;
    use trawler_store::schema::chunks;
    for db in TestDb::all()? {
        let mut conn = db.pool.get()?;
        let (p, _) = Project::create(&mut conn, "P", &[])?;
        Point::insert_batch(&mut conn, &three_days(p.id))?;
        let query = |step: Option<i64>, agg: Agg, from: i64, to: i64| SeriesQuery {
            project: p.id,
            metric: Metric::known(Metric::PLEDGED),
            platform: None,
            from,
            to,
            step,
            agg,
        };
        // Whole days (each a chunk once compacted), a range that cuts the
        // first and last day, and a week step over the three days.
        let whole = [(0, i64::MAX), (START, START + 3 * DAY - 1)];
        let reads = |conn: &mut AnyConnection| -> Result<Vec<SeriesResult>> {
            let mut out = Vec::new();
            for agg in [Agg::Last, Agg::Min, Agg::Max, Agg::Avg] {
                for (from, to) in whole {
                    for step in [DAY, 7 * DAY] {
                        out.push(Point::series(conn, &query(Some(step), agg, from, to))?);
                    }
                }
            }
            Ok(out)
        };
        let before = reads(&mut conn)?;
        let cut_before = Point::series(&mut conn, &query(Some(DAY), Agg::Avg, START + 3600, START + 2 * DAY + 7))?;

        // An hour's span: one chunk per series and day.
        Chunks::compact(&mut conn, START + 3 * DAY, 3600, 10_000)?;
        ensure!(head_count(&mut conn)? == 0, "every day closed");
        let after = reads(&mut conn)?;
        ensure!(after.len() == before.len());
        for (a, b) in after.iter().zip(&before) {
            ensure!(same_up_to_rounding(a, b), "{:?}: {a:?} != {b:?}", db.pool.backend());
        }
        // A range that cuts the first and last day: those are decoded, the
        // whole day between them answers from its aggregates (its blocks
        // damaged here, so decoding it would fail).
        let c: &mut AnyConnection = &mut conn;
        let middle = trawler_store::db_run!(c: {
            diesel::update(chunks::table.filter(chunks::start_ts.ge(START + DAY)).filter(chunks::start_ts.lt(START + 2 * DAY)))
                .set(chunks::block.eq(vec![0xffu8, 0xff, 0xff]))
                .execute(c)?
        });
        ensure!(middle == 3, "{:?}: {middle} chunks of the middle day", db.pool.backend());
        let cut_after = Point::series(&mut conn, &query(Some(DAY), Agg::Avg, START + 3600, START + 2 * DAY + 7))?;
        ensure!(
            same_up_to_rounding(&cut_after, &cut_before),
            "{:?}: {cut_after:?} != {cut_before:?}",
            db.pool.backend()
        );

        // Damage every block: reads that need points fail and name the
        // chunk; reads by whole chunks never open a block, so still answer.
        let c: &mut AnyConnection = &mut conn;
        let damaged = trawler_store::db_run!(c: {
            diesel::update(chunks::table).set(chunks::block.eq(vec![0xffu8, 0xff, 0xff])).execute(c)?
        });
        ensure!(damaged == 9, "{:?}: {damaged} chunks (three series, three days)", db.pool.backend());
        ensure!(reads(&mut conn)? == after, "{:?}: a read by whole chunks decoded one", db.pool.backend());
        let raw = Point::series(&mut conn, &query(None, Agg::Last, 0, i64::MAX));
        ensure!(
            raw.as_ref().is_err_and(|e| e.to_string().contains("chunk of series")),
            "{:?}: a raw read of damaged chunks gave {raw:?}",
            db.pool.backend()
        );
        let hourly = Point::series(&mut conn, &query(Some(3600), Agg::Last, 0, i64::MAX));
        ensure!(hourly.is_err(), "{:?}: an hourly step cannot come from daily aggregates", db.pool.backend());
        let cut = Point::series(&mut conn, &query(Some(DAY), Agg::Avg, START + 3600, START + 2 * DAY + 7));
        ensure!(cut.is_err(), "{:?}: a range that cuts a chunk must decode it", db.pool.backend());
        ensure!(!cut_before.series.is_empty());
    }
    Ok(())
}

#[test]
fn a_read_sees_one_snapshot_while_a_compaction_commits() -> Result<()> {
    for db in TestDb::all()? {
        let (mut reader, mut writer) = (db.pool.get()?, db.pool.get()?);
        let (p, _) = Project::create(&mut writer, "P", &[])?;
        Point::insert_batch(&mut writer, &three_days(p.id))?;
        let query = series_query(p.id);
        let backend = db.pool.backend();
        let reader: &mut AnyConnection = &mut reader;
        trawler_store::read_snapshot(reader, |reader| -> Result<()> {
            let first = Point::series(reader, &query)?;
            let head = head_count(reader)?;
            // Another connection moves every point into chunks and commits.
            let moved = Chunks::compact(&mut writer, START + 4 * DAY, 3600, 10_000)?;
            ensure!(moved as i64 == head && head_count(&mut writer)? == 0, "{backend:?}: moved {moved} of {head}");
            // The snapshot still has them all in the head, and the same read.
            ensure!(head_count(reader)? == head, "{backend:?}: the snapshot saw the compaction");
            ensure!(Point::series(reader, &query)? == first, "{backend:?}: a read changed within its snapshot");
            Ok(())
        })?;
        ensure!(head_count(reader)? == 0, "{backend:?}: after the snapshot, the head is empty");
    }
    Ok(())
}

#[test]
fn weeks_that_closed_while_no_node_compacted_are_merged_at_start() -> Result<()> {
    for db in TestDb::all()? {
        let mut conn = db.pool.get()?;
        let (p, _) = Project::create(&mut conn, "P", &[])?;
        // As above: a 5-minute span, "days" of 2 hours, "weeks" of 14.
        let (span, week) = (300, 14 * 3600);
        let base = START - START % week;
        let pts: Vec<_> = (0..300)
            .map(|i| point(p.id, Platform::Kickstarter, "pledged", base + i * 60, (i * 7 % 23) as f64 * 1.5))
            .collect();
        Point::insert_batch(&mut conn, &pts)?;
        let expected = Point::series(&mut conn, &series_query(p.id))?;
        for pass in 1..=(5 * 3600 / span) {
            Chunks::compact(&mut conn, base + pass * span, span, 1000)?;
        }
        ensure!(chunk_count(&mut conn)? == 3, "three day chunks");
        // The node stops; the week ends meanwhile. Its next pass comes three
        // weeks later and does not cross a week's end: nothing merges.
        let later = base + 3 * week + 5 * span;
        Chunks::compact(&mut conn, later, span, 1000)?;
        ensure!(chunk_count(&mut conn)? == 3, "{:?}: merged without a crossing", db.pool.backend());
        // The start-up merge finds the closed week and makes it one chunk.
        ensure!(Chunks::merge_all_closed(&mut conn, later, span, 1000)? == 1, "{:?}", db.pool.backend());
        ensure!(chunk_count(&mut conn)? == 1, "{:?}: {} chunks", db.pool.backend(), chunk_count(&mut conn)?);
        ensure!(Point::series(&mut conn, &series_query(p.id))? == expected, "{:?}: reads changed", db.pool.backend());
        ensure!(Chunks::merge_all_closed(&mut conn, later, span, 1000)? == 0, "nothing left to merge");
    }
    Ok(())
}

#[test]
fn a_pass_that_finds_the_lock_held_says_so_and_moves_nothing() -> Result<()> {
    use diesel::connection::SimpleConnection;
    let Some(db) = TestDb::postgres() else {
        eprintln!("no PostgreSQL: skipping");
        return Ok(());
    };
    let db = db?;
    let mut conn = db.pool.get()?;
    let (p, _) = Project::create(&mut conn, "P", &[])?;
    Point::insert_batch(&mut conn, &three_days(p.id))?;
    let total = head_count(&mut conn)?;
    // Another session (retention, another node's compactor) holds the
    // compaction lock in its transaction.
    let mut other = db.pool.get()?;
    // The lock's key: "trawlc" as a number (0x7472_6177_6c63).
    other.batch_execute(&format!("BEGIN; SELECT pg_advisory_xact_lock({})", 0x7472_6177_6c63i64))?;
    let pass = Chunks::compact_pass(&mut conn, START + 3 * DAY, DAY, 1000)?;
    ensure!(pass == trawler_store::Pass { moved: 0, busy: true }, "{pass:?}");
    ensure!(head_count(&mut conn)? == total, "nothing moved while the lock was held");
    other.batch_execute("COMMIT")?;
    let pass = Chunks::compact_pass(&mut conn, START + 3 * DAY, DAY, 1000)?;
    ensure!(!pass.busy && pass.moved == total as u64, "{pass:?} of {total}");
    Ok(())
}

#[test]
fn a_roll_up_that_finds_the_lock_held_says_so_and_rolls_nothing() -> Result<()> {
    use diesel::connection::SimpleConnection;
    let Some(db) = TestDb::postgres() else {
        eprintln!("no PostgreSQL: skipping");
        return Ok(());
    };
    let db = db?;
    let mut conn = db.pool.get()?;
    let (a, _) = Project::create(&mut conn, "in chunks", &[])?;
    let (b, _) = Project::create(&mut conn, "in the head", &[])?;
    Point::insert_batch(&mut conn, &three_days(a.id))?;
    Chunks::compact(&mut conn, START + 3 * DAY, 3600, 10_000)?;
    Point::insert_batch(&mut conn, &three_days(b.id))?;
    let day = (DAY / 300 * 3) as u64;
    // The compactor (this node's or another's) holds the lock: the head's
    // roll-up waits (it would race the compactor for the same points), and
    // so does the chunks'.
    let mut other = db.pool.get()?;
    let hold = format!("BEGIN; SELECT pg_advisory_xact_lock({})", 0x7472_6177_6c63i64);
    other.batch_execute(&hold)?;
    let pass = Point::roll_up_before(&mut conn, START + DAY + 1)?;
    ensure!(pass == trawler_store::Pass { moved: 0, busy: true }, "{pass:?}");
    let pass = Chunks::roll_up_before(&mut conn, START + DAY, 1000)?;
    ensure!(pass == trawler_store::Pass { moved: 0, busy: true }, "{pass:?}");
    ensure!(head_count(&mut conn)? == 3 * day as i64, "nothing left the head");
    other.batch_execute("COMMIT")?;
    // Free again: a day of each, from the head and from the chunks.
    let pass = Point::roll_up_before(&mut conn, START + DAY + 1)?;
    ensure!(pass == trawler_store::Pass { moved: 2 * day, busy: false }, "{pass:?}");
    Ok(())
}
