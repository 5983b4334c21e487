//! `golive check`: every broken plan is reported with its line, column, key path, bad value and
//! fix; a valid plan passes; the binary maps outcomes to exit codes 0, 64 and 66.

use std::path::Path;
use std::process::Command;

use std::time::Duration;

use golive::domain::{Phase, Role};
use golive::plan::alerting::{
    ChannelKind, MaybeSecret, Recipient, RollbackHook, SilenceWindow, SmtpTls, WebhookFormat,
};
use golive::plan::checks::{CheckKind, CompareOp, HeaderValue, ScrapeMode, Severity};
use golive::plan::{self, Diagnostic, DiagnosticLevel, SecretSource};

/// A small valid plan; the line numbers in the cases below refer to it.
const BASE: &str = r#"[launch]
name = "Shop"
timezone = "Europe/Berlin"
go_live = 2027-03-09T20:00:00
hypercare_days = 14

[[people]]
id = "alice"
name = "Alice"
role = "project_manager"
email = "alice@example.com"

[[people]]
id = "bob"
name = "Bob"
role = "ops_lead"
email = "bob@example.com"

[[checklist]]
id = "backup"
title = "Backup taken"
owner = "bob"

[[checklist]]
id = "tests"
title = "Tests pass"
owner = "qa_lead"
gates = "go_no_go"
required = true

[[risks]]
id = "slow-db"
title = "Database is slow"
likelihood = "medium"
impact = "high"
contingency = "Scale up"
owner = "bob"

[rollback]
procedure = "Redeploy the previous release"

[server]
listen = "127.0.0.1:9898"

[[server.tokens]]
name = "release"
env = "GOLIVE_TOKEN"

[[prometheus]]
id = "prom"
url = "http://127.0.0.1:9090"
bearer_token = { env = "PROM_TOKEN" }

[[checks]]
id = "health"
kind = "http"
url = "https://shop.example/healthz"
gate = true
intervals = { deploying = "5s" }
expect_status = [200, "3xx"]
body_regex = "ok"
json = [{ path = "$.status", op = "==", value = "ok" }]
risks = ["slow-db"]

[[checks]]
id = "errors"
kind = "prometheus"
query = "sum(rate(errors_total[5m]))"
threshold = "> 0.05"

[[checks]]
id = "error-ratio"
kind = "scrape"
url = "http://10.0.0.5:9100/metrics"
metric = "requests_total"
labels = { code = "500" }
mode = "ratio"
denominator = { metric = "requests_total" }
threshold = "> 0.1"

[[checks]]
id = "db"
kind = "tcp"
address = "db.internal:5432"

[smtp]
host = "smtp.example"
username = "golive"
password = { env = "SMTP_PASSWORD" }
from = "golive <golive@example.com>"

[[channels]]
id = "mail"
kind = "email"

[[channels]]
id = "chat"
kind = "webhook"
url = "https://chat.example/hooks/launch"

[[escalation]]
id = "page"
levels = [
    { notify = ["ops_lead"], channels = ["mail"] },
    { after = "10m", notify = ["bob"], channels = ["chat"] },
]

[alerting]
policies = { warning = "page" }
public_url = "https://golive.shop.example"
[[silences]]
id = "nightly"
checks = ["errors"]
from = "23:00"
to = "01:00"
comment = "Nightly backup"

# The rest of the go-live call (after everything else, so the line numbers above hold).
[[people]]
id = "dora"
name = "Dora Dev"
role = "dev_lead"
email = "dora@shop.example"

[[people]]
id = "quinn"
name = "Quinn QA"
role = "qa_lead"
email = "quinn@shop.example"

[[people]]
id = "sam"
name = "Sam Support"
role = "support_lead"
email = "sam@shop.example"

[[people]]
id = "bea"
name = "Bea Business"
role = "business"
email = "bea@shop.example"

# The deployment runbook (last, so the line numbers above hold).
[runbook]
grace = "5m"

[[runbook.steps]]
id = "freeze"
title = "Freeze writes"
owner = "bob"
start = "-00:30"
duration = "10m"
phase = "go_no_go"

[[runbook.steps]]
id = "deploy"
title = "Deploy 2.0"
owner = "dev_lead"
start = "+00:00"
duration = "20m"
depends_on = ["freeze"]
rollback_point = true
rollback_procedure = "Restore the database snapshot, then redeploy 1.9"

[[runbook.steps]]
id = "smoke"
title = "Smoke tests"
owner = "quinn"
start = 2027-03-09T20:20:00
duration = "15m"
phase = "verifying"
depends_on = ["deploy"]
verify = ["health"]
"#;

/// One broken plan: `BASE` with `find` replaced by `replace` (first occurrence), and the one
/// error it must produce.
struct Case {
    name: &'static str,
    find: &'static str,
    replace: &'static str,
    line: usize,
    column: usize,
    message: &'static str,
    help: Option<&'static str>,
}

const fn case(
    name: &'static str,
    find: &'static str,
    replace: &'static str,
    (line, column): (usize, usize),
    message: &'static str,
    help: Option<&'static str>,
) -> Case {
    Case {
        name,
        find,
        replace,
        line,
        column,
        message,
        help,
    }
}

#[rustfmt::skip]
const CASES: &[Case] = &[
    case("toml syntax error", "name = \"Shop\"", "name = \"Shop", (2, 13), "invalid basic string", None),
    case("unknown top-level section", "[rollback]", "[chekclist]\nid = \"x\"\n\n[rollback]", (39, 2), "unknown section `chekclist`", Some("did you mean `checklist`?")),
    case("unknown key in a section", "required = true", "requird = true", (29, 1), "unknown key `requird`", Some("did you mean `required`?")),
    case("unknown key in server", "listen = ", "lisen = ", (43, 1), "unknown key `lisen`", Some("did you mean `listen`?")),
    case("missing required key in an entry", "title = \"Tests pass\"\n", "", (24, 1), "missing required key `title`", Some("add `title = ...`")),
    case("missing launch name", "name = \"Shop\"\n", "", (1, 1), "missing required key `name`", None),
    case("number given as a string", "hypercare_days = 14", "hypercare_days = \"14\"", (5, 18), "expected a number, found string `\"14\"`", Some("remove the quotes: `hypercare_days = 14`")),
    case("word given as a number", "hypercare_days = 14", "hypercare_days = \"two weeks\"", (5, 18), "expected a number, found string `\"two weeks\"`", Some("write a number without quotes, e.g. `hypercare_days = 3`")),
    case("boolean given as a string", "required = true", "required = \"yes\"", (29, 12), "expected a boolean", Some("write `required = true` or `required = false`, without quotes")),
    case("boolean in quotes", "required = true", "required = \"true\"", (29, 12), "expected a boolean", Some("remove the quotes: `required = true`")),
    case("duplicate key", "name = \"Shop\"\n", "name = \"Shop\"\nname = \"Shop 2\"\n", (3, 1), "duplicate key `name`", Some("`name` is already set on line 2; keep one of the two")),
    case("duplicate key in an entry", "title = \"Backup taken\"\n", "title = \"Backup taken\"\nowner = \"alice\"\n", (23, 1), "duplicate key `owner`", Some("`owner` is already set on line 22; keep one of the two")),
    case("unknown key in server lists only the allowed keys", "listen = ", "zzzzzz = 1\nlisten = ", (43, 1), "unknown key `zzzzzz`", Some("known keys here: listen, tokens")),
    case("section written as an array of tables", "[rollback]", "[[rollback]]", (39, 1), "expected a table, found array", Some("`[rollback]`")),
    case("duplicate checklist id", "id = \"tests\"", "id = \"backup\"", (25, 6), "duplicate id `backup`", Some("line 20")),
    case("unknown owner", "owner = \"bob\"", "owner = \"bobb\"", (22, 9), "unknown person or role `bobb`", Some("did you mean `bob`?")),
    case("owner role with a typo", "owner = \"qa_lead\"", "owner = \"qa_leed\"", (27, 9), "unknown person or role `qa_leed`", Some("did you mean `qa_lead`?")),
    case("unknown role", "role = \"ops_lead\"", "role = \"ops-lead\"", (16, 8), "unknown role `ops-lead`", Some("did you mean `ops_lead`?")),
    case("unknown phase in gates", "gates = \"go_no_go\"", "gates = \"verifyng\"", (28, 9), "unknown phase `verifyng`", Some("did you mean `verifying`?")),
    case("terminal phase in gates", "gates = \"go_no_go\"", "gates = \"rolled_back\"", (28, 9), "`rolled_back` is a terminal phase", Some("go_no_go")),
    case("unknown time zone", "Europe/Berlin", "Europe/Berlni", (3, 12), "unknown time zone `Europe/Berlni`", Some("did you mean `Europe/Berlin`?")),
    case("go-live that is not a date", "go_live = 2027-03-09T20:00:00", "go_live = \"next tuesday\"", (4, 11), "invalid go-live time `\"next tuesday\"`", Some("2026-12-01T20:00:00+01:00")),
    case("go-live without a time of day", "go_live = 2027-03-09T20:00:00", "go_live = 2027-03-09", (4, 11), "both a date and a time", Some("local date-time")),
    case("hypercare of zero days", "hypercare_days = 14", "hypercare_days = 0", (5, 18), "hypercare of `0` days must be more than 0", None),
    case("negative hypercare", "hypercare_days = 14", "hypercare_days = -2.5", (5, 18), "hypercare of `-2.5` days must be more than 0", None),
    case("inline token", "name = \"release\"", "name = \"release\"\ntoken = \"s3cret\"", (47, 1), "a token must not be written in the plan", Some("environment variable or a file")),
    case("token with both env and file", "env = \"GOLIVE_TOKEN\"", "env = \"GOLIVE_TOKEN\"\nfile = \"token.txt\"", (48, 1), "both `env` and `file`", Some("keep one")),
    case("token with no source", "env = \"GOLIVE_TOKEN\"\n", "", (45, 1), "neither `env` nor `file`", Some("env = \"VAR\"")),
    case("token from a malformed variable name", "env = \"GOLIVE_TOKEN\"", "env = \"GOLIVE TOKEN\"", (47, 7), "`GOLIVE TOKEN` is not an environment variable name", None),
    case("duplicate token name", "env = \"GOLIVE_TOKEN\"\n", "env = \"GOLIVE_TOKEN\"\n\n[[server.tokens]]\nname = \"release\"\nfile = \"t\"\n", (50, 8), "duplicate token name `release`", Some("line 46")),
    case("listen address with a host name", "127.0.0.1:9898", "localhost:9898", (43, 10), "`localhost:9898` is not a socket address", Some("127.0.0.1:9898")),
    case("email without an at sign", "alice@example.com", "alice.example.com", (11, 9), "`alice.example.com` is not an email address", None),
    case("id with capitals and a space", "id = \"slow-db\"", "id = \"Slow DB\"", (32, 6), "invalid id `Slow DB`", Some("lowercase")),
    case("likelihood with a typo", "likelihood = \"medium\"", "likelihood = \"meduim\"", (34, 14), "unknown level `meduim`", Some("did you mean `medium`?")),
    case("impact as a number", "impact = \"high\"", "impact = 3", (35, 10), "expected a string, found integer `3`", None),
    case("empty contingency", "contingency = \"Scale up\"", "contingency = \"\"", (36, 15), "`contingency` must not be empty", None),
    case("person id equal to a role", "id = \"alice\"", "id = \"business\"", (8, 6), "person id `business` is also a role name", Some("choose another id")),
    case("unknown check kind", "kind = \"http\"", "kind = \"htp\"", (56, 8), "unknown check kind `htp`", Some("did you mean `http`?")),
    case("key of another kind", "body_regex = \"ok\"", "query = \"up\"", (61, 1), "`query` belongs to prometheus checks", Some("kind")),
    case("key shared by two other kinds", "body_regex = \"ok\"", "threshold = \"> 1\"", (61, 1), "`threshold` belongs to prometheus and scrape checks", Some("remove `threshold`")),
    case("check key with a typo", "body_regex = \"ok\"", "body_regx = \"ok\"", (61, 1), "unknown key `body_regx`", Some("did you mean `body_regex`?")),
    case("http url without a scheme", "url = \"https://shop.example/healthz\"", "url = \"shop.example/healthz\"", (57, 7), "invalid URL `shop.example/healthz`", Some("https://")),
    case("duration without a unit", "{ deploying = \"5s\" }", "{ deploying = \"fast\" }", (59, 27), "invalid duration `fast`", Some("\"500ms\"")),
    case("interval below 100ms", "address = \"db.internal:5432\"", "address = \"db.internal:5432\"\ninterval = \"50ms\"", (85, 12), "an interval of 50 ms is too short", Some("every 100 ms")),
    case("timeout above the interval", "address = \"db.internal:5432\"", "address = \"db.internal:5432\"\ntimeout = \"1m\"", (85, 11), "the timeout of 1 min is longer than the interval of 30 s", Some("lower `timeout`")),
    case("retry interval above the interval", "address = \"db.internal:5432\"", "address = \"db.internal:5432\"\nretry_interval = \"1m\"", (85, 18), "a retry interval of 1 min is longer than the check's interval of 30 s", Some("use at most 30 s")),
    case("retry interval below 100ms", "address = \"db.internal:5432\"", "address = \"db.internal:5432\"\nretry_interval = \"50ms\"", (85, 18), "an interval of 50 ms is too short", Some("every 100 ms")),
    case("unknown phase in intervals", "{ deploying = \"5s\" }", "{ deployng = \"5s\" }", (59, 15), "unknown phase `deployng`", Some("did you mean `deploying`?")),
    case("unknown phase in phases", "address = \"db.internal:5432\"", "address = \"db.internal:5432\"\nphases = [\"verifyng\"]", (85, 11), "unknown phase `verifyng`", Some("did you mean `verifying`?")),
    case("terminal phase in phases", "address = \"db.internal:5432\"", "address = \"db.internal:5432\"\nphases = [\"hypercare\", \"closed\"]", (85, 24), "`closed` is a terminal phase", Some("go_no_go")),
    case("bad expected status", "[200, \"3xx\"]", "[200, \"3yy\"]", (60, 23), "invalid expected status `\"3yy\"`", Some("\"300-399\"")),
    case("regular expression that does not compile", "body_regex = \"ok\"", "body_regex = \"(ok\"", (61, 14), "`(ok` is not a valid regular expression: unclosed group", Some("fix the pattern")),
    case("json path without a dollar", "path = \"$.status\"", "path = \"status\"", (62, 18), "invalid JSON path `status`", Some("$.checks[0].status")),
    case("ordering comparison with a string", "op = \"==\"", "op = \">\"", (62, 48), "`>` compares numbers, but the value `\"ok\"` is not a number", Some("without quotes")),
    case("unknown risk in checks[].risks", "risks = [\"slow-db\"]", "risks = [\"slow-bd\"]", (63, 10), "unknown risk `slow-bd`", Some("did you mean `slow-db`?")),
    case("unknown check in risks[].checks", "contingency = \"Scale up\"", "contingency = \"Scale up\"\nchecks = [\"dbb\"]", (37, 11), "unknown check `dbb`", Some("did you mean `db`?")),
    case("alertmanager matcher that is not a table", "contingency = \"Scale up\"", "contingency = \"Scale up\"\nalertmanager = \"PaymentErrors\"", (37, 16), "expected a table of labels, found string", Some("alertmanager = { alertname = \"PaymentErrors\"")),
    case("empty alertmanager matcher", "contingency = \"Scale up\"", "contingency = \"Scale up\"\nalertmanager = {}", (37, 16), "an empty matcher would link every alert", Some("alertname = \"PaymentErrors\"")),
    case("alertmanager matcher with a bad label name", "contingency = \"Scale up\"", "contingency = \"Scale up\"\nalertmanager = { alert-name = \"PaymentErrors\" }", (37, 18), "`alert-name` is not a Prometheus label name", Some("letters, digits and `_`")),
    case("alertmanager matcher with an empty value", "contingency = \"Scale up\"", "contingency = \"Scale up\"\nalertmanager = { service = \"\" }", (37, 28), "an empty value matches nothing", Some("leave `service` out")),
    case("alertmanager matcher with a number for a value", "contingency = \"Scale up\"", "contingency = \"Scale up\"\nalertmanager = [{ alertname = \"A\" }, { code = 500 }]", (37, 47), "expected a string, found integer", Some("`code = \"...\"`")),
    case("alertmanager list entry that is not a table", "contingency = \"Scale up\"", "contingency = \"Scale up\"\nalertmanager = [\"PaymentErrors\"]", (37, 17), "expected a table of labels, found string", Some("or a list of such tables")),
    case("prometheus check with no server defined", "[[prometheus]]\nid = \"prom\"\nurl = \"http://127.0.0.1:9090\"\nbearer_token = { env = \"PROM_TOKEN\" }\n\n", "", (60, 1), "no [[prometheus]] server is defined; add one with id and url", Some("[[prometheus]]")),
    case("unknown prometheus server", "query = \"sum(", "server = \"porm\"\nquery = \"sum(", (68, 10), "unknown prometheus server `porm`", Some("did you mean `prom`?")),
    case("threshold that is not a comparison", "threshold = \"> 0.05\"", "threshold = \"about 5\"", (69, 13), "invalid threshold", Some("\"> 0.05\"")),
    case("ratio threshold that can never fire", "threshold = \"> 0.1\"", "threshold = \"> 1\"", (79, 13), "threshold `> 1` can never fire: a ratio is between 0 and 1", Some("fraction")),
    case("ratio without a denominator", "denominator = { metric = \"requests_total\" }\n", "", (71, 1), "a ratio check needs a `denominator`", Some("denominator = {")),
    case("denominator on a value check", "mode = \"ratio\"", "mode = \"value\"", (78, 1), "`denominator` is only used with `mode = \"ratio\"`", Some("remove `denominator`")),
    case("rate window shorter than the interval", "mode = \"ratio\"", "mode = \"ratio\"\nwindow = \"10s\"", (78, 10), "a window of 10 s is shorter than the interval of 30 s", Some("at least 30 s")),
    case("tcp address without a port", "address = \"db.internal:5432\"", "address = \"db.internal\"", (84, 11), "invalid address `db.internal`: it has no port", Some("host:port")),
    case("inline bearer token", "bearer_token = { env = \"PROM_TOKEN\" }", "bearer_token = \"s3cret-prom\"", (52, 1), "a bearer token must not be written in the plan", Some("{ env = \"VAR\" }")),
    case("inline basic password", "bearer_token = { env = \"PROM_TOKEN\" }", "basic = { username = \"golive\", password = \"hunter2\" }", (52, 32), "a password must not be written in the plan", Some("{ file = \"path\" }")),
    case("gate check that skips go_no_go", "gate = true", "gate = true\nphases = [\"deploying\"]", (58, 8), "a gate check must run in `go_no_go`", Some("add `\"go_no_go\"` to `phases`")),
    case("duplicate check id", "id = \"db\"", "id = \"health\"", (82, 6), "duplicate id `health`", Some("line 55")),
    case("kind with no value", "kind = \"tcp\"\n", "", (81, 1), "missing required key `kind`", None),
    // The communication plan, appended after the checks (line 86 on), and the rollback.
    case("inline smtp password", "password = { env = \"SMTP_PASSWORD\" }", "password = \"hunter2\"", (89, 1), "a password must not be written in the plan", Some("environment variable or a file")),
    case("smtp password without a username", "username = \"golive\"\n", "", (88, 1), "a `password` without a `username`", Some("add `username")),
    case("smtp without encryption and no opt-in", "host = \"smtp.example\"", "host = \"smtp.example\"\ntls = \"none\"", (88, 7), "unencrypted", Some("allow_insecure = true")),
    case("smtp tls mode with a typo", "host = \"smtp.example\"", "host = \"smtp.example\"\ntls = \"startls\"", (88, 7), "unknown TLS mode `startls`", Some("did you mean `starttls`?")),
    case("from that is not an address", "from = \"golive <golive@example.com>\"", "from = \"golive\"", (90, 8), "invalid From address `golive`", Some("golive <golive@shop.example>")),
    case("unknown channel kind", "kind = \"email\"", "kind = \"emial\"", (94, 8), "unknown channel kind `emial`", Some("did you mean `email`?")),
    case("key of another channel kind", "kind = \"email\"", "kind = \"email\"\nformat = \"slack\"", (95, 1), "`format` belongs to webhook channels, not email channels", Some("change `kind` to `\"webhook\"`")),
    case("webhook url with a token inline", "url = \"https://chat.example/hooks/launch\"", "url = \"https://chat.example/hooks/launch?token=s3cret\"", (99, 7), "the URL carries a secret (a `token` query parameter)", Some("url = { env = \"VAR\" }")),
    case("slack webhook url inline", "url = \"https://chat.example/hooks/launch\"", "url = \"https://hooks.slack.com/services/T0/B0/s3cret\"", (99, 7), "a Slack webhook path", Some("environment variable or a file")),
    case("inline authorization header on a check", "body_regex = \"ok\"", "body_regex = \"ok\"\nheaders = { Authorization = \"Bearer s3cret\" }", (62, 13), "the `Authorization` header is a credential and must not be written in the plan", Some("`Authorization = { env = \"HEALTH_TOKEN\" }`")),
    case("inline cookie on a check", "body_regex = \"ok\"", "body_regex = \"ok\"\nheaders = { cookie = \"session=s3cret\" }", (62, 13), "the `cookie` header is a credential and must not be written in the plan", None),
    case("check header secret without a source", "body_regex = \"ok\"", "body_regex = \"ok\"\nheaders = { Authorization = {} }", (62, 29), "a header value needs a source", Some("add `env = \"VAR\"`")),
    case("check header neither text nor secret", "body_regex = \"ok\"", "body_regex = \"ok\"\nheaders = { X-Retries = 3 }", (62, 25), "expected a string or a secret source, found integer", None),
    case("inline authorization header", "url = \"https://chat.example/hooks/launch\"", "url = \"https://chat.example/hooks/launch\"\nheaders = { Authorization = \"Bearer s3cret\" }", (100, 13), "an `Authorization` header must not be written in the plan", Some("environment or a file only")),
    case("webhook without a url", "url = \"https://chat.example/hooks/launch\"\n", "", (96, 1), "missing required key `url`", None),
    case("duplicate channel id", "kind = \"email\"", "kind = \"email\"\n\n[[channels]]\nid = \"mail\"\nkind = \"email\"", (97, 6), "duplicate id `mail`", Some("line 93")),
    case("unknown role as a recipient", "notify = [\"ops_lead\"]", "notify = [\"ops_leed\"]", (104, 17), "unknown recipient `ops_leed`", Some("did you mean `ops_lead`?")),
    case("unknown person as a recipient", "notify = [\"bob\"]", "notify = [\"bobb\"]", (105, 32), "unknown recipient `bobb`", Some("did you mean `bob`?")),
    case("recipient address without a domain", "notify = [\"bob\"]", "notify = [\"bob@\"]", (105, 32), "`bob@` is not an email address", None),
    case("level that notifies nobody", "notify = [\"bob\"]", "notify = []", (105, 31), "`notify` is empty, so this level notifies nobody", Some("notify = [\"ops_lead\"]")),
    case("unknown channel in a level", "channels = [\"chat\"]", "channels = [\"chta\"]", (105, 52), "unknown channel `chta`", Some("did you mean `chat`?")),
    case("level after not increasing", "after = \"10m\"", "after = \"0s\"", (105, 15), "level 2 starts after 0 s, which is not later than level 1 (0 s)", Some("use more than 0 s")),
    case("later level without after", "after = \"10m\", ", "", (105, 5), "missing required key `after`", None),
    case("policy without levels", "levels = [\n    { notify = [\"ops_lead\"], channels = [\"mail\"] },\n    { after = \"10m\", notify = [\"bob\"], channels = [\"chat\"] },\n]", "levels = []", (103, 10), "a policy with no levels notifies nobody", Some("add a level")),
    case("repeat too short", "id = \"page\"", "id = \"page\"\nrepeat = \"5s\"", (103, 10), "`repeat` of 5 s is too short", Some("at least 10 s")),
    case("unknown severity in alerting policies", "policies = { warning = \"page\" }", "policies = { warning = \"page\", critcal = \"page\" }", (109, 32), "unknown severity `critcal`", Some("did you mean `critical`?")),
    case("unknown policy for a severity", "policies = { warning = \"page\" }", "policies = { warning = \"pgae\" }", (109, 24), "unknown escalation policy `pgae`", Some("did you mean `page`?")),
    case("unknown fallback channel", "policies = { warning = \"page\" }", "policies = { warning = \"page\" }\nfallback_channel = \"mial\"", (110, 20), "unknown channel `mial`", Some("did you mean `mail`?")),
    case("group window over five minutes", "policies = { warning = \"page\" }", "policies = { warning = \"page\" }\ngroup_window = \"10m\"", (110, 16), "`group_window` of 10 min is too long", Some("at most 5 min")),
    case("silence of an unknown check", "checks = [\"errors\"]", "checks = [\"erors\"]", (113, 11), "unknown check `erors`", Some("did you mean `errors`?")),
    case("silence with both window forms", "from = \"23:00\"", "start = 2027-03-10T01:00:00\nend = 2027-03-10T03:00:00\nfrom = \"23:00\"", (116, 1), "a silence has both `start`/`end` (one window) and `days`/`from`/`to`", Some("keep one form")),
    case("silence that ends before it starts", "from = \"23:00\"\nto = \"01:00\"", "start = 2027-03-10T03:00:00\nend = 2027-03-10T01:00:00", (115, 7), "the silence ends (2027-03-10T01:00:00) before it starts (2027-03-10T03:00:00)", Some("later than `start`")),
    case("silence on a misspelt day", "from = \"23:00\"", "days = [\"mon\", \"tues\"]\nfrom = \"23:00\"", (114, 16), "unknown day `tues`", Some("did you mean `tue`?")),
    case("silence at an hour that does not exist", "from = \"23:00\"", "from = \"25:00\"", (114, 8), "invalid time `\"25:00\"`", Some("\"HH:MM\"")),
    case("silence that starts and ends at once", "to = \"01:00\"", "to = \"23:00\"", (115, 6), "never on", Some("past midnight")),
    case("silence without a comment", "comment = \"Nightly backup\"\n", "", (111, 1), "a silence needs a `comment`", Some("say why the alerts are silenced")),
    case("rollback criterion in go_no_go", "procedure = \"Redeploy the previous release\"", "procedure = \"Redeploy the previous release\"\ncriteria = [{ checks = [\"db\"], phases = [\"go_no_go\"] }]", (41, 42), "a launch cannot be rolled back from `go_no_go`", Some("deploying, verifying, hypercare")),
    case("rollback criterion of an unknown check", "procedure = \"Redeploy the previous release\"", "procedure = \"Redeploy the previous release\"\ncriteria = [{ checks = [\"helth\"] }]", (41, 25), "unknown check `helth`", Some("did you mean `health`?")),
    case("rollback notify of an unknown person", "procedure = \"Redeploy the previous release\"", "procedure = \"Redeploy the previous release\"\nnotify = [\"bobby\"]", (41, 11), "unknown recipient `bobby`", Some("did you mean `bob`?")),
    case("automatic rollback without a hook", "procedure = \"Redeploy the previous release\"", "procedure = \"Redeploy the previous release\"\nauto = true", (41, 8), "`auto = true` but there is no `[rollback.hook]` to run", Some("remove `auto = true`")),
    case("rollback hook with command and webhook", "procedure = \"Redeploy the previous release\"", "procedure = \"Redeploy the previous release\"\n\n[rollback.hook]\ncommand = [\"./rollback.sh\"]\nwebhook = \"https://deploy.example/rollback\"", (44, 1), "a rollback hook has both `command` and `webhook`", Some("keep one")),
    case("rollback hook with an empty command", "procedure = \"Redeploy the previous release\"", "procedure = \"Redeploy the previous release\"\n\n[rollback.hook]\ncommand = []", (43, 11), "`command` names no program", Some("./rollback.sh")),
    // The deployment runbook (line 143 on).
    case("runbook grace too short", "grace = \"5m\"", "grace = \"500ms\"", (145, 9), "`grace` of 500 ms is too short", Some("at least 1 s")),
    case("duplicate runbook step id", "id = \"smoke\"", "id = \"deploy\"", (166, 6), "duplicate id `deploy`", Some("line 156")),
    case("runbook step id with capitals", "id = \"freeze\"", "id = \"Freeze Writes\"", (148, 6), "invalid id `Freeze Writes`", Some("lowercase")),
    case("unknown runbook step owner", "owner = \"quinn\"", "owner = \"quin\"", (168, 9), "unknown person or role `quin`", Some("did you mean `quinn`?")),
    case("runbook step start offset with 75 minutes", "start = \"-00:30\"", "start = \"-00:75\"", (151, 9), "invalid start offset `-00:75`: 75 minutes is not below 60", Some("start = \"+00:20\"")),
    case("runbook step start that is no time", "start = \"+00:00\"", "start = \"after the freeze\"", (159, 9), "invalid start `\"after the freeze\"`", Some("start = \"+00:20\"")),
    case("runbook step without a duration", "duration = \"20m\"\n", "", (155, 1), "missing required key `duration`", Some("duration = \"15m\"")),
    case("runbook step duration without a unit", "duration = \"20m\"", "duration = \"20\"", (160, 12), "invalid duration `20`", Some("\"30s\"")),
    case("runbook step phase with a typo", "phase = \"verifying\"", "phase = \"verifyng\"", (171, 9), "unknown phase `verifyng`", Some("did you mean `verifying`?")),
    case("runbook step in a terminal phase", "phase = \"verifying\"", "phase = \"closed\"", (171, 9), "`closed` is where a launch ends", Some("deploying")),
    case("runbook step depending on an unknown step", "depends_on = [\"deploy\"]", "depends_on = [\"deplyo\"]", (172, 15), "unknown runbook step `deplyo`", Some("did you mean `deploy`?")),
    case("runbook step depending on itself", "depends_on = [\"deploy\"]", "depends_on = [\"smoke\"]", (172, 15), "step `smoke` depends on itself", Some("remove it")),
    case("runbook dependencies in a cycle", "phase = \"go_no_go\"", "phase = \"go_no_go\"\ndepends_on = [\"smoke\"]", (162, 15), "form a cycle: deploy → freeze → smoke → deploy", Some("remove one of these dependencies")),
    case("rollback point without its procedure", "rollback_procedure = \"Restore the database snapshot, then redeploy 1.9\"\n", "", (162, 18), "a rollback point needs the procedure that applies once it is passed", Some("rollback_procedure = \"...\"")),
    case("rollback procedure without a rollback point", "rollback_point = true\n", "", (162, 22), "`rollback_procedure` is only used on a rollback point", Some("rollback_point = true")),
    case("runbook step verifying an unknown check", "verify = [\"health\"]", "verify = [\"helth\"]", (173, 11), "unknown check `helth`", Some("did you mean `health`?")),
    case("runbook step key with a typo", "verify = [\"health\"]", "verfy = [\"health\"]", (173, 1), "unknown key `verfy`", Some("did you mean `verify`?")),
    // [heartbeat], inserted before [alerting] (line 108 on).
    case("unknown key in heartbeat", "[alerting]", "[heartbeat]\nurl = \"https://hc-ping.example/launch\"\nintervall = \"30s\"\n\n[alerting]", (110, 1), "unknown key `intervall`", Some("did you mean `interval`?")),
    case("heartbeat url with a token inline", "[alerting]", "[heartbeat]\nurl = \"https://hc-ping.example/launch?token=s3cret\"\n\n[alerting]", (109, 7), "the URL carries a secret (a `token` query parameter)", Some("url = { env = \"VAR\" }")),
    case("heartbeat interval below a second", "[alerting]", "[heartbeat]\nurl = \"https://hc-ping.example/launch\"\ninterval = \"500ms\"\n\n[alerting]", (110, 12), "`interval` of 500 ms is too short", Some("at least 1 s")),
    case("heartbeat interval over an hour", "[alerting]", "[heartbeat]\nurl = \"https://hc-ping.example/launch\"\ninterval = \"2h\"\n\n[alerting]", (110, 12), "`interval` of 2 h is too long", Some("at most 1 h")),
    case("heartbeat timeout longer than its interval", "[alerting]", "[heartbeat]\nurl = \"https://hc-ping.example/launch\"\ninterval = \"5s\"\ntimeout = \"10s\"\n\n[alerting]", (111, 11), "the timeout of 10 s is longer than the interval of 5 s", Some("lower `timeout`")),
    case("heartbeat method with a typo", "[alerting]", "[heartbeat]\nurl = \"https://hc-ping.example/launch\"\nmethod = \"GTE\"\n\n[alerting]", (110, 10), "unknown heartbeat method `GTE`", Some("did you mean `GET`?")),
    case("heartbeat to an unknown channel", "[alerting]", "[heartbeat]\nalertmanager = [\"chta\"]\n\n[alerting]", (109, 17), "unknown channel `chta`", Some("did you mean `chat`?")),
    case("heartbeat watchdog to a webhook channel", "[alerting]", "[heartbeat]\nalertmanager = [\"chat\"]\n\n[alerting]", (109, 17), "`chat` is a webhook channel, but the watchdog alert goes only to alertmanager channels", Some("kind = \"alertmanager\"")),
    case("heartbeat with an empty alertmanager list", "[alerting]", "[heartbeat]\nurl = \"https://hc-ping.example/launch\"\nalertmanager = []\n\n[alerting]", (110, 16), "`alertmanager` is empty", Some("or remove the key")),
    case("heartbeat that calls nothing", "[alerting]", "[heartbeat]\ninterval = \"30s\"\n\n[alerting]", (108, 1), "`[heartbeat]` calls nothing", Some("url = { env = \"GOLIVE_HEARTBEAT_URL\" }")),
    case("concurrency limit of zero", "[rollback]", "[monitoring]\nmax_concurrent_probes = 0\n\n[rollback]", (40, 25), "`max_concurrent_probes` must be between 1 and 10000, found `0`", None),
];

fn with_fault(case: &Case) -> String {
    assert!(
        BASE.contains(case.find),
        "{}: `{}` is not in the base plan",
        case.name,
        case.find
    );
    BASE.replacen(case.find, case.replace, 1)
}

fn diagnostics_of(text: &str) -> Vec<Diagnostic> {
    match plan::parse(text, Path::new("plan.toml")) {
        Ok(loaded) => loaded.warnings,
        Err(diagnostics) => diagnostics,
    }
}

fn render(diagnostics: &[Diagnostic]) -> String {
    diagnostics
        .iter()
        .map(|diagnostic| diagnostic.display(Path::new("plan.toml")).to_string())
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn the_base_plan_is_valid_and_has_no_warnings() {
    let loaded = plan::parse(BASE, Path::new("plans/plan.toml"))
        .unwrap_or_else(|diagnostics| panic!("{}", render(&diagnostics)));
    assert!(loaded.warnings.is_empty(), "{}", render(&loaded.warnings));
    assert_eq!(loaded.plan.people.len(), 6);
    assert_eq!(
        loaded.plan.launch.go_live.to_string(),
        "2027-03-09T19:00:00Z"
    );
    assert_eq!(loaded.plan.launch.data_dir, Path::new("plans/golive-data"));
}

#[test]
fn each_broken_plan_reports_its_one_error_at_the_right_place_with_a_fix() {
    let mut failures = Vec::new();
    for case in CASES {
        let diagnostics = diagnostics_of(&with_fault(case));
        let errors: Vec<&Diagnostic> = diagnostics
            .iter()
            .filter(|diagnostic| diagnostic.is_error())
            .collect();
        let matches = errors.len() == 1
            && errors.iter().all(|error| {
                error.line == case.line
                    && error.column == case.column
                    && error.message.contains(case.message)
                    && case.help.is_none_or(|help| {
                        error
                            .help
                            .as_deref()
                            .is_some_and(|text| text.contains(help))
                    })
            });
        if !matches {
            failures.push(format!(
                "{}: expected {}:{} `{}` (help {:?}), got:\n{}",
                case.name,
                case.line,
                case.column,
                case.message,
                case.help,
                render(&diagnostics)
            ));
        }
    }
    assert!(CASES.len() >= 110);
    assert!(
        failures.is_empty(),
        "{} case(s) failed:\n\n{}",
        failures.len(),
        failures.join("\n\n")
    );
}

#[test]
fn every_error_names_the_key_path() {
    let diagnostics = diagnostics_of(&BASE.replacen("owner = \"bob\"", "owner = \"bobb\"", 1));
    assert_eq!(diagnostics[0].path, "checklist[0].owner");
    let text = diagnostics[0].display(Path::new("plan.toml")).to_string();
    assert_eq!(
        text,
        "plan.toml:22:9: error: checklist[0].owner: unknown person or role `bobb`\n  help: did you mean `bob`?"
    );
}

#[test]
fn an_inline_token_is_never_echoed_back() {
    let text = BASE.replacen(
        "name = \"release\"",
        "name = \"release\"\ntoken = \"s3cret\"\nsecret = 42",
        1,
    );
    let rendered = render(&diagnostics_of(&text));
    assert!(!rendered.contains("s3cret"), "{rendered}");
    assert!(!rendered.contains("42"), "{rendered}");
}

#[test]
fn a_plan_with_several_faults_reports_all_of_them_in_order() {
    let text = BASE
        .replacen("Europe/Berlin", "Europe/Berlni", 1)
        .replacen("alice@example.com", "alice", 1)
        .replacen("owner = \"bob\"", "owner = \"bobb\"", 1)
        .replacen("gates = \"go_no_go\"", "gates = \"closed\"", 1)
        .replacen("likelihood = \"medium\"", "likelihood = \"meduim\"", 1)
        .replacen("listen = ", "lisen = ", 1)
        .replacen("[rollback]", "[chekclist]\n\n[rollback]", 1);
    let diagnostics = diagnostics_of(&text);
    let positions: Vec<(usize, usize)> = diagnostics
        .iter()
        .map(|diagnostic| (diagnostic.line, diagnostic.column))
        .collect();
    assert_eq!(
        positions,
        vec![
            (3, 12),
            (11, 9),
            (22, 9),
            (28, 9),
            (34, 14),
            (39, 2),
            (45, 1)
        ],
        "{}",
        render(&diagnostics)
    );
    assert!(diagnostics.iter().all(Diagnostic::is_error));
}

#[test]
fn syntax_errors_do_not_hide_the_other_problems() {
    let text = BASE
        .replacen("name = \"Shop\"", "name = \"Shop", 1)
        .replacen("owner = \"bob\"", "owner = \"bobb\"", 1);
    let diagnostics = diagnostics_of(&text);
    let positions: Vec<(usize, usize)> = diagnostics
        .iter()
        .map(|diagnostic| (diagnostic.line, diagnostic.column))
        .collect();
    assert_eq!(
        positions,
        vec![(2, 13), (22, 9)],
        "{}",
        render(&diagnostics)
    );
}

#[test]
fn an_empty_checklist_and_a_missing_rollback_procedure_are_warnings() {
    let start = BASE.find("[[checklist]]").unwrap_or_default();
    let end = BASE.find("[[risks]]").unwrap_or_default();
    let text = format!("{}{}", &BASE[..start], &BASE[end..]).replacen(
        "procedure = \"Redeploy the previous release\"\n",
        "",
        1,
    );
    let loaded = plan::parse(&text, Path::new("plan.toml"))
        .unwrap_or_else(|diagnostics| panic!("{}", render(&diagnostics)));
    let messages: Vec<&str> = loaded
        .warnings
        .iter()
        .map(|warning| warning.message.as_str())
        .collect();
    assert_eq!(loaded.warnings.len(), 2, "{messages:?}");
    assert!(
        loaded
            .warnings
            .iter()
            .all(|warning| warning.level == DiagnosticLevel::Warning)
    );
    assert!(
        messages
            .iter()
            .any(|message| message.contains("checklist is empty"))
    );
    assert!(
        messages
            .iter()
            .any(|message| message.contains("no rollback procedure"))
    );
}

fn example_path() -> &'static Path {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/config/example.toml"))
}

#[test]
fn the_example_plan_is_valid_without_warnings() {
    let loaded = plan::load(example_path()).unwrap_or_else(|error| match error {
        plan::LoadError::Invalid { diagnostics, .. } => panic!("{}", render(&diagnostics)),
        other => panic!("{other}"),
    });
    assert!(loaded.warnings.is_empty(), "{}", render(&loaded.warnings));
    let plan = loaded.plan;
    let roles: Vec<&str> = plan
        .people
        .iter()
        .map(|person| person.role.as_str())
        .collect();
    for role in [
        "project_manager",
        "dev_lead",
        "ops_lead",
        "qa_lead",
        "support_lead",
        "business",
    ] {
        assert!(roles.contains(&role), "no {role} in the example");
    }
    assert!((6..=8).contains(&plan.checklist.len()));
    assert!(plan.checklist.iter().any(|item| !item.required));
    assert!((3..=4).contains(&plan.risks.len()));
    let payments = plan
        .risks
        .iter()
        .find(|risk| risk.id == "payment-errors")
        .expect("the payment-errors risk");
    let alert_labels = |pairs: &[(&str, &str)]| {
        pairs
            .iter()
            .map(|(name, value)| (name.to_string(), value.to_string()))
            .collect::<std::collections::BTreeMap<String, String>>()
    };
    assert_eq!(payments.alertmanager.len(), 2);
    assert!(payments.matches_alertmanager(&alert_labels(&[
        ("alertname", "PaymentProviderErrors"),
        ("service", "payments"),
        ("instance", "pay-1:8080"),
    ])));
    assert!(!payments.matches_alertmanager(&alert_labels(&[
        ("alertname", "PaymentProviderErrors"),
        ("service", "search"),
    ])));
    assert_eq!(plan.server.tokens.len(), 2);
    assert_eq!(plan.server.listen.to_string(), "127.0.0.1:9898");
}

#[test]
fn the_example_plan_yields_its_checks_with_parsed_values() {
    let loaded = plan::load(example_path()).unwrap_or_else(|error| panic!("{error}"));
    let plan = loaded.plan;
    let kinds: Vec<&str> = plan.checks.iter().map(|check| check.kind_name()).collect();
    assert_eq!(
        kinds,
        [
            "http",
            "http",
            "http",
            "prometheus",
            "prometheus",
            "scrape",
            "scrape",
            "tcp"
        ]
    );
    let find = |id: &str| {
        plan.checks
            .iter()
            .find(|check| check.id == id)
            .unwrap_or_else(|| panic!("no check {id}"))
    };
    let health = find("shop-health");
    assert!(health.gate);
    assert_eq!(health.severity, Severity::Critical);
    assert_eq!(health.interval_in(Phase::Deploying), Duration::from_secs(5));
    assert_eq!(health.interval_in(Phase::GoNoGo), Duration::from_secs(30));
    assert_eq!(health.timeout, Duration::from_secs(4));
    let CheckKind::Http(http) = &health.kind else {
        panic!("shop-health is not http");
    };
    assert_eq!(http.json.len(), 3);
    assert_eq!(http.json[1].op, CompareOp::Lt);
    assert_eq!(http.expect_status[0].to_string(), "2xx");
    assert_eq!(
        http.headers,
        [
            (
                "Accept".to_string(),
                HeaderValue::Text("application/json".to_string())
            ),
            (
                "Authorization".to_string(),
                HeaderValue::Secret(SecretSource::Env("SHOP_HEALTH_TOKEN".to_string()))
            ),
            (
                "X-Golive-Probe".to_string(),
                HeaderValue::Text("1".to_string())
            ),
        ]
    );

    let errors = find("error-rate");
    assert_eq!(
        errors.threshold().map(|t| t.to_string()).as_deref(),
        Some("> 0.05")
    );
    let ratio = find("checkout-error-ratio");
    let CheckKind::Scrape(scrape) = &ratio.kind else {
        panic!("checkout-error-ratio is not a scrape check");
    };
    assert!(
        matches!(&scrape.mode, ScrapeMode::Ratio { window, .. } if *window == Duration::from_secs(300))
    );

    // Links written on either side show up on both.
    let payment = plan
        .risks
        .iter()
        .find(|risk| risk.id == "payment-errors")
        .unwrap_or_else(|| panic!("no payment-errors risk"));
    for check in ["checkout-api", "checkout-error-ratio", "error-rate"] {
        assert!(
            payment.checks.iter().any(|id| id == check),
            "{check}: {:?}",
            payment.checks
        );
    }
    assert!(
        find("checkout-api")
            .risks
            .iter()
            .any(|id| id == "payment-errors")
    );
    assert_eq!(plan.prometheus.len(), 1);
    assert_eq!(plan.monitoring.max_concurrent_probes, 256);
}

#[test]
fn a_check_without_a_timeout_gets_one_no_longer_than_its_interval() {
    let text = BASE.replacen(
        "address = \"db.internal:5432\"",
        "address = \"db.internal:5432\"\ninterval = \"2s\"",
        1,
    );
    let loaded = plan::parse(&text, Path::new("plan.toml"))
        .unwrap_or_else(|diagnostics| panic!("{}", render(&diagnostics)));
    let db = loaded.plan.checks.iter().find(|check| check.id == "db");
    assert_eq!(db.map(|check| check.timeout), Some(Duration::from_secs(2)));
}

#[test]
fn inline_prometheus_credentials_are_never_echoed_back() {
    for secret in [
        "bearer_token = \"s3cret-prom\"",
        "basic = { username = \"golive\", password = \"s3cret-prom\" }",
        "token = \"s3cret-prom\"",
    ] {
        let text = BASE.replacen("bearer_token = { env = \"PROM_TOKEN\" }", secret, 1);
        let diagnostics = diagnostics_of(&text);
        let rendered = render(&diagnostics);
        assert!(diagnostics.iter().any(Diagnostic::is_error), "{secret}");
        assert!(!rendered.contains("s3cret"), "{rendered}");
    }
}

#[test]
fn a_database_url_written_in_the_plan_is_an_error_that_never_echoes_it() {
    for url in [
        "url = \"postgres://golive:s3cret-db@db.example/launch\"",
        "url = { env = \"GOLIVE_DB\", file = \"s3cret-db\" }",
        "uri = \"postgres://golive:s3cret-db@db.example/launch\"",
    ] {
        let text = format!("{BASE}\n[store]\n{url}\n");
        let diagnostics = diagnostics_of(&text);
        let rendered = render(&diagnostics);
        assert!(diagnostics.iter().any(Diagnostic::is_error), "{url}");
        assert!(rendered.contains("store.ur"), "{rendered}");
        assert!(!rendered.contains("s3cret"), "{rendered}");
    }
    let text = format!("{BASE}\n[store]\nurl = {{ env = \"GOLIVE_PLAN_DATABASE_URL\" }}\n");
    assert!(diagnostics_of(&text).is_empty(), "a URL's source is fine");
}

#[test]
fn an_informational_gate_an_unused_server_and_a_plan_without_checks_are_warnings() {
    let gate = BASE.replacen("gate = true", "gate = true\nseverity = \"info\"", 1);
    let loaded = plan::parse(&gate, Path::new("plan.toml"))
        .unwrap_or_else(|diagnostics| panic!("{}", render(&diagnostics)));
    assert_eq!(loaded.warnings.len(), 1, "{}", render(&loaded.warnings));
    assert!(loaded.warnings[0].message.contains("severity is `info`"));

    let start = BASE.find("[[checks]]").unwrap_or_default();
    let loaded = plan::parse(&BASE[..start], Path::new("plan.toml"))
        .unwrap_or_else(|diagnostics| panic!("{}", render(&diagnostics)));
    let messages: Vec<&str> = loaded
        .warnings
        .iter()
        .map(|warning| warning.message.as_str())
        .collect();
    // The cut also drops the communication plan and the people after it.
    assert_eq!(messages.len(), 4, "{messages:?}");
    assert!(
        messages
            .iter()
            .any(|message| message.contains("there are no checks"))
    );
    assert!(
        messages
            .iter()
            .any(|message| message.contains("`prom` is not used"))
    );
}

#[test]
fn secrets_in_the_communication_plan_are_never_echoed_back() {
    for (find, replace) in [
        (
            "password = { env = \"SMTP_PASSWORD\" }",
            "password = \"s3cret-smtp\"",
        ),
        (
            "url = \"https://chat.example/hooks/launch\"",
            "url = \"https://chat.example/hooks/launch?api_key=s3cret-chat\"",
        ),
        (
            "url = \"https://chat.example/hooks/launch\"",
            "url = \"https://golive:s3cret-chat@chat.example/hooks/launch\"",
        ),
        (
            "url = \"https://chat.example/hooks/launch\"",
            "url = \"https://hooks.slack.com/services/T0/B0/s3cret-slack\"",
        ),
        (
            "url = \"https://chat.example/hooks/launch\"",
            "url = \"https://chat.example/hooks/launch\"\nheaders = { Authorization = \"Bearer s3cret-header\" }",
        ),
        (
            "url = \"https://chat.example/hooks/launch\"",
            "url = \"https://chat.example/hooks/launch\"\nhmac_secret = \"s3cret-hmac\"",
        ),
        (
            "procedure = \"Redeploy the previous release\"",
            "procedure = \"Redeploy the previous release\"\n\n[rollback.hook]\nwebhook = \"https://deploy.example/rollback?token=s3cret-hook\"",
        ),
    ] {
        let diagnostics = diagnostics_of(&BASE.replacen(find, replace, 1));
        let rendered = render(&diagnostics);
        assert!(diagnostics.iter().any(Diagnostic::is_error), "{replace}");
        assert!(!rendered.contains("s3cret"), "{rendered}");
    }
}

#[test]
fn pager_keys_come_only_from_the_environment_or_a_file_and_are_required() {
    let with_channel = |keys: &str| format!("{BASE}\n[[channels]]\nid = \"pager\"\n{keys}\n");
    for keys in [
        "kind = \"pagerduty\"\nrouting_key = \"s3cret-pd\"",
        "kind = \"pagerduty\"\nrouting_key = { env = \"PD_KEY\" }\nwebhook_secret = \"s3cret-whsec\"",
        "kind = \"opsgenie\"\napi_key = \"s3cret-og\"",
    ] {
        let diagnostics = diagnostics_of(&with_channel(keys));
        let rendered = render(&diagnostics);
        assert!(
            diagnostics
                .iter()
                .any(|d| d.is_error() && d.message.contains("must not be written in the plan")),
            "{rendered}"
        );
        assert!(!rendered.contains("s3cret"), "{rendered}");
    }
    for (keys, path, message) in [
        (
            "kind = \"pagerduty\"",
            "routing_key",
            "missing `routing_key`",
        ),
        ("kind = \"opsgenie\"", "api_key", "missing `api_key`"),
        (
            "kind = \"opsgenie\"\napi_key = { env = \"OG_KEY\" }\nrouting_key = { env = \"PD_KEY\" }",
            "routing_key",
            "pagerduty",
        ),
    ] {
        let diagnostics = diagnostics_of(&with_channel(keys));
        assert!(
            diagnostics
                .iter()
                .any(|d| d.is_error() && d.path.ends_with(path) && d.message.contains(message)),
            "{keys}: {}",
            render(&diagnostics)
        );
    }
    let valid = diagnostics_of(&with_channel(
        "kind = \"pagerduty\"\nrouting_key = { file = \"pd.key\" }\nurl = \"http://127.0.0.1:9/v2/enqueue\"",
    ));
    assert!(
        !valid.iter().any(Diagnostic::is_error),
        "{}",
        render(&valid)
    );
}

#[test]
fn unused_policies_and_channels_single_levels_and_unrouted_severities_are_warnings() {
    let text = BASE
        .replacen(
            "    { after = \"10m\", notify = [\"bob\"], channels = [\"chat\"] },\n",
            "",
            1,
        )
        .replacen(
            "[alerting]",
            "[[escalation]]\nid = \"spare\"\nlevels = [{ notify = [\"bob\"], channels = [\"mail\"] }, { after = \"1h\", notify = [\"alice\"], channels = [\"mail\"] }]\n\n[alerting]",
            1,
        )
        .replacen("id = \"db\"", "id = \"db\"\nseverity = \"critical\"", 1);
    let loaded = plan::parse(&text, Path::new("plan.toml"))
        .unwrap_or_else(|diagnostics| panic!("{}", render(&diagnostics)));
    let found: Vec<(&str, &str)> = loaded
        .warnings
        .iter()
        .map(|warning| (warning.path.as_str(), warning.message.as_str()))
        .collect();
    assert_eq!(
        found,
        [
            (
                "channels[1].id",
                "channel `chat` is not used by any escalation level"
            ),
            (
                "escalation[0].levels",
                "escalation policy `page` has a single level, so an alert nobody acknowledges never reaches anyone else"
            ),
            (
                "escalation[1].id",
                "escalation policy `spare` is not used by any severity"
            ),
            (
                "alerting.policies",
                "checks of severity critical notify nobody"
            ),
        ],
        "{}",
        render(&loaded.warnings)
    );
}

#[test]
fn a_plan_without_a_communication_plan_warns_that_its_checks_notify_nobody() {
    let start = BASE.find("[smtp]").unwrap_or_default();
    let loaded = plan::parse(&BASE[..start], Path::new("plan.toml"))
        .unwrap_or_else(|diagnostics| panic!("{}", render(&diagnostics)));
    let messages: Vec<&str> = loaded
        .warnings
        .iter()
        .map(|warning| warning.message.as_str())
        .collect();
    assert_eq!(
        messages,
        [
            "checks of severity warning notify nobody",
            "there is no communication channel, so alerts reach nobody",
            "nobody holds the roles `dev_lead`, `qa_lead`, `support_lead`, `business` that a go-live call needs",
        ]
    );
    assert_eq!(loaded.plan.rollback.notify.len(), 2);
}

#[test]
fn the_example_plan_yields_its_communication_plan_with_parsed_values() {
    let loaded = plan::load(example_path()).unwrap_or_else(|error| panic!("{error}"));
    let plan = loaded.plan;
    let alerting = &plan.alerting;

    let smtp = alerting
        .smtp
        .as_ref()
        .unwrap_or_else(|| panic!("no [smtp]"));
    assert_eq!(smtp.tls, SmtpTls::StartTls);
    assert_eq!(smtp.port, 587);
    assert_eq!(
        smtp.password,
        Some(SecretSource::Env("GOLIVE_SMTP_PASSWORD".to_string()))
    );
    assert_eq!(smtp.timeout, Duration::from_secs(10));

    let kinds: Vec<(&str, &str)> = alerting
        .channels
        .iter()
        .map(|channel| (channel.id.as_str(), channel.kind.name()))
        .collect();
    assert_eq!(
        kinds,
        [
            ("email", "email"),
            ("team-chat", "webhook"),
            ("ops-hook", "webhook"),
            ("alertmanager", "alertmanager"),
            ("pagerduty", "pagerduty"),
            ("opsgenie", "opsgenie")
        ]
    );
    let ChannelKind::PagerDuty(pagerduty) = &alerting.channels[4].kind else {
        panic!("pagerduty is not a pagerduty channel");
    };
    assert_eq!(
        pagerduty.routing_key,
        SecretSource::Env("GOLIVE_PAGERDUTY_ROUTING_KEY".to_string())
    );
    assert_eq!(pagerduty.url, "https://events.pagerduty.com/v2/enqueue");
    assert!(pagerduty.webhook_secret.is_some());
    let ChannelKind::Opsgenie(opsgenie) = &alerting.channels[5].kind else {
        panic!("opsgenie is not an opsgenie channel");
    };
    assert_eq!(opsgenie.url, "https://api.eu.opsgenie.com");
    assert_eq!(opsgenie.timeout, Duration::from_secs(10));
    let ChannelKind::Webhook(chat) = &alerting.channels[1].kind else {
        panic!("team-chat is not a webhook");
    };
    assert_eq!(
        chat.url,
        MaybeSecret::Secret(SecretSource::Env("GOLIVE_CHAT_WEBHOOK_URL".to_string()))
    );
    assert_eq!(chat.format, WebhookFormat::Slack);
    let ChannelKind::Webhook(ops) = &alerting.channels[2].kind else {
        panic!("ops-hook is not a webhook");
    };
    assert_eq!(ops.format, WebhookFormat::Golive);
    assert_eq!(ops.hmac_header, "X-Golive-Signature");
    assert_eq!(ops.timeout, Duration::from_secs(5));

    let page = &alerting.policies[0];
    assert_eq!(page.id, "page");
    let afters: Vec<Duration> = page.levels.iter().map(|level| level.after).collect();
    assert_eq!(
        afters,
        [
            Duration::ZERO,
            Duration::from_secs(600),
            Duration::from_secs(1800)
        ]
    );
    assert_eq!(
        page.levels[0].notify,
        [
            Recipient::Role(Role::OpsLead),
            Recipient::Role(Role::DevLead)
        ]
    );
    assert_eq!(page.repeat, Duration::from_secs(900));
    assert_eq!(page.ack_timeout, Some(Duration::from_secs(3600)));
    let team = &alerting.policies[1];
    assert_eq!(team.levels.len(), 2);
    assert_eq!(team.levels[0].after, Duration::ZERO);
    assert!(
        team.levels[1]
            .notify
            .contains(&Recipient::Person("sofia".to_string()))
    );

    assert_eq!(
        alerting
            .severity_policies
            .get(&Severity::Critical)
            .map(String::as_str),
        Some("page")
    );
    assert_eq!(
        alerting
            .severity_policies
            .get(&Severity::Warning)
            .map(String::as_str),
        Some("team")
    );
    assert!(!alerting.severity_policies.contains_key(&Severity::Info));
    assert_eq!(alerting.fallback_channel.as_deref(), Some("ops-hook"));
    assert_eq!(alerting.group_window, Duration::from_secs(2));
    assert_eq!(alerting.ack_link_ttl, Duration::from_secs(24 * 3600));
    assert!(
        alerting
            .outbox_dir
            .as_ref()
            .is_some_and(|dir| dir.ends_with("golive-data/outbox"))
    );

    let SilenceWindow::Once { start, end } = &alerting.silences[0].window else {
        panic!("the first silence is not a one-off window");
    };
    assert_eq!(start.to_string(), "2027-03-10T00:00:00Z");
    assert_eq!(end.as_second() - start.as_second(), 2 * 3600);
    let SilenceWindow::Recurring { days, from, to } = &alerting.silences[1].window else {
        panic!("the second silence does not recur");
    };
    assert_eq!(days.len(), 5);
    assert_eq!(
        (from.to_string(), to.to_string()),
        ("23:30:00".to_string(), "00:30:00".to_string())
    );
    assert_eq!(alerting.silences[1].severities, [Severity::Critical]);

    let rollback = &plan.rollback;
    assert_eq!(rollback.criteria.len(), 2);
    assert_eq!(rollback.criteria[0].severity, Severity::Critical);
    assert_eq!(
        rollback.criteria[0].phases,
        [Phase::Deploying, Phase::Verifying]
    );
    assert!(
        rollback
            .notify
            .contains(&Recipient::Person("aylin".to_string()))
    );
    assert!(!rollback.auto);
    assert_eq!(
        rollback.hook,
        Some(RollbackHook::Command {
            argv: vec![
                "./scripts/rollback.sh".to_string(),
                "--release".to_string(),
                "1.9.4".to_string()
            ],
            timeout: Duration::from_secs(15 * 60),
        })
    );
}

fn golive_check(args: &[&std::ffi::OsStr]) -> std::process::Output {
    let output = Command::new(env!("CARGO_BIN_EXE_golive"))
        .arg("check")
        .args(args)
        .output();
    output.unwrap_or_else(|error| panic!("cannot run golive: {error}"))
}

#[test]
fn the_binary_accepts_the_example_plan_with_exit_code_zero() {
    let output = golive_check(&[example_path().as_os_str()]);
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert_eq!(
        output.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(stdout.starts_with("plan ok: \"Web shop 2.0\", 7 people, 8 checklist items (7 required), 4 risks, 8 checks (1 gating), go-live 2027-03-09 20:00:00 CET (Europe/Berlin)"), "{stdout}");
}

#[test]
fn the_binary_rejects_a_broken_plan_with_exit_code_64_and_positions() {
    let folder = tempfile::tempdir().unwrap_or_else(|error| panic!("{error}"));
    let path = folder.path().join("plan.toml");
    std::fs::write(
        &path,
        BASE.replacen("owner = \"bob\"", "owner = \"bobb\"", 1),
    )
    .unwrap_or_else(|error| panic!("{error}"));
    let output = golive_check(&[path.as_os_str()]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(64), "{stderr}");
    assert!(
        stderr.contains(&format!(
            "{}:22:9: error: checklist[0].owner",
            path.display()
        )),
        "{stderr}"
    );
    assert!(stderr.trim_end().ends_with("1 error(s)"), "{stderr}");
}

#[test]
fn the_binary_fails_on_warnings_only_when_strict() {
    let folder = tempfile::tempdir().unwrap_or_else(|error| panic!("{error}"));
    let path = folder.path().join("plan.toml");
    std::fs::write(
        &path,
        BASE.replacen("procedure = \"Redeploy the previous release\"\n", "", 1),
    )
    .unwrap_or_else(|error| panic!("{error}"));
    let relaxed = golive_check(&[path.as_os_str()]);
    assert_eq!(relaxed.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&relaxed.stderr).contains("warning: rollback.procedure"));
    let strict = golive_check(&[path.as_os_str(), "--strict".as_ref()]);
    let stderr = String::from_utf8_lossy(&strict.stderr);
    assert_eq!(strict.status.code(), Some(64), "{stderr}");
    assert!(stderr.contains("error: rollback.procedure"), "{stderr}");
}

#[test]
fn a_plan_that_is_not_utf8_is_invalid_with_exit_code_64_and_the_position() {
    let folder = tempfile::tempdir().unwrap_or_else(|error| panic!("{error}"));
    let path = folder.path().join("latin1.toml");
    // `Shöp` saved as Latin-1: 0xF6 on line 2, after `name = "Sh`.
    let mut bytes = BASE
        .replace("name = \"Shop\"", "name = \"Sh\u{1}p\"")
        .into_bytes();
    let at = bytes.iter().position(|byte| *byte == 1).unwrap_or_default();
    bytes[at] = 0xF6;
    std::fs::write(&path, bytes).unwrap_or_else(|error| panic!("{error}"));
    let output = golive_check(&[path.as_os_str()]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(64), "{stderr}");
    assert!(
        stderr.contains("latin1.toml:2:11: error: the plan is not valid UTF-8 (byte 0xF6)")
            && stderr.contains("help: save the plan as UTF-8"),
        "{stderr}"
    );
}

#[test]
fn the_binary_reports_a_missing_file_with_exit_code_66() {
    let folder = tempfile::tempdir().unwrap_or_else(|error| panic!("{error}"));
    let output = golive_check(&[folder.path().join("missing.toml").as_os_str()]);
    assert_eq!(output.status.code(), Some(66));
    assert!(String::from_utf8_lossy(&output.stderr).contains("cannot read plan"));
}

/// The go-live guide's common mistakes, one per case: (what, how to break the base plan, the
/// warning's key path, a piece of its message).
#[test]
fn the_guides_common_mistakes_are_warnings_with_their_position() {
    let cases: &[(&str, String, &str, &str)] = &[
        (
            "a key role nobody holds",
            BASE.replace("role = \"qa_lead\"", "role = \"other\""),
            "people",
            "nobody holds the role `qa_lead`",
        ),
        (
            "no risks",
            {
                let start = BASE.find("[[risks]]").unwrap_or_default();
                let end = BASE[start..]
                    .find("\n[")
                    .map_or(BASE.len(), |offset| start + offset + 1);
                let mut text = BASE.to_string();
                text.replace_range(start..end, "");
                text.replace("risks = [\"slow-db\"]", "")
            },
            "risks",
            "there are no risks",
        ),
        (
            "a level notifying only roles nobody holds",
            BASE.replace("notify = [\"bob\"]", "notify = [\"security\"]"),
            "escalation[0].levels[1].notify",
            "notifies nobody",
        ),
        (
            "acknowledgement links on the loopback listen address",
            BASE.replace("public_url = \"https://golive.shop.example\"\n", ""),
            "alerting.public_url",
            "acknowledgement links in emails would point at the loopback address `127.0.0.1:9898`",
        ),
        (
            "acknowledgement links on the wildcard listen address",
            BASE.replace("public_url = \"https://golive.shop.example\"\n", "")
                .replace("listen = \"127.0.0.1:9898\"", "listen = \"0.0.0.0:9898\""),
            "alerting.public_url",
            "would point at the wildcard address `0.0.0.0:9898`",
        ),
        (
            "a go-live in the past",
            BASE.replace(
                "go_live = 2027-03-09T20:00:00",
                "go_live = 2020-03-09T20:00:00",
            ),
            "launch.go_live",
            "the planned go-live 2020-03-09 20:00:00 CET is in the past",
        ),
    ];
    let now: jiff::Timestamp = "2026-11-27T12:00:00Z".parse().unwrap();
    for (what, text, path, message) in cases {
        let loaded = plan::parse_as_of(text, Path::new("plan.toml"), now)
            .unwrap_or_else(|diagnostics| panic!("{what}: {}", render(&diagnostics)));
        let found = loaded
            .warnings
            .iter()
            .find(|warning| warning.path == *path)
            .unwrap_or_else(|| {
                panic!("{what}: no warning at {path}: {}", render(&loaded.warnings))
            });
        assert!(found.message.contains(message), "{what}: {}", found.message);
        assert_eq!(found.level, DiagnosticLevel::Warning, "{what}");
        assert!(found.line > 0, "{what}: a warning has a position");
    }
    // The base plan itself, as of a day before its go-live, has none of them.
    let loaded = plan::parse_as_of(BASE, Path::new("plan.toml"), now).unwrap();
    assert!(loaded.warnings.is_empty(), "{}", render(&loaded.warnings));
}

#[test]
fn runbook_steps_planned_outside_their_phase_or_before_their_dependencies_are_warnings() {
    let text = BASE
        .replacen("start = \"-00:30\"", "start = \"-00:05\"", 1)
        .replacen(
            "start = 2027-03-09T20:20:00",
            "start = 2027-03-09T19:50:00",
            1,
        );
    let loaded = plan::parse(&text, Path::new("plan.toml"))
        .unwrap_or_else(|diagnostics| panic!("{}", render(&diagnostics)));
    let warnings = render(&loaded.warnings);
    assert_eq!(loaded.warnings.len(), 4, "{warnings}");
    // freeze (go_no_go, ends 20:05) runs past the go-live.
    assert!(
        warnings.contains("plan.toml:151:9: warning: runbook.steps[0].start: step `freeze` belongs to `go_no_go` but is planned to end after the go-live"),
        "{warnings}"
    );
    // deploy (+00:00) starts before freeze (-00:05 for 10m) ends.
    assert!(
        warnings.contains("plan.toml:159:9: warning: runbook.steps[1].start: step `deploy` is planned to start before `freeze`, which it depends on, is planned to end"),
        "{warnings}"
    );
    // smoke (verifying, 19:50) starts before the go-live and before deploy ends.
    assert!(
        warnings.contains("plan.toml:169:9: warning: runbook.steps[2].start: step `smoke` belongs to `verifying` but is planned to start before the go-live"),
        "{warnings}"
    );
    assert!(
        warnings.contains("plan.toml:169:9: warning: runbook.steps[2].start: step `smoke` is planned to start before `deploy`"),
        "{warnings}"
    );
}

#[test]
fn the_runbook_is_read_with_offsets_resolved_against_the_go_live() {
    let loaded = plan::parse(BASE, Path::new("plan.toml"))
        .unwrap_or_else(|diagnostics| panic!("{}", render(&diagnostics)));
    let runbook = &loaded.plan.runbook;
    assert_eq!(runbook.grace, Duration::from_secs(300));
    assert_eq!(runbook.escalate_after, Duration::from_secs(600));
    let ids: Vec<&str> = runbook.steps.iter().map(|step| step.id.as_str()).collect();
    assert_eq!(ids, ["freeze", "deploy", "smoke"]);
    let freeze = &runbook.steps[0];
    assert_eq!(freeze.planned_start.to_string(), "2027-03-09T18:30:00Z");
    assert_eq!(freeze.start.to_string(), "-00:30");
    assert_eq!(freeze.phase, Phase::GoNoGo);
    let deploy = &runbook.steps[1];
    assert_eq!(deploy.phase, Phase::Deploying);
    assert_eq!(deploy.owner, golive::domain::Owner::Role(Role::DevLead));
    assert!(deploy.rollback_point);
    assert_eq!(deploy.planned_end().to_string(), "2027-03-09T19:20:00Z");
    let smoke = &runbook.steps[2];
    assert_eq!(smoke.planned_start.to_string(), "2027-03-09T19:20:00Z");
    assert_eq!(smoke.depends_on, ["deploy"]);
    assert_eq!(smoke.verify, ["health"]);
}

/// Every host the example plan names: a reader copies the plan, and `golive probe` or `preflight`
/// on it must not reach machines of their own company network.
#[test]
fn the_example_plan_names_only_loopback_documentation_addresses_and_example_names() {
    let text = std::fs::read_to_string(example_path()).expect("example plan");
    let hosts: Vec<&str> = text
        .split(['"', '\''])
        .filter_map(|value| {
            let rest = value.split_once("://").map_or(value, |(_, rest)| rest);
            let host = rest.split(['/', '?']).next()?;
            let host = host.rsplit_once('@').map_or(host, |(_, host)| host);
            let (name, port) = host.rsplit_once(':')?;
            // A host has a dot or is `localhost` (times such as "23:30" have neither).
            let host_like = name.contains('.') || name == "localhost";
            (host_like && port.parse::<u16>().is_ok()).then_some(name)
        })
        .collect();
    assert!(hosts.len() >= 4, "{hosts:?}");
    let allowed = |host: &str| {
        host == "127.0.0.1"
            || host == "localhost"
            || ["192.0.2.", "198.51.100.", "203.0.113."]
                .iter()
                .any(|range| host.starts_with(range))
            || host.ends_with(".example")
            || host.ends_with("example.com")
    };
    let others: Vec<&&str> = hosts.iter().filter(|host| !allowed(host)).collect();
    assert!(
        others.is_empty(),
        "hosts outside the documentation ranges: {others:?}"
    );
}
