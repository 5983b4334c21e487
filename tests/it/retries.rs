//! Confirming a failure quickly (`checks[].retry_interval`) through the real daemon and real
//! loopback targets: after a failing probe of a check that is not failing, the next probes come
//! every `retry_interval` until the thresholds settle the state, then the normal interval resumes;
//! a check flapping inside its thresholds still opens no alert.
//!
//! The checks under test probe every minute, so without retries a failure could not be confirmed
//! within the tests' waits; what they assert is what a user sees (the alert, the check's state, the
//! probe counts in `/metrics`), never a measured time. "No more probes" is asserted after a
//! witness check on another target has been probed ten more times at 200 ms.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use serde_json::{Value, json};

use crate::helpers::{BASE_PLAN, Daemon, cli, eventually};
use crate::monitoring::{check_view, metric};
use crate::plans::{ALL_PHASES, http_check};
use crate::targets::{self, Reply, Target};

/// The phases the checks under test run in: not `planned`, so they start probing (within a
/// second) when the test moves the launch to `go_no_go`, not at a random point of their minute.
const FROM_GO_NO_GO: &[&str] = &["go_no_go", "deploying", "verifying", "hypercare"];

/// A target that answers each request by its number (0 for the first), and the count of
/// requests it has answered.
async fn target_by_request(
    answer: impl Fn(usize) -> u16 + Send + Sync + 'static,
) -> (Target, Arc<AtomicUsize>) {
    let requests = Arc::new(AtomicUsize::new(0));
    let counted = requests.clone();
    let target = targets::serve(move |_path| {
        let status = answer(counted.fetch_add(1, Ordering::SeqCst));
        Reply::status(status, if status == 200 { "ok" } else { "down" })
    })
    .await;
    (target, requests)
}

/// The base plan with the check `slow` (every minute, `extra` keys) on `target` and the check
/// `witness` (every 200 ms, always healthy) on `witness`.
fn plan(target: &Target, extra: &str, failure_threshold: u32, witness: &Target) -> String {
    let slow = http_check("slow", &target.url("/health"))
        .every("1m", "2s")
        .failing_after(Some(failure_threshold))
        .in_phases(FROM_GO_NO_GO)
        .with(extra);
    let witness = http_check("witness", &witness.url("/health")).in_phases(ALL_PHASES);
    format!("{BASE_PLAN}{slow}{witness}")
}

/// How many probes of `check` ended with `result` (0 before the first).
async fn results(daemon: &Daemon, check: &str, result: &str) -> u64 {
    let series = format!("golive_check_results_total{{check=\"{check}\",result=\"{result}\"}}");
    metric(daemon, &series).await.unwrap_or(0.0) as u64
}

/// All probes of `check` so far.
async fn probes(daemon: &Daemon, check: &str) -> u64 {
    let mut total = 0;
    for result in ["healthy", "failing", "unknown"] {
        total += results(daemon, check, result).await;
    }
    total
}

/// Waits until the witness check has been probed ten more times: any probe of another check due
/// within the next two seconds has been counted by then.
async fn witness_probed_ten_more_times(daemon: &Daemon) {
    let before = probes(daemon, "witness").await;
    eventually(20, async || {
        (probes(daemon, "witness").await >= before + 10).then_some(())
    })
    .await;
}

/// Starts probing the checks that run from `go_no_go` on.
async fn enter_go_no_go(daemon: &Daemon) {
    let (status, body) = daemon.post("/api/v1/phase", json!({})).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["phase"], "go_no_go", "{body}");
}

/// The alerts of the check `slow` in any state.
async fn alerts_of_slow(daemon: &Daemon) -> Vec<Value> {
    let (_, body) = daemon.get("/api/v1/alerts?state=all").await;
    body["alerts"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .into_iter()
        .filter(|alert| alert["key"] == "check:slow")
        .collect()
}

#[tokio::test]
async fn a_failure_is_confirmed_by_retries_long_before_the_next_interval_and_they_stop_once_failing()
 {
    let (target, requests) = target_by_request(|_| 503).await;
    let witness = targets::serve(|_| Reply::ok("ok")).await;
    // The default retry_interval: a minute's interval, three failures to confirm.
    let daemon = Daemon::start(&plan(&target, "", 3, &witness)).await;
    enter_go_no_go(&daemon).await;

    // Without retries the third failing probe would come two minutes after the first.
    let alert = eventually(30, async || alerts_of_slow(&daemon).await.first().cloned()).await;
    assert!(alert["resolved_at"].is_null(), "{alert}");
    assert_eq!(check_view(&daemon, "slow").await["health"], "failing");
    assert_eq!(results(&daemon, "slow", "failing").await, 3);

    // Failing now: the check is back on its minute, so no further probe comes meanwhile.
    witness_probed_ten_more_times(&daemon).await;
    assert_eq!(probes(&daemon, "slow").await, 3);
    assert_eq!(requests.load(Ordering::SeqCst), 3);
}

#[tokio::test]
async fn a_failure_that_clears_on_the_retry_returns_the_check_to_its_interval_without_an_alert() {
    // The first answer fails, every later one succeeds.
    let (target, requests) =
        target_by_request(|request| if request == 0 { 503 } else { 200 }).await;
    let witness = targets::serve(|_| Reply::ok("ok")).await;
    let daemon = Daemon::start(&plan(&target, "retry_interval = \"300ms\"", 2, &witness)).await;
    enter_go_no_go(&daemon).await;

    eventually(30, async || {
        (check_view(&daemon, "slow").await["health"] == "healthy").then_some(())
    })
    .await;
    assert_eq!(results(&daemon, "slow", "failing").await, 1);
    assert_eq!(results(&daemon, "slow", "healthy").await, 1);

    // Healthy again: the next probe is a minute away.
    witness_probed_ten_more_times(&daemon).await;
    assert_eq!(probes(&daemon, "slow").await, 2);
    assert_eq!(requests.load(Ordering::SeqCst), 2);
    assert!(alerts_of_slow(&daemon).await.is_empty());
}

#[tokio::test]
async fn a_check_flapping_inside_its_thresholds_opens_no_alert_with_retries_on() {
    // Every other answer fails: never two failures in a row, however fast the retries come.
    let (target, _requests) =
        target_by_request(|request| if request % 2 == 0 { 503 } else { 200 }).await;
    let witness = targets::serve(|_| Reply::ok("ok")).await;
    let flapping = http_check("slow", &target.url("/health"))
        .every("400ms", "300ms")
        .failing_after(Some(2))
        .in_phases(ALL_PHASES)
        .with("retry_interval = \"100ms\"");
    let witness_check = http_check("witness", &witness.url("/health")).in_phases(ALL_PHASES);
    let daemon = Daemon::start(&format!("{BASE_PLAN}{flapping}{witness_check}")).await;

    eventually(30, async || {
        (results(&daemon, "slow", "failing").await >= 10).then_some(())
    })
    .await;
    witness_probed_ten_more_times(&daemon).await;
    assert!(
        alerts_of_slow(&daemon).await.is_empty(),
        "{:?}",
        alerts_of_slow(&daemon).await
    );
    assert_ne!(check_view(&daemon, "slow").await["health"], "failing");
    assert!(results(&daemon, "slow", "healthy").await >= 10);
}

/// Writes `plan` into a new folder and runs `golive check` (with `flags`) on it.
fn golive_check(plan: &str, flags: &[&str]) -> (i32, String, String) {
    let dir = tempfile::tempdir().expect("temp dir");
    std::fs::write(dir.path().join("plan.toml"), plan).expect("write plan");
    let mut args = vec!["check", "plan.toml"];
    args.extend_from_slice(flags);
    cli(dir.path(), &args)
}

#[test]
fn golive_check_says_how_soon_the_slowest_check_confirms_a_failure() {
    let hourly = http_check("hourly", "http://127.0.0.1:9/health")
        .every("30s", "2s")
        .failing_after(Some(3))
        .with("intervals = { hypercare = \"1m\" }");
    let fast = http_check("fast", "http://127.0.0.1:9/health").with("retry_interval = \"150ms\"");
    let (code, stdout, stderr) = golive_check(&format!("{BASE_PLAN}{hourly}{fast}"), &[]);
    assert_eq!(code, 0, "{stderr}");
    // One minute to the first failing probe, then two retries at the default of 1 s.
    assert!(
        stdout.contains("; a failing target is confirmed within 1 min 02 s at most (check `hourly` in hypercare: interval 1 min, 2 retries 1 s apart)"),
        "{stdout}"
    );
}

#[test]
fn a_retry_interval_on_a_check_failing_at_its_first_failure_is_a_warning() {
    let check = http_check("web", "http://127.0.0.1:9/health")
        .failing_after(Some(1))
        .with("retry_interval = \"100ms\"");
    let plan = format!("{BASE_PLAN}{check}");
    let (code, _, stderr) = golive_check(&plan, &[]);
    assert_eq!(code, 0, "{stderr}");
    assert!(stderr.contains("checks[0].retry_interval"), "{stderr}");
    assert!(stderr.contains("never retries"), "{stderr}");
    let (code, _, stderr) = golive_check(&plan, &["--strict"]);
    assert_eq!(code, 64, "{stderr}");
}
