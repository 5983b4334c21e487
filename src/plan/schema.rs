//! The plan's JSON Schema (draft-07), printed by `golive schema`, so an editor's TOML language
//! server (taplo: Even Better TOML in VS Code, and any editor speaking LSP to taplo) checks and
//! completes a plan while it is typed.
//!
//! Nothing here is written twice. The keys, their types, defaults, whether they are required and
//! their descriptions are the rows of docs/plan.md's "Every key" table, compiled in with
//! `include_str!` and read by [`reference`]; the fixed words (roles, phases, severities, levels,
//! comparisons, kinds and the keys of each check and channel kind, days, methods) come from the
//! readers' own types. `tests/it/docs.rs` holds the table to the keys the reader knows, and
//! `tests/it/schema.rs` runs taplo over good and broken plans beside `golive check`. The schema
//! checks a plan's shape (keys, types, fixed words, required keys, the keys of each kind);
//! `golive check` checks more (references between sections, ranges of durations, cycles).

use serde_json::{Map, Value, json};

use super::checks::{CompareOp, Severity};
use super::sections::words;
use crate::domain::{Level, Phase, Role, UnknownName};

/// docs/plan.md, whose "Every key" table is the source of every key.
const REFERENCE: &str = include_str!("../../docs/plan.md");

/// The form of an id (`people`, `checklist`, `risks`, `prometheus`, `checks`, ...).
const ID_PATTERN: &str = "^[a-z0-9][a-z0-9_-]*$";

/// How the reference writes a table holding a secret's source.
const SECRET_SOURCE: &str = "`{ env = \"VAR\" }` or `{ file = \"path\" }`";

/// One row of the "Every key" table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Row {
    /// `checks[].json[].path`: `[]` marks the items of an array of tables.
    pub key: &'static str,
    /// The type column: `string (duration)`, `array of tables`, ...
    pub type_text: &'static str,
    /// The "required / default" column.
    pub default: &'static str,
    /// The meaning column, the key's description.
    pub meaning: &'static str,
}

impl Row {
    /// The key's name inside its table: `path` for `checks[].json[].path`.
    fn name(&self) -> &'static str {
        self.key.rsplit('.').next().unwrap_or(self.key)
    }

    /// The row of the table this key sits in: `checks[].json` for `checks[].json[].path`.
    fn parent(&self) -> Option<&'static str> {
        let (parent, _) = self.key.rsplit_once('.')?;
        Some(parent.strip_suffix("[]").unwrap_or(parent))
    }

    /// Required wherever its table is: `required`, or `required with `basic`` in `basic`.
    fn is_required(&self) -> bool {
        let parent_name = self
            .parent()
            .map(|parent| parent.rsplit('.').next().unwrap_or(parent));
        self.default == "required"
            || parent_name.is_some_and(|name| self.default == format!("required with `{name}`"))
    }

    /// The kinds of entry this key is required for: `required (http, scrape)`.
    fn required_for_kinds(&self) -> Vec<&'static str> {
        self.default
            .strip_prefix("required (")
            .and_then(|rest| rest.strip_suffix(')'))
            .map(|kinds| kinds.split(", ").collect())
            .unwrap_or_default()
    }

    /// The default as a value when the column is one TOML literal: `"5s"`, `256`, `["a", "b"]`.
    fn default_value(&self) -> Option<Value> {
        let literal = self.default.strip_prefix('`')?.strip_suffix('`')?;
        if literal.contains('`') {
            return None;
        }
        let table: toml::Table = toml::from_str(&format!("value = {literal}")).ok()?;
        serde_json::to_value(table.get("value")?).ok()
    }

    /// The description an editor shows: the meaning, and the "required / default" column in
    /// words when it says more than one value (`Required (http, scrape).`, `Default: the id.`).
    fn description(&self) -> String {
        let said_elsewhere = self.default_value().is_some()
            || ["required", "none", "defaults below"].contains(&self.default);
        if said_elsewhere {
            return self.meaning.to_string();
        }
        match self.default.strip_prefix("required") {
            Some(condition) => format!("{} Required{condition}.", self.meaning),
            None if self.default.starts_with("one of ") => {
                format!("{} Required: {}.", self.meaning, self.default)
            }
            None => format!("{} Default: {}.", self.meaning, self.default),
        }
    }

    /// The integer range the meaning gives as `(1 to 10000)`.
    fn integer_range(&self) -> Option<(i64, i64)> {
        let (_, rest) = self.meaning.split_once('(')?;
        let (low, rest) = rest.split_once(" to ")?;
        let high: String = rest.chars().take_while(char::is_ascii_digit).collect();
        Some((low.parse().ok()?, high.parse().ok()?))
    }
}

/// The rows of docs/plan.md's "Every key" table, in its order.
pub(super) fn reference() -> Vec<Row> {
    let section = REFERENCE
        .split("\n## ")
        .find(|section| section.starts_with("Every key"))
        .unwrap_or_default();
    section
        .lines()
        .filter_map(|line| {
            let cells = line.strip_prefix("| `")?.strip_suffix(" |")?;
            let mut cells = cells.splitn(4, " | ");
            let key = cells.next()?.strip_suffix('`')?;
            Some(Row {
                key,
                type_text: cells.next()?,
                default: cells.next()?,
                meaning: cells.next()?,
            })
        })
        .collect()
}

/// The plan's JSON Schema, pretty-printed.
pub fn json_schema() -> String {
    let rows = reference();
    let mut root = table_of(&rows, None);
    let head = json!({
        "$schema": "http://json-schema.org/draft-07/schema#",
        "title": "golive launch plan",
        "description": "A golive launch plan: the launch, its people, checklist, risks, checks, \
            alerting and runbook. `golive check PLAN` validates it completely; see docs/plan.md.",
    });
    if let Value::Object(head) = head {
        root.extend(head);
    }
    serde_json::to_string_pretty(&Value::Object(root)).unwrap_or_default()
}

/// The object schema of the table `parent` (the whole plan for `None`): its keys, closed.
fn table_of(rows: &[Row], parent: Option<&str>) -> Map<String, Value> {
    let children: Vec<&Row> = rows.iter().filter(|row| row.parent() == parent).collect();
    let properties: Map<String, Value> = children
        .iter()
        .map(|row| (row.name().to_string(), schema_of(rows, row)))
        .collect();
    let required: Vec<&str> = children
        .iter()
        .filter(|row| row.is_required())
        .map(|row| row.name())
        .collect();
    let mut table = Map::new();
    table.insert("type".into(), json!("object"));
    table.insert("properties".into(), Value::Object(properties));
    table.insert("additionalProperties".into(), json!(false));
    if !required.is_empty() {
        table.insert("required".into(), json!(required));
        table.insert("x-taplo".into(), json!({ "initKeys": required }));
    }
    let alternatives = alternatives(&children);
    if !alternatives.is_empty() {
        table.insert("anyOf".into(), Value::Array(alternatives));
    }
    table
}

/// Keys of which at least one must be given: rows saying "one of `command`/`webhook`".
fn alternatives(children: &[&Row]) -> Vec<Value> {
    children
        .iter()
        .filter(|row| row.default.starts_with("one of `"))
        .map(|row| json!({ "required": [row.name()] }))
        .collect()
}

/// The schema of one key: its shape from the type column, refined by the fixed words, with its
/// description and default.
fn schema_of(rows: &[Row], row: &Row) -> Value {
    let has_keys = rows.iter().any(|other| other.parent() == Some(row.key));
    let keys = || Value::Object(table_of(rows, Some(row.key)));
    let mut schema = match shape(row) {
        Shape::Table if has_keys => keys(),
        Shape::Table if row.meaning.contains(SECRET_SOURCE) => secret_source(),
        Shape::Table => json!({ "type": "object" }),
        Shape::ArrayOfTables => json!({ "type": "array", "items": keys() }),
        Shape::Plain(plain) => plain,
    };
    if let Value::Object(object) = &mut schema {
        refine(row, object);
        if let Some((low, high)) = row.integer_range().filter(|_| row.type_text == "integer") {
            object.insert("minimum".into(), json!(low));
            object.insert("maximum".into(), json!(high));
        }
        object.insert("description".into(), json!(row.description()));
        if let Some(default) = row.default_value() {
            object.insert("default".into(), default);
        }
    }
    if row.key == "checks" || row.key == "channels" {
        kind_rules(rows, row, &mut schema);
    }
    schema
}

/// What the type column says.
enum Shape {
    /// A table: its keys are the rows below it, or a secret's source, or free.
    Table,
    /// An array of tables with the rows below it.
    ArrayOfTables,
    /// Anything else, as a schema.
    Plain(Value),
}

/// The shape the type column names; a type the reference does not use is accepted as anything
/// (the unit test `every_type_in_the_reference_is_understood` keeps that from happening).
fn shape(row: &Row) -> Shape {
    let plain = |value: Value| Shape::Plain(value);
    match row.type_text {
        "table" => Shape::Table,
        "array of tables" => Shape::ArrayOfTables,
        "table of strings" => plain(json!({
            "type": "object", "additionalProperties": { "type": "string" }
        })),
        "table of numbers" => plain(json!({
            "type": "object", "additionalProperties": { "type": "number" }
        })),
        "table or array of tables" => plain(json!({
            "anyOf": [
                { "type": "object", "additionalProperties": { "type": "string" } },
                { "type": "array", "items": {
                    "type": "object", "additionalProperties": { "type": "string" }
                } },
            ]
        })),
        "array" => plain(json!({
            "type": "array", "items": { "type": ["integer", "string"] }
        })),
        "boolean" | "integer" | "number" => plain(json!({ "type": row.type_text })),
        "string, number or boolean" => plain(json!({ "type": ["string", "number", "boolean"] })),
        "string (id)" => plain(json!({ "type": "string", "pattern": ID_PATTERN })),
        "string (URL) or table" => {
            plain(json!({ "anyOf": [{ "type": "string" }, secret_source()] }))
        }
        text if text.starts_with("array of strings") => plain(json!({
            "type": "array", "items": { "type": "string" }
        })),
        // A TOML date-time reaches a JSON Schema validator as a string.
        text if text.starts_with("string") || text.starts_with("date-time") => {
            plain(json!({ "type": "string" }))
        }
        _ => plain(json!({})),
    }
}

/// `{ env = "VAR" }` or `{ file = "path" }`: where a secret comes from.
fn secret_source() -> Value {
    json!({
        "type": "object",
        "properties": {
            "env": { "type": "string", "description": "Name of the environment variable holding it." },
            "file": { "type": "string", "description": "Path of a file holding it, relative to the plan file's folder." },
        },
        "additionalProperties": false,
        "oneOf": [{ "required": ["env"] }, { "required": ["file"] }],
    })
}

/// Words a reader matches inline, in its `match` or `parse_choice` call, written here a second
/// time; the unit test `every_inline_word_is_in_its_row` holds them to the reference, and
/// tests/it/schema.rs's broken plans to the reader.
const INLINE_WORDS: &[(&str, &[&str])] = &[
    ("checks[].empty", &["ok", "fail", "unknown"]),
    ("checks[].mode", &["value", "rate", "ratio"]),
    ("smtp.tls", &["starttls", "tls", "none"]),
    (
        "channels[].format",
        &["slack", "golive", "teams", "discord"],
    ),
];

/// The fixed words of a key, from the readers' own types.
fn refine(row: &Row, schema: &mut Map<String, Value>) {
    let running_phases = || phases(|phase| !phase.is_terminal());
    let (place, allowed): (Place, Vec<String>) = match row.key {
        "people[].role" => (Place::Value, names::<Role>()),
        "checklist[].gates" | "runbook.steps[].phase" => (Place::Value, running_phases()),
        "risks[].likelihood" | "risks[].impact" => (Place::Value, names::<Level>()),
        "checks[].severity" | "rollback.criteria[].severity" => (Place::Value, names::<Severity>()),
        "silences[].severities" => (Place::Items, names::<Severity>()),
        "alerting.policies" => (Place::Keys, names::<Severity>()),
        "rollback.criteria[].phases" => (Place::Items, phases(Phase::can_roll_back)),
        "checks[].phases" | "reports.phases" => (Place::Items, running_phases()),
        "checks[].intervals" => (Place::Keys, running_phases()),
        "updates.on" => (Place::Items, phases(|phase| phase != Phase::Planned)),
        "checks[].kind" => (Place::Value, kinds(&words::check_kinds())),
        "channels[].kind" => (Place::Value, kinds(&words::channel_kinds())),
        "checks[].json[].op" => (Place::Value, names::<CompareOp>()),
        "silences[].days" => (Place::Items, owned(&words::days())),
        "checks[].method" => (Place::AnyCase, owned(&words::http_methods())),
        "heartbeat.method" => (Place::AnyCase, owned(&words::heartbeat_methods())),
        key if let Some((_, words)) = INLINE_WORDS.iter().find(|(name, _)| *name == key) => {
            (Place::Value, owned(words))
        }
        "checks[].headers" => {
            // Each header a plain value or a secret's source, not the table itself.
            let value = json!({ "anyOf": [{ "type": "string" }, secret_source()] });
            schema.clear();
            schema.insert("type".into(), json!("object"));
            schema.insert("additionalProperties".into(), value);
            return;
        }
        _ => return,
    };
    place.apply(schema, allowed);
}

/// Where a key's fixed words go.
enum Place {
    /// The value is one of them.
    Value,
    /// Each item of the array is one of them.
    Items,
    /// Each key of the table is one of them.
    Keys,
    /// The value is one of them, in any case (`get` for `GET`).
    AnyCase,
}

impl Place {
    fn apply(self, schema: &mut Map<String, Value>, allowed: Vec<String>) {
        match self {
            Place::Value => {
                schema.insert("enum".into(), json!(allowed));
            }
            Place::Items => {
                schema.insert("items".into(), json!({ "type": "string", "enum": allowed }));
            }
            Place::Keys => {
                schema.insert("propertyNames".into(), json!({ "enum": allowed }));
                schema.insert("additionalProperties".into(), json!({ "type": "string" }));
            }
            Place::AnyCase => {
                let any_case: Vec<String> = allowed.iter().map(|word| any_case(word)).collect();
                let pattern = format!("^({})$", any_case.join("|"));
                schema.insert("pattern".into(), json!(pattern));
                // Completion offers the words as written in the reference.
                schema.insert("examples".into(), json!(allowed));
            }
        }
    }
}

/// `GET` → `[Gg][Ee][Tt]`.
fn any_case(word: &str) -> String {
    word.chars()
        .map(|c| format!("[{}{}]", c.to_ascii_uppercase(), c.to_ascii_lowercase()))
        .collect()
}

/// The names a reader's `FromStr` accepts, as its refusal lists them.
fn names<T: std::str::FromStr<Err = UnknownName>>() -> Vec<String> {
    match "".parse::<T>() {
        Err(unknown) => unknown.allowed,
        Ok(_) => Vec::new(),
    }
}

/// The phases for which `keep` holds, in order.
fn phases(keep: impl Fn(Phase) -> bool) -> Vec<String> {
    Phase::ALL
        .into_iter()
        .filter(|phase| keep(*phase))
        .map(|phase| phase.as_str().to_string())
        .collect()
}

fn kinds(by_kind: &[(&'static str, &'static [&'static str])]) -> Vec<String> {
    by_kind.iter().map(|(kind, _)| kind.to_string()).collect()
}

fn owned(words: &[&str]) -> Vec<String> {
    words.iter().map(|word| word.to_string()).collect()
}

/// A check's or a channel's `kind` decides its keys: for each kind, the keys of the other kinds
/// are refused and the keys the reference says are required for it (`required (http, scrape)`)
/// are required.
fn kind_rules(rows: &[Row], row: &Row, schema: &mut Value) {
    let by_kind = if row.key == "checks" {
        words::check_kinds().to_vec()
    } else {
        words::channel_kinds().to_vec()
    };
    let rules: Vec<Value> = by_kind
        .iter()
        .map(|(kind, own)| {
            let foreign: Map<String, Value> = by_kind
                .iter()
                .flat_map(|(_, keys)| keys.iter())
                .filter(|key| !own.contains(key))
                .map(|key| (key.to_string(), json!(false)))
                .collect();
            let required: Vec<&str> = rows
                .iter()
                .filter(|other| other.parent() == Some(row.key))
                .filter(|other| other.required_for_kinds().contains(kind))
                .map(|other| other.name())
                .collect();
            json!({
                "if": { "properties": { "kind": { "const": kind } }, "required": ["kind"] },
                "then": { "properties": foreign, "required": required },
            })
        })
        .collect();
    if let Some(items) = schema.get_mut("items").and_then(Value::as_object_mut) {
        items.insert("allOf".into(), Value::Array(rules));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_type_in_the_reference_is_understood() {
        let unknown: Vec<String> = reference()
            .iter()
            .filter(|row| matches!(shape(row), Shape::Plain(Value::Object(ref o)) if o.is_empty()))
            .map(|row| format!("{}: {}", row.key, row.type_text))
            .collect();
        assert!(
            unknown.is_empty(),
            "types plan::schema cannot read: {unknown:?}"
        );
    }

    #[test]
    fn the_reference_has_every_section_and_nested_key() {
        let keys: Vec<&str> = reference().iter().map(|row| row.key).collect();
        for key in [
            "launch",
            "launch.name",
            "checks[].json[].path",
            "heartbeat.alertmanager",
        ] {
            assert!(keys.contains(&key), "no row {key}");
        }
    }

    #[test]
    fn every_inline_word_is_in_its_row() {
        let rows = reference();
        for (key, words) in INLINE_WORDS {
            let row = rows.iter().find(|row| row.key == *key).expect(key);
            for word in *words {
                assert!(
                    row.meaning.contains(&format!("`{word}`")),
                    "{key}: `{word}` is not in its row of docs/plan.md"
                );
            }
        }
    }

    #[test]
    fn defaults_are_read_as_values() {
        let rows = reference();
        let row = |key: &str| *rows.iter().find(|row| row.key == key).expect(key);
        assert_eq!(row("checks[].interval").default_value(), Some(json!("30s")));
        assert_eq!(
            row("monitoring.max_concurrent_probes").default_value(),
            Some(json!(256))
        );
        assert_eq!(
            row("checks[].follow_redirects").default_value(),
            Some(json!(true))
        );
        assert_eq!(row("checks[].name").default_value(), None);
        assert_eq!(
            row("monitoring.max_concurrent_probes").integer_range(),
            Some((1, 10000))
        );
    }

    #[test]
    fn the_schema_is_json_with_closed_tables() {
        let schema: Value = serde_json::from_str(&json_schema()).expect("JSON");
        assert_eq!(schema["additionalProperties"], json!(false));
        assert_eq!(schema["required"], json!(["launch"]));
        let check = &schema["properties"]["checks"]["items"];
        assert_eq!(check["additionalProperties"], json!(false));
        assert_eq!(check["required"], json!(["id", "kind"]));
        assert!(check["properties"]["severity"]["enum"].is_array());
    }
}
