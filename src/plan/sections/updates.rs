//! Section `[updates]`: stakeholder updates, the communication plan's answer to "how will updates
//! be communicated to stakeholders". Who hears (`to`: persons, roles, addresses, by email; and
//! `channels`: chat webhooks), on which phase changes (`on`), and whom to ask (`contact`). The
//! typed value and its reader live together here; the engine's side is `engine::updates`, the
//! words `report::update`.

use toml::Spanned;

use super::context::Context;
use crate::domain::{Phase, Role, closest};
use crate::plan::Person;
use crate::plan::alerting::{Alerting, ChannelKind, Recipient};
use crate::plan::reader::{
    EmptyPhases, Reported, Sink, TableReader, accepted_once, parse_name, read_phase_list,
};

/// The default `on`: the go decision (the move into `deploying`), live (`verifying`),
/// `hypercare`, `closed` and `rolled_back`. Not `go_no_go`: the call meeting to decide is the
/// team's business, the decision is everyone's.
pub const DEFAULT_ON: [Phase; 5] = [
    Phase::Deploying,
    Phase::Verifying,
    Phase::Hypercare,
    Phase::Closed,
    Phase::RolledBack,
];

/// Section `[updates]`.
#[derive(Debug, Clone, PartialEq)]
pub struct Updates {
    /// `to`: persons, roles and addresses that get every update by email (through the plan's
    /// first email channel).
    pub to: Vec<Recipient>,
    /// `channels`: webhook (chat) channel ids every update is posted to.
    pub channels: Vec<String>,
    /// `on` (default [`DEFAULT_ON`]): the phases whose start sends an update.
    pub on: Vec<Phase>,
    /// `contact` (default the first project manager): the person id updates name as the one to
    /// ask.
    pub contact: String,
}

impl Updates {
    /// Whether entering `phase` sends an update.
    pub fn announces(&self, phase: Phase) -> bool {
        self.on.contains(&phase)
    }
}

/// Reads `[updates]` (optional). `alerting` is `None` when the communication plan has errors
/// (reported there), `people` when `[[people]]` has; then what depends on them is not checked.
pub(in crate::plan) fn read_updates(
    root: &mut TableReader<'_, '_>,
    sink: &mut Sink<'_>,
    context: &Context<'_>,
    alerting: Option<&Alerting>,
    people: Option<&[Person]>,
) -> Result<Option<Updates>, Reported> {
    let Some(mut table) = root.get_table(sink, "updates")? else {
        return Ok(None);
    };
    let to = context.recipients.read_list(
        &mut table,
        sink,
        "to",
        Some("nobody would get the updates by email"),
    );
    let channels = read_channels(&mut table, sink, alerting);
    let on = read_on(&mut table, sink);
    let contact = read_contact(&mut table, sink, people);
    let (span, path, to_path) = (table.span(), table.path().to_string(), table.key_path("to"));
    table.finish(sink);
    let to = to?.unwrap_or_default();
    let channels = channels?;
    if to.is_empty() && channels.is_empty() {
        sink.error(
            span,
            &path,
            "`[updates]` reaches nobody: it has neither `to` nor `channels`",
            Some("add `to = [\"business\", \"support_lead\"]` (persons, roles or addresses, by email), `channels = [\"chat\"]` (webhook channels), or both".to_string()),
        );
        return Err(Reported);
    }
    if !to.is_empty() && !has_email_channel(alerting)? {
        sink.error(
            span,
            &to_path,
            "updates go to `to` by email, but the plan has no email channel",
            Some("add a `[[channels]]` entry with `kind = \"email\"` (without `[smtp]` emails are written to the outbox folder), or post to chat only with `channels`".to_string()),
        );
        return Err(Reported);
    }
    Ok(Some(Updates {
        to,
        channels,
        on: on?,
        contact: contact?,
    }))
}

/// Whether the plan has an email channel (`Err` when the channels could not be read).
fn has_email_channel(alerting: Option<&Alerting>) -> Result<bool, Reported> {
    let alerting = alerting.ok_or(Reported)?;
    Ok(alerting
        .channels
        .iter()
        .any(|channel| matches!(channel.kind, ChannelKind::Email { .. })))
}

/// `channels`: webhook channel ids of the plan, each once.
fn read_channels(
    table: &mut TableReader<'_, '_>,
    sink: &mut Sink<'_>,
    alerting: Option<&Alerting>,
) -> Result<Vec<String>, Reported> {
    let Some(names) = table.get_str_list(sink, "channels")? else {
        return Ok(Vec::new());
    };
    let path = table.key_path("channels");
    let Some(alerting) = alerting else {
        // The communication plan has errors of its own; the channels cannot be checked.
        return Err(Reported);
    };
    accepted_once(names.get_ref(), &path, |at, name| {
        check_channel(sink, at, name, alerting)
    })
}

/// Whether `name` is a webhook channel of the plan; reports why not.
fn check_channel(
    sink: &mut Sink<'_>,
    path: &str,
    name: &Spanned<String>,
    alerting: &Alerting,
) -> bool {
    let webhooks = alerting.channel_ids_where(|kind| matches!(kind, ChannelKind::Webhook(_)));
    if webhooks.contains(&name.get_ref().as_str()) {
        return true;
    }
    let listed = if webhooks.is_empty() {
        "add a `[[channels]]` entry with `kind = \"webhook\"` and its `url`".to_string()
    } else {
        format!("use one of the webhook channels: {}", webhooks.join(", "))
    };
    let (message, help) = match alerting
        .channels
        .iter()
        .find(|channel| channel.id == *name.get_ref())
        .map(|channel| &channel.kind)
    {
        Some(ChannelKind::Email { .. }) => (
            format!(
                "`{}` is an email channel, but `channels` lists chat (webhook) channels",
                name.get_ref()
            ),
            "updates reach people by email through `to`; remove it here".to_string(),
        ),
        Some(_) => (
            format!(
                "`{}` is an alertmanager channel, which carries alerts, not updates",
                name.get_ref()
            ),
            listed,
        ),
        None => (
            format!("unknown channel `{}`", name.get_ref()),
            match closest(name.get_ref(), webhooks.iter().copied()) {
                Some(near) => format!("did you mean `{near}`?"),
                None => listed,
            },
        ),
    };
    sink.error(name.span(), path, message, Some(help));
    false
}

/// `on`: phases whose start sends an update; not `planned`, which nothing enters.
fn read_on(table: &mut TableReader<'_, '_>, sink: &mut Sink<'_>) -> Result<Vec<Phase>, Reported> {
    let empty = EmptyPhases {
        message: "`on` is empty, so no phase change would send an update",
        help: "list phases such as `[\"deploying\", \"verifying\", \"closed\", \"rolled_back\"]`, or remove the key for the default (deploying, verifying, hypercare, closed, rolled_back); manual updates need no phase".to_string(),
    };
    let phases = read_phase_list(table, sink, "on", empty, read_on_phase)?;
    Ok(phases.unwrap_or_else(|| DEFAULT_ON.to_vec()))
}

/// One phase of `on`: `go` is hinted to `deploying`, and `planned` is refused.
fn read_on_phase(
    sink: &mut Sink<'_>,
    item: &str,
    name: &Spanned<String>,
) -> Result<Phase, Reported> {
    if name.get_ref() == "go" {
        sink.error(
            name.span(),
            item,
            "unknown phase `go`",
            Some("the go decision is the move into `deploying`: write `\"deploying\"`".to_string()),
        );
        return Err(Reported);
    }
    match parse_name::<Phase>(sink, item, name, "phase").ok_or(Reported)? {
        Phase::Planned => {
            sink.error(
                name.span(),
                item,
                "no phase change leads into `planned`, so this would never send an update",
                Some("use a later phase, e.g. `go_no_go` (the go/no-go call starts) or `deploying` (the go decision)".to_string()),
            );
            Err(Reported)
        }
        phase => Ok(phase),
    }
}

/// `contact`: a person id; by default the first project manager.
fn read_contact(
    table: &mut TableReader<'_, '_>,
    sink: &mut Sink<'_>,
    people: Option<&[Person]>,
) -> Result<String, Reported> {
    let given = table.get_str(sink, "contact")?;
    // `[[people]]` has errors of its own; the contact cannot be checked.
    let people = people.ok_or(Reported)?;
    let ids = || people.iter().map(|person| person.id.as_str());
    match given {
        Some(name) if ids().any(|id| id == name.get_ref()) => Ok(name.into_inner()),
        Some(name) => {
            let help = match closest(name.get_ref(), ids()) {
                Some(near) => format!("did you mean `{near}`?"),
                None => format!(
                    "name a person id from [[people]]: {}",
                    ids().collect::<Vec<_>>().join(", ")
                ),
            };
            sink.error(
                name.span(),
                &table.key_path("contact"),
                format!("unknown person `{}`", name.get_ref()),
                Some(help),
            );
            Err(Reported)
        }
        None => match people
            .iter()
            .find(|person| person.role == Role::ProjectManager)
        {
            Some(manager) => Ok(manager.id.clone()),
            None => {
                sink.error(
                    table.span(),
                    &table.key_path("contact"),
                    "updates say whom to ask, but no `contact` is given and nobody is the project manager",
                    Some("add `contact = \"person-id\"` naming someone from [[people]] who answers questions about the launch".to_string()),
                );
                Err(Reported)
            }
        },
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::{DEFAULT_ON, Updates};
    use crate::domain::{Phase, Role};
    use crate::plan::alerting::Recipient;
    use crate::plan::{Diagnostic, parse};

    const BASE: &str = r#"
[launch]
name = "Shop"
timezone = "Europe/Berlin"
go_live = 2026-12-01T20:00:00
hypercare_days = 14

[[people]]
id = "maria"
name = "Maria Keller"
role = "project_manager"
email = "maria@example.com"

[[people]]
id = "sam"
name = "Sam Stone"
role = "business"
email = "sam@example.com"

[[channels]]
id = "email"
kind = "email"

[[channels]]
id = "chat"
kind = "webhook"
url = "http://127.0.0.1:9000/hook"

[[channels]]
id = "am"
kind = "alertmanager"
url = "http://127.0.0.1:9093"
"#;

    fn updates(section: &str) -> Result<Option<Updates>, Vec<Diagnostic>> {
        parse(&format!("{BASE}\n{section}"), Path::new("plan.toml"))
            .map(|loaded| loaded.plan.updates)
    }

    fn errors(section: &str) -> Vec<Diagnostic> {
        match updates(section) {
            Ok(_) => Vec::new(),
            Err(diagnostics) => diagnostics
                .into_iter()
                .filter(Diagnostic::is_error)
                .collect(),
        }
    }

    #[test]
    fn a_plan_without_updates_has_none() {
        assert_eq!(updates(""), Ok(None));
    }

    #[test]
    fn updates_are_read_with_their_defaults() {
        let read = updates("[updates]\nto = [\"business\", \"ceo@example.com\", \"business\"]\n")
            .expect("valid")
            .expect("updates");
        assert_eq!(
            read,
            Updates {
                to: vec![
                    Recipient::Role(Role::Business),
                    Recipient::Address("ceo@example.com".into())
                ],
                channels: Vec::new(),
                on: DEFAULT_ON.to_vec(),
                contact: "maria".into(),
            }
        );
        assert!(read.announces(Phase::RolledBack) && !read.announces(Phase::GoNoGo));
    }

    #[test]
    fn chat_only_updates_with_chosen_phases_and_contact_are_read() {
        let read = updates(
            "[updates]\nchannels = [\"chat\", \"chat\"]\non = [\"go_no_go\", \"closed\"]\ncontact = \"sam\"\n",
        )
        .expect("valid")
        .expect("updates");
        assert!(read.to.is_empty());
        assert_eq!(read.channels, vec!["chat".to_string()]);
        assert_eq!(read.on, vec![Phase::GoNoGo, Phase::Closed]);
        assert_eq!(read.contact, "sam");
    }

    #[test]
    fn a_channel_that_only_carries_updates_counts_as_used() {
        let loaded = parse(
            &format!("{BASE}\n[updates]\nchannels = [\"chat\"]\n"),
            Path::new("plan.toml"),
        )
        .expect("valid");
        assert!(
            !loaded
                .warnings
                .iter()
                .any(|warning| warning.message.contains("`chat` is not used")),
            "{:#?}",
            loaded.warnings
        );
    }

    #[test]
    fn a_phase_listed_twice_in_on_is_an_error_naming_it() {
        let found = errors(
            "[updates]\nchannels = [\"chat\"]\non = [\"deploying\", \"closed\", \"deploying\"]\n",
        );
        assert_eq!(found.len(), 1, "{found:#?}");
        assert_eq!(found[0].path, "updates.on[2]");
        assert_eq!(found[0].message, "`deploying` is listed twice");
    }

    #[test]
    fn every_problem_of_updates_is_reported_with_its_place_and_fix() {
        let found = errors(
            "[updates]\nto = [\"nobody\"]\nchannels = [\"email\", \"am\", \"chta\"]\non = [\"go\", \"planned\", \"hypercar\"]\ncontact = \"mria\"\nevery = \"1h\"\n",
        );
        let at: Vec<(&str, usize, usize)> = found
            .iter()
            .map(|d| (d.path.as_str(), d.line, d.column))
            .collect();
        // The section starts on line 34 of the joined text.
        assert_eq!(
            at,
            vec![
                ("updates.to[0]", 35, 7),
                ("updates.channels[0]", 36, 13),
                ("updates.channels[1]", 36, 22),
                ("updates.channels[2]", 36, 28),
                ("updates.on[0]", 37, 7),
                ("updates.on[1]", 37, 13),
                ("updates.on[2]", 37, 24),
                ("updates.contact", 38, 11),
                ("updates.every", 39, 1),
            ],
            "{found:#?}"
        );
        let help = |index: usize| found[index].help.clone().unwrap_or_default();
        assert!(
            found[1].message.contains("is an email channel"),
            "{found:#?}"
        );
        assert!(found[2].message.contains("alertmanager channel"));
        assert_eq!(help(3), "did you mean `chat`?");
        assert!(help(4).contains("`deploying`"), "{}", help(4));
        assert!(found[5].message.contains("never send"));
        assert_eq!(help(6), "did you mean `hypercare`?");
        assert_eq!(help(7), "did you mean `maria`?");
    }

    #[test]
    fn updates_that_reach_nobody_or_have_no_phase_are_errors() {
        let found = errors("[updates]\non = [\"closed\"]\n");
        assert_eq!(found.len(), 1, "{found:#?}");
        assert!(found[0].message.contains("reaches nobody"));
        let found = errors("[updates]\nto = [\"business\"]\non = []\n");
        assert_eq!(found.len(), 1, "{found:#?}");
        assert_eq!(found[0].path, "updates.on");
        assert!(found[0].message.contains("`on` is empty"));
    }

    #[test]
    fn updates_without_a_contact_need_a_project_manager() {
        let plan = BASE.replace("role = \"project_manager\"", "role = \"ops_lead\"");
        let found = parse(
            &format!("{plan}\n[updates]\nto = [\"business\"]\n"),
            Path::new("plan.toml"),
        )
        .expect_err("no contact");
        let errors: Vec<&Diagnostic> = found.iter().filter(|d| d.is_error()).collect();
        assert_eq!(errors.len(), 1, "{errors:#?}");
        assert_eq!(errors[0].path, "updates.contact");
        assert!(
            errors[0]
                .help
                .as_deref()
                .unwrap_or("")
                .contains("contact = ")
        );
    }
}
