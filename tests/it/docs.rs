//! The docs cannot drift from the code: every plan key the reader knows has a row in
//! docs/plan.md and every row there is a key it knows; every metric family golive registers has
//! a row in docs/metrics.md and every row there is a family it registers; the plan in the
//! README is valid; and every link between the docs leads to a file and heading that exist.

use std::collections::BTreeSet;
use std::fs;
use std::path::{Path, PathBuf};

/// Documents the user reads, each linked from the README.
const DOCS: &[&str] = &[
    "docs/plan.md",
    "docs/lifecycle.md",
    "docs/monitoring.md",
    "docs/alerting.md",
    "docs/reports.md",
    "docs/informing.md",
    "docs/cli.md",
    "docs/api.md",
    "docs/pipelines.md",
    "docs/metrics.md",
    "docs/status-page.md",
    "docs/operations.md",
    "docs/demo.md",
];

#[test]
fn every_plan_key_the_reader_knows_is_in_the_plan_reference() {
    let reference = plan_reference();
    let missing: Vec<String> = known_plan_keys()
        .into_iter()
        .filter(|key| !reference.documents(key))
        .collect();
    assert!(
        missing.is_empty(),
        "docs/plan.md has no row for these keys the plan reader knows:\n{}",
        missing.join("\n")
    );
}

#[test]
fn every_key_the_plan_reference_lists_is_one_the_reader_knows() {
    let known = known_plan_keys();
    let stale: Vec<String> = plan_reference()
        .rows
        .into_iter()
        .map(|(key, _)| key)
        .filter(|key| !known.contains(key))
        .collect();
    assert!(
        stale.is_empty(),
        "docs/plan.md lists keys the plan reader does not know: {stale:?}"
    );
}

#[test]
fn every_metric_golive_registers_is_in_the_metrics_reference() {
    let documented = documented_metrics();
    let missing: Vec<String> = registered_metrics()
        .into_iter()
        .filter(|name| !documented.contains(name))
        .collect();
    assert!(
        missing.is_empty(),
        "docs/metrics.md has no row for these metric families: {missing:?}"
    );
}

#[test]
fn every_metric_the_metrics_reference_lists_is_one_golive_registers() {
    let registered = registered_metrics();
    let stale: Vec<String> = documented_metrics()
        .into_iter()
        .filter(|name| !registered.contains(name))
        .collect();
    assert!(
        stale.is_empty(),
        "docs/metrics.md lists metric families golive does not register: {stale:?}"
    );
}

#[test]
fn the_plan_in_the_readme_is_valid() {
    let readme = read("README.md");
    let plan = readme
        .split("```toml\n")
        .nth(1)
        .and_then(|rest| rest.split("```").next())
        .expect("the README shows a plan in a ```toml block");
    if let Err(diagnostics) = golive::plan::parse(plan, Path::new("launch.toml")) {
        panic!("the README's plan is invalid:\n{diagnostics:#?}");
    }
}

#[test]
fn the_readme_is_a_gateway_to_every_document() {
    let readme = read("README.md");
    assert!(
        readme.len() < 12 * 1024,
        "the README has {} bytes; move detail into docs/ and keep the gateway near 10 KB",
        readme.len()
    );
    let first_commands = readme.split("```").nth(1).unwrap_or_default();
    for command in ["cargo run --release -- demo", "scripts/test"] {
        assert!(
            first_commands.contains(command),
            "the README's first code block runs `{command}`"
        );
    }
    assert!(
        read(".ci/run").contains("exec scripts/test"),
        "CI runs the README's test command"
    );
    let on_disk: BTreeSet<String> = fs::read_dir(root().join("docs"))
        .expect("docs/")
        .map(|entry| {
            format!(
                "docs/{}",
                entry.expect("entry").file_name().to_string_lossy()
            )
        })
        .collect();
    let listed: BTreeSet<String> = DOCS.iter().map(|doc| doc.to_string()).collect();
    assert_eq!(on_disk, listed, "DOCS lists every file in docs/");
    for doc in DOCS {
        assert!(
            readme.contains(&format!("]({doc})")),
            "the README links {doc}"
        );
    }
}

#[test]
fn every_link_between_the_docs_leads_to_a_file_and_heading_that_exist() {
    let mut broken = Vec::new();
    let sources = ["README.md", "ARCHITECTURE.md", "dashboards/README.md"];
    for document in sources.iter().chain(DOCS) {
        let text = read(document);
        let fences = text
            .lines()
            .filter(|line| line.trim_start().starts_with("```"))
            .count();
        if fences % 2 == 1 {
            broken.push(format!("{document}: a ``` code block is left open"));
        }
        let folder = Path::new(document).parent().unwrap_or(Path::new(""));
        for target in links(&text) {
            if target.contains("://") || target.starts_with("mailto:") {
                continue;
            }
            let (file, anchor) = target.split_once('#').unwrap_or((&target, ""));
            let linked = if file.is_empty() {
                PathBuf::from(document)
            } else {
                folder.join(file)
            };
            let path = root().join(&linked);
            if !path.exists() {
                broken.push(format!(
                    "{document}: `{target}`: no file {}",
                    linked.display()
                ));
            } else if !anchor.is_empty()
                && !anchors(&fs::read_to_string(&path).unwrap_or_default()).contains(anchor)
            {
                broken.push(format!(
                    "{document}: `{target}`: no heading `#{anchor}` there"
                ));
            }
        }
    }
    assert!(broken.is_empty(), "broken links:\n{}", broken.join("\n"));
}

// ---------------------------------------------------------------------------------------------

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn read(relative: &str) -> String {
    fs::read_to_string(root().join(relative)).unwrap_or_else(|error| panic!("{relative}: {error}"))
}

/// Every key path the reader asks for in the example plan (and the keys it leaves out), with
/// array positions dropped: `checks[].url`.
fn known_plan_keys() -> BTreeSet<String> {
    let text = crate::plans::example_with_every_key();
    golive::plan::known_keys(&text)
        .into_iter()
        .map(|key| without_positions(&key))
        .collect()
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

/// The rows of docs/plan.md's "Every key" table: the key and the whole row.
struct PlanReference {
    rows: Vec<(String, String)>,
}

fn plan_reference() -> PlanReference {
    let text = read("docs/plan.md");
    let section = text
        .split("\n## ")
        .find(|section| section.starts_with("Every key"))
        .expect("docs/plan.md has a section `## Every key`");
    let rows = section
        .lines()
        .filter_map(|line| {
            let key = line.strip_prefix("| `")?.split_once("` |")?.0;
            Some((key.to_string(), line.to_string()))
        })
        .collect();
    PlanReference { rows }
}

impl PlanReference {
    fn row(&self, key: &str) -> Option<&str> {
        self.rows
            .iter()
            .find(|(row_key, _)| row_key == key)
            .map(|(_, row)| row.as_str())
    }

    /// A key has a row; or it is the `env`/`file` of a secret source (`{ env = "VAR" }`) whose
    /// key's row — or, for a free-form table such as `checks[].headers`, the table's row — says so.
    fn documents(&self, key: &str) -> bool {
        if self.row(key).is_some() {
            return true;
        }
        let Some((owner, leaf)) = key.rsplit_once('.') else {
            return false;
        };
        if leaf != "env" && leaf != "file" {
            return false;
        }
        let says_secret =
            |row: &str| row.contains("{ env = \"VAR\" }") && row.contains("{ file = \"path\" }");
        let table = owner.rsplit_once('.').map(|(table, _)| table);
        [Some(owner), table]
            .into_iter()
            .flatten()
            .filter_map(|candidate| self.row(candidate))
            .any(says_secret)
    }
}

/// The families golive registers: those the registry gathers once started on the example plan
/// with its checks, and — since a labelled family without series is not gathered — every metric
/// name (`"golive_…"`) written in a file that uses the `prometheus` crate.
fn registered_metrics() -> BTreeSet<String> {
    let text = read("config/example.toml");
    let loaded = golive::plan::parse(&text, &root().join("config/example.toml"))
        .expect("the example plan is valid");
    let metrics = golive::metrics::Metrics::new().expect("the registry");
    metrics.start_at_zero(&loaded.plan);
    metrics.set_availability_objectives(&loaded.plan);
    let _handles: Vec<_> = (loaded.plan.checks.iter())
        .map(|check| metrics.checks.for_check(check))
        .collect();
    let exposition = metrics.encode().expect("the exposition");
    let mut names: BTreeSet<String> = exposition
        .lines()
        .filter_map(|line| line.strip_prefix("# TYPE "))
        .filter_map(|rest| rest.split(' ').next())
        .map(str::to_string)
        .collect();
    let mut files = Vec::new();
    super::code_map::collect_rust_files(&root().join("src"), &mut files);
    for file in files {
        let source = fs::read_to_string(&file).expect("a source file");
        if !source.contains("prometheus::") {
            continue;
        }
        for (at, _) in source.match_indices("\"golive_") {
            let name = source[at + 1..].split('"').next().unwrap_or_default();
            if name
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
            {
                names.insert(name.to_string());
            }
        }
    }
    names
}

/// The names in the first column of docs/metrics.md's metric table.
fn documented_metrics() -> BTreeSet<String> {
    let text = read("docs/metrics.md");
    let mut names = BTreeSet::new();
    let mut in_table = false;
    for line in text.lines() {
        if line.starts_with("| metric |") {
            in_table = true;
        } else if !line.starts_with('|') {
            in_table = false;
        } else if in_table {
            let first = line.split(" | ").next().unwrap_or_default();
            names.extend(first.split('`').skip(1).step_by(2).map(str::to_string));
        }
    }
    names
}

/// The targets of Markdown links `[text](target)` outside fenced code blocks.
fn links(markdown: &str) -> Vec<String> {
    prose_lines(markdown)
        .flat_map(|line| {
            line.match_indices("](")
                .filter_map(|(at, _)| {
                    line[at + 2..]
                        .split_once(')')
                        .map(|(target, _)| target.to_string())
                })
                .collect::<Vec<_>>()
        })
        .collect()
}

/// The anchors GitHub gives the headings: lower case, punctuation dropped, spaces as `-`.
fn anchors(markdown: &str) -> BTreeSet<String> {
    prose_lines(markdown)
        .filter(|line| line.starts_with('#'))
        .map(|line| {
            line.trim_start_matches('#')
                .trim()
                .to_lowercase()
                .chars()
                .filter(|c| c.is_alphanumeric() || *c == ' ' || *c == '-' || *c == '_')
                .map(|c| if c == ' ' { '-' } else { c })
                .collect()
        })
        .collect()
}

/// The lines outside ``` fences.
fn prose_lines(markdown: &str) -> impl Iterator<Item = &str> {
    let mut in_code = false;
    markdown.lines().filter(move |line| {
        if line.trim_start().starts_with("```") {
            in_code = !in_code;
            return false;
        }
        !in_code
    })
}
