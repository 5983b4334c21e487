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
    for item in ["backup", "signoff", "smoke"] {
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
        Release::Healthy => "#!/bin/sh\necho 'release 2.0' > deployed\n",
        Release::Broken => "#!/bin/sh\necho 'release 2.0' > deployed\ntouch broken\n",
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

/// Runs the GitHub Actions example's job; `twice` names a step that is retried (run twice in a
/// row). Answers whether the job failed and the names of the steps that ran, with their output.
async fn run_github(setup: &Setup, soak: &str, twice: Option<&str>) -> (bool, Vec<String>, String) {
    let workflow: Workflow = example("github-actions.yml");
    let job = workflow.jobs.values().next().expect("a job");
    let env = job_env(setup, soak, ("GITHUB_RUN_ID", "4242"));
    let mut failed = false;
    let mut outputs: BTreeMap<String, BTreeMap<String, String>> = BTreeMap::new();
    let mut ran = Vec::new();
    let mut log = String::new();
    for step in &job.steps {
        let Some(script) = &step.run else { continue };
        if !github_runs(step.condition.as_deref(), failed, &outputs) {
            continue;
        }
        let name = step.name.clone().unwrap_or_default();
        let times = if twice.is_some_and(|prefix| name.starts_with(prefix)) {
            2
        } else {
            1
        };
        for _ in 0..times {
            let output_file = setup.workspace.path().join("github_output");
            std::fs::write(&output_file, "").expect("GITHUB_OUTPUT");
            let mut step_env = env.clone();
            step_env.push(("GITHUB_OUTPUT".into(), output_file.display().to_string()));
            let (code, text) = shell(setup.workspace.path(), &step_env, script).await;
            log.push_str(&format!("== {name} (exit {code})\n{text}"));
            ran.push(name.clone());
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
    }
    (failed, ran, log)
}

/// The parts of a GitLab CI file the test runs: the stages in order, and each job's stage,
/// `when` and script lines (the other top-level keys are not jobs).
#[derive(Deserialize)]
struct GitlabPipeline {
    stages: Vec<String>,
    #[serde(flatten)]
    jobs: BTreeMap<String, Value>,
}

/// Runs the GitLab CI example's jobs stage by stage (each job's script lines in one shell, as
/// the runner does); answers whether the pipeline failed and the log.
async fn run_gitlab(setup: &Setup, soak: &str) -> (bool, String) {
    let pipeline: GitlabPipeline = example("gitlab-ci.yml");
    let env = job_env(setup, soak, ("CI_PIPELINE_ID", "77"));
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
            let lines: Vec<&str> = job["script"]
                .as_array()
                .expect("script lines")
                .iter()
                .filter_map(Value::as_str)
                .collect();
            let (code, text) = shell(setup.workspace.path(), &env, &lines.join("\n")).await;
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_github_workflow_passes_a_healthy_release_into_hypercare_and_records_a_retried_step_once()
 {
    let setup = setup(Release::Healthy).await;
    let (failed, ran, log) = run_github(&setup, "2s", Some("Deploy")).await;
    assert!(!failed, "{log}");
    assert!(
        !ran.iter().any(|name| name.starts_with("Roll back")),
        "{log}"
    );
    assert!(log.contains("already"), "the retried step says so: {log}");
    assert!(log.contains("golive verify: advanced [hypercare]"), "{log}");
    assert_eq!(phase(&setup.daemon).await, "hypercare");
    assert_eq!(
        deploy_entries(&setup.daemon).await,
        [
            ("start".to_string(), json!("github:4242")),
            ("done".to_string(), json!("github:4242"))
        ]
    );
    assert!(!setup.daemon.dir.join("rollback.out").exists());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_github_workflow_runs_the_rollback_hook_when_the_gate_exits_with_the_rollback_code() {
    let setup = setup(Release::Broken).await;
    let (failed, ran, log) = run_github(&setup, "5m", None).await;
    assert!(failed, "{log}");
    assert!(log.contains("== Gate on golive (exit 3)"), "{log}");
    assert!(
        ran.iter().any(|name| name.starts_with("Roll back")),
        "{log}"
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
    let (failed, log) = run_gitlab(&setup, "2s").await;
    assert!(!failed, "{log}");
    assert_eq!(phase(&setup.daemon).await, "hypercare");
    assert_eq!(
        deploy_entries(&setup.daemon).await,
        [
            ("start".to_string(), json!("gitlab:77")),
            ("done".to_string(), json!("gitlab:77"))
        ]
    );
    assert!(!setup.daemon.dir.join("rollback.out").exists());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_gitlab_pipeline_runs_the_rollback_hook_when_the_gate_exits_with_the_rollback_code() {
    let setup = setup(Release::Broken).await;
    let (failed, log) = run_gitlab(&setup, "5m").await;
    assert!(failed, "{log}");
    assert!(log.contains("== verify (exit 3)"), "{log}");
    let hook = rollback_hook_ran(&setup.daemon).await;
    assert!(
        hook.contains("golive verify failed the release in pipeline 77"),
        "{hook}"
    );
    assert_eq!(phase(&setup.daemon).await, "rolled_back");
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
        "golive verify --timeout 1s --interval 200ms --json",
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
