//! `[[risks]] alertmanager`: which alerts from an existing Alertmanager (its webhook, `POST
//! /api/v1/alertmanager`) mean that a risk has materialised, so their pages carry the risk's
//! contingency as a failing check's do. Typed and matched here (pure); read with `[[risks]]` in
//! `sections/risks.rs`.
//!
//! A matcher is a table of labels, `alertmanager = { alertname = "PaymentErrors", service =
//! "payments" }`: an alert matches when it carries every label given, each with exactly that
//! value (other labels do not matter). A list of such tables links the risk when any one of
//! them matches. Exact values only, no regular expressions: what the page claims must be easy to
//! check against the plan at 3 a.m.

use std::collections::BTreeMap;
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
