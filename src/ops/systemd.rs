//! systemd's `Type=notify` protocol: READY=1 once the store is open and the
//! sources are started, WATCHDOG=1 while the intake loop comes round, and
//! STOPPING=1 at shutdown. Without `$NOTIFY_SOCKET` every call is a no-op.

use super::health::{watchdog_ok, Health};
use sd_notify::NotifyState;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;

fn notify(state: NotifyState<'_>) {
    if let Err(e) = sd_notify::notify(&[state]) {
        // systemd then restarts or times us out, and says why; the daemon
        // itself is fine.
        tracing::warn!("cannot notify systemd through NOTIFY_SOCKET: {e}");
    }
}

pub fn ready() {
    notify(NotifyState::Ready);
}

pub fn stopping() {
    notify(NotifyState::Stopping);
}

/// Pings systemd's watchdog at half its interval while the intake loop is
/// healthy; stops pinging (so that systemd restarts us) when it hangs.
pub async fn watchdog(health: Arc<Health>, mut shutdown: watch::Receiver<bool>) {
    let Some(limit) = sd_notify::watchdog_enabled() else {
        return;
    };
    let every = (limit / 2).max(Duration::from_millis(50));
    tracing::info!(
        interval_ms = limit.as_millis() as u64,
        "systemd watchdog enabled"
    );
    let mut warned = false;
    loop {
        tokio::select! {
            _ = tokio::time::sleep(every) => {}
            _ = shutdown.changed() => {}
        }
        if *shutdown.borrow() {
            return;
        }
        if watchdog_ok(health.intake(), limit) {
            notify(NotifyState::Watchdog);
            warned = false;
        } else if !warned {
            warned = true;
            tracing::error!(
                "the intake loop has not come round within the watchdog interval; no WATCHDOG=1 is sent, so systemd restarts the daemon"
            );
        }
    }
}
