//! Section `[[escalation]]`: policies of levels, each notifying recipients through channels some
//! time after an alert opened, repeated until someone acknowledges.

use std::time::Duration;

use toml::Spanned;

use crate::plan::alerting::{EscalationLevel, EscalationPolicy};
use crate::plan::reader::{
    Expected, IdRegistry, Ids, Recipients, Reported, Sink, TableReader, duration_value,
    push_or_poison,
};
use crate::plan::values;

/// How often the last level is notified again by default.
const DEFAULT_REPEAT: Duration = Duration::from_secs(30 * 60);
/// The shortest `repeat` and `ack_timeout`: anything shorter is a flood, not a reminder.
const MIN_REPEAT: Duration = Duration::from_secs(10);

/// Section `[[escalation]]`. Returns the policies (if all are valid) and every well-formed id.
pub(in crate::plan) fn read_policies(
    root: &mut TableReader<'_, '_>,
    sink: &mut Sink<'_>,
    recipients: &Recipients<'_>,
    channel_ids: &Ids,
) -> (Option<Vec<EscalationPolicy>>, Ids) {
    let mut ids = IdRegistry::new("escalation");
    let mut policies = Some(Vec::new());
    for mut table in root.array_of_tables(sink, "escalation") {
        let id = ids.read(&mut table, sink);
        let levels = read_levels(&mut table, sink, recipients, channel_ids);
        let repeat = table.duration_within(sink, "repeat", DEFAULT_REPEAT, MIN_REPEAT, None);
        let ack_timeout = match table.value(sink, "ack_timeout") {
            None => Ok(None),
            Some(_) => table
                .duration_within(sink, "ack_timeout", MIN_REPEAT, MIN_REPEAT, None)
                .map(Some),
        };
        table.finish(sink);
        let policy = (|| {
            Some(EscalationPolicy {
                id: id?,
                levels: levels.ok()?,
                repeat: repeat.ok()?,
                ack_timeout: ack_timeout.ok()?,
            })
        })();
        push_or_poison(&mut policies, policy);
    }
    (policies, ids.into_ids())
}

/// `levels`: a non-empty array of `{ after, notify, channels }`, whose `after` increase.
fn read_levels(
    table: &mut TableReader<'_, '_>,
    sink: &mut Sink<'_>,
    recipients: &Recipients<'_>,
    channel_ids: &Ids,
) -> Result<Vec<EscalationLevel>, Reported> {
    let Some(value) = table.required(sink, "levels", Expected::ArrayOfTables) else {
        return Err(Reported);
    };
    let span = value.span();
    let entries = table.array_of_tables(sink, "levels");
    if entries.is_empty() {
        if matches!(value.get_ref(), toml::de::DeValue::Array(array) if array.is_empty()) {
            sink.error(
                span,
                &table.key_path("levels"),
                "a policy with no levels notifies nobody",
                Some("add a level, e.g. `levels = [{ after = \"0s\", notify = [\"ops_lead\"], channels = [\"email\"] }]`".to_string()),
            );
        }
        return Err(Reported);
    }
    let mut levels = Some(Vec::new());
    // The previous level's `after`, when it was valid.
    let mut previous: Option<Duration> = None;
    for (index, mut level) in entries.into_iter().enumerate() {
        let after = match level.value(sink, "after") {
            None if index == 0 => Ok(Duration::ZERO),
            None => {
                level.required(sink, "after", Expected::String);
                Err(Reported)
            }
            Some(value) => {
                let path = level.key_path("after");
                duration_value(sink, &path, value, true).map(Spanned::into_inner).and_then(|after| match previous {
                    Some(before) if after <= before => {
                        sink.error(
                            value.span(),
                            &path,
                            format!(
                                "level {} starts after {}, which is not later than level {} ({})",
                                index + 1,
                                values::show_duration(after),
                                index,
                                values::show_duration(before)
                            ),
                            Some(format!(
                                "`after` counts from when the alert opened, so each level's must be later than the one before: use more than {}",
                                values::show_duration(before)
                            )),
                        );
                        Err(Reported)
                    }
                    _ => Ok(after),
                })
            }
        };
        previous = after.ok();
        let notify = recipients.read_list(
            &mut level,
            sink,
            "notify",
            Some("this level notifies nobody"),
        );
        if let Ok(None) = notify {
            level.required(sink, "notify", Expected::Array);
        }
        let channels = read_channel_refs(&mut level, sink, channel_ids);
        level.finish(sink);
        let level = (|| {
            Some(EscalationLevel {
                after: after.ok()?,
                notify: notify.ok()??,
                channels: channels.ok()?,
            })
        })();
        push_or_poison(&mut levels, level);
    }
    levels.ok_or(Reported)
}

/// A level's `channels`: a non-empty list of `[[channels]]` ids.
fn read_channel_refs(
    level: &mut TableReader<'_, '_>,
    sink: &mut Sink<'_>,
    channel_ids: &Ids,
) -> Result<Vec<String>, Reported> {
    let Some(channels) =
        level.get_refs(sink, "channels", channel_ids, "channel", "[[channels]]")?
    else {
        level.required(sink, "channels", Expected::Array);
        return Err(Reported);
    };
    if channels.get_ref().is_empty() {
        sink.error(
            channels.span(),
            &level.key_path("channels"),
            "`channels` is empty, so this level reaches nobody",
            Some("list `[[channels]]` ids, e.g. `channels = [\"email\"]`".to_string()),
        );
        return Err(Reported);
    }
    Ok(channels.into_inner())
}
