//! Validation: from plan text to a typed [`Plan`], or every problem in the file at once.
//!
//! [`parse_and_validate`] parses the TOML (recovering from syntax errors so they are all
//! reported), reads each section with a [`TableReader`], checks values (ids, emails, time zone,
//! go-live time, listen address), resolves cross-references (owners, gated phases, duplicate
//! ids), and finally runs the warning rules in `lint.rs`. A plan is returned only when there is no
//! error; otherwise every diagnostic, sorted by position, is.

use std::collections::{HashMap, HashSet};
use std::ops::Range;
use std::path::Path;

use toml::Spanned;
use toml::de::DeTable;

use super::diagnostic::{Diagnostic, sort_by_position};
use super::read::{Sink, TableReader};
use super::read_checks::{self, CheckRef};
use super::values::{self, GoLive};
use super::{ChecklistItem, Launch, Loaded, Person, Plan, Risk};
use super::{lint, monitoring, read_alerting, read_reports, read_rollback, read_runbook, server};
use crate::domain::{Level, Owner, Phase, Role, closest};

/// The default `launch.data_dir`, relative to the plan file's folder.
pub(super) const DEFAULT_DATA_DIR: &str = "golive-data";

/// Parses and validates plan text; see [`super::parse`].
/// The key of a "duplicate key" error at `offset` (the start of its line's key) and the line of
/// its first occurrence in the same table, found by looking back to the table's header.
fn duplicate_key(text: &str, offset: usize) -> Option<(String, Option<usize>)> {
    let key_of = |line: &str| -> Option<String> {
        let (key, _) = line.split_once('=')?;
        let key = key.trim();
        (!key.is_empty() && !key.starts_with('[') && !key.starts_with('#'))
            .then(|| key.trim_matches('"').to_string())
    };
    let line_start = text.get(..offset)?.rfind('\n').map_or(0, |at| at + 1);
    let key = key_of(text.get(line_start..)?.lines().next()?)?;
    let before: Vec<&str> = text.get(..line_start)?.lines().collect();
    let earlier = before
        .iter()
        .enumerate()
        .rev()
        .take_while(|(_, line)| !line.trim_start().starts_with('['))
        .find(|(_, line)| key_of(line).as_deref() == Some(key.as_str()))
        .map(|(index, _)| index + 1);
    Some((key, earlier))
}

pub(super) fn parse_and_validate(
    text: &str,
    path: &Path,
    now: Option<jiff::Timestamp>,
) -> Result<Loaded, Vec<Diagnostic>> {
    let (root, syntax_errors) = DeTable::parse_recoverable(text);
    let mut sink = Sink::new(text);
    let base_dir = path.parent().unwrap_or(Path::new(""));

    let plan = read_plan(&root, &mut sink, path, base_dir);
    if let Some(plan) = &plan {
        lint::warn(plan, &mut sink);
        if let Some(now) = now {
            lint::warn_as_of(plan, &mut sink, now);
        }
    }

    // The recovering parser still yields a tree, so the plan's other problems are reported too;
    // but a broken line usually produces a follow-on complaint about its own key, so on a line
    // with a syntax error only the syntax error is kept.
    let mut syntax = Sink::new(text);
    for error in &syntax_errors {
        let span = error.span().unwrap_or(0..0);
        let message = error.message().trim();
        if message == "duplicate key"
            && let Some((key, earlier)) = duplicate_key(text, span.start)
        {
            let help = match earlier {
                Some(line) => format!("`{key}` is already set on line {line}; keep one of the two"),
                None => format!("`{key}` is already set in this table; keep one of the two"),
            };
            syntax.error(span, "", format!("duplicate key `{key}`"), Some(help));
            continue;
        }
        syntax.error(span, "", message.to_string(), None);
    }
    let syntax = syntax.into_diagnostics();
    let broken_lines: HashSet<usize> = syntax.iter().map(|diagnostic| diagnostic.line).collect();
    let mut diagnostics = sink.into_diagnostics();
    diagnostics.retain(|diagnostic| !broken_lines.contains(&diagnostic.line));
    diagnostics.extend(syntax);
    sort_by_position(&mut diagnostics);

    match plan {
        Some(plan) if !diagnostics.iter().any(Diagnostic::is_error) => Ok(Loaded {
            plan,
            warnings: diagnostics,
        }),
        _ => Err(diagnostics),
    }
}

/// Every key path the readers ask for when reading `text` (see [`super::known_keys`]).
pub(super) fn known_keys(text: &str) -> std::collections::BTreeSet<String> {
    let (root, _) = DeTable::parse_recoverable(text);
    let mut sink = Sink::new(text);
    read_plan(&root, &mut sink, Path::new("plan.toml"), Path::new(""));
    sink.into_known_keys()
}

/// Reads every section; `None` when anything is wrong (the reason is in `sink`).
fn read_plan(
    root: &Spanned<DeTable<'_>>,
    sink: &mut Sink<'_>,
    path: &Path,
    base_dir: &Path,
) -> Option<Plan> {
    let mut reader = TableReader::new(root.get_ref(), 0..0, "");
    let launch = read_launch(&mut reader, sink, base_dir);
    let (people, person_ids) = read_people(&mut reader, sink);
    let owners = Owners::new(&person_ids);
    let checklist = read_checklist(&mut reader, sink, &owners);
    let (mut risks, risk_ids, check_refs) = read_risks(&mut reader, sink, &owners);
    let server = server::read_server(&mut reader, sink, base_dir);
    let monitoring = monitoring::read_monitoring(&mut reader, sink);
    let (prometheus, server_ids) = monitoring::read_prometheus(&mut reader, sink, base_dir);
    let known = read_checks::Known {
        risk_ids: &risk_ids,
        server_ids: &server_ids,
        base_dir,
    };
    let (mut checks, check_ids) = read_checks::read_checks(&mut reader, sink, &known);
    read_checks::link_risks_and_checks(
        sink,
        &check_refs,
        &check_ids,
        risks.as_mut(),
        checks.as_mut(),
    );
    let context = read_alerting::Context {
        recipients: read_alerting::Recipients::new(&person_ids),
        check_ids: &check_ids,
        base_dir,
        timezone: launch.as_ref().map(|launch| &launch.timezone),
    };
    let rollback = read_rollback::read_rollback(&mut reader, sink, &context);
    let alerting = read_alerting::read_alerting(&mut reader, sink, &context);
    let runbook = read_runbook::read_runbook(
        &mut reader,
        sink,
        &read_runbook::Context {
            owners: &owners,
            check_ids: &check_ids,
            go_live: launch.as_ref().map(|launch| launch.go_live),
            timezone: launch.as_ref().map(|launch| &launch.timezone),
            hypercare_days: launch.as_ref().map(|launch| launch.hypercare_days),
        },
    );
    let reports = read_reports::read_reports(&mut reader, sink, &context, alerting.as_ref());
    let heartbeat =
        super::heartbeat::read_heartbeat(&mut reader, sink, base_dir, alerting.as_ref());
    let updates = super::updates::read_updates(
        &mut reader,
        sink,
        &context,
        alerting.as_ref(),
        people.as_deref(),
    );
    let review = super::review::read_review(&mut reader, sink, &context);
    reader.finish(sink);
    Some(Plan {
        source: path.to_path_buf(),
        launch: launch?,
        people: people?,
        checklist: checklist?,
        risks: risks?,
        rollback: rollback?,
        server: server?,
        checks: checks?,
        prometheus: prometheus?,
        monitoring: monitoring?,
        alerting: alerting?,
        runbook: runbook?,
        reports: reports.ok()?,
        heartbeat: heartbeat.ok()?,
        updates: updates.ok()?,
        review: review.ok()?,
    })
}

/// Section `[launch]`.
fn read_launch(
    root: &mut TableReader<'_, '_>,
    sink: &mut Sink<'_>,
    base_dir: &Path,
) -> Option<Launch> {
    let mut table = root.req_table(sink, "launch")?;
    let name = table.req_str(sink, "name");

    let timezone =
        table
            .req_str(sink, "timezone")
            .and_then(|name| match values::time_zone(name.get_ref()) {
                Ok(found) => Some(found),
                Err(help) => {
                    sink.error(
                        name.span(),
                        &table.key_path("timezone"),
                        format!("unknown time zone `{}`", name.get_ref()),
                        Some(help),
                    );
                    None
                }
            });

    let go_live = table
        .required(sink, "go_live", super::read::Expected::DateTime)
        .and_then(|value| {
            match values::go_live(value.get_ref(), timezone.as_ref().map(|(_, zone)| zone)) {
                GoLive::At(instant) => Some(instant),
                // The time zone's own error already explains this.
                GoLive::NeedsTimeZone => None,
                GoLive::Invalid(reason) => {
                    sink.error(
                        value.span(),
                        &table.key_path("go_live"),
                        format!(
                            "invalid go-live time `{}`: {reason}",
                            sink.snippet(value.span())
                        ),
                        Some(values::GO_LIVE_FORMATS.to_string()),
                    );
                    None
                }
            }
        });

    let hypercare_days = table.req_number(sink, "hypercare_days").and_then(|days| {
        let value = *days.get_ref();
        if value > 0.0 && value <= values::MAX_HYPERCARE_DAYS {
            return Some(value);
        }
        let problem = if value <= 0.0 {
            "must be more than 0"
        } else {
            "is longer than a year"
        };
        sink.error(
            days.span(),
            &table.key_path("hypercare_days"),
            format!("hypercare of `{}` days {problem}", sink.snippet(days.span())),
            Some(format!(
                "give the number of days hypercare lasts after go-live, e.g. `14` or `0.5` (at most {})",
                values::MAX_HYPERCARE_DAYS
            )),
        );
        None
    });

    let data_dir = match table.opt_str(sink, "data_dir") {
        None => Some(base_dir.join(DEFAULT_DATA_DIR)),
        Some(dir) if dir.get_ref().trim().is_empty() => {
            sink.error(
                dir.span(),
                &table.key_path("data_dir"),
                "`data_dir` must not be empty",
                Some(format!(
                    "remove the key to use `{DEFAULT_DATA_DIR}` beside the plan"
                )),
            );
            None
        }
        Some(dir) => Some(base_dir.join(dir.get_ref())),
    };
    table.finish(sink);

    let (timezone_name, timezone) = timezone?;
    Some(Launch {
        name: name?.into_inner(),
        timezone_name,
        timezone,
        go_live: go_live?,
        hypercare_days: hypercare_days?,
        data_dir: data_dir?,
    })
}

/// Section `[[people]]`. Returns the people (if all are valid) and every well-formed id, so one
/// person's bad email does not also make every item they own "unknown".
fn read_people(
    root: &mut TableReader<'_, '_>,
    sink: &mut Sink<'_>,
) -> (Option<Vec<Person>>, Vec<String>) {
    let mut ids = IdRegistry::new("people");
    let mut people = Some(Vec::new());
    let mut person_ids = Vec::new();
    for mut table in root.array_of_tables(sink, "people") {
        let id = ids.read(&mut table, sink);
        if let Some(id) = &id {
            person_ids.push(id.clone());
            if Role::ALL.iter().any(|role| role.as_str() == id) {
                let span = sink.span_of(&table.key_path("id")).unwrap_or(table.span());
                sink.error(
                    span,
                    &table.key_path("id"),
                    format!("person id `{id}` is also a role name, so an owner `{id}` would be ambiguous"),
                    Some(format!("choose another id for this person, e.g. `{id}_1` or their first name")),
                );
            }
        }
        let name = table.req_str(sink, "name");
        let role = table
            .req_str(sink, "role")
            .and_then(|role| parse_name::<Role>(sink, &table.key_path("role"), &role, "role"));
        let email = table.req_str(sink, "email").and_then(|email| {
            if values::looks_like_email(email.get_ref()) {
                return Some(email.into_inner());
            }
            sink.error(
                email.span(),
                &table.key_path("email"),
                format!("`{}` is not an email address", email.get_ref()),
                Some("write one address like `alice@example.com`".to_string()),
            );
            None
        });
        let chat = table.opt_str(sink, "chat").map(Spanned::into_inner);
        table.finish(sink);
        let person = (|| {
            Some(Person {
                id: id?,
                name: name?.into_inner(),
                role: role?,
                email: email?,
                chat,
            })
        })();
        push_or_poison(&mut people, person);
    }
    (people, person_ids)
}

/// Section `[[checklist]]`.
fn read_checklist(
    root: &mut TableReader<'_, '_>,
    sink: &mut Sink<'_>,
    owners: &Owners<'_>,
) -> Option<Vec<ChecklistItem>> {
    let mut ids = IdRegistry::new("checklist");
    let mut items = Some(Vec::new());
    for mut table in root.array_of_tables(sink, "checklist") {
        let id = ids.read(&mut table, sink);
        let title = table.req_str(sink, "title");
        let owner = table
            .req_str(sink, "owner")
            .and_then(|owner| owners.resolve(sink, &table.key_path("owner"), &owner));
        let required = table
            .opt_bool(sink, "required")
            .is_none_or(|flag| flag.into_inner());
        let gates = match table.opt_str(sink, "gates") {
            None => Some(Phase::GoNoGo),
            Some(gates) => read_gated_phase(sink, &table.key_path("gates"), &gates),
        };
        table.finish(sink);
        let item = (|| {
            Some(ChecklistItem {
                id: id?,
                title: title?.into_inner(),
                owner: owner?,
                required,
                gates: gates?,
            })
        })();
        push_or_poison(&mut items, item);
    }
    items
}

/// A checklist item's `gates`: a phase the launch can leave.
fn read_gated_phase(sink: &mut Sink<'_>, path: &str, gates: &Spanned<String>) -> Option<Phase> {
    let phase = parse_name::<Phase>(sink, path, gates, "phase")?;
    if !phase.is_terminal() {
        return Some(phase);
    }
    let gateable: Vec<&str> = Phase::ALL
        .iter()
        .filter(|phase| !phase.is_terminal())
        .map(|phase| phase.as_str())
        .collect();
    sink.error(
        gates.span(),
        path,
        format!(
            "`{phase}` is a terminal phase: the launch never leaves it, so nothing can gate it"
        ),
        Some(format!("gate one of: {}", gateable.join(", "))),
    );
    None
}

/// Section `[[risks]]`. Returns the risks (if all are valid), every well-formed id (for
/// `checks[].risks`), and the `checks` entries, which are validated once the checks are read.
fn read_risks(
    root: &mut TableReader<'_, '_>,
    sink: &mut Sink<'_>,
    owners: &Owners<'_>,
) -> (Option<Vec<Risk>>, Ids, Vec<CheckRef>) {
    let mut ids = IdRegistry::new("risks");
    let mut risks = Some(Vec::new());
    let mut check_refs = Vec::new();
    for mut table in root.array_of_tables(sink, "risks") {
        let id = ids.read(&mut table, sink);
        let title = table.req_str(sink, "title");
        let likelihood = table.req_str(sink, "likelihood").and_then(|level| {
            parse_name::<Level>(sink, &table.key_path("likelihood"), &level, "level")
        });
        let impact = table.req_str(sink, "impact").and_then(|level| {
            parse_name::<Level>(sink, &table.key_path("impact"), &level, "level")
        });
        let contingency = table.req_str(sink, "contingency");
        let owner = table
            .req_str(sink, "owner")
            .and_then(|owner| owners.resolve(sink, &table.key_path("owner"), &owner));
        let checks = table.get_str_list(sink, "checks").map(|names| {
            let mut checks: Vec<String> = Vec::new();
            for (index, name) in names
                .map(Spanned::into_inner)
                .unwrap_or_default()
                .into_iter()
                .enumerate()
            {
                if !checks.contains(name.get_ref()) {
                    checks.push(name.get_ref().clone());
                }
                check_refs.push(CheckRef {
                    path: format!("{}[{index}]", table.key_path("checks")),
                    id: name,
                });
            }
            checks
        });
        let alertmanager = super::alertmanager_match::read_matchers(&mut table, sink);
        table.finish(sink);
        let risk = (|| {
            Some(Risk {
                id: id?,
                title: title?.into_inner(),
                likelihood: likelihood?,
                impact: impact?,
                contingency: contingency?.into_inner(),
                owner: owner?,
                checks: checks.ok()?,
                alertmanager: alertmanager.ok()?,
            })
        })();
        push_or_poison(&mut risks, risk);
    }
    (risks, ids.into_ids(), check_refs)
}

/// Parses a fixed name (role, phase, level), reporting an unknown one with its near name.
pub(super) fn parse_name<T>(
    sink: &mut Sink<'_>,
    path: &str,
    text: &Spanned<String>,
    what: &str,
) -> Option<T>
where
    T: std::str::FromStr<Err = crate::domain::UnknownName>,
{
    match text.get_ref().parse::<T>() {
        Ok(value) => Some(value),
        Err(unknown) => {
            let help = match &unknown.suggestion {
                Some(near) => format!("did you mean `{near}`?"),
                None => format!("use one of: {}", unknown.allowed.join(", ")),
            };
            sink.error(
                text.span(),
                path,
                format!("unknown {what} `{}`", unknown.given),
                Some(help),
            );
            None
        }
    }
}

/// Appends `value` while every value so far was valid; one invalid value poisons the list.
pub(super) fn push_or_poison<T>(list: &mut Option<Vec<T>>, value: Option<T>) {
    match (list.as_mut(), value) {
        (Some(items), Some(value)) => items.push(value),
        _ => *list = None,
    }
}

/// The ids seen in one section, to report malformed and duplicate ones.
pub(super) struct IdRegistry {
    section: &'static str,
    first_seen: HashMap<String, Range<usize>>,
    ids: Ids,
}

/// The well-formed ids of a section, for validating references to its entries.
#[derive(Debug, Clone)]
pub(super) struct Ids {
    /// Every well-formed id, in file order.
    pub(super) list: Vec<String>,
    /// Whether every entry had a well-formed id. When one did not, a reference to an id not in
    /// `list` may be to that entry, so it is not reported: the id's own error says enough.
    pub(super) complete: bool,
}

impl IdRegistry {
    pub(super) fn new(section: &'static str) -> Self {
        IdRegistry {
            section,
            first_seen: HashMap::new(),
            ids: Ids {
                list: Vec::new(),
                complete: true,
            },
        }
    }

    /// The well-formed ids read so far.
    pub(super) fn into_ids(self) -> Ids {
        self.ids
    }

    /// Reads the entry's `id`: required, well-formed and unique within the section.
    pub(super) fn read(
        &mut self,
        table: &mut TableReader<'_, '_>,
        sink: &mut Sink<'_>,
    ) -> Option<String> {
        let Some(id) = table.req_str(sink, "id") else {
            self.ids.complete = false;
            return None;
        };
        let path = table.key_path("id");
        if !values::is_valid_id(id.get_ref()) {
            self.ids.complete = false;
            sink.error(
                id.span(),
                &path,
                format!("invalid id `{}`", id.get_ref()),
                Some("ids use lowercase letters, digits, `_` and `-`, starting with a letter or digit (e.g. `db-backup`)".to_string()),
            );
            return None;
        }
        if let Some(first) = self.first_seen.get(id.get_ref()) {
            let first_line = sink.line_of(first.start);
            sink.error(
                id.span(),
                &path,
                format!("duplicate id `{}`", id.get_ref()),
                Some(format!(
                    "`{}` is already used on line {first_line}; ids must be unique within [[{}]]",
                    id.get_ref(),
                    self.section
                )),
            );
            return None;
        }
        self.first_seen.insert(id.get_ref().clone(), id.span());
        self.ids.list.push(id.get_ref().clone());
        Some(id.into_inner())
    }
}

/// Resolves `owner` values: a person id from `[[people]]`, else a role name.
pub(super) struct Owners<'p> {
    person_ids: &'p [String],
}

impl<'p> Owners<'p> {
    fn new(person_ids: &'p [String]) -> Self {
        Owners { person_ids }
    }

    pub(super) fn resolve(
        &self,
        sink: &mut Sink<'_>,
        path: &str,
        owner: &Spanned<String>,
    ) -> Option<Owner> {
        let name = owner.get_ref();
        if self.person_ids.iter().any(|id| id == name) {
            return Some(Owner::Person(name.clone()));
        }
        if let Ok(role) = name.parse::<Role>() {
            return Some(Owner::Role(role));
        }
        let help = person_or_role_help(
            self.person_ids,
            name,
            "an owner is a person id from [[people]] ({people}) or a role ({roles})",
        );
        sink.error(
            owner.span(),
            path,
            format!("unknown person or role `{name}`"),
            Some(help),
        );
        None
    }
}

/// The help for a name that is neither a person id nor a role: the near name when there is one,
/// else `hint` with `{people}` (the plan's person ids) and `{roles}` filled in.
pub(super) fn person_or_role_help(person_ids: &[String], name: &str, hint: &str) -> String {
    let candidates = person_ids
        .iter()
        .map(String::as_str)
        .chain(Role::ALL.iter().map(|role| role.as_str()));
    match closest(name, candidates) {
        Some(near) => format!("did you mean `{near}`?"),
        None => hint
            .replace(
                "{people}",
                &if person_ids.is_empty() {
                    "none defined".to_string()
                } else {
                    person_ids.join(", ")
                },
            )
            .replace("{roles}", &Role::names().join(", ")),
    }
}
