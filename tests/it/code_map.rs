//! The code map holds: imports follow the layer order ARCHITECTURE.md writes down (its
//! "## Layers" list), no files of one module import each other in a circle, no function in `src/`
//! is over 120 lines, and the code map names every file of `src/`. Pure file reading: the sources
//! are read as text, comments and literals blanked, and split into identifiers and punctuation,
//! which is all these checks need.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};

/// The longest a function in `src/` may be, from its `fn` line to its closing brace.
const LONGEST_FUNCTION: usize = 120;

#[test]
fn every_module_imports_only_its_own_layer_and_the_layers_below() {
    let layers = layers_from_architecture();
    let sources = sources();
    let mut violations = Vec::new();
    for module in top_level_modules(&sources) {
        if !layers.contains_key(&module) {
            violations.push(format!(
                "src/{module}: not in ARCHITECTURE.md's Layers list; add it to the layer it belongs to"
            ));
        }
    }
    for source in &sources {
        let Some(own) = source.module.first() else {
            continue;
        };
        for reference in &source.references {
            let Some(target) = reference.path.first() else {
                continue;
            };
            if target == own || target == "*" {
                continue;
            }
            match (layers.get(own), layers.get(target)) {
                (Some(own_layer), Some(target_layer)) if target_layer > own_layer => {
                    violations.push(format!(
                        "src/{}:{}: `{own}` (layer {own_layer}) uses `{}` of `{target}` (layer {target_layer}), a higher layer",
                        source.relative,
                        reference.line,
                        reference.path.join("::"),
                    ));
                }
                (_, None) => violations.push(format!(
                    "src/{}:{}: `{}` names `{target}`, which is not in ARCHITECTURE.md's Layers list",
                    source.relative,
                    reference.line,
                    reference.path.join("::"),
                )),
                _ => {}
            }
        }
    }
    assert!(
        violations.is_empty(),
        "{} import(s) point up the layers:\n{}",
        violations.len(),
        violations.join("\n")
    );
}

#[test]
fn no_files_of_one_module_import_each_other_in_a_circle() {
    let sources = sources();
    let graphs = module_graphs(&sources);
    let mut cycles = Vec::new();
    for (module, edges) in &graphs {
        for component in circular_components(edges) {
            let name = if module.is_empty() {
                "the crate".to_string()
            } else {
                format!("`{}`", module.join("::"))
            };
            let mut lines = vec![format!(
                "in {name}: {} import each other in a circle:",
                component.iter().cloned().collect::<Vec<_>>().join(", ")
            )];
            for ((from, to), places) in edges {
                if component.contains(from) && component.contains(to) {
                    lines.push(format!("  {from} → {to}: {}", places.join(", ")));
                }
            }
            cycles.push(lines.join("\n"));
        }
    }
    assert!(
        cycles.is_empty(),
        "{} circle(s) between files:\n{}",
        cycles.len(),
        cycles.join("\n")
    );
}

#[test]
fn no_function_in_src_is_over_120_lines() {
    let mut long = Vec::new();
    for source in sources() {
        for function in functions(&source.tokens) {
            if function.lines > LONGEST_FUNCTION {
                long.push(format!(
                    "src/{}:{}: `{}` has {} lines",
                    source.relative, function.line, function.name, function.lines
                ));
            }
        }
    }
    assert!(
        long.is_empty(),
        "{} function(s) over {LONGEST_FUNCTION} lines:\n{}",
        long.len(),
        long.join("\n")
    );
}

#[test]
fn the_code_map_names_every_file_of_src() {
    let architecture = fs::read_to_string(root().join("ARCHITECTURE.md")).expect("ARCHITECTURE.md");
    let map = code_map_section(&architecture);
    let rows: BTreeMap<&str, &str> = map
        .lines()
        .filter_map(|line| {
            let path = line.strip_prefix("| `")?.split('`').next()?;
            Some((path, line))
        })
        .collect();
    let mut unnamed = Vec::new();
    for source in sources() {
        let relative = source.relative.as_str();
        let Some((folder, _)) = relative.split_once('/') else {
            if relative != "lib.rs" && !rows.contains_key(format!("src/{relative}").as_str()) {
                unnamed.push(format!("src/{relative}: no row of its own in the code map"));
            }
            continue;
        };
        let stem = relative
            .rsplit('/')
            .next()
            .and_then(|file| file.strip_suffix(".rs"))
            .unwrap_or_default();
        let is_test = stem == "tests"
            || stem.ends_with("_tests")
            || stem.ends_with("_test")
            || relative.contains("/tests/");
        if stem == "mod" || is_test {
            continue;
        }
        let row = rows.get(format!("src/{folder}/").as_str()).copied();
        let named_in_row = row.is_some_and(|row| {
            names_in_backticks(row).any(|name| {
                name.split(|c: char| !is_identifier(c))
                    .any(|word| word == stem)
            })
        });
        if !named_in_row && !map.contains(relative) {
            unnamed.push(format!(
                "src/{relative}: the code map does not name `{stem}`; say what it owns in the `src/{folder}/` row"
            ));
        }
    }
    assert!(
        unnamed.is_empty(),
        "{} file(s) missing from ARCHITECTURE.md's code map:\n{}",
        unnamed.len(),
        unnamed.join("\n")
    );
}

/// The "## Code map" section of ARCHITECTURE.md, up to the next section.
fn code_map_section(architecture: &str) -> &str {
    let start = architecture
        .find("## Code map")
        .expect("ARCHITECTURE.md has a \"## Code map\" section");
    let rest = &architecture[start..];
    let end = rest[3..].find("\n## ").map_or(rest.len(), |end| end + 3);
    &rest[..end]
}

/// The texts between backticks in a line of the code map.
fn names_in_backticks(row: &str) -> impl Iterator<Item = &str> {
    row.split('`').skip(1).step_by(2)
}

#[test]
fn the_checks_read_the_code_as_rust_reads_it() {
    // The reading behind the three checks, on a file made for it: comments and strings that
    // look like paths are not paths, `super` inside an inline module is that module's parent,
    // groups expand, test modules are left out, a re-export counts as the module it comes
    // from, and a function's length runs from `fn` to its closing brace.
    let text = r#"//! `crate::api` in a comment is not an import.
use crate::{core::alert::{self, Alert}, plan::Plan};
pub use sibling::{Shown as Renamed, Other};
const TEXT: &str = "crate::engine::Engine";
struct Holder {
    field: crate::metrics::Metrics,
}
fn short(x: u8) -> u8 {
    let c = '{';
    x
}
mod inner {
    use super::super::neighbour::Thing;
}
#[cfg(test)]
mod tests {
    use crate::cli::Cli;
}
"#;
    let tokens = tokens(&blank_comments_and_literals(text));
    let module = vec!["report".to_string(), "here".to_string()];
    let scanned = scan(&tokens, &module, false);
    let paths: Vec<String> = scanned
        .references
        .iter()
        .map(|reference| format!("{}@{}", reference.path.join("::"), reference.line))
        .collect();
    assert_eq!(
        paths,
        [
            "core::alert@2",
            "core::alert::Alert@2",
            "plan::Plan@2",
            "metrics::Metrics@6",
            "report::neighbour::Thing@13"
        ]
    );
    assert_eq!(
        scanned.reexports,
        [
            ("Renamed".to_string(), "sibling".to_string()),
            ("Other".to_string(), "sibling".to_string())
        ]
    );
    let found = functions(&tokens);
    assert_eq!(found.len(), 1);
    assert_eq!(
        (found[0].name.as_str(), found[0].line, found[0].lines),
        ("short", 8, 4)
    );
}

// ---------------------------------------------------------------------------------------------
// The layer order, as ARCHITECTURE.md writes it.

/// Each top-level module and its layer (1 is the lowest), from the numbered list under
/// "## Layers" in ARCHITECTURE.md: `1. \`domain\`, \`human\` — why`. Names after " — " are prose.
fn layers_from_architecture() -> BTreeMap<String, usize> {
    let text = fs::read_to_string(root().join("ARCHITECTURE.md")).expect("ARCHITECTURE.md");
    let section = text
        .split("\n## ")
        .find(|section| section.starts_with("Layers"))
        .expect("ARCHITECTURE.md has a `## Layers` section");
    let mut layers = BTreeMap::new();
    for line in section.lines() {
        let Some((number, rest)) = line.trim().split_once(". ") else {
            continue;
        };
        let Ok(layer) = number.parse::<usize>() else {
            continue;
        };
        let names = rest.split(" — ").next().unwrap_or_default();
        for name in names.split('`').skip(1).step_by(2) {
            layers.insert(name.to_string(), layer);
        }
    }
    assert!(!layers.is_empty(), "the Layers section lists no modules");
    layers
}

/// The top-level modules of `src/`, `main` (the binary) included.
fn top_level_modules(sources: &[Source]) -> BTreeSet<String> {
    sources
        .iter()
        .filter_map(|source| source.module.first().cloned())
        .collect()
}

// ---------------------------------------------------------------------------------------------
// Circles between the files of a module.

/// Per module with files of its own (the crate itself included): which of its children (files
/// and sub-folders, the module's own `mod.rs` left out as its front door) use which, and where.
type Graph = BTreeMap<(String, String), Vec<String>>;

fn module_graphs(sources: &[Source]) -> BTreeMap<Vec<String>, Graph> {
    let library: Vec<&Source> = sources
        .iter()
        .filter(|source| source.module.first().is_none_or(|top| top != "main"))
        .collect();
    let mut children: BTreeMap<Vec<String>, BTreeSet<String>> = BTreeMap::new();
    let mut reexports: BTreeMap<Vec<String>, BTreeMap<String, String>> = BTreeMap::new();
    for source in &library {
        for depth in 0..source.module.len() {
            children
                .entry(source.module[..depth].to_vec())
                .or_default()
                .insert(source.module[depth].clone());
        }
        reexports
            .entry(source.module.clone())
            .or_default()
            .extend(source.reexports.iter().cloned());
    }
    let mut graphs: BTreeMap<Vec<String>, Graph> = BTreeMap::new();
    for source in &library {
        for reference in &source.references {
            for depth in 0..source.module.len() {
                let module = &source.module[..depth];
                let from = &source.module[depth];
                if reference.path.len() <= depth || reference.path[..depth] != *module {
                    continue;
                }
                let named = &reference.path[depth];
                let to = if children[module].contains(named) {
                    named.clone()
                } else if let Some(child) = reexports
                    .get(module)
                    .and_then(|map| map.get(named))
                    .filter(|child| children[module].contains(*child))
                {
                    child.clone()
                } else {
                    continue;
                };
                let place = format!("src/{}:{}", source.relative, reference.line);
                if &to != from {
                    let places = graphs
                        .entry(module.to_vec())
                        .or_default()
                        .entry((from.clone(), to))
                        .or_default();
                    if !places.contains(&place) {
                        places.push(place);
                    }
                }
            }
        }
    }
    graphs
}

/// The groups of two or more children that reach each other (strongly connected components).
fn circular_components(edges: &Graph) -> Vec<BTreeSet<String>> {
    let nodes: BTreeSet<&String> = edges.keys().flat_map(|(from, to)| [from, to]).collect();
    let reaches = |start: &String| -> BTreeSet<String> {
        let mut seen = BTreeSet::new();
        let mut stack = vec![start.clone()];
        while let Some(node) = stack.pop() {
            for (from, to) in edges.keys() {
                if *from == node && seen.insert(to.clone()) {
                    stack.push(to.clone());
                }
            }
        }
        seen
    };
    let reach: BTreeMap<&String, BTreeSet<String>> =
        nodes.iter().map(|node| (*node, reaches(node))).collect();
    let mut components: Vec<BTreeSet<String>> = Vec::new();
    for node in &nodes {
        let component: BTreeSet<String> = nodes
            .iter()
            .filter(|other| reach[node].contains(**other) && reach[*other].contains(*node))
            .map(|other| (*other).clone())
            .collect();
        if component.len() > 1 && !components.contains(&component) {
            components.push(component);
        }
    }
    components
}

// ---------------------------------------------------------------------------------------------
// Reading the sources.

/// One file of `src/`, read.
struct Source {
    /// The path below `src/`, e.g. `plan/read.rs`.
    relative: String,
    /// The module the file is, e.g. `["plan", "read"]`; `[]` for lib.rs, `["main"]` for main.rs.
    module: Vec<String>,
    tokens: Vec<Token>,
    /// Every path into the crate (`crate::`, `super::`, `self::`), resolved to where it leads;
    /// none from test code (modules named `tests`), which may reach wider to set a scene.
    references: Vec<Reference>,
    /// Names the file re-exports from one of its child modules (`pub use child::Name`).
    reexports: Vec<(String, String)>,
}

/// A path into the crate, from the crate root: `["engine", "Snapshot"]`.
#[derive(Debug)]
struct Reference {
    line: usize,
    path: Vec<String>,
}

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Every `.rs` file below `src/`, read, in path order.
fn sources() -> Vec<Source> {
    let src = root().join("src");
    let mut files = Vec::new();
    collect_rust_files(&src, &mut files);
    files.sort();
    let texts: Vec<(String, String)> = files
        .iter()
        .map(|file| {
            let relative = file.strip_prefix(&src).expect("below src");
            let text = fs::read_to_string(file).expect("a readable source file");
            (relative.to_string_lossy().replace('\\', "/"), text)
        })
        .collect();
    let moved = path_attributes(&texts);
    texts
        .into_iter()
        .map(|(relative, text)| {
            let module = moved
                .get(&relative)
                .cloned()
                .unwrap_or_else(|| module_of(&relative));
            let tokens = tokens(&blank_comments_and_literals(&text));
            let scanned = scan(&tokens, &module, relative == "main.rs");
            Source {
                relative,
                module,
                tokens,
                references: scanned.references,
                reexports: scanned.reexports,
            }
        })
        .collect()
}

pub(crate) fn collect_rust_files(folder: &Path, files: &mut Vec<PathBuf>) {
    for entry in fs::read_dir(folder).expect("a readable folder") {
        let path = entry.expect("a folder entry").path();
        if path.is_dir() {
            collect_rust_files(&path, files);
        } else if path.extension().is_some_and(|extension| extension == "rs") {
            files.push(path);
        }
    }
}

/// The module a file is by its place: `plan/read.rs` and `plan/read/mod.rs` are `plan::read`.
fn module_of(relative: &str) -> Vec<String> {
    let without = relative.trim_end_matches(".rs");
    let mut parts: Vec<String> = without.split('/').map(str::to_string).collect();
    if matches!(parts.last().map(String::as_str), Some("mod" | "lib")) {
        parts.pop();
    }
    parts
}

/// Files placed by `#[path = "file.rs"] mod name;`: the module they really are.
fn path_attributes(texts: &[(String, String)]) -> BTreeMap<String, Vec<String>> {
    let mut moved = BTreeMap::new();
    for (relative, text) in texts {
        for (_, after) in text
            .match_indices("#[path = \"")
            .map(|(at, _)| text.split_at(at))
        {
            let after = &after["#[path = \"".len()..];
            let Some((file, rest)) = after.split_once('"') else {
                continue;
            };
            let Some(name) = rest
                .split_once("mod ")
                .and_then(|(_, rest)| rest.split(|c: char| !is_identifier(c)).next())
            else {
                continue;
            };
            let folder = relative.rsplit_once('/').map_or("", |(folder, _)| folder);
            let placed = if folder.is_empty() {
                file.to_string()
            } else {
                format!("{folder}/{file}")
            };
            let mut module = module_of(relative);
            module.push(name.to_string());
            moved.insert(placed, module);
        }
    }
    moved
}

/// The source with comments, string, byte-string and character literals replaced by spaces
/// (line breaks kept, so line numbers stay right).
fn blank_comments_and_literals(text: &str) -> String {
    let chars: Vec<char> = text.chars().collect();
    let mut out = String::with_capacity(text.len());
    let mut at = 0;
    while at < chars.len() {
        let end = literal_or_comment_end(&chars, at);
        if end == at {
            out.push(chars[at]);
            at += 1;
        } else {
            for &c in &chars[at..end] {
                out.push(if c == '\n' { '\n' } else { ' ' });
            }
            at = end;
        }
    }
    out
}

/// Where the comment or literal starting at `at` ends; `at` itself when none starts there.
fn literal_or_comment_end(chars: &[char], at: usize) -> usize {
    let next = |offset: usize| chars.get(at + offset).copied();
    let starts_word = at == 0 || !is_identifier(chars[at - 1]);
    match chars[at] {
        '/' if next(1) == Some('/') => (at..chars.len())
            .find(|&i| chars[i] == '\n')
            .unwrap_or(chars.len()),
        '/' if next(1) == Some('*') => {
            let mut depth = 0;
            let mut i = at;
            while i + 1 < chars.len() {
                if chars[i] == '/' && chars[i + 1] == '*' {
                    depth += 1;
                    i += 2;
                } else if chars[i] == '*' && chars[i + 1] == '/' {
                    depth -= 1;
                    i += 2;
                    if depth == 0 {
                        return i;
                    }
                } else {
                    i += 1;
                }
            }
            chars.len()
        }
        '"' => quoted_end(chars, at + 1, '"'),
        'r' | 'b' if starts_word => {
            let after_prefix = if chars[at] == 'b' && next(1) == Some('r') {
                at + 2
            } else if chars[at] == 'r' {
                at + 1
            } else {
                return if next(1) == Some('"') || next(1) == Some('\'') {
                    quoted_end(chars, at + 2, chars[at + 1])
                } else {
                    at
                };
            };
            let hashes = chars[after_prefix..]
                .iter()
                .take_while(|&&c| c == '#')
                .count();
            if chars.get(after_prefix + hashes) != Some(&'"') {
                return at;
            }
            let mut i = after_prefix + hashes + 1;
            while i < chars.len() {
                if chars[i] == '"' && chars[i + 1..].iter().take(hashes).all(|&c| c == '#') {
                    return (i + 1 + hashes).min(chars.len());
                }
                i += 1;
            }
            chars.len()
        }
        '\'' if next(1) == Some('\\') => quoted_end(chars, at + 1, '\''),
        '\'' if next(2) == Some('\'') => at + 3,
        _ => at,
    }
}

/// The end of a literal closed by `close`, from `from` (just after the opening quote).
fn quoted_end(chars: &[char], from: usize, close: char) -> usize {
    let mut i = from;
    while i < chars.len() {
        match chars[i] {
            '\\' => i += 2,
            c if c == close => return i + 1,
            _ => i += 1,
        }
    }
    chars.len()
}

fn is_identifier(c: char) -> bool {
    c.is_alphanumeric() || c == '_'
}

/// A word (identifier, keyword or number) or one punctuation character, with its line.
#[derive(Debug, Clone)]
struct Token {
    line: usize,
    text: String,
}

impl Token {
    fn is(&self, text: &str) -> bool {
        self.text == text
    }

    fn is_word(&self) -> bool {
        self.text.chars().next().is_some_and(is_identifier)
    }
}

fn tokens(code: &str) -> Vec<Token> {
    let mut tokens = Vec::new();
    let mut line = 1;
    let mut word = String::new();
    for c in code.chars() {
        if is_identifier(c) {
            word.push(c);
            continue;
        }
        if !word.is_empty() {
            tokens.push(Token {
                line,
                text: std::mem::take(&mut word),
            });
        }
        if c == '\n' {
            line += 1;
        } else if !c.is_whitespace() {
            tokens.push(Token {
                line,
                text: c.to_string(),
            });
        }
    }
    if !word.is_empty() {
        tokens.push(Token { line, text: word });
    }
    tokens
}

/// What a file's tokens say about paths: the references into the crate, the re-exports.
struct Scanned {
    references: Vec<Reference>,
    reexports: Vec<(String, String)>,
}

/// Walks the tokens once, following inline modules (`mod tests { ... }`) so that `super::`
/// resolves as Rust resolves it. `is_binary`: `golive::` is the crate (main.rs).
fn scan(tokens: &[Token], file_module: &[String], is_binary: bool) -> Scanned {
    let mut scanned = Scanned {
        references: Vec::new(),
        reexports: Vec::new(),
    };
    let mut depth = 0usize;
    let mut inline: Vec<(String, usize)> = Vec::new();
    let mut at = 0;
    while at < tokens.len() {
        let token = &tokens[at];
        let following = |offset: usize| tokens.get(at + offset);
        if token.is("{") {
            depth += 1;
        } else if token.is("}") {
            depth = depth.saturating_sub(1);
            inline.retain(|(_, opened)| *opened <= depth);
        } else if token.is("mod")
            && following(1).is_some_and(Token::is_word)
            && following(2).is_some_and(|t| t.is("{"))
        {
            inline.push((following(1).expect("checked").text.clone(), depth + 1));
        } else if token.is_word() {
            let previous = at.checked_sub(1).map(|i| &tokens[i]);
            let is_use = token.is("use");
            let starts_path = (matches!(token.text.as_str(), "crate" | "super" | "self")
                || (is_binary && token.is("golive")))
                && following(1).is_some_and(|t| t.is(":"))
                && following(2).is_some_and(|t| t.is(":"));
            let before_previous = at.checked_sub(2).map(|i| &tokens[i]);
            let mid_path = previous.is_some_and(|t| t.is("$"))
                || (previous.is_some_and(|t| t.is(":"))
                    && before_previous.is_some_and(|t| t.is(":")));
            if (is_use || starts_path) && !mid_path {
                let start = if is_use { at + 1 } else { at };
                let is_reexport = is_use && previous.is_some_and(|t| t.is("pub") || t.is(")"));
                let (paths, end) = parse_tree(tokens, start);
                let mut module = file_module.to_vec();
                module.extend(inline.iter().map(|(name, _)| name.clone()));
                for (path, alias) in paths {
                    record(
                        &mut scanned,
                        &module,
                        path,
                        alias,
                        is_reexport,
                        is_binary,
                        token.line,
                    );
                }
                at = end.max(at + 1);
                continue;
            }
        }
        at += 1;
    }
    scanned
}

/// Files one parsed path: a reference when it leads into the crate, a re-export when it is
/// `pub use child::Name`.
fn record(
    scanned: &mut Scanned,
    module: &[String],
    path: Vec<String>,
    alias: Option<String>,
    is_reexport: bool,
    is_binary: bool,
    line: usize,
) {
    let Some(first) = path.first() else {
        return;
    };
    let resolved: Option<Vec<String>> = match first.as_str() {
        "crate" => Some(path[1..].to_vec()),
        "golive" if is_binary => Some(path[1..].to_vec()),
        "self" => Some([module, &path[1..]].concat()),
        "super" => {
            let ups = path.iter().take_while(|part| *part == "super").count();
            let kept = module.len().saturating_sub(ups);
            Some([&module[..kept], &path[ups..]].concat())
        }
        _ => None,
    };
    if is_reexport {
        let relative = if first == "self" {
            &path[1..]
        } else {
            &path[..]
        };
        if first != "crate" && first != "super" && relative.len() > 1 {
            let name = alias.unwrap_or_else(|| relative.last().expect("not empty").clone());
            scanned.reexports.push((name, relative[0].clone()));
        }
    }
    let is_test = module.iter().any(|part| part == "tests");
    if let Some(mut path) = resolved.filter(|_| !is_test) {
        if path.last().is_some_and(|part| part == "self") {
            path.pop();
        }
        if !path.is_empty() {
            scanned.references.push(Reference { line, path });
        }
    }
}

/// A path as written, with the name it is given (`use a::B as C`).
type ParsedPath = (Vec<String>, Option<String>);

/// Parses a path or a `use` tree from `at`: `a::b::{c, d::{self, E as F}}` gives `a::b::c`,
/// `a::b::d::self` ... with their aliases; returns them and where the path ends.
fn parse_tree(tokens: &[Token], mut at: usize) -> (Vec<ParsedPath>, usize) {
    let mut prefix: Vec<String> = Vec::new();
    loop {
        let Some(token) = tokens.get(at) else {
            return (vec![(prefix, None)], at);
        };
        if token.is("{") {
            let mut found = Vec::new();
            at += 1;
            while at < tokens.len() && !tokens[at].is("}") {
                let (inner, end) = parse_tree(tokens, at);
                for (path, alias) in inner {
                    found.push(([prefix.clone(), path].concat(), alias));
                }
                at = skip_to_separator(tokens, end);
                if tokens.get(at).is_some_and(|t| t.is(",")) {
                    at += 1;
                }
            }
            return (found, at + 1);
        }
        if token.is("*") || token.is_word() {
            prefix.push(token.text.clone());
            at += 1;
        } else {
            return (vec![(prefix, None)], at);
        }
        let separator = tokens.get(at).is_some_and(|t| t.is(":"))
            && tokens.get(at + 1).is_some_and(|t| t.is(":"));
        if separator && tokens.get(at + 2).is_some_and(|t| !t.is("<")) {
            at += 2;
            continue;
        }
        if tokens.get(at).is_some_and(|t| t.is("as")) {
            let alias = tokens.get(at + 1).map(|t| t.text.clone());
            return (vec![(prefix, alias)], at + 2);
        }
        return (vec![(prefix, None)], at);
    }
}

/// Inside a `use` group: the next `,` or closing `}` of this group.
fn skip_to_separator(tokens: &[Token], mut at: usize) -> usize {
    let mut depth = 0usize;
    while let Some(token) = tokens.get(at) {
        match token.text.as_str() {
            "{" => depth += 1,
            "}" if depth == 0 => return at,
            "}" => depth -= 1,
            "," if depth == 0 => return at,
            _ => {}
        }
        at += 1;
    }
    at
}

/// A function with a body: its name, the line of `fn`, and how many lines it spans.
struct Function {
    name: String,
    line: usize,
    lines: usize,
}

fn functions(tokens: &[Token]) -> Vec<Function> {
    let mut found = Vec::new();
    for (at, token) in tokens.iter().enumerate() {
        let Some(name) = tokens.get(at + 1).filter(|t| token.is("fn") && t.is_word()) else {
            continue;
        };
        let mut parentheses = 0i32;
        let mut body = None;
        for (offset, next) in tokens[at + 2..].iter().enumerate() {
            match next.text.as_str() {
                "(" => parentheses += 1,
                ")" => parentheses -= 1,
                ";" if parentheses == 0 => break,
                "{" if parentheses == 0 => {
                    body = Some(at + 2 + offset);
                    break;
                }
                _ => {}
            }
        }
        let Some(open) = body else {
            continue;
        };
        let mut depth = 0usize;
        for next in &tokens[open..] {
            if next.is("{") {
                depth += 1;
            } else if next.is("}") {
                depth -= 1;
                if depth == 0 {
                    found.push(Function {
                        name: name.text.clone(),
                        line: token.line,
                        lines: next.line - token.line + 1,
                    });
                    break;
                }
            }
        }
    }
    found
}
