//! Run-time silences: created and removed through the API, stored, logged; what they held back
//! goes out when they end.

use crate::core::alert::{Silence, Window};
use crate::core::log::LogData;
use crate::core::log::data::{AlertEvent, AlertLog, LoggedSilence};
use crate::core::log::{LogKind, NewEntry};
use crate::engine::{Engine, EngineError, block};

impl Engine {
    /// Adds a run-time silence.
    pub(in crate::engine) fn add_silence(
        &mut self,
        silence: Silence,
    ) -> Result<Silence, EngineError> {
        let now = self.clock.now();
        if self
            .alerts
            .silences
            .iter()
            .any(|known| known.id == silence.id)
        {
            return Err(crate::core::actions::FieldError::new(
                "id",
                format!("a silence `{}` exists already", silence.id),
            )
            .into());
        }
        let Window::Once { start, end } = &silence.window else {
            return Err(crate::core::actions::FieldError::new(
                "end",
                "run-time silences have a start and an end",
            )
            .into());
        };
        let text = format!(
            "Silence `{}` added by {}: {} ({} to {}; checks: {}; severities: {})",
            silence.id,
            silence.author,
            silence.comment,
            crate::human::time(*start, &self.plan.launch.timezone),
            crate::human::time(*end, &self.plan.launch.timezone),
            if silence.checks.is_empty() {
                "all".to_string()
            } else {
                silence.checks.join(", ")
            },
            if silence.severities.is_empty() {
                "all".to_string()
            } else {
                silence
                    .severities
                    .iter()
                    .map(|s| s.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            },
        );
        block(|| {
            self.store.write(|write| {
                write.insert_silence(&silence, now)?;
                write.log(&NewEntry {
                    at: now,
                    author: silence.author.clone(),
                    kind: LogKind::Alert,
                    text,
                    data: LogData::Alert(AlertLog::Event(AlertEvent::SilenceAdded {
                        silence: LoggedSilence::from(&silence),
                    })),
                })?;
                Ok(())
            })
        })?;
        self.alerts.silences.push(silence.clone());
        Ok(silence)
    }

    /// Removes a run-time silence; notifications it held back go out at once.
    pub(in crate::engine) fn remove_silence(
        &mut self,
        id: &str,
        by: &str,
    ) -> Result<(), EngineError> {
        let now = self.clock.now();
        let removed = block(|| {
            self.store.write(|write| {
                let removed = write.remove_silence(id, now)?;
                if removed {
                    write.log(&NewEntry {
                        at: now,
                        author: by.to_string(),
                        kind: LogKind::Alert,
                        text: format!("Silence `{id}` removed by {by}"),
                        data: LogData::Alert(AlertLog::Event(AlertEvent::SilenceRemoved {
                            silence: id.to_string(),
                        })),
                    })?;
                }
                Ok(removed)
            })
        })?;
        if !removed {
            let hint = if self
                .plan
                .alerting
                .silences
                .iter()
                .any(|silence| silence.id == id)
            {
                " (it is in the plan; edit the plan to remove it)"
            } else {
                ""
            };
            return Err(EngineError::NotFound(format!(
                "no run-time silence `{id}`{hint}"
            )));
        }
        let plan_ids: Vec<&str> = self
            .plan
            .alerting
            .silences
            .iter()
            .map(|s| s.id.as_str())
            .collect();
        self.alerts
            .silences
            .retain(|silence| silence.id != id || plan_ids.contains(&silence.id.as_str()));
        self.alerts.suppressed.clear();
        self.process_due_alerts();
        Ok(())
    }
}
