//! The plan's JSON Schema (`golive schema`) agrees with the reader: every key the reader knows is
//! in the schema and nothing else, and taplo — the TOML language server's own validator, the
//! CLI that `scripts/test` installs into `target/schema-check/` — accepts and refuses the same
//! plans as `golive check`: the example plan, the demo plan, and broken plans of every kind of
//! mistake the schema can see (unknown keys, wrong types, bad fixed words, missing required
//! keys, keys of another kind, numbers out of range).

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

/// Where `scripts/test` installs taplo's CLI (`@taplo/cli`).
const TAPLO: &str = "target/schema-check/node_modules/.bin/taplo";

#[test]
fn the_example_and_the_demo_plan_are_valid_for_the_schema_and_for_golive_check() {
    let folder = tempfile::tempdir().expect("temp dir");
    let schema = write_schema(folder.path());
    let demo = golive::demo::setup::fill_plan(&golive::demo::setup::PlanValues {
        service: "127.0.0.1:40123".into(),
        go_live: jiff::Timestamp::now(),
        escalate_after: std::time::Duration::from_secs(20),
    });
    let plans = [
        ("example.toml", read("config/example.toml")),
        ("demo.toml", demo),
        // The demo plan as shipped, placeholders and all, as someone would open it in an editor.
        ("demo-unfilled.toml", read("config/demo.toml")),
    ];
    for (name, text) in plans {
        let plan = folder.path().join(name);
        std::fs::write(&plan, text).expect("write plan");
        let taplo = taplo_check(&schema, &plan);
        assert!(taplo.valid, "taplo refuses {name}:\n{}", taplo.output);
        if name != "demo-unfilled.toml" {
            let check = golive_check(&plan);
            assert!(
                check.valid,
                "golive check refuses {name}:\n{}",
                check.output
            );
        }
    }
}

#[test]
fn the_schema_and_golive_check_accept_and_refuse_the_same_plans() {
    let folder = tempfile::tempdir().expect("temp dir");
    let schema = write_schema(folder.path());
    let plans: Vec<PathBuf> = CASES
        .iter()
        .enumerate()
        .map(|(index, case)| {
            let plan = folder.path().join(format!("case-{index}.toml"));
            std::fs::write(&plan, case.apply(&read("config/example.toml"))).expect("write plan");
            plan
        })
        .collect();
    let verdicts = taplo_check_all(&schema, &plans);
    let mut disagreements = Vec::new();
    for ((case, plan), taplo) in CASES.iter().zip(&plans).zip(verdicts) {
        let check = golive_check(plan);
        if taplo.valid != case.valid || check.valid != case.valid {
            disagreements.push(format!(
                "{} (should be {}): taplo says {}, golive check says {}\n--- taplo:\n{}\n--- golive check:\n{}",
                case.what,
                verdict(case.valid),
                verdict(taplo.valid),
                verdict(check.valid),
                taplo.output,
                check.output,
            ));
        }
    }
    assert!(
        disagreements.is_empty(),
        "the schema and golive check disagree:\n\n{}",
        disagreements.join("\n\n")
    );
}

#[test]
fn a_schema_directive_or_a_taplo_rule_points_taplo_at_the_schema_as_the_docs_say() {
    let folder = tempfile::tempdir().expect("temp dir");
    write_schema(folder.path());
    let broken =
        read("config/example.toml").replacen("hypercare_days = 14", "hypercare_days = \"14\"", 1);
    std::fs::create_dir(folder.path().join("plans")).expect("plans folder");
    let with_directive = folder.path().join("launch.toml");
    std::fs::write(
        &with_directive,
        format!("#:schema ./golive.schema.json\n{broken}"),
    )
    .expect("write plan");
    let by_rule = folder.path().join("plans/launch.toml");
    std::fs::write(&by_rule, &broken).expect("write plan");
    std::fs::write(
        folder.path().join(".taplo.toml"),
        "[[rule]]\ninclude = [\"plans/*.toml\"]\n\n[rule.schema]\npath = \"./golive.schema.json\"\n",
    )
    .expect("write .taplo.toml");
    for plan in ["launch.toml", "plans/launch.toml"] {
        let output = Command::new(root().join(TAPLO))
            .args(["check", plan])
            .current_dir(folder.path())
            .env("RUST_LOG", "error")
            .output()
            .expect("run taplo");
        let text = String::from_utf8_lossy(&output.stderr);
        assert!(
            !output.status.success() && text.contains("is not of type \"number\""),
            "taplo did not find the schema for {plan}:\n{text}"
        );
    }
}

#[test]
fn every_key_the_reader_knows_is_in_the_schema_and_nothing_else() {
    let output = Command::new(env!("CARGO_BIN_EXE_golive"))
        .arg("schema")
        .output()
        .expect("run golive schema");
    assert!(output.status.success(), "golive schema fails");
    let schema: Value = serde_json::from_slice(&output.stdout).expect("golive schema prints JSON");
    let text = crate::plans::example_with_every_key();
    let known: BTreeSet<String> = golive::plan::known_keys(&text)
        .iter()
        .map(|key| without_positions(key))
        .collect();
    let missing: Vec<&String> = known
        .iter()
        .filter(|key| !accepts_key(&schema, key))
        .collect();
    assert!(
        missing.is_empty(),
        "keys the reader knows that the schema refuses: {missing:?}"
    );
    let mut listed = BTreeSet::new();
    schema_keys(&schema, "", &mut listed);
    let unknown: Vec<&String> = listed.difference(&known).collect();
    assert!(
        unknown.is_empty(),
        "keys the schema lists that the reader does not know: {unknown:?}"
    );
}

// ---------------------------------------------------------------------------------------------

/// A change to the example plan and whether the result is valid.
struct Case {
    what: &'static str,
    /// The text replaced (its first occurrence; it must be there) and its replacement; an empty
    /// `from` appends `to`.
    from: &'static str,
    to: &'static str,
    valid: bool,
}

impl Case {
    fn apply(&self, example: &str) -> String {
        if self.from.is_empty() {
            return format!("{example}\n{}\n", self.to);
        }
        assert!(
            example.contains(self.from),
            "{}: config/example.toml has no `{}`",
            self.what,
            self.from
        );
        example.replacen(self.from, self.to, 1)
    }
}

const CASES: &[Case] = &[
    Case {
        what: "an http method in lower case",
        from: "method = \"GET\"",
        to: "method = \"get\"",
        valid: true,
    },
    Case {
        what: "an http check without the optional keys",
        from: "name = \"Shop health endpoint\"\n",
        to: "",
        valid: true,
    },
    Case {
        what: "an unknown section",
        from: "",
        to: "[monitorin]\nmax_concurrent_probes = 5",
        valid: false,
    },
    Case {
        what: "an unknown key in a check",
        from: "gate = true\n",
        to: "gate = true\ngates = true\n",
        valid: false,
    },
    Case {
        what: "a quoted number",
        from: "hypercare_days = 14",
        to: "hypercare_days = \"14\"",
        valid: false,
    },
    Case {
        what: "a role that does not exist",
        from: "role = \"qa_lead\"",
        to: "role = \"tester\"",
        valid: false,
    },
    Case {
        what: "a severity that does not exist",
        from: "severity = \"critical\"",
        to: "severity = \"fatal\"",
        valid: false,
    },
    Case {
        what: "a terminal phase in a check's phases",
        from: "phases = [\"go_no_go\", \"deploying\", \"verifying\", \"hypercare\"]",
        to: "phases = [\"go_no_go\", \"closed\"]",
        valid: false,
    },
    Case {
        what: "the launch without its name",
        from: "name = \"Web shop 2.0\"\n",
        to: "",
        valid: false,
    },
    Case {
        what: "an http check without its url",
        from: "url = \"https://shop.example/healthz\"\n",
        to: "",
        valid: false,
    },
    Case {
        what: "a prometheus key on an http check",
        from: "gate = true\n",
        to: "gate = true\nquery = \"up\"\n",
        valid: false,
    },
    Case {
        what: "a number of probes out of range",
        from: "max_concurrent_probes = 256",
        to: "max_concurrent_probes = 0",
        valid: false,
    },
    Case {
        what: "a password written in the plan",
        from: "password = { env = \"GOLIVE_SMTP_PASSWORD\" }",
        to: "password = \"hunter2\"",
        valid: false,
    },
    Case {
        what: "a secret's source with a stray key",
        from: "password = { env = \"GOLIVE_SMTP_PASSWORD\" }",
        to: "password = { env = \"GOLIVE_SMTP_PASSWORD\", value = \"hunter2\" }",
        valid: false,
    },
    Case {
        what: "an id in capitals",
        from: "id = \"shop-health\"",
        to: "id = \"Shop-Health\"",
        valid: false,
    },
    Case {
        what: "an SMTP TLS mode that does not exist",
        from: "tls = \"starttls\"",
        to: "tls = \"ssl\"",
        valid: false,
    },
    Case {
        what: "a day name written out",
        from: "days = [\"mon\", \"tue\", \"wed\", \"thu\", \"fri\"]",
        to: "days = [\"monday\"]",
        valid: false,
    },
    Case {
        what: "a boolean written as a word",
        from: "gate = true",
        to: "gate = \"yes\"",
        valid: false,
    },
];

fn verdict(valid: bool) -> &'static str {
    if valid { "valid" } else { "invalid" }
}

/// What a validator said about a plan.
struct Verdict {
    valid: bool,
    output: String,
}

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn read(relative: &str) -> String {
    std::fs::read_to_string(root().join(relative))
        .unwrap_or_else(|error| panic!("{relative}: {error}"))
}

/// `golive schema > folder/golive.schema.json`.
fn write_schema(folder: &Path) -> PathBuf {
    let output = Command::new(env!("CARGO_BIN_EXE_golive"))
        .arg("schema")
        .output()
        .expect("run golive schema");
    assert!(output.status.success(), "golive schema fails");
    let path = folder.join("golive.schema.json");
    std::fs::write(&path, output.stdout).expect("write schema");
    path
}

/// `taplo check --schema file://SCHEMA PLAN`, as the editor's language server validates.
fn taplo_check(schema: &Path, plan: &Path) -> Verdict {
    taplo_check_all(schema, &[plan.to_path_buf()])
        .pop()
        .expect("one verdict")
}

/// `taplo check --schema file://SCHEMA PLAN...` in one run (each run starts Node.js and taplo's
/// WebAssembly, seconds each): a plan is invalid when taplo names it in an "invalid file" line.
fn taplo_check_all(schema: &Path, plans: &[PathBuf]) -> Vec<Verdict> {
    let taplo = root().join(TAPLO);
    assert!(
        taplo.exists(),
        "{} is missing: run scripts/test, which installs @taplo/cli there",
        taplo.display()
    );
    let output = Command::new(&taplo)
        .arg("check")
        .arg("--no-auto-config")
        .arg("--schema")
        .arg(format!("file://{}", schema.display()))
        .args(plans)
        .env("RUST_LOG", "error")
        .output()
        .expect("run taplo");
    let text = String::from_utf8_lossy(&output.stderr).into_owned()
        + &String::from_utf8_lossy(&output.stdout);
    let verdicts: Vec<Verdict> = plans
        .iter()
        .map(|plan| {
            let named = format!(
                "invalid file error=schema validation failed path=\"{}\"",
                plan.display()
            );
            let about_it: Vec<&str> = text
                .split("\n\n")
                .filter(|block| block.contains(&plan.display().to_string()))
                .collect();
            Verdict {
                valid: !text.contains(&named),
                output: about_it.join("\n\n"),
            }
        })
        .collect();
    let refused = verdicts.iter().filter(|verdict| !verdict.valid).count();
    assert_eq!(
        output.status.success(),
        refused == 0,
        "taplo's exit status does not match the files it names as invalid:\n{text}"
    );
    verdicts
}

/// `golive check PLAN`: 0 is valid, 64 invalid; anything else is a failure of the test.
fn golive_check(plan: &Path) -> Verdict {
    let output = Command::new(env!("CARGO_BIN_EXE_golive"))
        .arg("check")
        .arg(plan)
        .output()
        .expect("run golive check");
    let valid = match output.status.code() {
        Some(0) => true,
        Some(64) => false,
        other => panic!("golive check exits {other:?}"),
    };
    Verdict {
        valid,
        output: String::from_utf8_lossy(&output.stdout).into_owned()
            + &String::from_utf8_lossy(&output.stderr),
    }
}

/// `escalation[0].levels[1].after` → `escalation[].levels[].after`.
fn without_positions(key: &str) -> String {
    let mut out = String::with_capacity(key.len());
    let mut in_brackets = false;
    for c in key.chars() {
        match c {
            '[' => in_brackets = true,
            ']' => {
                in_brackets = false;
                out.push_str("[]");
            }
            _ if in_brackets => {}
            _ => out.push(c),
        }
    }
    out
}

/// Whether the schema has a place for `key` (`checks[].headers.Authorization.env`): through a
/// table's named keys, its free keys, an array's items, or any alternative of `anyOf`/`oneOf`.
fn accepts_key(schema: &Value, key: &str) -> bool {
    let segments: Vec<&str> = key.split('.').collect();
    accepts_path(schema, &segments)
}

fn accepts_path(schema: &Value, segments: &[&str]) -> bool {
    let Some((first, rest)) = segments.split_first() else {
        return true;
    };
    let alternatives = ["anyOf", "oneOf"]
        .iter()
        .filter_map(|word| schema.get(word).and_then(Value::as_array))
        .flatten();
    for alternative in alternatives {
        if accepts_path(alternative, segments) {
            return true;
        }
    }
    let (name, is_array) = match first.strip_suffix("[]") {
        Some(name) => (name, true),
        None => (*first, false),
    };
    let value = schema
        .get("properties")
        .and_then(|properties| properties.get(name))
        .or_else(|| {
            schema
                .get("additionalProperties")
                .filter(|free| free.is_object())
        });
    let Some(value) = value else {
        return false;
    };
    if is_array {
        let Some(items) = value.get("items") else {
            return false;
        };
        accepts_path(items, rest)
    } else {
        accepts_path(value, rest)
    }
}

/// Every key the schema names (through named keys and array items, not free keys), with `[]`
/// after arrays of tables; the `env`/`file` of a secret's source are left out as the reader
/// asks for them only when they are written.
fn schema_keys(schema: &Value, prefix: &str, found: &mut BTreeSet<String>) {
    let Some(properties) = schema.get("properties").and_then(Value::as_object) else {
        return;
    };
    let secret_source = properties.len() == 2
        && properties.contains_key("env")
        && properties.contains_key("file")
        && schema.get("oneOf").is_some();
    if secret_source {
        return;
    }
    for (name, value) in properties {
        let key = if prefix.is_empty() {
            name.clone()
        } else {
            format!("{prefix}.{name}")
        };
        found.insert(key.clone());
        match value.get("items") {
            Some(items) if items.get("properties").is_some() => {
                schema_keys(items, &format!("{key}[]"), found);
            }
            _ => schema_keys(value, &key, found),
        }
    }
}
