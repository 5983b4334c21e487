//! Checks that the files of `src/plan` form the layers written in `mod.rs`: every path a file
//! names (`use super::…`, `crate::plan::…`, outside its tests) leads to a file of its own layer or
//! below, and no two files name each other, directly or around a longer cycle.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// The layer of a file, by its path under `src/plan` (see the list in `mod.rs`).
fn layer(file: &str) -> usize {
    match file {
        "mod.rs" => 7,
        "load.rs" => 6,
        "lint.rs" | "recipients.rs" | "schema.rs" => 5,
        "model.rs" => 4,
        _ if file.starts_with("sections/") => 3,
        _ if file.starts_with("reader/") => 2,
        _ => 1,
    }
}

/// Every `.rs` file under `dir`, as paths relative to `root`.
fn files(root: &Path, dir: &Path, found: &mut Vec<String>) {
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .expect("src/plan is readable")
        .flatten()
        .map(|entry| entry.path())
        .collect();
    entries.sort();
    for path in entries {
        if path.is_dir() {
            files(root, &path, found);
        } else if path.extension().is_some_and(|ext| ext == "rs") {
            let relative = path.strip_prefix(root).expect("under root");
            found.push(relative.to_string_lossy().replace('\\', "/"));
        }
    }
}

/// The file a module path inside `src/plan` leads to: `["sections", "alerting"]` →
/// `sections/alerting.rs`; a folder's own items are in its `mod.rs`.
fn file_of(known: &BTreeSet<String>, segments: &[&str]) -> Option<String> {
    let mut best = None;
    for length in 1..=segments.len() {
        let base = segments[..length].join("/");
        if known.contains(&format!("{base}.rs")) {
            best = Some(format!("{base}.rs"));
        } else if known.contains(&format!("{base}/mod.rs")) {
            best = Some(format!("{base}/mod.rs"));
        } else {
            break;
        }
    }
    best
}

/// The identifiers right after `prefix` in `text`: `super::{a, b::c}` → `[a], [b, c]`.
fn paths_after<'t>(text: &'t str, prefix: &str) -> Vec<Vec<&'t str>> {
    let mut found = Vec::new();
    let mut rest = text;
    while let Some(at) = rest.find(prefix) {
        rest = &rest[at + prefix.len()..];
        let end = rest
            .find(|c: char| {
                !(c.is_alphanumeric()
                    || c == '_'
                    || c == ':'
                    || c == '{'
                    || c == '}'
                    || c == ','
                    || c == ' '
                    || c == '\n')
            })
            .unwrap_or(rest.len());
        let group = &rest[..end];
        let group = group
            .strip_prefix('{')
            .map_or(group, |inner| inner.split('}').next().unwrap_or(""));
        for path in group.split(',') {
            let segments: Vec<&str> = path
                .trim()
                .split("::")
                .map(str::trim)
                .filter(|segment| !segment.is_empty() && *segment != "self" && *segment != "{")
                .collect();
            if !segments.is_empty() {
                found.push(segments);
            }
        }
    }
    found
}

#[test]
fn layers_only_point_down_and_no_files_import_each_other() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("src/plan");
    let mut all = Vec::new();
    files(&root, &root, &mut all);
    let known: BTreeSet<String> = all.iter().cloned().collect();
    let mut edges: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let mut problems = Vec::new();
    for file in &all {
        let text = std::fs::read_to_string(root.join(file)).expect("readable");
        let code = text.split("#[cfg(test)]").next().unwrap_or_default();
        let folder: Vec<&str> = match file.rsplit_once('/') {
            Some((folder, _)) => vec![folder],
            None => Vec::new(),
        };
        let mut targets = Vec::new();
        for segments in paths_after(code, "crate::plan::") {
            targets.extend(file_of(&known, &segments));
        }
        for segments in paths_after(code, "super::") {
            let mut full = if file.ends_with("mod.rs") {
                Vec::new()
            } else {
                folder.clone()
            };
            if file.ends_with("mod.rs") && file.contains('/') {
                // `super` of a folder's mod.rs is the folder's parent: src/plan itself.
                full.clear();
            }
            full.extend(segments);
            targets.extend(file_of(&known, &full));
        }
        for target in targets {
            if &target == file {
                continue;
            }
            if layer(&target) > layer(file) {
                problems.push(format!(
                    "{file} (layer {}) imports {target} (layer {})",
                    layer(file),
                    layer(&target)
                ));
            }
            edges.entry(file.clone()).or_default().insert(target);
        }
    }
    // A folder's mod.rs declares and re-exports its children: that is the folder, not a use.
    for (file, targets) in &edges {
        for target in targets {
            let parent_declares = target.ends_with("mod.rs") || file.ends_with("mod.rs");
            if !parent_declares && edges.get(target).is_some_and(|back| back.contains(file)) {
                problems.push(format!("{file} and {target} import each other"));
            }
        }
    }
    if let Some(cycle) = find_cycle(&edges) {
        problems.push(format!("import cycle: {}", cycle.join(" → ")));
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

/// A cycle among files that are not a folder's `mod.rs` (which only declares and re-exports).
fn find_cycle(edges: &BTreeMap<String, BTreeSet<String>>) -> Option<Vec<String>> {
    fn visit(
        file: &str,
        edges: &BTreeMap<String, BTreeSet<String>>,
        stack: &mut Vec<String>,
        done: &mut BTreeSet<String>,
    ) -> Option<Vec<String>> {
        if let Some(at) = stack.iter().position(|seen| seen == file) {
            let mut cycle = stack[at..].to_vec();
            cycle.push(file.to_string());
            return Some(cycle);
        }
        if !done.insert(file.to_string()) {
            return None;
        }
        stack.push(file.to_string());
        for next in edges.get(file).into_iter().flatten() {
            if next.ends_with("mod.rs") {
                continue;
            }
            if let Some(cycle) = visit(next, edges, stack, done) {
                return Some(cycle);
            }
        }
        stack.pop();
        None
    }
    let mut done = BTreeSet::new();
    edges
        .keys()
        .filter(|file| !file.ends_with("mod.rs"))
        .find_map(|file| visit(file, edges, &mut Vec::new(), &mut done))
}
