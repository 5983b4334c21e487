//! The tcp executor: a connection to `host:port`, closed as soon as it is open.

use std::time::{Duration, Instant};

use super::errors::io_reason;
use crate::core::health::{Outcome, ProbeResult};
use crate::plan::checks::TcpCheck;

pub(super) async fn probe(check: &TcpCheck) -> ProbeResult {
    let started = Instant::now();
    match tokio::net::TcpStream::connect(check.address.as_str()).await {
        Ok(stream) => {
            drop(stream);
            let latency = started.elapsed();
            ProbeResult::new(
                Outcome::Healthy,
                format!("connected in {}", crate::human::latency(latency)),
                latency,
            )
        }
        Err(error) => ProbeResult::new(
            Outcome::Failing,
            reason(&check.address, &error),
            Duration::ZERO,
        ),
    }
}

/// `connection refused`, or for a failed lookup `DNS: cannot resolve shop.example: ...`.
fn reason(address: &str, error: &std::io::Error) -> String {
    if let Some(reason) = io_reason(error) {
        return reason;
    }
    let message = error.to_string();
    if message.contains("lookup") || message.contains("resolve") {
        let host = address.rsplit_once(':').map_or(address, |(host, _)| host);
        return format!("DNS: cannot resolve {host}: {message}");
    }
    message
}
