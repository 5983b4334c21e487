//! The communication plan: `[smtp]`, `[[channels]]` and `[alerting]`.
//!
//! Escalation policies and silences are read in `escalation.rs` and `silences.rs`;
//! [`read_alerting`] reads them all in the order their references need (channels before the levels
//! that name them, policies before `[alerting] policies`).
//!
//! Secrets (the SMTP password, a webhook's token-bearing URL, an HMAC key, the ack-link key) are
//! only ever referenced as `{ env = "VAR" }` or `{ file = "path" }`; a secret written inline is an
//! error whose message never quotes it.

use std::path::Path;
use std::time::Duration;

use toml::Spanned;
use toml::de::DeValue;

use super::check_http::valid_header;
use super::context::Context;
use super::{escalation, silences};
use crate::plan::alerting::{
    Alerting, Channel, ChannelKind, OPSGENIE_API_URL, OpsgenieChannel, PAGERDUTY_EVENTS_URL,
    PagerDutyChannel, Smtp, SmtpTls, WebhookChannel, WebhookFormat,
};
use crate::plan::checks::Severity;
use crate::plan::reader::{
    IdRegistry, Ids, Reported, Sink, TableReader, parse_choice, parse_name, push_or_poison,
    read_plain_url, read_secret, read_secret_url, reference_exists,
};
use crate::plan::values;

/// The timeout of SMTP, webhook and Alertmanager deliveries that set none.
pub(in crate::plan) const DEFAULT_DELIVERY_TIMEOUT: Duration = Duration::from_secs(10);
/// The signature header of a webhook with `hmac_secret` that names none.
pub(in crate::plan) const DEFAULT_HMAC_HEADER: &str = "X-Golive-Signature";
/// The longest `[alerting] group_window`: holding alerts back longer delays the page.
const MAX_GROUP_WINDOW: Duration = Duration::from_secs(300);
/// The shortest `delivery_max_age` and `ack_link_ttl`.
const MIN_AGE: Duration = Duration::from_secs(60);

/// Reads `[smtp]`, `[[channels]]`, `[[escalation]]`, `[alerting]` and `[[silences]]`.
pub(in crate::plan) fn read_alerting(
    root: &mut TableReader<'_, '_>,
    sink: &mut Sink<'_>,
    context: &Context<'_>,
) -> Option<Alerting> {
    let smtp = read_smtp(root, sink, context.base_dir);
    let (channels, channel_ids) = read_channels(root, sink, context);
    let (policies, policy_ids) =
        escalation::read_policies(root, sink, &context.recipients, &channel_ids);
    let section = read_section(root, sink, context.base_dir, &channel_ids, &policy_ids);
    let silences = silences::read_silences(root, sink, context);
    Some(Alerting {
        smtp: smtp.ok()?,
        channels: channels?,
        policies: policies?,
        silences: silences?,
        ..section.ok()?
    })
}

/// Section `[smtp]` (optional; without it email goes to the outbox folder).
fn read_smtp(
    root: &mut TableReader<'_, '_>,
    sink: &mut Sink<'_>,
    base_dir: &Path,
) -> Result<Option<Smtp>, Reported> {
    let Some(mut table) = root.get_table(sink, "smtp")? else {
        return Ok(None);
    };
    table.redact_values();
    let host = table.req_str(sink, "host");
    let tls = match table.get_str(sink, "tls") {
        Ok(None) => Ok(SmtpTls::StartTls),
        Ok(Some(text)) => parse_choice(
            sink,
            &table.key_path("tls"),
            &text,
            "TLS mode",
            &[
                ("starttls", SmtpTls::StartTls),
                ("tls", SmtpTls::Tls),
                ("none", SmtpTls::None),
            ],
        ),
        Err(reported) => Err(reported),
    };
    let allow_insecure = table.get_bool(sink, "allow_insecure");
    if let (Ok(SmtpTls::None), Ok(allowed)) = (tls, allow_insecure)
        && allowed != Some(true)
    {
        let span = sink.span_of(&table.key_path("tls")).unwrap_or(table.span());
        sink.error(
            span,
            &table.key_path("tls"),
            "`tls = \"none\"` would send the SMTP password and every alert unencrypted",
            Some("use `tls = \"starttls\"` (port 587) or `\"tls\"` (port 465); only for a relay on a trusted network, such as one on localhost, add `allow_insecure = true`".to_string()),
        );
    }
    let port = table.get_int(sink, "port", 1, 65_535);
    let username = table.get_str(sink, "username");
    let password = read_secret(&mut table, sink, base_dir, "password", "password");
    if let (Ok(None), Ok(Some(_))) = (&username, &password) {
        let span = table.key_span("password").unwrap_or(table.span());
        sink.error(
            span,
            &table.key_path("password"),
            "a `password` without a `username`",
            Some("add `username = \"...\"` (the SMTP login), or remove `password`".to_string()),
        );
    }
    let from = table.req_str(sink, "from").and_then(|from| {
        match values::mailbox(from.get_ref()) {
            Ok(()) => Some(from.get_ref().trim().to_string()),
            Err(reason) => {
                sink.error(
                    from.span(),
                    &table.key_path("from"),
                    format!("invalid From address `{}`: {reason}", from.get_ref()),
                    Some("write an address, e.g. `golive@shop.example`, or a name and an address, e.g. `golive <golive@shop.example>`".to_string()),
                );
                None
            }
        }
    });
    let helo = table.get_str(sink, "helo");
    let timeout = table.duration_within(
        sink,
        "timeout",
        DEFAULT_DELIVERY_TIMEOUT,
        Duration::from_secs(1),
        None,
    );
    table.finish(sink);
    let tls = tls?;
    let default_port = match tls {
        SmtpTls::StartTls => 587,
        SmtpTls::Tls => 465,
        SmtpTls::None => 25,
    };
    Ok(Some(Smtp {
        host: host.ok_or(Reported)?.into_inner(),
        port: port?.map_or(default_port, |port| {
            u16::try_from(port).unwrap_or(default_port)
        }),
        tls,
        username: username?.map(Spanned::into_inner),
        password: password?,
        from: from.ok_or(Reported)?,
        helo: helo?.map(Spanned::into_inner),
        timeout: timeout?,
    }))
}

/// The value of a channel's `kind`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ChannelKindName {
    Email,
    Webhook,
    Alertmanager,
    PagerDuty,
    Opsgenie,
}

impl ChannelKindName {
    const CHOICES: [(&'static str, ChannelKindName); 5] = [
        ("email", ChannelKindName::Email),
        ("webhook", ChannelKindName::Webhook),
        ("alertmanager", ChannelKindName::Alertmanager),
        ("pagerduty", ChannelKindName::PagerDuty),
        ("opsgenie", ChannelKindName::Opsgenie),
    ];

    fn as_str(self) -> &'static str {
        match self {
            ChannelKindName::Email => "email",
            ChannelKindName::Webhook => "webhook",
            ChannelKindName::Alertmanager => "alertmanager",
            ChannelKindName::PagerDuty => "pagerduty",
            ChannelKindName::Opsgenie => "opsgenie",
        }
    }

    /// Each kind with the keys only channels of that kind have.
    fn keys_by_kind() -> [(&'static str, &'static [&'static str]); 5] {
        ChannelKindName::CHOICES.map(|(name, kind)| (name, kind.keys()))
    }

    /// The keys only channels of this kind have.
    fn keys(self) -> &'static [&'static str] {
        match self {
            ChannelKindName::Email => &["to"],
            ChannelKindName::Webhook => &[
                "url",
                "format",
                "headers",
                "hmac_secret",
                "hmac_header",
                "timeout",
            ],
            ChannelKindName::Alertmanager => &["url", "timeout"],
            ChannelKindName::PagerDuty => &["routing_key", "url", "webhook_secret", "timeout"],
            ChannelKindName::Opsgenie => &["api_key", "url", "timeout"],
        }
    }
}

/// Each channel kind with the keys only channels of that kind have (for the plan's JSON Schema).
pub(super) fn channel_keys_by_kind() -> [(&'static str, &'static [&'static str]); 5] {
    ChannelKindName::keys_by_kind()
}

/// Section `[[channels]]`. Returns the channels (if all are valid) and every well-formed id.
fn read_channels(
    root: &mut TableReader<'_, '_>,
    sink: &mut Sink<'_>,
    context: &Context<'_>,
) -> (Option<Vec<Channel>>, Ids) {
    let mut ids = IdRegistry::new("channels");
    let mut channels = Some(Vec::new());
    for mut table in root.array_of_tables(sink, "channels") {
        table.redact_values();
        let id = ids.read(&mut table, sink);
        let kind = table.req_str(sink, "kind").and_then(|kind| {
            parse_choice(
                sink,
                &table.key_path("kind"),
                &kind,
                "channel kind",
                &ChannelKindName::CHOICES,
            )
            .ok()
        });
        let kind = match kind {
            Some(kind) => {
                table.forbid_keys_of_other_kinds(
                    sink,
                    &ChannelKindName::keys_by_kind(),
                    kind.as_str(),
                    "channel",
                );
                read_channel_kind(kind, &mut table, sink, context)
            }
            None => {
                table.ignore_keys_of_kinds(sink, &ChannelKindName::keys_by_kind());
                None
            }
        };
        table.finish(sink);
        let channel = (|| {
            Some(Channel {
                id: id?,
                kind: kind?,
            })
        })();
        push_or_poison(&mut channels, channel);
    }
    (channels, ids.into_ids())
}

/// The keys of one channel kind.
fn read_channel_kind(
    kind: ChannelKindName,
    table: &mut TableReader<'_, '_>,
    sink: &mut Sink<'_>,
    context: &Context<'_>,
) -> Option<ChannelKind> {
    match kind {
        ChannelKindName::Email => {
            let to = context.recipients.read_list(
                table,
                sink,
                "to",
                Some("remove it: the people a level notifies get the email anyway"),
            );
            Some(ChannelKind::Email {
                to: to.ok()?.unwrap_or_default(),
            })
        }
        ChannelKindName::Webhook => {
            read_webhook(table, sink, context.base_dir).map(ChannelKind::Webhook)
        }
        ChannelKindName::Alertmanager => {
            let url = read_plain_url(
                table,
                sink,
                "url",
                true,
                "http://alertmanager.shop.example:9093",
            );
            let timeout = table.duration_within(
                sink,
                "timeout",
                DEFAULT_DELIVERY_TIMEOUT,
                Duration::from_secs(1),
                None,
            );
            Some(ChannelKind::Alertmanager {
                url: url.ok()??,
                timeout: timeout.ok()?,
            })
        }
        ChannelKindName::PagerDuty => {
            read_pagerduty(table, sink, context.base_dir).map(ChannelKind::PagerDuty)
        }
        ChannelKindName::Opsgenie => {
            read_opsgenie(table, sink, context.base_dir).map(ChannelKind::Opsgenie)
        }
    }
}

/// `kind = "pagerduty"`: the routing key (a secret), the Events API's address, the webhook
/// signing secret that turns on acknowledgements from PagerDuty.
fn read_pagerduty(
    table: &mut TableReader<'_, '_>,
    sink: &mut Sink<'_>,
    base_dir: &Path,
) -> Option<PagerDutyChannel> {
    let routing_key = required_secret(
        table,
        sink,
        base_dir,
        "routing_key",
        "routing key",
        "the Integration Key of the PagerDuty service's Events API v2 integration",
    );
    let url = read_plain_url(table, sink, "url", false, PAGERDUTY_EVENTS_URL);
    let webhook_secret = read_secret(
        table,
        sink,
        base_dir,
        "webhook_secret",
        "webhook signing secret",
    );
    let timeout = delivery_timeout(table, sink);
    Some(PagerDutyChannel {
        routing_key: routing_key?,
        url: url
            .ok()?
            .unwrap_or_else(|| PAGERDUTY_EVENTS_URL.to_string()),
        webhook_secret: webhook_secret.ok()?,
        timeout: timeout.ok()?,
    })
}

/// `kind = "opsgenie"`: the API key (a secret) and the API's base address.
fn read_opsgenie(
    table: &mut TableReader<'_, '_>,
    sink: &mut Sink<'_>,
    base_dir: &Path,
) -> Option<OpsgenieChannel> {
    let api_key = required_secret(
        table,
        sink,
        base_dir,
        "api_key",
        "API key",
        "the key of an Opsgenie API integration",
    );
    let url = read_plain_url(table, sink, "url", false, OPSGENIE_API_URL);
    let timeout = delivery_timeout(table, sink);
    Some(OpsgenieChannel {
        api_key: api_key?,
        url: url.ok()?.map_or_else(
            || OPSGENIE_API_URL.to_string(),
            |url| url.trim_end_matches('/').to_string(),
        ),
        timeout: timeout.ok()?,
    })
}

/// A secret the channel cannot work without: reported when it is missing.
fn required_secret(
    table: &mut TableReader<'_, '_>,
    sink: &mut Sink<'_>,
    base_dir: &Path,
    key: &'static str,
    what: &str,
    meaning: &str,
) -> Option<crate::plan::launch::SecretSource> {
    match read_secret(table, sink, base_dir, key, what) {
        Ok(Some(source)) => Some(source),
        Ok(None) => {
            sink.error(
                table.span(),
                &table.key_path(key),
                format!("missing `{key}`: {meaning}"),
                Some(format!(
                    "add `{key} = {{ env = \"VAR\" }}` or `{key} = {{ file = \"path\" }}`; it is a secret and never written in the plan"
                )),
            );
            None
        }
        Err(Reported) => None,
    }
}

/// A delivery's `timeout` (default 10s, at least 1s).
fn delivery_timeout(
    table: &mut TableReader<'_, '_>,
    sink: &mut Sink<'_>,
) -> Result<Duration, Reported> {
    table.duration_within(
        sink,
        "timeout",
        DEFAULT_DELIVERY_TIMEOUT,
        Duration::from_secs(1),
        None,
    )
}

/// `kind = "webhook"`.
fn read_webhook(
    table: &mut TableReader<'_, '_>,
    sink: &mut Sink<'_>,
    base_dir: &Path,
) -> Option<WebhookChannel> {
    let url = read_secret_url(table, sink, base_dir, "url", true);
    let format = match table.get_str(sink, "format") {
        Ok(None) => Ok(WebhookFormat::Slack),
        Ok(Some(text)) => parse_choice(
            sink,
            &table.key_path("format"),
            &text,
            "webhook format",
            &[
                ("slack", WebhookFormat::Slack),
                ("golive", WebhookFormat::Golive),
                ("teams", WebhookFormat::Teams),
                ("discord", WebhookFormat::Discord),
            ],
        ),
        Err(reported) => Err(reported),
    };
    let headers = read_webhook_headers(table, sink);
    let hmac_secret = read_secret(table, sink, base_dir, "hmac_secret", "HMAC secret");
    let hmac_header = table
        .get_str(sink, "hmac_header")
        .and_then(|name| match name {
            None => Ok(DEFAULT_HMAC_HEADER.to_string()),
            Some(name) => {
                if reqwest::header::HeaderName::from_bytes(name.get_ref().as_bytes()).is_ok() {
                    return Ok(name.into_inner());
                }
                sink.error(
                    name.span(),
                    &table.key_path("hmac_header"),
                    format!("`{}` is not an HTTP header name", name.get_ref()),
                    Some(format!(
                        "use letters, digits and `-`, e.g. `{DEFAULT_HMAC_HEADER}`"
                    )),
                );
                Err(Reported)
            }
        });
    let timeout = table.duration_within(
        sink,
        "timeout",
        DEFAULT_DELIVERY_TIMEOUT,
        Duration::from_secs(1),
        None,
    );
    Some(WebhookChannel {
        url: url.ok()??,
        format: format.ok()?,
        headers: headers.ok()?,
        hmac_secret: hmac_secret.ok()?,
        hmac_header: hmac_header.ok()?,
        timeout: timeout.ok()?,
    })
}

/// A webhook's `headers`: valid HTTP headers, none of them a credential written inline.
fn read_webhook_headers(
    table: &mut TableReader<'_, '_>,
    sink: &mut Sink<'_>,
) -> Result<Vec<(String, String)>, Reported> {
    let Some(pairs) = table.get_str_table(sink, "headers")? else {
        return Ok(Vec::new());
    };
    let mut headers = Vec::new();
    let mut bad = false;
    for (name, value) in pairs {
        let path = format!("{}.{}", table.key_path("headers"), name.get_ref());
        let lower = name.get_ref().to_ascii_lowercase();
        if lower == "authorization" || lower == "proxy-authorization" {
            sink.error(
                name.span(),
                &path,
                format!(
                    "an `{}` header must not be written in the plan: it is a credential",
                    name.get_ref()
                ),
                Some("secrets come from the environment or a file only: put a token-bearing URL in `url = { env = \"VAR\" }`, or sign requests with `hmac_secret = { env = \"VAR\" }`".to_string()),
            );
            bad = true;
        } else if valid_header(sink, &path, &name, &value) {
            headers.push((name.into_inner(), value.into_inner()));
        } else {
            bad = true;
        }
    }
    if bad { Err(Reported) } else { Ok(headers) }
}

/// Section `[alerting]` (optional): everything of [`Alerting`] but the other sections.
fn read_section(
    root: &mut TableReader<'_, '_>,
    sink: &mut Sink<'_>,
    base_dir: &Path,
    channel_ids: &Ids,
    policy_ids: &Ids,
) -> Result<Alerting, Reported> {
    let Some(mut table) = root.get_table(sink, "alerting")? else {
        return Ok(Alerting::default());
    };
    let defaults = Alerting::default();
    let severity_policies = read_severity_policies(&mut table, sink, policy_ids);
    let group_window = table.duration_within(
        sink,
        "group_window",
        defaults.group_window,
        Duration::ZERO,
        Some(MAX_GROUP_WINDOW),
    );
    let delivery_max_age = table.duration_within(
        sink,
        "delivery_max_age",
        defaults.delivery_max_age,
        MIN_AGE,
        None,
    );
    let fallback_channel = table.get_str(sink, "fallback_channel").and_then(|name| {
        let Some(name) = name else {
            return Ok(None);
        };
        let path = table.key_path("fallback_channel");
        if reference_exists(sink, &path, &name, channel_ids, "channel", "[[channels]]") {
            Ok(Some(name.into_inner()))
        } else {
            Err(Reported)
        }
    });
    let public_url = read_plain_url(
        &mut table,
        sink,
        "public_url",
        false,
        "https://golive.shop.example",
    );
    let ack_link_ttl =
        table.duration_within(sink, "ack_link_ttl", defaults.ack_link_ttl, MIN_AGE, None);
    let ack_link_secret = read_secret(
        &mut table,
        sink,
        base_dir,
        "ack_link_secret",
        "acknowledgement link key",
    );
    let outbox_dir = table.get_str(sink, "outbox_dir").and_then(|dir| match dir {
        None => Ok(None),
        Some(dir) if dir.get_ref().trim().is_empty() => {
            sink.error(
                dir.span(),
                &table.key_path("outbox_dir"),
                "`outbox_dir` must not be empty",
                Some("remove the key to use `outbox` in the data directory".to_string()),
            );
            Err(Reported)
        }
        Some(dir) => Ok(Some(base_dir.join(dir.get_ref()))),
    });
    table.finish(sink);
    Ok(Alerting {
        severity_policies: severity_policies?,
        group_window: group_window?,
        delivery_max_age: delivery_max_age?,
        fallback_channel: fallback_channel?,
        public_url: public_url?,
        ack_link_ttl: ack_link_ttl?,
        ack_link_secret: ack_link_secret?,
        outbox_dir: outbox_dir?,
        ..defaults
    })
}

/// `policies = { critical = "page", warning = "team" }`: severity → escalation policy id.
fn read_severity_policies(
    table: &mut TableReader<'_, '_>,
    sink: &mut Sink<'_>,
    policy_ids: &Ids,
) -> Result<std::collections::BTreeMap<Severity, String>, Reported> {
    let mut policies = std::collections::BTreeMap::new();
    let Some(entries) = table.get_entries(sink, "policies")? else {
        return Ok(policies);
    };
    let mut bad = false;
    for entry in entries.get_ref() {
        let path = format!("{}.{}", table.key_path("policies"), entry.key.get_ref());
        let severity = parse_name::<Severity>(sink, &path, &entry.key, "severity");
        let policy = match entry.value.get_ref() {
            DeValue::String(text) => {
                let name = Spanned::new(entry.value.span(), text.to_string());
                reference_exists(
                    sink,
                    &path,
                    &name,
                    policy_ids,
                    "escalation policy",
                    "[[escalation]]",
                )
                .then_some(name.into_inner())
            }
            other => {
                sink.error(
                    entry.value.span(),
                    &path,
                    format!(
                        "expected the id of an escalation policy, found {} `{}`",
                        other.type_str(),
                        sink.snippet(entry.value.span())
                    ),
                    Some(format!("write `{} = \"policy-id\"`", entry.key.get_ref())),
                );
                None
            }
        };
        match (severity, policy) {
            (Some(severity), Some(policy)) => {
                policies.insert(severity, policy);
            }
            _ => bad = true,
        }
    }
    if bad { Err(Reported) } else { Ok(policies) }
}
