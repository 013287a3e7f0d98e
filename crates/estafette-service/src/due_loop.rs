//! The loop of work that falls due (delayed events, push delivery): every process runs it,
//! the work itself claims what it does in the database.

use std::future::Future;
use std::time::Duration;

use tokio::sync::Notify;

use crate::{Context, ServiceResult};

/// How often the loop looks at the clock: due work goes out within this.
const TICK: Duration = Duration::from_millis(250);
/// How long a wake waits for the ones right behind it: a burst costs one pass, and new work
/// waits no longer than this (a push should ring at once).
const GATHER: Duration = Duration::from_millis(5);
/// How often the loop runs a pass anyway (work other processes stored and left), in the
/// server's time.
const RESCAN_MS: u64 = 5_000;

/// Runs `pass` until the server stops: soon after `wake`, when the time the last pass
/// returned comes, and every few seconds.
pub(crate) async fn run<F, Fut>(context: &Context, wake: &Notify, what: &str, mut pass: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = ServiceResult<Option<u64>>>,
{
    let mut next: Option<u64> = None;
    let mut passed_at: Option<u64> = None;
    let mut woken = true;
    loop {
        let now = context.now();
        if woken
            || passed_at.is_none_or(|at| now.saturating_sub(at) >= RESCAN_MS)
            || next.is_some_and(|at| at <= now)
        {
            woken = false;
            match pass().await {
                Ok(due) => next = due,
                Err(err) => tracing::warn!("{what} failed: {err}"),
            }
            passed_at = Some(now);
        }
        let tick = tokio::time::sleep(TICK);
        tokio::pin!(tick);
        tokio::select! {
            () = wake.notified() => {
                woken = true;
                tokio::time::sleep(GATHER).await;
            }
            () = &mut tick => {}
        }
    }
}
