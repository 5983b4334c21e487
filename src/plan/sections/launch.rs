//! Section `[launch]`: what is launched, in which time zone, when, for how long, and where its
//! data lives.

use std::path::Path;

use crate::plan::launch::Launch;
use crate::plan::reader::{Expected, Sink, TableReader};
use crate::plan::values::{self, GoLive};

/// The default `launch.data_dir`, relative to the plan file's folder.
pub(in crate::plan) const DEFAULT_DATA_DIR: &str = "golive-data";

/// Section `[launch]`.
pub(in crate::plan) fn read_launch(
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
        .required(sink, "go_live", Expected::DateTime)
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

    let data_dir = match table.get_str(sink, "data_dir").ok().flatten() {
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
