//! The deployment runbook as the demo walks it: each step started and marked done through the
//! API by its owner, as `golive step start|done ID` would.

use super::{Scenario, ScenarioError};
use crate::wire;

impl Scenario {
    /// Starts runbook step `id` as `by`, then tells what it is.
    pub(super) async fn start_step(&self, id: &str, by: &str) -> Result<(), ScenarioError> {
        self.post::<wire::StepChanged>(
            &format!("start runbook step {id}"),
            &format!("/api/v1/runbook/{id}/start"),
            &by_author(by),
        )
        .await?;
        let title = self.step_title(id);
        self.narrator.event(format!(
            "▶ Runbook step `{id}` started by {} — {title}.",
            self.person(by)
        ));
        Ok(())
    }

    /// Marks runbook step `id` done as `by`.
    pub(super) async fn finish_step(&self, id: &str, by: &str) -> Result<(), ScenarioError> {
        self.post::<wire::StepChanged>(
            &format!("finish runbook step {id}"),
            &format!("/api/v1/runbook/{id}/done"),
            &by_author(by),
        )
        .await?;
        self.narrator.event(format!(
            "■ Runbook step `{id}` done ({}); the log has who and when, the timeline planned vs actual.",
            self.person(by)
        ));
        Ok(())
    }

    fn step_title(&self, id: &str) -> String {
        self.plan
            .runbook
            .steps
            .iter()
            .find(|step| step.id == id)
            .map_or_else(|| id.to_string(), |step| step.title.clone())
    }
}

/// A step change with nothing but who made it.
fn by_author(by: &str) -> wire::StepChangeRequest {
    wire::StepChangeRequest {
        author: Some(by.to_string()),
        ..wire::StepChangeRequest::default()
    }
}
