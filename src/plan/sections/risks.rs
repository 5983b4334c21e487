//! Section `[[risks]]`: what could go wrong, how likely and how bad, what to do then, who owns it,
//! and what shows it has happened: failing checks (`checks`, validated in `load.rs` once every
//! check id is known) and alerts from Alertmanager (`alertmanager`, label matchers; see
//! `alertmanager_match.rs` for what they mean).

use std::collections::BTreeMap;

use toml::Spanned;
use toml::de::DeValue;

use crate::domain::Level;
use crate::plan::alertmanager_match::LabelMatcher;
use crate::plan::launch::Risk;
use crate::plan::reader::{
    IdRegistry, Ids, Owners, Reported, Sink, TableReader, parse_name, push_or_poison,
};
use crate::plan::values;

/// A `risks[].checks` entry, validated once every check id is known.
pub(in crate::plan) struct CheckRef {
    /// Key path of the entry, e.g. `risks[1].checks[0]`.
    pub(in crate::plan) path: String,
    pub(in crate::plan) id: Spanned<String>,
}

/// Section `[[risks]]`. Returns the risks (if all are valid), every well-formed id (for
/// `checks[].risks`), and the `checks` entries, which are validated once the checks are read.
pub(in crate::plan) fn read_risks(
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
        let alertmanager = read_matchers(&mut table, sink);
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

/// The help every wrong shape of the key gets: how to write it.
const HOW_TO_WRITE: &str = "write the labels to match, e.g. `alertmanager = { alertname = \"PaymentErrors\", service = \"payments\" }`, or a list of such tables";

/// Reads the optional `alertmanager` key of a `[[risks]]` table: one table of labels or a list
/// of them. Absent means no matcher.
pub(in crate::plan) fn read_matchers(
    table: &mut TableReader<'_, '_>,
    sink: &mut Sink<'_>,
) -> Result<Vec<LabelMatcher>, Reported> {
    let path = table.key_path("alertmanager");
    let Some(value) = table.value(sink, "alertmanager") else {
        return Ok(Vec::new());
    };
    match value.get_ref() {
        DeValue::Table(_) => Ok(vec![read_matcher(table, sink, &path, value)?]),
        DeValue::Array(entries) => {
            let mut matchers = Vec::new();
            let mut bad = false;
            for (index, entry) in entries.iter().enumerate() {
                match read_matcher(table, sink, &format!("{path}[{index}]"), entry) {
                    Ok(matcher) => matchers.push(matcher),
                    Err(Reported) => bad = true,
                }
            }
            if bad { Err(Reported) } else { Ok(matchers) }
        }
        other => {
            sink.error(
                value.span(),
                &path,
                format!(
                    "expected a table of labels, found {} `{}`",
                    other.type_str(),
                    table.quote(sink, value.span())
                ),
                Some(HOW_TO_WRITE.to_string()),
            );
            Err(Reported)
        }
    }
}

/// One matcher at `path`: a non-empty table of label names (Prometheus syntax) and non-empty
/// string values. Every problem is reported, not only the first.
fn read_matcher(
    table: &TableReader<'_, '_>,
    sink: &mut Sink<'_>,
    path: &str,
    value: &toml::Spanned<DeValue<'_>>,
) -> Result<LabelMatcher, Reported> {
    let DeValue::Table(entries) = value.get_ref() else {
        sink.error(
            value.span(),
            path,
            format!(
                "expected a table of labels, found {} `{}`",
                value.get_ref().type_str(),
                table.quote(sink, value.span())
            ),
            Some(HOW_TO_WRITE.to_string()),
        );
        return Err(Reported);
    };
    if entries.is_empty() {
        sink.error(
            value.span(),
            path,
            "an empty matcher would link every alert from Alertmanager to this risk".to_string(),
            Some(HOW_TO_WRITE.to_string()),
        );
        return Err(Reported);
    }
    let mut labels = BTreeMap::new();
    let mut bad = false;
    for (name, label_value) in entries {
        let name_path = format!("{path}.{}", name.get_ref());
        if !values::is_label_name(name.get_ref()) {
            sink.error(
                name.span(),
                &name_path,
                format!("`{}` is not a Prometheus label name", name.get_ref()),
                Some(
                    "use letters, digits and `_`, not starting with a digit, e.g. `alertname`"
                        .to_string(),
                ),
            );
            bad = true;
            continue;
        }
        match label_value.get_ref() {
            DeValue::String(text) if !text.is_empty() => {
                labels.insert(name.get_ref().to_string(), text.to_string());
            }
            DeValue::String(_) => {
                sink.error(
                    label_value.span(),
                    &name_path,
                    format!(
                        "an empty value matches nothing: Alertmanager drops labels with empty values, so `{}` is never `\"\"`",
                        name.get_ref()
                    ),
                    Some(format!(
                        "give the exact value, or leave `{}` out to match any value",
                        name.get_ref()
                    )),
                );
                bad = true;
            }
            other => {
                sink.error(
                    label_value.span(),
                    &name_path,
                    format!(
                        "expected a string, found {} `{}`",
                        other.type_str(),
                        table.quote(sink, label_value.span())
                    ),
                    Some(format!(
                        "label values are text; put the value in quotes: `{} = \"...\"`",
                        name.get_ref()
                    )),
                );
                bad = true;
            }
        }
    }
    if bad {
        Err(Reported)
    } else {
        Ok(LabelMatcher { labels })
    }
}
