//! The Grafana dashboard (`dashboards/golive.json`): every PromQL expression in it returns data from a
//! real Prometheus that scraped a real daemon, and the JSON type-checks against Grafana's published
//! schema (`@grafana/schema`, with `tsc --strict`).

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::{Value, json};

use crate::helpers::{BASE_PLAN, Daemon};
use crate::targets::{MetricsTarget, Prometheus, Reply, serve};

/// What the built-in Grafana interval variables stand for in the test (Prometheus scrapes every second).
const BUILTINS: [(&str, &str); 5] = [
    ("$__rate_interval", "15s"),
    ("${__rate_interval}", "15s"),
    ("$__interval", "5s"),
    ("$__range", "1m"),
    ("${__range}", "1m"),
];

/// The Node packages the type check uses, pinned (installed by `scripts/test`, or here when missing).
const NODE_PACKAGES: [&str; 2] = ["typescript@5.9.3", "@grafana/schema@13.2.3"];

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn dashboard() -> Value {
    let path = repo().join("dashboards/golive.json");
    let text = std::fs::read_to_string(&path).expect("read dashboards/golive.json");
    serde_json::from_str(&text).expect("dashboards/golive.json is JSON")
}

/// Every panel, those nested in collapsed rows included.
fn panels(dashboard: &Value) -> Vec<&Value> {
    let mut all = Vec::new();
    for panel in dashboard["panels"].as_array().expect("panels") {
        all.push(panel);
        if let Some(nested) = panel["panels"].as_array() {
            all.extend(nested);
        }
    }
    all
}

/// Every PromQL expression of the panels and annotations, with where it is.
fn expressions(dashboard: &Value) -> Vec<(String, String)> {
    let mut found = Vec::new();
    for panel in panels(dashboard) {
        for target in panel["targets"].as_array().into_iter().flatten() {
            let expr = target["expr"].as_str().expect("every target has an expr");
            found.push((
                format!(
                    "panel {:?} target {}",
                    panel["title"].as_str().unwrap_or("?"),
                    target["refId"].as_str().unwrap_or("?")
                ),
                expr.to_string(),
            ));
        }
    }
    for annotation in dashboard["annotations"]["list"]
        .as_array()
        .expect("annotations")
    {
        let expr = annotation["target"]["expr"]
            .as_str()
            .or(annotation["expr"].as_str());
        if let Some(expr) = expr {
            found.push((
                format!(
                    "annotation {:?}",
                    annotation["name"].as_str().unwrap_or("?")
                ),
                expr.to_string(),
            ));
        }
    }
    found
}

/// `label_values(SELECTOR, LABEL)` (Grafana's variable query) as PromQL returning one series per value.
fn label_values_query(query: &str) -> (String, String) {
    let inner = query
        .trim()
        .strip_prefix("label_values(")
        .and_then(|rest| rest.strip_suffix(')'))
        .unwrap_or_else(|| panic!("variable query is not label_values(...): {query}"));
    let (selector, label) = inner
        .rsplit_once(',')
        .unwrap_or_else(|| panic!("label_values needs a selector and a label: {query}"));
    let label = label.trim().to_string();
    (format!("count by ({label}) ({})", selector.trim()), label)
}

/// Replaces Grafana's variables (built-in ones and the dashboard's) in `expr`.
fn substitute(expr: &str, variables: &[(String, String)]) -> String {
    let mut out = expr.to_string();
    for (name, value) in BUILTINS {
        out = out.replace(name, value);
    }
    let mut sorted: Vec<&(String, String)> = variables.iter().collect();
    sorted.sort_by_key(|(name, _)| std::cmp::Reverse(name.len()));
    for (name, value) in sorted {
        out = out.replace(&format!("${{{name}}}"), value);
        out = out.replace(&format!("${name}"), value);
    }
    assert!(!out.contains('$'), "unsubstituted variable in {out}");
    out
}

fn regex_escape(value: &str) -> String {
    let mut out = String::new();
    for c in value.chars() {
        if "\\.+*?()|[]{}^$".contains(c) {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// Runs an instant query; the result vector, or the error Prometheus gave.
async fn query(prometheus: &Prometheus, expr: &str) -> Result<Vec<Value>, String> {
    let response = reqwest::Client::new()
        .get(format!("{}/api/v1/query", prometheus.url))
        .query(&[("query", expr)])
        .send()
        .await
        .map_err(|error| error.to_string())?;
    let answer: Value = response.json().await.map_err(|error| error.to_string())?;
    if answer["status"] != "success" {
        return Err(answer.to_string());
    }
    Ok(answer["data"]["result"]
        .as_array()
        .cloned()
        .unwrap_or_default())
}

/// A plan with a healthy and a failing http check (critical, paged through a webhook), a scrape
/// check on a loopback `/metrics` page, and reports (into the outbox folder) giving the failing
/// check an availability objective of its own, so the others fall back to the dashboard's 99.9 %.
fn plan(healthy: &str, failing: &str, metrics: &str, hook: &str) -> String {
    format!(
        r#"{BASE_PLAN}
[[checks]]
id = "web"
kind = "http"
url = "{healthy}"
interval = "200ms"
timeout = "150ms"
phases = ["planned", "go_no_go", "deploying", "verifying", "hypercare"]

[[checks]]
id = "payments-api"
kind = "http"
url = "{failing}"
severity = "critical"
interval = "200ms"
timeout = "150ms"
failure_threshold = 2
phases = ["planned", "go_no_go", "deploying", "verifying", "hypercare"]
risks = ["payments"]

[[checks]]
id = "queue-depth"
kind = "scrape"
url = "{metrics}"
metric = "queue_depth"
threshold = "> 100"
interval = "200ms"
timeout = "150ms"
phases = ["planned", "go_no_go", "deploying", "verifying", "hypercare"]

[[channels]]
id = "chat"
kind = "webhook"
url = "{hook}"
timeout = "2s"

[[channels]]
id = "email"
kind = "email"

[[escalation]]
id = "page"
levels = [{{ after = "0s", notify = ["bob"], channels = ["chat"] }}]
repeat = "10m"

[alerting]
policies = {{ critical = "page" }}
group_window = "1s"

[reports]
to = ["alice"]
objectives = {{ payments-api = 99.5 }}
"#
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_dashboard_expression_returns_data_from_a_prometheus_scraping_golive() {
    let dashboard = dashboard();
    let healthy = serve(|_| Reply::ok("ok")).await;
    let failing = serve(|_| Reply::status(503, "down")).await;
    let metrics = MetricsTarget::start("# TYPE queue_depth gauge\nqueue_depth 42\n").await;
    let hook = serve(|_| Reply::ok("ok")).await;
    let daemon = Daemon::start(&plan(
        &healthy.url("/health"),
        &failing.url("/health"),
        &metrics.target.url("/metrics"),
        &hook.url("/hook"),
    ))
    .await;
    let (status, answer) = daemon
        .post(
            "/api/v1/actions",
            json!({"title": "Renew the payment provider contract", "owner": "bob", "due": "2020-01-01"}),
        )
        .await;
    assert_eq!(status, 201, "{answer}");

    let address = daemon
        .url
        .trim_start_matches("http://")
        .trim_end_matches('/')
        .parse()
        .expect("daemon address");
    let prometheus = Prometheus::start(address).await;
    prometheus
        .wait_for(r#"golive_alerts{state="open", severity="critical"} > 0"#)
        .await;
    prometheus
        .wait_for(r#"golive_notifications_total{result="delivered"} > 0"#)
        .await;
    prometheus
        .wait_for(r#"golive_action_items{state="overdue"} > 0"#)
        .await;
    prometheus
        .wait_for(r#"golive_check_value{check="queue-depth"} == 42"#)
        .await;
    // Enough samples for rates over the substituted intervals.
    prometheus
        .wait_for("count_over_time(golive_build_info[1m]) >= 8")
        .await;

    // Every metric the dashboard names is one golive exports.
    let (_, exported) = daemon.get_text("/metrics").await;
    let mut unknown = Vec::new();
    for (place, expr) in expressions(&dashboard) {
        for name in metric_names(&expr) {
            let known = exported
                .lines()
                .filter_map(|line| line.strip_prefix(name.as_str()))
                .any(|rest| rest.starts_with('{') || rest.starts_with(' '));
            if !known
                && !["up", "scrape_duration_seconds", "scrape_samples_scraped"]
                    .contains(&name.as_str())
            {
                unknown.push(format!("{place}: {name}"));
            }
        }
    }
    assert!(
        unknown.is_empty(),
        "metrics golive does not export:\n{}",
        unknown.join("\n")
    );

    // The variables, in order, from their queries (multi-value ones as Grafana's regex of all).
    let mut variables: Vec<(String, String)> = Vec::new();
    for variable in dashboard["templating"]["list"]
        .as_array()
        .expect("variables")
    {
        let name = variable["name"].as_str().expect("name").to_string();
        match variable["type"].as_str() {
            Some("datasource") => continue,
            Some("query") => {}
            other => panic!("variable {name}: unexpected type {other:?}"),
        }
        let text = variable["query"]["query"]
            .as_str()
            .or(variable["query"].as_str())
            .expect("variable query");
        let (promql, label) = label_values_query(&substitute(text, &variables));
        let series = query(&prometheus, &promql)
            .await
            .unwrap_or_else(|error| panic!("variable {name}: {promql}: {error}"));
        let values: Vec<String> = series
            .iter()
            .filter_map(|s| s["metric"][&label].as_str().map(str::to_string))
            .collect();
        assert!(
            !values.is_empty(),
            "variable {name}: no values from {promql}"
        );
        let value = if variable["multi"] == true || variable["includeAll"] == true {
            let escaped: Vec<String> = values.iter().map(|v| regex_escape(v)).collect();
            format!("({})", escaped.join("|"))
        } else {
            values[0].clone()
        };
        if name == "check" {
            for check in ["web", "payments-api", "queue-depth"] {
                assert!(
                    values.iter().any(|v| v == check),
                    "check variable lacks {check}: {values:?}"
                );
            }
        }
        variables.push((name, value));
    }

    let all = expressions(&dashboard);
    assert!(all.len() >= 20, "only {} expressions", all.len());
    let mut empty = Vec::new();
    for (place, expr) in &all {
        let promql = substitute(expr, &variables);
        match query(&prometheus, &promql).await {
            Ok(result) if !result.is_empty() => {}
            Ok(_) => empty.push(format!("{place}: no data: {promql}")),
            Err(error) => empty.push(format!("{place}: {error}: {promql}")),
        }
    }
    assert!(
        empty.is_empty(),
        "{} of {} expressions fail:\n{}",
        empty.len(),
        all.len(),
        empty.join("\n")
    );

    // The objective column: the plan's objective where there is one, 99.9 % for the others.
    let (_, objective) = all
        .iter()
        .find(|(place, _)| place == "panel \"Availability vs objective\" target B")
        .expect("the availability panel has an objective query");
    let series = query(&prometheus, &substitute(objective, &variables))
        .await
        .expect("objective query");
    let mut objectives: Vec<(String, String)> = series
        .iter()
        .map(|s| {
            (
                s["metric"]["check"].as_str().unwrap_or("?").to_string(),
                s["value"][1].as_str().unwrap_or("?").to_string(),
            )
        })
        .collect();
    objectives.sort();
    assert_eq!(
        objectives,
        [
            ("payments-api".to_string(), "0.995".to_string()),
            ("queue-depth".to_string(), "0.999".to_string()),
            ("web".to_string(), "0.999".to_string()),
        ]
    );
}

/// Names of the metrics an expression selects (identifiers followed by `{` or a range/space that are
/// not functions or keywords).
fn metric_names(expr: &str) -> Vec<String> {
    let mut names = Vec::new();
    let bytes = expr.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        let c = bytes[i] as char;
        if c == '"' {
            i += 1;
            while i < bytes.len() && bytes[i] != b'"' {
                i += 1;
            }
            i += 1;
            continue;
        }
        if c.is_ascii_alphabetic() || c == '_' {
            let start = i;
            while i < bytes.len() && (bytes[i].is_ascii_alphanumeric() || bytes[i] == b'_') {
                i += 1;
            }
            let word = &expr[start..i];
            if word.starts_with("golive_") || expr[i..].starts_with('{') {
                names.push(word.to_string());
            }
            continue;
        }
        i += 1;
    }
    names
}

fn node_folder() -> PathBuf {
    repo().join("target").join("dashboard-check")
}

/// Installs the pinned Node packages into `folder` unless they are there; npm is required.
fn install_node_packages(folder: &Path) {
    if folder
        .join("node_modules/@grafana/schema/package.json")
        .exists()
        && folder.join("node_modules/typescript/bin/tsc").exists()
    {
        return;
    }
    std::fs::create_dir_all(folder).expect("create target/dashboard-check");
    let output = Command::new("npm")
        .args([
            "install",
            "--no-save",
            "--no-audit",
            "--no-fund",
            "--prefix",
        ])
        .arg(folder)
        .args(NODE_PACKAGES)
        .output()
        .unwrap_or_else(|error| panic!("npm is required for the dashboard type check: {error}"));
    assert!(
        output.status.success(),
        "npm install failed: {}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

/// A TypeScript module that assigns the dashboard to Grafana's `Dashboard` type.
///
/// Two adaptations, both keeping the check strict: JSON has no TypeScript enums, so `Json<T>`
/// turns the schema's string enums (e.g. `ThresholdsMode`) into the union of their values; and
/// the schema leaves an annotation's query to the data source plugin (`AnnotationQuery<TQuery>`),
/// so the Prometheus plugin's annotation fields are declared here.
fn typescript(dashboard: &Value) -> String {
    format!(
        r#"import type {{ AnnotationContainer, AnnotationQuery, Dashboard, DataQuery }} from '@grafana/schema';

type Json<T> = T extends string
  ? `${{T}}`
  : T extends number | boolean | null | undefined
    ? T
    : T extends Array<infer U>
      ? Array<Json<U>>
      : T extends object
        ? {{ [K in keyof T]: Json<T[K]> }}
        : T;

interface PromQuery extends DataQuery {{
  expr: string;
  interval?: string;
}}

interface PromAnnotation extends AnnotationQuery<PromQuery> {{
  titleFormat?: string;
  textFormat?: string;
  tagKeys?: string;
  useValueForTime?: boolean;
  step?: string;
}}

type GoliveDashboard = Json<
  Omit<Dashboard, 'annotations'> & {{
    annotations?: Omit<AnnotationContainer, 'list'> & {{ list?: PromAnnotation[] }};
  }}
>;

export const dashboard: GoliveDashboard = {};
"#,
        serde_json::to_string_pretty(dashboard).expect("json")
    )
}

/// Runs `tsc --noEmit --strict` on the module for `dashboard`; its output on failure.
fn type_check(folder: &Path, file: &str, dashboard: &Value) -> Result<(), String> {
    std::fs::write(folder.join(file), typescript(dashboard)).expect("write .ts");
    let output = Command::new("node")
        .current_dir(folder)
        .arg("node_modules/typescript/bin/tsc")
        .args([
            "--noEmit",
            "--strict",
            "--moduleResolution",
            "bundler",
            "--module",
            "esnext",
            "--target",
            "es2022",
            "--skipLibCheck",
            file,
        ])
        .output()
        .unwrap_or_else(|error| panic!("node is required for the dashboard type check: {error}"));
    if output.status.success() {
        Ok(())
    } else {
        Err(format!(
            "{}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        ))
    }
}

#[test]
fn the_dashboard_type_checks_against_grafanas_schema() {
    let folder = node_folder();
    install_node_packages(&folder);
    let dashboard = dashboard();
    if let Err(output) = type_check(&folder, "golive-dashboard.ts", &dashboard) {
        panic!("dashboards/golive.json does not match Grafana's Dashboard type:\n{output}");
    }

    // The check catches mistakes: an unknown key, a wrong enum value, a missing schemaVersion.
    let mut unknown_key = dashboard.clone();
    unknown_key["panels"][1]["colour"] = json!("red");
    let mut wrong_enum = dashboard.clone();
    wrong_enum["panels"][1]["fieldConfig"]["defaults"]["thresholds"]["mode"] = json!("absolut");
    let mut no_version = dashboard.clone();
    no_version
        .as_object_mut()
        .expect("object")
        .remove("schemaVersion");
    for (name, broken) in [
        ("unknown key", unknown_key),
        ("wrong enum", wrong_enum),
        ("no schemaVersion", no_version),
    ] {
        assert!(
            type_check(&folder, "broken-dashboard.ts", &broken).is_err(),
            "the type check accepted a dashboard with {name}"
        );
    }
}

#[test]
fn the_dashboard_has_the_rows_variables_and_settings_it_promises() {
    let dashboard = dashboard();
    assert_eq!(dashboard["uid"], "golive-launch");
    assert!(
        dashboard["tags"]
            .as_array()
            .is_some_and(|t| t.contains(&json!("golive")))
    );
    assert!(dashboard["refresh"].as_str().is_some_and(|r| !r.is_empty()));
    let rows: Vec<&str> = dashboard["panels"]
        .as_array()
        .expect("panels")
        .iter()
        .filter(|p| p["type"] == "row")
        .filter_map(|p| p["title"].as_str())
        .collect();
    assert_eq!(rows, ["Launch", "Health", "Alerts", "golive itself"]);
    let variables: Vec<&str> = dashboard["templating"]["list"]
        .as_array()
        .expect("variables")
        .iter()
        .filter_map(|v| v["name"].as_str())
        .collect();
    assert!(variables.contains(&"datasource") && variables.contains(&"check"));
    // Every query panel reads from the data-source variable, so the dashboard imports anywhere.
    for panel in panels(&dashboard) {
        if panel["targets"].is_array() {
            assert_eq!(
                panel["datasource"]["uid"], "${datasource}",
                "{}",
                panel["title"]
            );
            for target in panel["targets"].as_array().expect("targets") {
                assert_eq!(
                    target["datasource"]["uid"], "${datasource}",
                    "{}",
                    panel["title"]
                );
            }
        }
    }
    let ids: Vec<u64> = panels(&dashboard)
        .iter()
        .filter_map(|p| p["id"].as_u64())
        .collect();
    let mut unique = ids.clone();
    unique.sort_unstable();
    unique.dedup();
    assert_eq!(ids.len(), unique.len(), "panel ids repeat");
}

#[test]
fn the_prometheus_scrape_configuration_is_valid() {
    let file = repo().join("dashboards/provisioning/prometheus/golive-scrape.yml");
    let output = Command::new("/usr/bin/promtool")
        .args(["check", "config"])
        .arg(&file)
        .output()
        .expect("promtool (Debian package prometheus) is required: run scripts/test");
    assert!(
        output.status.success(),
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}
