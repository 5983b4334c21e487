//! `[[risks]] alertmanager`: which alerts from an existing Alertmanager (its webhook, `POST
//! /api/v1/alertmanager`) mean that a risk has materialised, so their pages carry the risk's
//! contingency as a failing check's do. Typed and read in one file; the matching is pure.
//!
//! A matcher is a table of labels, `alertmanager = { alertname = "PaymentErrors", service =
//! "payments" }`: an alert matches when it carries every label given, each with exactly that
//! value (other labels do not matter). A list of such tables links the risk when any one of
//! them matches. Exact values only, no regular expressions: what the page claims must be easy to
//! check against the plan at 3 a.m.

use std::collections::BTreeMap;

use toml::de::DeValue;

use super::read::{Sink, TableReader};
use super::read_typed::Reported;
use super::values;

/// One `alertmanager` matcher: labels and the exact values an alert must carry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LabelMatcher {
    /// Never empty (the plan rejects `{}`, which would match every alert).
    pub labels: BTreeMap<String, String>,
}

impl LabelMatcher {
    /// Whether an alert with `labels` carries every label of this matcher with its exact value.
    /// An empty matcher matches nothing, so a hand-built one can never link every alert.
    pub fn matches(&self, labels: &BTreeMap<String, String>) -> bool {
        !self.labels.is_empty()
            && self
                .labels
                .iter()
                .all(|(name, value)| labels.get(name) == Some(value))
    }
}

/// Whether any of `matchers` matches an alert with `labels` (none given: never).
pub fn any_matches(matchers: &[LabelMatcher], labels: &BTreeMap<String, String>) -> bool {
    matchers.iter().any(|matcher| matcher.matches(labels))
}

/// The help every wrong shape of the key gets: how to write it.
const HOW_TO_WRITE: &str = "write the labels to match, e.g. `alertmanager = { alertname = \"PaymentErrors\", service = \"payments\" }`, or a list of such tables";

/// Reads the optional `alertmanager` key of a `[[risks]]` table: one table of labels or a list
/// of them. Absent means no matcher.
pub(super) fn read_matchers(
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

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(name, value)| (name.to_string(), value.to_string()))
            .collect()
    }

    fn matcher(pairs: &[(&str, &str)]) -> LabelMatcher {
        LabelMatcher {
            labels: labels(pairs),
        }
    }

    #[test]
    fn an_alert_matches_when_it_carries_every_given_label_with_its_exact_value() {
        let payments = matcher(&[("alertname", "PaymentErrors"), ("service", "payments")]);
        let alert = labels(&[
            ("alertname", "PaymentErrors"),
            ("service", "payments"),
            ("instance", "pay-1:8080"),
            ("severity", "critical"),
        ]);
        assert!(payments.matches(&alert));
    }

    #[test]
    fn a_missing_label_or_a_different_value_does_not_match() {
        let payments = matcher(&[("alertname", "PaymentErrors"), ("service", "payments")]);
        assert!(!payments.matches(&labels(&[("alertname", "PaymentErrors")])));
        assert!(!payments.matches(&labels(&[
            ("alertname", "PaymentErrors"),
            ("service", "payments-eu"),
        ])));
        // Exact values: no prefix, case or pattern matching.
        assert!(!payments.matches(&labels(&[
            ("alertname", "paymenterrors"),
            ("service", "payments"),
        ])));
    }

    #[test]
    fn an_empty_matcher_matches_no_alert() {
        assert!(!matcher(&[]).matches(&labels(&[("alertname", "Anything")])));
        assert!(!matcher(&[]).matches(&labels(&[])));
    }

    #[test]
    fn a_list_of_matchers_links_when_any_one_matches() {
        let matchers = [
            matcher(&[("alertname", "PaymentErrors")]),
            matcher(&[("alertname", "PaymentLatency"), ("service", "payments")]),
        ];
        assert!(any_matches(
            &matchers,
            &labels(&[("alertname", "PaymentLatency"), ("service", "payments")])
        ));
        assert!(!any_matches(
            &matchers,
            &labels(&[("alertname", "PaymentLatency"), ("service", "search")])
        ));
        assert!(!any_matches(
            &[],
            &labels(&[("alertname", "PaymentErrors")])
        ));
    }
}
