//! Benchmark: composing (reading the store, computing the figures, rendering text and HTML) the
//! daily report of 1,000 checks from a day of minute history, and the final report of 1,000
//! checks over 30 days. Run with `bench/report-render.sh` (a release build); figures go to
//! BENCHMARKS.md.
//!
//! The store is seeded as the daemon leaves it: the last two days (the report day and the day
//! before, for the comparison) as full minute history, the 28 days before as one minute per hour,
//! and every finished hour merged into the hourly history by the same `Store::roll_up_hours` the
//! engine runs. Reports read hourly rows for whole hours, so the older days' row count (and read
//! cost) is that of a full history; only the figures inside them differ.

use std::time::{Duration, Instant};

use golive::core::health::{Outcome, ProbeResult};
use golive::core::rollup::Rollup;
use golive::report::compose;
use golive::store::Store;
use golive::store::rollups::MinuteRow;

fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let checks: usize = args.next().map_or(Ok(1000), |n| n.parse())?;
    let days: i64 = args.next().map_or(Ok(30), |n| n.parse())?;
    let dir = tempfile::tempdir()?;
    let mut plan_text = String::from(
        r#"[launch]
name = "Benchmark shop"
timezone = "Europe/Berlin"
go_live = 2026-11-01T20:00:00
hypercare_days = 30
data_dir = "data"

[[people]]
id = "alice"
name = "Alice"
role = "project_manager"
email = "alice@example.com"

[[channels]]
id = "email"
kind = "email"

[reports]
to = ["alice"]
"#,
    );
    plan_text.push_str("objectives = { ");
    plan_text.push_str(
        &(0..checks)
            .map(|index| format!("c{index} = 99.9"))
            .collect::<Vec<_>>()
            .join(", "),
    );
    plan_text.push_str(" }\n");
    for index in 0..checks {
        plan_text.push_str(&format!(
            "\n[[checks]]\nid = \"c{index}\"\nname = \"Check {index}\"\nkind = \"tcp\"\naddress = \"127.0.0.1:{}\"\n",
            10_000 + index
        ));
    }
    let plan = golive::plan::parse(&plan_text, &dir.path().join("plan.toml"))
        .map_err(|diagnostics| anyhow::anyhow!("invalid plan: {diagnostics:?}"))?
        .plan;
    let mut store = Store::open(&plan.launch.data_dir)?;
    store.load_or_init_state("2026-10-01T00:00:00Z".parse()?)?;

    // The report day 2026-12-01 (Berlin) ends at 2026-12-01 09:00 CET = 08:00Z.
    let end: jiff::Timestamp = "2026-12-01T08:00:00Z".parse()?;
    let end_minute = end.as_second() / 60;
    let start_minute = end_minute - days * 1440;
    let full_from = end_minute - 2 * 1440;
    let ids: Vec<String> = plan.checks.iter().map(|check| check.id.clone()).collect();

    let seeding = Instant::now();
    let mut rows_written = 0usize;
    let mut batch: Vec<(usize, i64, Rollup)> = Vec::new();
    for minute in start_minute..end_minute {
        if minute < full_from && minute.rem_euclid(60) != 0 {
            continue;
        }
        for index in 0..checks {
            let mut rollup = Rollup::default();
            for probe in 0..6u64 {
                let failing = (minute + index as i64) % 997 == 0 && probe < 3;
                let outcome = if failing {
                    Outcome::Failing
                } else {
                    Outcome::Healthy
                };
                let latency = Duration::from_micros(
                    2_000 + ((minute as u64 * 7 + index as u64 * 13 + probe * 101) % 40_000),
                );
                rollup.record(&ProbeResult::new(outcome, "", latency));
            }
            batch.push((index, minute, rollup));
        }
        if batch.len() >= 200_000 {
            rows_written += flush(&mut store, &ids, &mut batch)?;
        }
    }
    rows_written += flush(&mut store, &ids, &mut batch)?;
    let seeded = seeding.elapsed();

    let merging = Instant::now();
    let first_hour = start_minute.div_euclid(60);
    let last_hour = end_minute.div_euclid(60);
    let mut hour = first_hour;
    while hour < last_hour {
        let to = (hour + 24).min(last_hour);
        store.roll_up_hours(ids.iter().map(String::as_str), hour, to)?;
        hour = to;
    }
    let merged = merging.elapsed();
    let one_hour = Instant::now();
    store.roll_up_hours(ids.iter().map(String::as_str), last_hour - 1, last_hour)?;
    let one_hour = one_hour.elapsed();

    let reader = store.reader()?;
    let now = end + jiff::SignedDuration::from_secs(5);
    let day = jiff::civil::date(2026, 12, 1);
    let mut daily_runs = Vec::new();
    let mut daily_sizes = (0, 0);
    for _ in 0..3 {
        let started = Instant::now();
        let (_, composed) = compose::daily(&reader, &plan, day, now, false)?;
        daily_runs.push(started.elapsed());
        daily_sizes = (composed.rendered.text.len(), composed.rendered.html.len());
    }
    let mut final_runs = Vec::new();
    let mut final_sizes = (0, 0);
    for _ in 0..3 {
        let started = Instant::now();
        let (_, composed) = compose::final_report(&reader, &plan, now, false)?;
        final_runs.push(started.elapsed());
        final_sizes = (composed.rendered.text.len(), composed.rendered.html.len());
    }
    println!("checks: {checks}, days: {days}, minute rows seeded: {rows_written} in {seeded:.1?}");
    println!(
        "merging every hour into the hourly history: {merged:.1?}; one hour of {checks} checks: {one_hour:.1?}"
    );
    println!(
        "daily report: {:?} (runs), text {} KiB, HTML {} KiB",
        daily_runs,
        daily_sizes.0 / 1024,
        daily_sizes.1 / 1024
    );
    println!(
        "final report over {days} days: {:?} (runs), text {} KiB, HTML {} KiB",
        final_runs,
        final_sizes.0 / 1024,
        final_sizes.1 / 1024
    );
    Ok(())
}

fn flush(
    store: &mut Store,
    ids: &[String],
    batch: &mut Vec<(usize, i64, Rollup)>,
) -> anyhow::Result<usize> {
    let rows: Vec<MinuteRow<'_>> = batch
        .iter()
        .map(|(index, minute, rollup)| MinuteRow {
            check: ids[*index].as_str(),
            minute: *minute,
            rollup,
        })
        .collect();
    store.write_rollups(&rows)?;
    let written = rows.len();
    drop(rows);
    batch.clear();
    Ok(written)
}
