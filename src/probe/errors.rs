//! Turning transport errors into reasons a person can act on: `connection refused`,
//! `TLS: certificate expired 2026-11-20`, `DNS: cannot resolve shop.example`, ...
//!
//! reqwest wraps hyper, which wraps rustls or the operating system's error; the useful part is at
//! the bottom of the `source()` chain. `std::io::Error` hides the error it wraps from `source()`,
//! so the walk also looks inside every `io::Error` with `get_ref()`.

use std::error::Error as StdError;
use std::io::ErrorKind;

use rustls::CertificateError;
use rustls::pki_types::ServerName;

/// A reason for a failed request or connection.
pub(crate) fn transport_reason(error: &(dyn StdError + 'static)) -> String {
    let mut messages = Vec::new();
    for cause in causes(error) {
        if let Some(tls) = cause.downcast_ref::<rustls::Error>() {
            return tls_reason(tls);
        }
        if let Some(io) = cause.downcast_ref::<std::io::Error>()
            && let Some(reason) = io_reason(io)
        {
            return reason;
        }
        // reqwest's own message names the URL, which may carry credentials or a long query.
        if cause.downcast_ref::<reqwest::Error>().is_none() {
            messages.push(cause.to_string());
        }
    }
    if let Some(reqwest) = error.downcast_ref::<reqwest::Error>() {
        if reqwest.is_redirect() {
            return "too many redirects".to_string();
        }
        if reqwest.is_timeout() {
            return "timeout".to_string();
        }
    }
    // hyper-util reports a failed lookup as "dns error" with the resolver's message below it.
    if messages.iter().any(|message| message == "dns error") {
        let detail = messages.last().cloned().unwrap_or_default();
        let host = error
            .downcast_ref::<reqwest::Error>()
            .and_then(reqwest::Error::url)
            .and_then(|url| url.host_str().map(str::to_string))
            .unwrap_or_default();
        return format!("DNS: cannot resolve {host}: {detail}");
    }
    if messages
        .iter()
        .any(|message| message.contains("connection closed before message completed"))
    {
        return "connection closed before a response".to_string();
    }
    // The innermost message is usually the most specific one.
    if let Some(innermost) = messages.last() {
        return innermost.clone();
    }
    let kind = error.downcast_ref::<reqwest::Error>().map(|reqwest| {
        if reqwest.is_builder() {
            "invalid request (check the url, method and headers)"
        } else if reqwest.is_connect() {
            "cannot connect"
        } else if reqwest.is_body() || reqwest.is_decode() {
            "unreadable response body"
        } else {
            "the request failed"
        }
    });
    kind.unwrap_or("the request failed").to_string()
}

/// Every error in the chain, including those wrapped inside `io::Error`s.
fn causes<'a>(error: &'a (dyn StdError + 'static)) -> Vec<&'a (dyn StdError + 'static)> {
    let mut found = Vec::new();
    let mut next = Some(error);
    while let Some(cause) = next {
        found.push(cause);
        if found.len() > 32 {
            break;
        }
        next = match cause.downcast_ref::<std::io::Error>() {
            Some(io) => match io.get_ref() {
                Some(inner) => Some(inner as &(dyn StdError + 'static)),
                None => None,
            },
            None => cause.source(),
        };
    }
    found
}

/// A reason for an operating-system error, when its kind says it all.
pub(crate) fn io_reason(error: &std::io::Error) -> Option<String> {
    let reason = match error.kind() {
        ErrorKind::ConnectionRefused => "connection refused",
        ErrorKind::ConnectionReset | ErrorKind::ConnectionAborted | ErrorKind::BrokenPipe => {
            "connection reset"
        }
        ErrorKind::HostUnreachable => "host unreachable",
        ErrorKind::NetworkUnreachable => "network unreachable",
        ErrorKind::TimedOut => "connection timed out",
        ErrorKind::UnexpectedEof => "connection closed before a response",
        _ => return None,
    };
    Some(reason.to_string())
}

/// A reason for a TLS handshake failure.
pub(crate) fn tls_reason(error: &rustls::Error) -> String {
    let detail = match error {
        rustls::Error::InvalidCertificate(certificate) => match certificate {
            CertificateError::ExpiredContext { not_after, .. } => {
                format!("certificate expired {}", date_of(not_after.as_secs()))
            }
            CertificateError::Expired => "certificate expired".to_string(),
            CertificateError::NotValidYetContext { not_before, .. } => {
                format!(
                    "certificate not valid before {}",
                    date_of(not_before.as_secs())
                )
            }
            CertificateError::NotValidYet => "certificate not valid yet".to_string(),
            CertificateError::UnknownIssuer => {
                "certificate not trusted (unknown issuer; self-signed?)".to_string()
            }
            CertificateError::NotValidForNameContext {
                expected,
                presented,
            } => format!(
                "certificate is for {}, not {}",
                presented_names(presented),
                server_name(expected)
            ),
            CertificateError::NotValidForName => {
                "certificate is not valid for this host name".to_string()
            }
            CertificateError::Revoked => "certificate revoked".to_string(),
            CertificateError::BadSignature => "certificate has a bad signature".to_string(),
            other => format!("invalid certificate: {other}"),
        },
        rustls::Error::AlertReceived(alert) => {
            format!("the server refused the handshake ({alert:?})")
        }
        rustls::Error::InvalidMessage(_) => {
            "the server did not speak TLS (plain HTTP on an https URL?)".to_string()
        }
        other => other.to_string(),
    };
    format!("TLS: {detail}")
}

/// The names a certificate was presented for, as webpki lists them (`DnsName("a.example")`).
fn presented_names(presented: &[String]) -> String {
    if presented.is_empty() {
        return "no name".to_string();
    }
    presented
        .iter()
        .map(|name| {
            name.strip_prefix("DnsName(\"")
                .or_else(|| name.strip_prefix("IpAddress("))
                .map(|rest| rest.trim_end_matches(')').trim_end_matches('"'))
                .unwrap_or(name)
                .to_string()
        })
        .collect::<Vec<_>>()
        .join(", ")
}

fn server_name(name: &ServerName<'_>) -> String {
    match name {
        ServerName::DnsName(dns) => dns.as_ref().to_string(),
        ServerName::IpAddress(ip) => std::net::IpAddr::from(*ip).to_string(),
        other => format!("{other:?}"),
    }
}

/// The UTC calendar date of a Unix time, e.g. `2026-11-20`.
pub(crate) fn date_of(unix_seconds: u64) -> String {
    i64::try_from(unix_seconds)
        .ok()
        .and_then(|seconds| jiff::Timestamp::from_second(seconds).ok())
        .map(|at| at.strftime("%Y-%m-%d").to_string())
        .unwrap_or_else(|| "in the far future".to_string())
}

/// The error and its causes on one line, `a: b: c` (for logs and setup problems).
pub(crate) fn chain(error: &(dyn StdError + 'static)) -> String {
    causes(error)
        .iter()
        .map(|cause| cause.to_string())
        .collect::<Vec<_>>()
        .join(": ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn presented_names_lose_their_debug_wrapping() {
        let names = vec!["DnsName(\"other.example\")".to_string()];
        assert_eq!(presented_names(&names), "other.example");
    }

    #[test]
    fn an_expired_certificate_names_its_expiry_date() {
        let error = rustls::Error::InvalidCertificate(CertificateError::ExpiredContext {
            time: rustls::pki_types::UnixTime::since_unix_epoch(Duration::from_secs(1_795_000_000)),
            not_after: rustls::pki_types::UnixTime::since_unix_epoch(Duration::from_secs(
                1_794_960_000,
            )),
        });
        assert_eq!(tls_reason(&error), "TLS: certificate expired 2026-11-18");
    }
}
