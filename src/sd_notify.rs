//! systemd's notify protocol (`sd_notify(3)`), so golive runs as a `Type=notify` service with a
//! watchdog: `READY=1` once the store is open and the listener bound, `WATCHDOG=1` every half
//! `WATCHDOG_USEC` only while the engine's and the dispatcher's loops turn (the [`Liveness`] the
//! heartbeat asks too), `STOPPING=1` when shutdown begins, `EXTEND_TIMEOUT_USEC` while a stop
//! waits for sends in flight ([`notify_extend_stop`]), and `RELOADING=1` / `READY=1` around a
//! reload ([`notify_reloading`], [`notify_ready`]). A wedged engine stops the pings, so systemd
//! kills and restarts golive, as a dead-man's switch would page about it.
//!
//! A message is one datagram to the Unix socket `$NOTIFY_SOCKET` names: a path, or an abstract
//! name written `@name`. Without that variable (golive not started by systemd) every function here
//! does nothing. Sending never blocks and never fails the daemon: the socket is non-blocking and a
//! message that cannot be sent is logged. Only the store's failures do not stop the pings: a
//! restart frees no disk space, while the running daemon keeps answering and names the trouble.

use std::sync::Arc;
use std::time::Duration;

use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::liveness::Liveness;

/// The variable systemd sets to the socket it listens on.
pub const NOTIFY_SOCKET_ENV: &str = "NOTIFY_SOCKET";
/// The watchdog's timeout in microseconds, set by systemd with `WatchdogSec=`.
pub const WATCHDOG_USEC_ENV: &str = "WATCHDOG_USEC";
/// The process the watchdog is meant for; another process's watchdog is left alone.
pub const WATCHDOG_PID_ENV: &str = "WATCHDOG_PID";

/// Tells systemd golive is ready (at start, and again after a reload), with a status line that
/// `systemctl status` shows.
pub fn notify_ready(status: &str) {
    notify(&format!("READY=1\nSTATUS={}\n", one_line(status)));
}

/// Tells systemd golive is re-reading its plan; call [`notify_ready`] when the reload is done
/// (applied or refused). systemd 253 and later want the monotonic time beside `RELOADING=1`.
pub fn notify_reloading() {
    let mut message = String::from("RELOADING=1\nSTATUS=reloading the plan\n");
    #[cfg(unix)]
    match sd_notify::NotifyState::monotonic_usec_now() {
        Ok(now) => message.push_str(&format!("{now}\n")),
        Err(error) => tracing::warn!(%error, "cannot read the monotonic clock for systemd"),
    }
    notify(&message);
}

/// Changes the status line `systemctl status` shows (a standby that became the active one).
pub fn notify_status(status: &str) {
    notify(&format!("STATUS={}\n", one_line(status)));
}

/// One watchdog ping, when systemd asked this process for pings: a standby's waiting loop sends
/// them, as the engine does not run yet.
pub fn notify_watchdog() {
    let asked = watchdog_interval(
        std::env::var(WATCHDOG_USEC_ENV).ok().as_deref(),
        std::env::var(WATCHDOG_PID_ENV).ok().as_deref(),
        std::process::id(),
    );
    if asked.is_some() {
        notify("WATCHDOG=1\n");
    }
}

/// Tells systemd golive is stopping (so a stop is not taken for a crash, and the watchdog is off).
pub fn notify_stopping() {
    notify("STOPPING=1\nSTATUS=stopping: finishing in-flight requests\n");
}

/// Asks systemd to wait `for_at_least` more before it kills a stopping golive
/// (`EXTEND_TIMEOUT_USEC`, systemd 236 and later): a stop that waits for sends in flight may
/// take longer than the unit's `TimeoutStopSec=`, and a kill then leaves their outcome unrecorded.
pub fn notify_extend_stop(for_at_least: Duration, status: &str) {
    notify(&format!(
        "EXTEND_TIMEOUT_USEC={}\nSTATUS={} (up to {} s)\n",
        for_at_least.as_micros(),
        one_line(status),
        for_at_least.as_secs()
    ));
}

/// golive as a systemd service: ready, watched, stopping. See the module documentation.
pub struct Service {
    /// The watchdog task and what stops it, when systemd asked for pings.
    watchdog: Option<(CancellationToken, JoinHandle<()>)>,
}

impl Service {
    /// Sends `READY=1` with `status`, and starts the watchdog pings when `WATCHDOG_USEC` asks for
    /// them (and `WATCHDOG_PID`, when set, is this process).
    pub fn ready(status: &str, liveness: Arc<Liveness>) -> Service {
        notify_ready(status);
        let every = watchdog_interval(
            std::env::var(WATCHDOG_USEC_ENV).ok().as_deref(),
            std::env::var(WATCHDOG_PID_ENV).ok().as_deref(),
            std::process::id(),
        );
        let watchdog = every.map(|every| {
            tracing::info!(
                every_seconds = every.as_secs_f64(),
                "systemd watchdog on: pings while the engine and the dispatcher work"
            );
            let stop = CancellationToken::new();
            let task = tokio::spawn(ping_while_alive(liveness, every, stop.clone()));
            (stop, task)
        });
        Service { watchdog }
    }

    /// Stops the pings and sends `STOPPING=1`.
    pub async fn stopping(self) {
        if let Some((stop, task)) = self.watchdog {
            stop.cancel();
            let _ = task.await;
        }
        notify_stopping();
    }
}

/// How often to ping: half the watchdog's timeout, so one late ping is not yet a restart. `None`
/// when no watchdog is set, or it is meant for another process.
fn watchdog_interval(usec: Option<&str>, pid: Option<&str>, own_pid: u32) -> Option<Duration> {
    let usec = usec?.trim().parse::<u64>().ok().filter(|usec| *usec > 0)?;
    if let Some(pid) = pid
        && pid.trim().parse::<u32>().ok() != Some(own_pid)
    {
        return None;
    }
    Some(Duration::from_micros(usec) / 2)
}

/// Pings every `every` while neither the engine nor the dispatcher is stuck; logs when the pings
/// stop and start again.
async fn ping_while_alive(liveness: Arc<Liveness>, every: Duration, stop: CancellationToken) {
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut pinging = true;
    loop {
        tokio::select! {
            () = stop.cancelled() => break,
            _ = tick.tick() => {}
        }
        let status = liveness.status();
        let alive = !status.engine_stuck && !status.dispatcher_stuck;
        if alive {
            notify("WATCHDOG=1\n");
        }
        if alive != pinging {
            if alive {
                tracing::info!("systemd watchdog pings resume: the engine and the dispatcher work");
            } else {
                tracing::error!(stuck = %status.describe(), "systemd watchdog pings stop: systemd restarts golive when its WatchdogSec= passes");
            }
            pinging = alive;
        }
    }
}

/// A status text on one line: a newline would end the `STATUS=` assignment and start another.
fn one_line(text: &str) -> String {
    text.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect()
}

/// Sends `message` when systemd listens; a failure is logged, never fatal.
fn notify(message: &str) {
    if let Err(error) = send(message) {
        tracing::warn!(%error, "cannot send a notification to systemd ({NOTIFY_SOCKET_ENV})");
    }
}

#[cfg(unix)]
fn send(message: &str) -> std::io::Result<()> {
    use std::os::unix::net::UnixDatagram;

    let Some(name) = std::env::var_os(NOTIFY_SOCKET_ENV).filter(|name| !name.is_empty()) else {
        return Ok(());
    };
    let address = socket_address(&name)?;
    let socket = UnixDatagram::unbound()?;
    socket.set_nonblocking(true)?;
    socket.send_to_addr(message.as_bytes(), &address)?;
    Ok(())
}

#[cfg(not(unix))]
fn send(_message: &str) -> std::io::Result<()> {
    Ok(())
}

/// `@name` is an abstract socket (Linux), anything else a path.
#[cfg(unix)]
fn socket_address(name: &std::ffi::OsStr) -> std::io::Result<std::os::unix::net::SocketAddr> {
    use std::os::unix::ffi::OsStrExt;
    use std::os::unix::net::SocketAddr;

    match name.as_bytes().strip_prefix(b"@") {
        #[cfg(any(target_os = "linux", target_os = "android"))]
        Some(abstract_name) => {
            #[cfg(target_os = "android")]
            use std::os::android::net::SocketAddrExt;
            #[cfg(target_os = "linux")]
            use std::os::linux::net::SocketAddrExt;
            SocketAddr::from_abstract_name(abstract_name)
        }
        _ => SocketAddr::from_pathname(std::path::Path::new(name)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_watchdog_pings_at_half_its_timeout_for_this_process_only() {
        let own = 4242;
        assert_eq!(
            watchdog_interval(Some("30000000"), None, own),
            Some(Duration::from_secs(15))
        );
        assert_eq!(
            watchdog_interval(Some("1000000"), Some("4242"), own),
            Some(Duration::from_millis(500))
        );
        assert_eq!(watchdog_interval(Some("1000000"), Some("1"), own), None);
        assert_eq!(watchdog_interval(Some("1000000"), Some("x"), own), None);
        assert_eq!(watchdog_interval(None, Some("4242"), own), None);
        assert_eq!(watchdog_interval(Some("0"), None, own), None);
        assert_eq!(watchdog_interval(Some("soon"), None, own), None);
    }

    #[test]
    fn a_status_with_a_newline_stays_one_assignment() {
        assert_eq!(
            one_line("launch \"Shop\nREADY=1\r\""),
            "launch \"Shop READY=1 \""
        );
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn an_abstract_name_and_a_path_are_both_addresses() {
        use std::ffi::OsStr;

        let abstract_address = socket_address(OsStr::new("@golive/test")).expect("abstract");
        assert!(abstract_address.as_pathname().is_none());
        let path = socket_address(OsStr::new("/run/systemd/notify")).expect("path");
        assert_eq!(
            path.as_pathname(),
            Some(std::path::Path::new("/run/systemd/notify"))
        );
    }
}
