//! The CI examples of `examples/ci/` run for real: their shell steps, read from the YAML files
//! (the same commands, not a copy; parsed by PyYAML), run with bash as the CI system would, against
//! the real daemon and a real loopback target. A release whose target stays healthy passes the
//! gate, which moves the launch to `hypercare`, and a retried deploy step is recorded once; a
//! release that breaks the target makes `golive verify` exit 3 and the job run the plan's rollback
//! hook. A step change repeated by another run is refused naming the run; a gate that never sees
//! its phase exits 4 at the timeout, one that cannot reach golive 69 after five tries. Durations
//! are compressed through the gate's environment variables (`GOLIVE_VERIFY_*`).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use serde::Deserialize;
use serde_json::{Value, json};

use crate::helpers::{BASE_PLAN, Daemon, TOKEN, eventually};
use crate::plans::http_check;
use crate::targets::{Reply, Target, serve};

/// The deploy step the examples record, and a rollback hook that leaves `rollback.out` beside
/// the plan; rollback criteria on the `web` check.
const PIPELINE_PLAN: &str = r#"
[[runbook.steps]]
id = "deploy"
title = "Deploy release 2.0"
owner = "bob"
start = "+00:00"
duration = "15m"

[rollback.hook]
command = ["sh", "-c", "echo \"rolled back: $GOLIVE_ROLLBACK_REASON\" > rollback.out"]
timeout = "10s"
"#;

/// What the job's `deploy.sh` does to the release: leave it healthy, or break it.
#[derive(Clone, Copy, PartialEq)]
enum Release {
    Healthy,
    Broken,
}

/// A daemon in `go_no_go` with its checklist confirmed, a target whose health `deploy.sh` decides
/// (a `broken` file in the workspace makes it answer 503), and the workspace the job runs in.
struct Setup {
    daemon: Daemon,
    workspace: tempfile::TempDir,
    _target: Target,
}

async fn setup(release: Release) -> Setup {
    setup_confirming(release, &["backup", "signoff", "smoke"]).await
}

/// [`setup`] confirming only `items` of the checklist (`smoke` gates leaving `verifying`, so
/// without it `golive verify --advance` waits until its timeout).
async fn setup_confirming(release: Release, items: &[&str]) -> Setup {
    let workspace = tempfile::tempdir().expect("workspace");
    let marker = workspace.path().join("broken");
    let target = serve(move |_| {
        if marker.exists() {
            Reply::status(503, "down")
        } else {
            Reply::ok("ok")
        }
    })
    .await;
    let plan = format!(
        "{}{}{PIPELINE_PLAN}",
        BASE_PLAN.replace(
            "[rollback]\nprocedure = \"Redeploy release 1.9 and restore the database snapshot\"",
            "[rollback]\nprocedure = \"Redeploy release 1.9 and restore the database snapshot\"\ncriteria = [{ checks = [\"web\"] }]",
        ),
        http_check("web", &target.url("/health")).named("Shop front page"),
    );
    let daemon = Daemon::start(&plan).await;
    for item in items {
        let (status, body) = daemon
            .post(&format!("/api/v1/checklist/{item}/confirm"), json!({}))
            .await;
        assert_eq!(status, 200, "{body}");
    }
    let (status, body) = daemon
        .post("/api/v1/phase", json!({"to": "go_no_go"}))
        .await;
    assert_eq!(status, 200, "{body}");
    let deploy = match release {
        Release::Healthy => "#!/bin/sh\necho 'release 2.0' >> deployed\n",
        Release::Broken => "#!/bin/sh\necho 'release 2.0' >> deployed\ntouch broken\n",
    };
    let script = workspace.path().join("deploy.sh");
    std::fs::write(&script, deploy).expect("write deploy.sh");
    let chmod = Command::new("chmod").arg("+x").arg(&script).status();
    assert!(chmod.is_ok_and(|status| status.success()));
    Setup {
        daemon,
        workspace,
        _target: target,
    }
}

/// An example file read as data (PyYAML turns it into JSON).
fn example<T: for<'de> Deserialize<'de>>(name: &str) -> T {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("examples/ci")
        .join(name);
    let output = Command::new("python3")
        .args([
            "-c",
            "import json, sys, yaml; json.dump(yaml.safe_load(open(sys.argv[1])), sys.stdout)",
        ])
        .arg(&path)
        .output()
        .expect("python3 with PyYAML (python3-yaml)");
    assert!(output.status.success(), "{output:?}");
    serde_json::from_slice(&output.stdout).expect("the example's shape")
}

/// The environment a CI runner gives the job: golive on PATH, its address and token, the run's
/// id as that CI system names it (`run_id`: variable and value), and compressed gate durations.
fn job_env(setup: &Setup, soak: &str, run_id: (&str, &str)) -> Vec<(String, String)> {
    let golive = PathBuf::from(env!("CARGO_BIN_EXE_golive"));
    let bin = golive.parent().expect("the binary's folder");
    let path = format!(
        "{}:{}",
        bin.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    [
        ("PATH", path.as_str()),
        ("GOLIVE_SERVER", setup.daemon.url.as_str()),
        ("GOLIVE_API_TOKEN", TOKEN),
        ("GOLIVE_VERIFY_SOAK", soak),
        ("GOLIVE_VERIFY_INTERVAL", "200ms"),
        ("GOLIVE_VERIFY_TIMEOUT", "60s"),
        run_id,
    ]
    .iter()
    .map(|(key, value)| (key.to_string(), value.to_string()))
    .collect()
}

/// Runs `script` with bash as CI runners do (`-eo pipefail`) in the workspace; the exit code
/// and the output.
async fn shell(workspace: &Path, env: &[(String, String)], script: &str) -> (i32, String) {
    let mut command = Command::new("bash");
    command
        .args(["--noprofile", "--norc", "-eo", "pipefail", "-c", script])
        .current_dir(workspace)
        .env_remove("GOLIVE_PLAN")
        .env_remove("GOLIVE_RUN_ID")
        .env_remove("GITHUB_RUN_ID")
        .env_remove("CI_PIPELINE_ID")
        .envs(env.iter().map(|(key, value)| (key, value)));
    let output = tokio::task::spawn_blocking(move || command.output())
        .await
        .expect("join")
        .expect("bash");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    (output.status.code().unwrap_or(-1), text)
}

/// The parts of a GitHub Actions workflow the test runs.
#[derive(Deserialize)]
struct Workflow {
    jobs: BTreeMap<String, GithubJob>,
}

#[derive(Deserialize)]
struct GithubJob {
    /// The one job this one waits for (the example's only form of `needs`).
    needs: Option<String>,
    steps: Vec<GithubStep>,
}

#[derive(Deserialize)]
struct GithubStep {
    name: Option<String>,
    id: Option<String>,
    #[serde(rename = "if")]
    condition: Option<String>,
    run: Option<String>,
}

/// Whether a step runs, as GitHub decides for the conditions the example uses: none (only while
/// nothing failed), or `failure()` with `steps.ID.outputs.KEY == 'VALUE'` terms.
fn github_runs(
    condition: Option<&str>,
    failed: bool,
    outputs: &BTreeMap<String, BTreeMap<String, String>>,
) -> bool {
    let Some(condition) = condition else {
        return !failed;
    };
    condition.split("&&").map(str::trim).all(|term| {
        if term == "failure()" {
            return failed;
        }
        let (left, right) = term.split_once("==").expect("a comparison");
        let path: Vec<&str> = left.trim().split('.').collect();
        let [_, step, _, key] = path[..] else {
            panic!("unexpected term `{term}`");
        };
        let value = outputs.get(step).and_then(|outputs| outputs.get(key));
        value.map(String::as_str) == Some(right.trim().trim_matches('\''))
    })
}

/// What a run of jobs did: whether one failed, the names of the steps (or jobs) that ran, and
/// everything they printed.
struct JobsRun {
    failed: bool,
    ran: Vec<String>,
    log: String,
}

/// Runs the GitHub Actions example's workflow as one attempt of a run ("Re-run all jobs" is
/// another call with the same `GITHUB_RUN_ID`): each job after the one it `needs` succeeded,
/// its steps from the first.
async fn run_github(setup: &Setup, env: &[(String, String)]) -> JobsRun {
    let workflow: Workflow = example("github-actions.yml");
    let mut run = JobsRun {
        failed: false,
        ran: Vec::new(),
        log: String::new(),
    };
    let mut succeeded: BTreeMap<&str, bool> = BTreeMap::new();
    while succeeded.len() < workflow.jobs.len() {
        for (name, job) in &workflow.jobs {
            let ready = match job.needs.as_deref() {
                _ if succeeded.contains_key(name.as_str()) => None,
                None => Some(true),
                Some(need) => succeeded.get(need).copied(),
            };
            match ready {
                Some(true) => {
                    let ok = run_github_job(setup, env, job, &mut run).await;
                    succeeded.insert(name, ok);
                }
                Some(false) => {
                    run.log.push_str(&format!("== job {name} skipped\n"));
                    succeeded.insert(name, false);
                }
                None => {}
            }
        }
    }
    run
}

/// Runs one job's steps; answers whether it succeeded.
async fn run_github_job(
    setup: &Setup,
    env: &[(String, String)],
    job: &GithubJob,
    run: &mut JobsRun,
) -> bool {
    let mut failed = false;
    let mut outputs: BTreeMap<String, BTreeMap<String, String>> = BTreeMap::new();
    for step in &job.steps {
        let Some(script) = &step.run else { continue };
        if !github_runs(step.condition.as_deref(), failed, &outputs) {
            continue;
        }
        let name = step.name.clone().unwrap_or_default();
        let output_file = setup.workspace.path().join("github_output");
        std::fs::write(&output_file, "").expect("GITHUB_OUTPUT");
        let mut step_env = env.to_vec();
        step_env.push(("GITHUB_OUTPUT".into(), output_file.display().to_string()));
        let (code, text) = shell(setup.workspace.path(), &step_env, script).await;
        run.log
            .push_str(&format!("== {name} (exit {code})\n{text}"));
        run.ran.push(name.clone());
        failed |= code != 0;
        let written = std::fs::read_to_string(&output_file).unwrap_or_default();
        if let Some(id) = &step.id {
            let values = written
                .lines()
                .filter_map(|line| line.split_once('='))
                .map(|(key, value)| (key.to_string(), value.to_string()));
            outputs.entry(id.clone()).or_default().extend(values);
        }
    }
    run.failed |= failed;
    !failed
}

/// The parts of a GitLab CI file the test runs: the stages in order, and each job's stage,
/// `when` and script lines (the other top-level keys are not jobs).
#[derive(Deserialize)]
struct GitlabPipeline {
    stages: Vec<String>,
    #[serde(flatten)]
    jobs: BTreeMap<String, Value>,
}

impl GitlabPipeline {
    /// A job's script lines as one shell text, as the runner runs them.
    fn script(&self, job: &str) -> String {
        script_of(&self.jobs[job])
    }
}

/// A GitLab job's `script` lines joined into one shell text.
fn script_of(job: &Value) -> String {
    let lines: Vec<&str> = job["script"]
        .as_array()
        .expect("script lines")
        .iter()
        .filter_map(Value::as_str)
        .collect();
    lines.join("\n")
}

/// Runs the GitLab CI example's jobs stage by stage (each job's script lines in one shell, as
/// the runner does); answers whether the pipeline failed and the log.
async fn run_gitlab(setup: &Setup, env: &[(String, String)]) -> (bool, String) {
    let pipeline: GitlabPipeline = example("gitlab-ci.yml");
    let mut failed = false;
    let mut log = String::new();
    for stage in &pipeline.stages {
        for (name, job) in &pipeline.jobs {
            if job["stage"].as_str() != Some(stage) {
                continue;
            }
            let on_failure = job["when"].as_str() == Some("on_failure");
            if on_failure != failed {
                continue;
            }
            let (code, text) = shell(setup.workspace.path(), env, &script_of(job)).await;
            log.push_str(&format!("== {name} (exit {code})\n{text}"));
            failed |= code != 0;
        }
    }
    (failed, log)
}

/// The `runbook` log entries of step `deploy`: (action, run id).
async fn deploy_entries(daemon: &Daemon) -> Vec<(String, Value)> {
    let (_, log) = daemon.get("/api/v1/log?kind=runbook&order=asc").await;
    log["entries"]
        .as_array()
        .expect("entries")
        .iter()
        .filter(|entry| entry["data"]["step"] == "deploy" && entry["data"]["action"].is_string())
        .map(|entry| {
            let action = entry["data"]["action"].as_str().unwrap_or_default();
            (action.to_string(), entry["data"]["run_id"].clone())
        })
        .collect()
}

async fn phase(daemon: &Daemon) -> String {
    let (_, status) = daemon.get("/api/v1/status").await;
    status["phase"].as_str().unwrap_or_default().to_string()
}

/// Waits for the rollback hook's file beside the plan.
async fn rollback_hook_ran(daemon: &Daemon) -> String {
    let file = daemon.dir.join("rollback.out");
    eventually(20, async || std::fs::read_to_string(&file).ok()).await
}

/// How many times `deploy.sh` ran (one line each in `deployed`).
fn deploys(setup: &Setup) -> usize {
    let file = setup.workspace.path().join("deployed");
    std::fs::read_to_string(file)
        .unwrap_or_default()
        .lines()
        .count()
}

/// The phase changes in the log, oldest first: (to, run id).
async fn phase_changes(daemon: &Daemon) -> Vec<(String, Value)> {
    let (_, log) = daemon.get("/api/v1/log?kind=phase&order=asc").await;
    log["entries"]
        .as_array()
        .expect("entries")
        .iter()
        .map(|entry| {
            let to = entry["data"]["to"].as_str().unwrap_or_default();
            (to.to_string(), entry["data"]["run_id"].clone())
        })
        .collect()
}

/// What a release run by `run` leaves in the log: the deploy step started and done once, and the
/// phases from go/no-go to hypercare moved once each, all by that run.
async fn assert_recorded_once(daemon: &Daemon, run: &str) {
    let by = json!(run);
    assert_eq!(
        deploy_entries(daemon).await,
        [
            ("start".to_string(), by.clone()),
            ("done".to_string(), by.clone())
        ]
    );
    let moved: Vec<(String, Value)> = phase_changes(daemon).await.into_iter().skip(1).collect();
    assert_eq!(
        moved,
        [
            ("deploying".to_string(), by.clone()),
            ("verifying".to_string(), by.clone()),
            ("hypercare".to_string(), by)
        ]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_github_workflow_passes_a_healthy_release_into_hypercare_and_a_rerun_of_all_jobs_changes_nothing()
 {
    let setup = setup(Release::Healthy).await;
    let env = job_env(&setup, "2s", ("GITHUB_RUN_ID", "4242"));
    let run = run_github(&setup, &env).await;
    assert!(!run.failed, "{}", run.log);
    assert!(
        !run.ran.iter().any(|name| name.starts_with("Roll back")),
        "{}",
        run.log
    );
    assert!(
        run.log.contains("golive verify: advanced [hypercare]"),
        "{}",
        run.log
    );
    assert_eq!(phase(&setup.daemon).await, "hypercare");
    // "Re-run all jobs": every job again from its first step, with the same run id.
    let rerun = run_github(&setup, &env).await;
    assert!(!rerun.failed, "{}", rerun.log);
    assert!(
        rerun.log.contains("this run deployed already"),
        "{}",
        rerun.log
    );
    assert!(
        rerun.log.contains("golive verify: advanced [hypercare]"),
        "{}",
        rerun.log
    );
    assert_eq!(deploys(&setup), 1, "deploy.sh ran again: {}", rerun.log);
    assert_recorded_once(&setup.daemon, "github:4242").await;
    assert!(!setup.daemon.dir.join("rollback.out").exists());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rerun_of_the_whole_github_workflow_after_the_gate_timed_out_passes_without_deploying_again()
 {
    let setup = setup_confirming(Release::Healthy, &["backup", "signoff"]).await;
    let mut env = job_env(&setup, "1s", ("GITHUB_RUN_ID", "4243"));
    env.push(("GOLIVE_VERIFY_TIMEOUT".into(), "3s".into()));
    let first = run_github(&setup, &env).await;
    assert!(first.failed, "{}", first.log);
    assert!(
        first.log.contains("== Gate on golive (exit 4)"),
        "{}",
        first.log
    );
    assert!(
        !first.ran.iter().any(|name| name.starts_with("Roll back")),
        "{}",
        first.log
    );
    let (status, body) = setup
        .daemon
        .post("/api/v1/checklist/smoke/confirm", json!({}))
        .await;
    assert_eq!(status, 200, "{body}");
    let rerun = run_github(&setup, &env).await;
    assert!(!rerun.failed, "{}", rerun.log);
    assert!(
        rerun.log.contains("golive verify: advanced [hypercare]"),
        "{}",
        rerun.log
    );
    assert_eq!(deploys(&setup), 1, "deploy.sh ran again: {}", rerun.log);
    assert_recorded_once(&setup.daemon, "github:4243").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_github_workflow_runs_the_rollback_hook_when_the_gate_exits_with_the_rollback_code() {
    let setup = setup(Release::Broken).await;
    let env = job_env(&setup, "50s", ("GITHUB_RUN_ID", "4242"));
    let run = run_github(&setup, &env).await;
    assert!(run.failed, "{}", run.log);
    assert!(
        run.log.contains("== Gate on golive (exit 3)"),
        "{}",
        run.log
    );
    assert!(
        run.ran.iter().any(|name| name.starts_with("Roll back")),
        "{}",
        run.log
    );
    let hook = rollback_hook_ran(&setup.daemon).await;
    assert!(
        hook.contains("golive verify failed the release in run 4242"),
        "{hook}"
    );
    assert_eq!(phase(&setup.daemon).await, "rolled_back");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_gitlab_pipeline_passes_a_healthy_release_into_hypercare() {
    let setup = setup(Release::Healthy).await;
    let env = job_env(&setup, "2s", ("CI_PIPELINE_ID", "77"));
    let (failed, log) = run_gitlab(&setup, &env).await;
    assert!(!failed, "{log}");
    assert_eq!(phase(&setup.daemon).await, "hypercare");
    assert_recorded_once(&setup.daemon, "gitlab:77").await;
    assert!(!setup.daemon.dir.join("rollback.out").exists());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retried_gitlab_jobs_after_the_gate_timed_out_pass_without_deploying_again() {
    let setup = setup_confirming(Release::Healthy, &["backup", "signoff"]).await;
    let mut env = job_env(&setup, "1s", ("CI_PIPELINE_ID", "78"));
    env.push(("GOLIVE_VERIFY_TIMEOUT".into(), "3s".into()));
    let (failed, log) = run_gitlab(&setup, &env).await;
    assert!(failed, "{log}");
    assert!(log.contains("== verify (exit 4)"), "{log}");
    let (status, body) = setup
        .daemon
        .post("/api/v1/checklist/smoke/confirm", json!({}))
        .await;
    assert_eq!(status, 200, "{body}");
    // Retry each job of the pipeline, in stage order, with the same pipeline id.
    let (failed, log) = run_gitlab(&setup, &env).await;
    assert!(!failed, "{log}");
    assert!(log.contains("this pipeline deployed already"), "{log}");
    assert_eq!(deploys(&setup), 1, "deploy.sh ran again: {log}");
    assert_recorded_once(&setup.daemon, "gitlab:78").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_gitlab_pipeline_runs_the_rollback_hook_when_the_gate_exits_with_the_rollback_code_and_a_retry_rolls_back_once()
 {
    let setup = setup(Release::Broken).await;
    let env = job_env(&setup, "50s", ("CI_PIPELINE_ID", "77"));
    let (failed, log) = run_gitlab(&setup, &env).await;
    assert!(failed, "{log}");
    assert!(log.contains("== verify (exit 3)"), "{log}");
    let hook = rollback_hook_ran(&setup.daemon).await;
    assert!(
        hook.contains("golive verify failed the release in pipeline 77"),
        "{hook}"
    );
    assert_eq!(phase(&setup.daemon).await, "rolled_back");
    // The verify job retried: still exit 3, and its rollback finds the launch rolled back.
    let pipeline: GitlabPipeline = example("gitlab-ci.yml");
    let (code, output) = shell(setup.workspace.path(), &env, &pipeline.script("verify")).await;
    assert_eq!(code, 3, "{output}");
    assert!(output.contains("rolled back already"), "{output}");
    let rolled_back = phase_changes(&setup.daemon)
        .await
        .iter()
        .filter(|(to, _)| to == "rolled_back")
        .count();
    assert_eq!(rolled_back, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_step_change_repeated_by_another_run_is_refused_naming_the_run_that_made_it() {
    let setup = setup(Release::Healthy).await;
    let daemon = &setup.daemon;
    let change = async |action: &str, run: &str| {
        let path = format!("/api/v1/runbook/deploy/{action}");
        daemon.post(&path, json!({"run_id": run})).await
    };
    assert_eq!(change("start", "github:1").await.0, 200);
    let (status, body) = change("start", "github:1").await;
    assert_eq!(
        (status, body["already_recorded"].clone()),
        (200, json!(true))
    );
    let (status, body) = change("start", "github:2").await;
    assert_eq!(status, 409, "{body}");
    assert!(
        body["error"]
            .as_str()
            .unwrap_or_default()
            .contains("run `github:1`"),
        "{body}"
    );
    let (status, body) = daemon
        .post("/api/v1/runbook/deploy/done", json!({"run_id": "a\nb"}))
        .await;
    assert_eq!((status, body["field"].clone()), (400, json!("run_id")));
    assert_eq!(deploy_entries(daemon).await.len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_gate_exits_4_when_the_launch_never_reaches_the_phase_before_the_timeout() {
    let setup = setup(Release::Healthy).await;
    let env = job_env(&setup, "1s", ("GOLIVE_RUN_ID", ""));
    let (code, output) = shell(
        setup.workspace.path(),
        &env,
        "golive verify --timeout 2s --interval 200ms --json",
    )
    .await;
    assert_eq!(code, 4, "{output}");
    let last: Value =
        serde_json::from_str(output.lines().last().unwrap_or_default()).expect("a JSON line");
    assert_eq!(
        (last["event"].clone(), last["exit_code"].clone()),
        (json!("timeout"), json!(4))
    );
    assert!(
        output.contains("the launch is in go_no_go, waiting for verifying"),
        "{output}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_gate_exits_69_when_golive_cannot_be_reached_five_times_in_a_row() {
    let address = crate::targets::refused_address().await;
    let dir = tempfile::tempdir().expect("dir");
    let path = dir.path().to_path_buf();
    let server = format!("http://{address}");
    let (code, stdout, stderr) = tokio::task::spawn_blocking(move || {
        crate::helpers::cli(&path, &["verify", "--server", &server, "--json"])
    })
    .await
    .expect("join");
    assert_eq!(code, 69, "{stdout}{stderr}");
    let events: Vec<Value> = stdout
        .lines()
        .map(|line| serde_json::from_str(line).expect("a JSON line"))
        .collect();
    assert_eq!(events.len(), 5, "{stdout}");
    assert!(events.iter().all(|event| event["event"] == "unreachable"));
    assert_eq!(events[4]["exit_code"], 69);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_gate_refuses_a_timeout_not_longer_than_the_soak_and_a_zero_interval_as_bad_usage() {
    let dir = tempfile::tempdir().expect("dir");
    for (args, says) in [
        (
            ["--timeout", "5m", "--soak", "10m"],
            "must be longer than --soak",
        ),
        (["--interval", "0s", "--soak", "1m"], "longer than 0s"),
    ] {
        let path = dir.path().to_path_buf();
        let mut line = vec!["verify", "--server", "http://127.0.0.1:9"];
        line.extend(args);
        let line: Vec<String> = line.iter().map(|arg| arg.to_string()).collect();
        let (code, stdout, stderr) = tokio::task::spawn_blocking(move || {
            let line: Vec<&str> = line.iter().map(String::as_str).collect();
            crate::helpers::cli(&path, &line)
        })
        .await
        .expect("join");
        assert_eq!(code, 2, "{stdout}{stderr}");
        assert!(stderr.contains(says), "{stderr}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_gate_exits_1_instead_of_passing_on_nothing_when_no_gate_or_critical_check_runs_in_the_phase()
 {
    let target = serve(|_| Reply::ok("ok")).await;
    let plan = format!(
        "{BASE_PLAN}{}",
        http_check("web", &target.url("/health")).in_phases(&["verifying"])
    );
    let daemon = Daemon::start(&plan).await;
    for item in ["backup", "signoff", "smoke"] {
        let path = format!("/api/v1/checklist/{item}/confirm");
        assert_eq!(daemon.post(&path, json!({})).await.0, 200);
    }
    for phase in ["go_no_go", "deploying"] {
        let (status, body) = daemon.post("/api/v1/phase", json!({"to": phase})).await;
        assert_eq!(status, 200, "{body}");
    }
    let dir = tempfile::tempdir().expect("dir");
    let path = dir.path().to_path_buf();
    let server = daemon.url.clone();
    let (code, stdout, stderr) = tokio::task::spawn_blocking(move || {
        let line = [
            "verify",
            "--server",
            &server,
            "--phase",
            "deploying",
            "--soak",
            "1s",
        ];
        crate::helpers::cli(&path, &line)
    })
    .await
    .expect("join");
    assert_eq!(code, 1, "{stdout}{stderr}");
    assert!(
        stdout.contains("no gate or critical check is probed in deploying"),
        "{stdout}{stderr}"
    );
}

/// A daemon in `verifying` with one critical check `web` (no rollback criteria) on a target that
/// fails while `broken` is set.
async fn verifying_daemon(broken: Arc<AtomicBool>) -> (Daemon, Target) {
    let target = serve(move |_| {
        if broken.load(Ordering::SeqCst) {
            Reply::status(503, "down")
        } else {
            Reply::ok("ok")
        }
    })
    .await;
    let plan = format!("{BASE_PLAN}{}", http_check("web", &target.url("/health")));
    let daemon = Daemon::start(&plan).await;
    for item in ["backup", "signoff", "smoke"] {
        let path = format!("/api/v1/checklist/{item}/confirm");
        assert_eq!(daemon.post(&path, json!({})).await.0, 200);
    }
    for phase in ["go_no_go", "deploying", "verifying"] {
        let (status, body) = daemon.post("/api/v1/phase", json!({"to": phase})).await;
        assert_eq!(status, 200, "{body}");
    }
    (daemon, target)
}

/// `web`'s health and last change in the status's `verification`, once it is `health`.
async fn web_became(daemon: &Daemon, health: &str) -> jiff::Timestamp {
    eventually(20, async || {
        let (_, status) = daemon.get("/api/v1/status").await;
        let web = &status["verification"]["checks"][0];
        (web["health"] == health)
            .then(|| web["changed_at"].as_str()?.parse().ok())
            .flatten()
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_check_that_fails_and_recovers_between_two_polls_of_the_gate_restarts_its_soak() {
    let broken = Arc::new(AtomicBool::new(false));
    let (daemon, _target) = verifying_daemon(Arc::clone(&broken)).await;
    web_became(&daemon, "healthy").await;
    let mut gate = std::process::Command::new(env!("CARGO_BIN_EXE_golive"))
        .args(["verify", "--advance", "--json", "--soak", "4s"])
        .args(["--interval", "4s", "--timeout", "60s", "--run-id", ""])
        .env("GOLIVE_SERVER", &daemon.url)
        .env("GOLIVE_API_TOKEN", TOKEN)
        .env_remove("GOLIVE_PLAN")
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("golive verify");
    let stdout = gate.stdout.take().expect("stdout");
    let (lines, seen) = std::sync::mpsc::channel::<String>();
    std::thread::spawn(move || {
        use std::io::BufRead;
        for line in std::io::BufReader::new(stdout)
            .lines()
            .map_while(Result::ok)
        {
            let _ = lines.send(line);
        }
    });
    let first = tokio::task::spawn_blocking(move || (seen.recv(), seen))
        .await
        .expect("join");
    let (first, seen) = (first.0.expect("a first line"), first.1);
    assert!(first.contains("\"soaking\""), "{first}");
    // A blip well inside the 4 s between two polls: failing, then healthy again. With the soak
    // as long as the interval, a gate that missed it would pass at its second poll.
    broken.store(true, Ordering::SeqCst);
    web_became(&daemon, "failing").await;
    broken.store(false, Ordering::SeqCst);
    let recovered = web_became(&daemon, "healthy").await;
    let status = tokio::task::spawn_blocking(move || gate.wait())
        .await
        .expect("join")
        .expect("exit");
    let rest: Vec<String> = seen.try_iter().collect();
    assert_eq!(status.code(), Some(0), "{first}\n{}", rest.join("\n"));
    let (_, log) = daemon.get("/api/v1/log?kind=phase&limit=1").await;
    let advanced: jiff::Timestamp = log["entries"][0]["at"]
        .as_str()
        .and_then(|at| at.parse().ok())
        .expect("the advance's time");
    assert!(
        advanced >= recovered + jiff::SignedDuration::from_secs(4),
        "advanced at {advanced}, only {} after the recovery at {recovered}: {}",
        advanced.duration_since(recovered),
        rest.join("\n")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_gate_ends_with_a_json_line_carrying_its_exit_code_when_its_advance_is_refused() {
    let setup = setup(Release::Healthy).await;
    let env = job_env(&setup, "1s", ("CI_PIPELINE_ID", "79"));
    let pipeline: GitlabPipeline = example("gitlab-ci.yml");
    let (code, output) = shell(setup.workspace.path(), &env, &pipeline.script("deploy")).await;
    assert_eq!(code, 0, "{output}");
    // The status is public; the advance needs a write token, and this one is wrong.
    let mut env = env;
    env.push(("GOLIVE_API_TOKEN".into(), "not-the-token".into()));
    let script = "golive verify --advance --json --timeout 20s";
    let (code, output) = shell(setup.workspace.path(), &env, script).await;
    assert_eq!(code, 77, "{output}");
    let last = output
        .lines()
        .rev()
        .find_map(|line| serde_json::from_str::<Value>(line).ok())
        .expect("a JSON line");
    assert_eq!(
        (last["event"].clone(), last["exit_code"].clone()),
        (json!("advance_refused"), json!(77)),
        "{output}"
    );
    assert_eq!(phase(&setup.daemon).await, "verifying");
}

/// A loopback proxy in front of `daemon` that passes every request on, but answers a
/// `POST /api/v1/phase` with 502 after the daemon carried it out: the answer lost on the way.
async fn losing_phase_answers(daemon: &Daemon) -> String {
    use axum::body::{Body, to_bytes};
    use axum::http::{Request, StatusCode};
    use axum::response::{IntoResponse, Response};
    let upstream = daemon.url.clone();
    let http = reqwest::Client::new();
    let app = axum::Router::new().fallback(move |request: Request<Body>| {
        let (upstream, http) = (upstream.clone(), http.clone());
        async move {
            let (parts, body) = request.into_parts();
            let body = to_bytes(body, 1 << 20).await.unwrap_or_default();
            let path = parts.uri.path_and_query().map_or("/", |path| path.as_str());
            let mut forward = http.request(parts.method.clone(), format!("{upstream}{path}"));
            for (name, value) in &parts.headers {
                if name != "host" {
                    forward = forward.header(name, value);
                }
            }
            let Ok(answer) = forward.body(body.to_vec()).send().await else {
                return StatusCode::BAD_GATEWAY.into_response();
            };
            if parts.method == "POST" && parts.uri.path() == "/api/v1/phase" {
                return (StatusCode::BAD_GATEWAY, "the answer was lost").into_response();
            }
            let status = StatusCode::from_u16(answer.status().as_u16()).unwrap_or(StatusCode::OK);
            let bytes = answer.bytes().await.unwrap_or_default();
            let mut response = Response::new(Body::from(bytes));
            *response.status_mut() = status;
            response
        }
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let address = listener.local_addr().expect("address");
    tokio::spawn(async move { axum::serve(listener, app).await });
    format!("http://{address}")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_gate_counts_its_own_advance_whose_answer_was_lost_as_done() {
    let setup = setup(Release::Healthy).await;
    let mut env = job_env(&setup, "1s", ("GITHUB_RUN_ID", "4244"));
    let pipeline: Workflow = example("github-actions.yml");
    for step in &pipeline.jobs["deploy"].steps {
        let Some(script) = &step.run else { continue };
        let (code, output) = shell(setup.workspace.path(), &env, script).await;
        assert_eq!(code, 0, "{output}");
    }
    env.push((
        "GOLIVE_SERVER".into(),
        losing_phase_answers(&setup.daemon).await,
    ));
    let script = "golive verify --advance --json --timeout 20s";
    let (code, output) = shell(setup.workspace.path(), &env, script).await;
    assert_eq!(code, 0, "{output}");
    assert!(output.contains("its answer was lost"), "{output}");
    assert_eq!(phase(&setup.daemon).await, "hypercare");
}
