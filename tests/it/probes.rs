//! Probe executors against real, misbehaving loopback targets and a real Prometheus: every way a
//! service can fail gives a precise reason, and problems of the monitoring itself stay unknown.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use golive::clock::{Clock, ManualClock, SystemClock};
use golive::core::health::{Outcome, ProbeResult};
use golive::plan::SecretSource;
use golive::plan::checks::{
    Check, CheckKind, CompareOp, DEFAULT_CHECK_PHASES, EmptyResult, HeaderValue, HttpCheck,
    JsonCondition, PrometheusAuth, PrometheusCheck, PrometheusServer, ScrapeCheck, ScrapeMode,
    SeriesSelector, Severity, TcpCheck,
};
use golive::probe::{ProbeContext, ProbeMemory, run_probe};
use serde_json::json;

use crate::helpers::BASE_PLAN;
use crate::targets::{
    Certificates, MetricsTarget, Prometheus, Reply, accept_and_hang, refused_address, serve,
    serve_tls,
};

fn check(kind: CheckKind, timeout: Duration) -> Check {
    Check {
        id: "probe".to_string(),
        name: "probe".to_string(),
        severity: Severity::Warning,
        failure_threshold: 1,
        success_threshold: 1,
        interval: Duration::from_secs(30),
        intervals: BTreeMap::new(),
        retry_interval: None,
        phases: DEFAULT_CHECK_PHASES.into_iter().collect(),
        gate: false,
        risks: Vec::new(),
        timeout,
        kind,
    }
}

fn http(url: &str) -> HttpCheck {
    HttpCheck {
        url: url.to_string(),
        method: "GET".to_string(),
        headers: Vec::new(),
        body: None,
        expect_status: Vec::new(),
        body_contains: None,
        body_regex: None,
        json: Vec::new(),
        max_latency: None,
        follow_redirects: true,
        tls_verify: true,
        ca_file: None,
        cert_expiry_warning_days: 14,
        fresh_connection: false,
    }
}

fn context_for(checks: Vec<Check>, prometheus: Vec<PrometheusServer>) -> ProbeContext {
    context_with_clock(checks, prometheus, Arc::new(SystemClock))
}

fn context_with_clock(
    checks: Vec<Check>,
    prometheus: Vec<PrometheusServer>,
    clock: Arc<dyn Clock>,
) -> ProbeContext {
    let mut plan = golive::plan::parse(BASE_PLAN, Path::new("/tmp/plan.toml"))
        .expect("base plan")
        .plan;
    plan.checks = checks;
    plan.prometheus = prometheus;
    ProbeContext::new(&plan, clock)
}

/// Runs `check` once with a context built for it alone.
async fn probe_once(check: &Check) -> ProbeResult {
    let context = context_for(vec![check.clone()], Vec::new());
    run_probe(check, &context, &mut ProbeMemory::default()).await
}

async fn http_result(check: HttpCheck) -> ProbeResult {
    probe_once(&check_http(check)).await
}

fn check_http(http: HttpCheck) -> Check {
    check(CheckKind::Http(http), Duration::from_secs(2))
}

fn assert_outcome(result: &ProbeResult, outcome: Outcome, reason: &str) {
    assert_eq!(
        (result.outcome, result.reason.as_str()),
        (outcome, reason),
        "{result:?}"
    );
}

#[tokio::test]
async fn a_healthy_endpoint_reports_its_status_and_latency() {
    let target = serve(|_| Reply::ok("all ok")).await;
    let mut check = http(&target.url("/health"));
    check.body_contains = Some("ok".to_string());
    check.body_regex = Some("^all o.$".to_string());
    let result = http_result(check).await;
    assert_eq!(result.outcome, Outcome::Healthy, "{result:?}");
    assert!(result.latency > Duration::ZERO);
    // The reason states the latency the result carries (the API shows both side by side).
    assert_eq!(
        result.reason,
        format!("status 200 in {}", golive::human::latency(result.latency)),
        "{result:?}"
    );
}

#[tokio::test]
async fn http_failures_name_the_status_the_body_and_the_json_value() {
    let target = serve(|path| match path {
        "/down" => Reply::status(503, "maintenance"),
        "/degraded" => Reply::json(json!({"status": "degraded", "db": {"up": true}})),
        _ => Reply::ok("not fine"),
    })
    .await;
    let result = http_result(http(&target.url("/down"))).await;
    assert_outcome(&result, Outcome::Failing, "status 503 (expected 2xx)");

    let mut check = http(&target.url("/page"));
    check.body_contains = Some("ok".to_string());
    let result = http_result(check).await;
    assert_outcome(&result, Outcome::Failing, r#"body does not contain "ok""#);

    let mut check = http(&target.url("/page"));
    check.body_regex = Some("^fine$".to_string());
    let result = http_result(check).await;
    assert_outcome(&result, Outcome::Failing, "body does not match /^fine$/");

    let condition = |path: &str, value| JsonCondition {
        path: path.to_string(),
        op: CompareOp::Eq,
        value,
    };
    let mut check = http(&target.url("/degraded"));
    check.json = vec![
        condition("$.db.up", json!(true)),
        condition("$.status", json!("ok")),
    ];
    let result = http_result(check).await;
    assert_outcome(
        &result,
        Outcome::Failing,
        r#"body: $.status is "degraded" (expected == "ok")"#,
    );

    let mut check = http(&target.url("/degraded"));
    check.json = vec![condition("$.version", json!("2"))];
    let result = http_result(check).await;
    assert_outcome(&result, Outcome::Failing, "body: $.version missing");

    let mut check = http(&target.url("/page"));
    check.json = vec![condition("$.status", json!("ok"))];
    let result = http_result(check).await;
    assert_outcome(&result, Outcome::Failing, "body is not JSON");
}

#[tokio::test]
async fn a_slow_answer_fails_with_its_latency_and_the_limit() {
    let target = serve(|_| Reply::slow(Duration::from_millis(250))).await;
    let mut check = http(&target.url("/"));
    check.max_latency = Some(Duration::from_millis(100));
    let result = http_result(check).await;
    assert_eq!(result.outcome, Outcome::Failing);
    assert!(
        result.reason.starts_with("slow: ") && result.reason.ends_with(" ms > 100 ms"),
        "{result:?}"
    );
}

#[tokio::test]
async fn refused_reset_and_hanging_connections_fail_with_what_happened() {
    let refused = refused_address().await;
    let result = http_result(http(&format!("http://{refused}/"))).await;
    assert_outcome(&result, Outcome::Failing, "connection refused");
    let result = probe_once(&check(
        CheckKind::Tcp(TcpCheck {
            address: refused.to_string(),
        }),
        Duration::from_secs(2),
    ))
    .await;
    assert_outcome(&result, Outcome::Failing, "connection refused");

    // `.invalid` never resolves (RFC 6761); a resolver that cannot be asked at all may make the
    // lookup outlast the timeout instead, which is failing too.
    let unresolvable = http_result(http("http://no-such-host.invalid/")).await;
    let unresolvable_tcp = probe_once(&check(
        CheckKind::Tcp(TcpCheck {
            address: "no-such-host.invalid:80".to_string(),
        }),
        Duration::from_secs(2),
    ))
    .await;
    for result in [unresolvable, unresolvable_tcp] {
        assert_eq!(result.outcome, Outcome::Failing, "{result:?}");
        assert!(
            result
                .reason
                .starts_with("DNS: cannot resolve no-such-host.invalid: ")
                || result.reason == "timeout after 2 s",
            "{result:?}"
        );
    }

    let reset = serve(|_| Reply::Reset).await;
    let result = http_result(http(&reset.url("/"))).await;
    assert_outcome(&result, Outcome::Failing, "connection reset");

    let hang = accept_and_hang().await;
    let started = Instant::now();
    let result = probe_once(&check(
        CheckKind::Http(http(&hang.url("/"))),
        Duration::from_millis(300),
    ))
    .await;
    assert_outcome(&result, Outcome::Failing, "timeout after 300 ms");
    assert!(started.elapsed() < Duration::from_secs(2));
    assert!(result.latency >= Duration::from_millis(300));

    let result = probe_once(&check(
        CheckKind::Tcp(TcpCheck {
            address: hang.addr.to_string(),
        }),
        Duration::from_secs(2),
    ))
    .await;
    assert_eq!(result.outcome, Outcome::Healthy, "{result:?}");
    assert!(result.reason.starts_with("connected in "), "{result:?}");
}

#[tokio::test]
async fn a_redirect_loop_fails_and_an_unfollowed_redirect_is_just_its_status() {
    let target = serve(|_| Reply::redirect("/again")).await;
    let result = http_result(http(&target.url("/"))).await;
    assert_outcome(&result, Outcome::Failing, "too many redirects");

    let mut check = http(&target.url("/"));
    check.follow_redirects = false;
    let result = http_result(check).await;
    assert_outcome(&result, Outcome::Failing, "status 302 (expected 2xx)");
}

#[tokio::test]
async fn connections_are_reused_unless_a_fresh_connection_is_asked_for() {
    let target = serve(|_| Reply::ok("ok")).await;
    let reused = check_http(http(&target.url("/")));
    let mut fresh_http = http(&target.url("/"));
    fresh_http.fresh_connection = true;
    let fresh = check_http(fresh_http);
    let context = context_for(vec![reused.clone(), fresh.clone()], Vec::new());
    let mut memory = ProbeMemory::default();
    for _ in 0..3 {
        let result = run_probe(&reused, &context, &mut memory).await;
        assert_eq!(result.outcome, Outcome::Healthy, "{result:?}");
    }
    assert_eq!(target.accepted(), 1, "three probes, one connection");
    // Each check has its own memory, as the scheduler gives it.
    let mut memory = ProbeMemory::default();
    for _ in 0..3 {
        let result = run_probe(&fresh, &context, &mut memory).await;
        assert_eq!(result.outcome, Outcome::Healthy, "{result:?}");
    }
    assert_eq!(target.accepted(), 4, "a fresh connection for every probe");
}

#[tokio::test]
async fn checks_with_the_same_settings_share_one_client() {
    let checks: Vec<Check> = (0..100)
        .map(|index| {
            let mut one = http(&format!("http://127.0.0.1:1/{index}"));
            one.fresh_connection = index % 2 == 0;
            check_http(one)
        })
        .collect();
    let context = context_for(checks, Vec::new());
    // Reused and fresh connections; scrape checks and Prometheus share the default one.
    assert_eq!(context.http_client_count(), 2);
}

#[tokio::test]
async fn two_hundred_hanging_probes_each_end_at_their_timeout() {
    let hang = accept_and_hang().await;
    let one = Arc::new(check(
        CheckKind::Http(http(&hang.url("/"))),
        Duration::from_millis(300),
    ));
    let context = Arc::new(context_for(vec![(*one).clone()], Vec::new()));
    let started = Instant::now();
    let mut probes = tokio::task::JoinSet::new();
    for _ in 0..200 {
        let one = one.clone();
        let context = context.clone();
        probes.spawn(async move { run_probe(&one, &context, &mut ProbeMemory::default()).await });
    }
    while let Some(result) = probes.join_next().await {
        let result = result.expect("probe task");
        assert_outcome(&result, Outcome::Failing, "timeout after 300 ms");
    }
    // One after another they would take 60 s; at once, about one timeout.
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "took {:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn bad_certificates_fail_with_what_is_wrong_with_them() {
    let dir = tempfile::tempdir().expect("temp dir");
    let certificates = Certificates::new();
    let ca_file = certificates.write_ca(dir.path());

    let self_signed = serve_tls(Certificates::self_signed(), |_| Reply::ok("ok")).await;
    let result = http_result(http(&self_signed.https_url("/"))).await;
    assert_outcome(
        &result,
        Outcome::Failing,
        "TLS: certificate not trusted (unknown issuer; self-signed?)",
    );
    let mut insecure = http(&self_signed.https_url("/"));
    insecure.tls_verify = false;
    let result = http_result(insecure).await;
    assert_eq!(result.outcome, Outcome::Healthy, "{result:?}");
    assert!(result.cert_not_after.is_some());

    let expired = serve_tls(certificates.signed("localhost", Some((2020, 1, 1))), |_| {
        Reply::ok("ok")
    })
    .await;
    let mut check = http(&expired.https_url("/"));
    check.ca_file = Some(ca_file.clone());
    let result = http_result(check).await;
    assert_outcome(
        &result,
        Outcome::Failing,
        "TLS: certificate expired 2020-01-01",
    );

    let other = serve_tls(certificates.signed("other.example", None), |_| {
        Reply::ok("ok")
    })
    .await;
    let mut check = http(&other.https_url("/"));
    check.ca_file = Some(ca_file.clone());
    let result = http_result(check).await;
    assert_outcome(
        &result,
        Outcome::Failing,
        "TLS: certificate is for other.example, not localhost",
    );
}

#[tokio::test]
async fn a_private_ca_file_makes_its_certificates_trusted_and_expiry_is_reported() {
    let dir = tempfile::tempdir().expect("temp dir");
    let certificates = Certificates::new();
    let ca_file = certificates.write_ca(dir.path());

    let private = serve_tls(certificates.signed("localhost", None), |_| Reply::ok("ok")).await;
    let mut check = http(&private.https_url("/"));
    check.ca_file = Some(ca_file.clone());
    let result = http_result(check).await;
    assert_eq!(result.outcome, Outcome::Healthy, "{result:?}");
    assert_eq!(result.warning, None);
    assert!(result.cert_not_after.is_some());

    // Valid for between three and four more days: a warning, still healthy.
    let expiry = jiff::Timestamp::now()
        .checked_add(jiff::SignedDuration::from_hours(96))
        .expect("date")
        .to_zoned_datetime(jiff::tz::TimeZone::UTC)
        .date();
    let soon = serve_tls(
        certificates.signed(
            "localhost",
            Some((
                i32::from(expiry.year()),
                expiry.month() as u8,
                expiry.day() as u8,
            )),
        ),
        |_| Reply::ok("ok"),
    )
    .await;
    let mut check = http(&soon.https_url("/"));
    check.ca_file = Some(ca_file);
    let result = http_result(check).await;
    assert_eq!(result.outcome, Outcome::Healthy, "{result:?}");
    assert_eq!(
        result.warning.as_deref(),
        Some(format!("TLS: certificate expires {expiry} (in 3 days)").as_str())
    );
}

fn selector(metric: &str, labels: &[(&str, &str)]) -> SeriesSelector {
    SeriesSelector {
        metric: metric.to_string(),
        labels: labels
            .iter()
            .map(|(name, value)| (name.to_string(), value.to_string()))
            .collect(),
    }
}

fn page(errors: u64, total: u64) -> String {
    format!(
        "# TYPE app_requests_total counter\napp_requests_total{{code=\"500\",route=\"/pay\"}} {errors}\napp_requests_total{{code=\"200\",route=\"/pay\"}} {}\n# TYPE app_up gauge\napp_up 1\n",
        total - errors
    )
}

#[tokio::test]
async fn scrape_rates_and_ratios_follow_the_counters_across_scrapes_and_resets() {
    let metrics = MetricsTarget::start(&page(0, 100)).await;
    let url = metrics.target.url("/metrics");
    let window = Duration::from_secs(60);
    let scrape = |mode: ScrapeMode, series: SeriesSelector, threshold: &str| {
        check(
            CheckKind::Scrape(ScrapeCheck {
                url: url.clone(),
                series,
                mode,
                threshold: threshold.parse().expect("threshold"),
                empty: EmptyResult::Unknown,
            }),
            Duration::from_secs(2),
        )
    };
    let ratio = scrape(
        ScrapeMode::Ratio {
            denominator: selector("app_requests_total", &[]),
            window,
        },
        selector("app_requests_total", &[("code", "500")]),
        "> 0.05",
    );
    let rate = scrape(
        ScrapeMode::Rate { window },
        selector("app_requests_total", &[]),
        "< 1",
    );
    let value = scrape(ScrapeMode::Value, selector("app_up", &[]), "< 1");
    let absent = scrape(ScrapeMode::Value, selector("app_gone", &[]), "< 1");
    // A clock the test moves forward, so rates over a window need no sleeping.
    let clock = Arc::new(ManualClock::starting_at(
        jiff::Timestamp::from_second(1_800_000_000).expect("time"),
    ));
    let context = context_with_clock(
        vec![ratio.clone(), rate.clone(), value.clone()],
        Vec::new(),
        clock.clone(),
    );
    let (mut ratio_memory, mut rate_memory) = (ProbeMemory::default(), ProbeMemory::default());

    let result = run_probe(&value, &context, &mut ProbeMemory::default()).await;
    assert_outcome(&result, Outcome::Healthy, "value 1 (fails when < 1)");
    let result = run_probe(&absent, &context, &mut ProbeMemory::default()).await;
    assert_outcome(
        &result,
        Outcome::Unknown,
        "no series app_gone on the target",
    );

    let result = run_probe(&ratio, &context, &mut ratio_memory).await;
    assert_outcome(
        &result,
        Outcome::Unknown,
        "collecting samples (rate needs two scrapes)",
    );
    let result = run_probe(&rate, &context, &mut rate_memory).await;
    assert_eq!(result.outcome, Outcome::Unknown, "{result:?}");

    // 10 errors in 100 requests over 10 s: 10 % > 5 %.
    metrics.set(&page(10, 200));
    clock.advance(jiff::SignedDuration::from_secs(10));
    let result = run_probe(&ratio, &context, &mut ratio_memory).await;
    assert_outcome(&result, Outcome::Failing, "value 0.1 > 0.05");
    assert_eq!(result.value, Some(0.1));
    let result = run_probe(&rate, &context, &mut rate_memory).await;
    assert_eq!(
        (result.outcome, result.value),
        (Outcome::Healthy, Some(10.0))
    );

    // One more error in 200 more requests: 11 in 300 over the window.
    metrics.set(&page(11, 400));
    clock.advance(jiff::SignedDuration::from_secs(10));
    let result = run_probe(&ratio, &context, &mut ratio_memory).await;
    assert_eq!(result.outcome, Outcome::Healthy, "{result:?}");
    assert_eq!(result.value, Some(11.0 / 300.0));

    // The service restarted: its counters start again from zero; what they show is new.
    metrics.set(&page(1, 50));
    clock.advance(jiff::SignedDuration::from_secs(10));
    let result = run_probe(&rate, &context, &mut rate_memory).await;
    // Probed at 0, 10 and 30 s: 100 more, then a reset to 50.
    assert_eq!(result.value, Some((100.0 + 50.0) / 30.0), "{result:?}");
    let result = run_probe(&ratio, &context, &mut ratio_memory).await;
    assert_eq!(result.value, Some(12.0 / 350.0), "{result:?}");

    // No traffic at all: nothing failed.
    clock.advance(jiff::SignedDuration::from_secs(100));
    run_probe(&ratio, &context, &mut ratio_memory).await;
    clock.advance(jiff::SignedDuration::from_secs(10));
    let result = run_probe(&ratio, &context, &mut ratio_memory).await;
    assert_outcome(
        &result,
        Outcome::Healthy,
        "no traffic: app_requests_total did not increase in 1 min",
    );

    // A target that is down is the launched system failing.
    let address = metrics.target.addr;
    drop(metrics);
    crate::helpers::eventually(5, async || refused_address_is(address).await.then_some(())).await;
    let result = run_probe(&value, &context, &mut ProbeMemory::default()).await;
    assert_outcome(&result, Outcome::Failing, "connection refused");
}

/// Whether nothing listens on `address` any more.
async fn refused_address_is(address: std::net::SocketAddr) -> bool {
    tokio::net::TcpStream::connect(address).await.is_err()
}

fn server(id: &str, url: &str, auth: Option<PrometheusAuth>) -> PrometheusServer {
    PrometheusServer {
        id: id.to_string(),
        url: url.to_string(),
        timeout: Duration::from_secs(5),
        auth,
    }
}

fn query(server: &str, query: &str, threshold: &str) -> Check {
    check(
        CheckKind::Prometheus(PrometheusCheck {
            server: server.to_string(),
            query: query.to_string(),
            threshold: threshold.parse().expect("threshold"),
            empty: EmptyResult::Unknown,
        }),
        Duration::from_secs(5),
    )
}

#[tokio::test]
async fn prometheus_checks_apply_thresholds_to_every_series_and_stay_unknown_when_it_is_down() {
    let metrics = MetricsTarget::start(&page(10, 100)).await;
    let mut prometheus = Prometheus::start(metrics.target.addr).await;
    prometheus.wait_for("app_requests_total").await;

    // Setting an environment variable is unsafe in edition 2024 (and the crate forbids unsafe),
    // so the token comes from a file, and the missing one from a variable nobody sets.
    let token_variable = "GOLIVE_TEST_PROBE_PROMETHEUS_TOKEN_NEVER_SET";
    let secret = "s3cret-token-value";
    let dir = tempfile::tempdir().expect("temp dir");
    let token_file = dir.path().join("token");
    std::fs::write(&token_file, format!("{secret}\n")).expect("token file");
    let servers = vec![
        server("main", &prometheus.url, None),
        server(
            "with-token",
            &prometheus.url,
            Some(PrometheusAuth::Bearer(SecretSource::File(token_file))),
        ),
        server(
            "missing-secret",
            &prometheus.url,
            Some(PrometheusAuth::Basic {
                username: "golive".to_string(),
                password: SecretSource::Env(token_variable.to_string()),
            }),
        ),
    ];
    let context = context_for(Vec::new(), servers);
    let run = |check: Check| {
        let context = &context;
        async move { run_probe(&check, context, &mut ProbeMemory::default()).await }
    };

    let result = run(query("main", "app_up", "< 1")).await;
    assert_outcome(&result, Outcome::Healthy, "value 1 (fails when < 1)");
    let result = run(query("with-token", "app_up", "< 1")).await;
    assert_eq!(result.outcome, Outcome::Healthy, "{result:?}");

    let result = run(query(
        "main",
        "sum(app_requests_total{code=\"500\"})",
        "> 5",
    ))
    .await;
    assert_outcome(&result, Outcome::Failing, "value 10 > 5");
    assert_eq!(result.value, Some(10.0));

    let result = run(query("main", "app_requests_total", "> 50")).await;
    assert_eq!(result.outcome, Outcome::Failing, "{result:?}");
    assert!(
        result.reason.starts_with("value 90 > 50 {") && result.reason.contains(r#"code="200""#),
        "the worst series with its labels: {result:?}"
    );

    let result = run(query("main", "scalar(sum(app_up))", "> 0")).await;
    assert_outcome(&result, Outcome::Failing, "value 1 > 0");

    let result = run(query("main", "app_not_there", "> 0")).await;
    assert_outcome(&result, Outcome::Unknown, "prometheus returned no series");

    let result = run(query("main", "sum(", "> 0")).await;
    assert_eq!(result.outcome, Outcome::Unknown, "{result:?}");
    assert!(
        result.reason.starts_with("prometheus error: "),
        "{result:?}"
    );

    let result = run(query("missing-secret", "app_up", "< 1")).await;
    assert_outcome(
        &result,
        Outcome::Unknown,
        &format!(
            "prometheus `missing-secret` password unavailable: environment variable {token_variable} is not set"
        ),
    );

    let result = run(query("elsewhere", "app_up", "< 1")).await;
    assert_outcome(
        &result,
        Outcome::Unknown,
        "prometheus server `elsewhere` is not configured",
    );

    prometheus.stop();
    // The first probe may find its pooled connection closed under it; either way the monitoring
    // is unreachable, which is unknown, never failing.
    for server in ["main", "with-token", "main"] {
        let result = run(query(server, "app_up", "< 1")).await;
        assert_eq!(result.outcome, Outcome::Unknown, "{result:?}");
        assert!(
            result.reason.starts_with("prometheus unreachable: "),
            "{result:?}"
        );
        assert!(!result.reason.contains(secret));
    }
    let result = run(query("main", "app_up", "< 1")).await;
    assert_outcome(
        &result,
        Outcome::Unknown,
        "prometheus unreachable: connection refused",
    );
}

#[tokio::test]
async fn a_hanging_or_confused_prometheus_is_unknown_not_failing() {
    let hang = accept_and_hang().await;
    let confused = serve(|_| Reply::status(502, "<html>bad gateway</html>")).await;
    let context = context_for(
        Vec::new(),
        vec![
            server("hang", &hang.url(""), None),
            server("confused", &confused.url(""), None),
        ],
    );
    let mut hanging = query("hang", "up", "< 1");
    hanging.timeout = Duration::from_millis(300);
    let result = run_probe(&hanging, &context, &mut ProbeMemory::default()).await;
    assert_outcome(
        &result,
        Outcome::Unknown,
        "prometheus unreachable: timeout after 300 ms",
    );
    let result = run_probe(
        &query("confused", "up", "< 1"),
        &context,
        &mut ProbeMemory::default(),
    )
    .await;
    assert_outcome(&result, Outcome::Unknown, "prometheus error: HTTP 502");
}

/// A health endpoint that answers 200 only to `Authorization: Bearer <expected>`, else 401.
async fn token_protected(expected: Arc<std::sync::Mutex<String>>) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("address");
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            let expected = expected.clone();
            tokio::spawn(async move {
                let mut head = Vec::new();
                let mut buf = [0u8; 1024];
                while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                    match stream.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => head.extend_from_slice(&buf[..n]),
                    }
                }
                let head = String::from_utf8_lossy(&head).to_ascii_lowercase();
                let wanted = format!(
                    "authorization: bearer {}\r\n",
                    expected.lock().expect("lock").to_ascii_lowercase()
                );
                let status = if head.contains(&wanted) {
                    "200 OK"
                } else {
                    "401 Unauthorized"
                };
                let reply = format!(
                    "HTTP/1.1 {status}\r\ncontent-length: 2\r\nconnection: close\r\n\r\nok"
                );
                let _ = stream.write_all(reply.as_bytes()).await;
            });
        }
    });
    format!("http://{addr}/health")
}

#[tokio::test]
async fn a_credential_header_is_read_from_its_file_at_every_probe_and_never_shown() {
    let expected = Arc::new(std::sync::Mutex::new("t0ken-one".to_string()));
    let url = token_protected(expected.clone()).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let token_file = dir.path().join("health-token");
    std::fs::write(&token_file, "Bearer t0ken-one\n").expect("write token");
    let mut check = http(&url);
    check.headers = vec![
        (
            "Accept".to_string(),
            HeaderValue::Text("text/plain".to_string()),
        ),
        (
            "Authorization".to_string(),
            HeaderValue::Secret(SecretSource::File(token_file.clone())),
        ),
    ];
    let check = check_http(check);
    let context = context_for(vec![check.clone()], Vec::new());
    let mut memory = ProbeMemory::default();

    let result = run_probe(&check, &context, &mut memory).await;
    assert_starts(&result, Outcome::Healthy, "status 200 in ");

    // The service rotates its token: the old one is refused until the file has the new one.
    *expected.lock().expect("lock") = "t0ken-two".to_string();
    let result = run_probe(&check, &context, &mut memory).await;
    assert_starts(&result, Outcome::Failing, "status 401");
    std::fs::write(&token_file, "Bearer t0ken-two\n").expect("rotate token");
    let result = run_probe(&check, &context, &mut memory).await;
    assert_starts(&result, Outcome::Healthy, "status 200 in ");

    // Without its secret golive cannot tell: unknown, naming the file, never the value.
    std::fs::remove_file(&token_file).expect("remove token");
    let result = run_probe(&check, &context, &mut memory).await;
    assert_starts(
        &result,
        Outcome::Unknown,
        "header Authorization: cannot read",
    );
    assert!(result.reason.contains("health-token"), "{result:?}");
    assert!(!result.reason.contains("t0ken"), "{result:?}");
}

fn assert_starts(result: &ProbeResult, outcome: Outcome, reason: &str) {
    assert_eq!(result.outcome, outcome, "{result:?}");
    assert!(result.reason.starts_with(reason), "{result:?}");
}

// Multi-threaded: the TLS target must keep answering while the test thread waits for the CLI.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_relative_ca_file_is_read_from_the_plans_folder_when_golive_runs_from_another() {
    let dir = tempfile::tempdir().expect("temp dir");
    let config = dir.path().join("config");
    std::fs::create_dir_all(config.join("certs")).expect("folders");
    let certificates = Certificates::new();
    certificates.write_ca(&config.join("certs"));
    let private = serve_tls(certificates.signed("localhost", None), |_| Reply::ok("ok")).await;
    let check = crate::plans::http_check("shop", &private.https_url("/"))
        .every("5s", "2s")
        .with("ca_file = \"certs/ca.pem\"");
    std::fs::write(config.join("plan.toml"), format!("{BASE_PLAN}{check}")).expect("plan");
    // Run from the folder above the plan's, as `golive probe config/example.toml` from a checkout.
    let (code, out, err) = crate::helpers::cli(dir.path(), &["probe", "config/plan.toml"]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("1 of 1 checks healthy"), "{out}{err}");
    assert!(
        !format!("{out}{err}").contains("config/config"),
        "{out}{err}"
    );
}
