//! Outbound federation: a persistent queue per destination. Events and EDUs are written to the
//! outbox first, then one task per destination sends them in transactions of at most 50 PDUs
//! and 100 EDUs, in order, deleting them only once the destination accepted the transaction.
//! A destination that fails is retried with exponential backoff up to a cap; a request from it
//! (it is back) ends the wait at once. Memory stays bounded: the queue lives in the database.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use ruma::api::federation::transactions::send_transaction_message::v1 as send_transaction;
use ruma::{MilliSecondsSinceUnixEpoch, OwnedServerName, ServerName, UInt};
use serde_json::value::RawValue as RawJsonValue;
use tokio::sync::Notify;

use crate::{Context, FederationService, ServiceError, ServiceResult};

/// The spec's limits for one transaction.
pub const MAX_PDUS_PER_TRANSACTION: u32 = 50;
pub const MAX_EDUS_PER_TRANSACTION: u32 = 100;

#[derive(Clone)]
pub struct FederationSender {
    pub(crate) context: Arc<Context>,
    federation: FederationService,
    /// The destinations with a delivery task, and how to wake it early.
    running: Arc<Mutex<HashMap<OwnedServerName, Arc<Notify>>>>,
    /// Distinguishes this process's transaction IDs from those of an earlier run.
    run_id: String,
}

impl FederationSender {
    pub(crate) fn new(context: Arc<Context>, federation: FederationService) -> Self {
        let run_id = context.random.alphanumeric(8);
        Self {
            context,
            federation,
            running: Arc::default(),
            run_id,
        }
    }

    /// Queues a PDU (its canonical JSON) for each destination other than this server.
    pub(crate) async fn enqueue_pdu(
        &self,
        destinations: impl IntoIterator<Item = OwnedServerName>,
        pdu_json: &str,
    ) -> ServiceResult<()> {
        self.enqueue(destinations, "pdu", pdu_json).await
    }

    /// Queues an EDU (`{"edu_type": …, "content": …}`) for each destination.
    pub(crate) async fn enqueue_edu(
        &self,
        destinations: impl IntoIterator<Item = OwnedServerName>,
        edu: &serde_json::Value,
    ) -> ServiceResult<()> {
        self.enqueue(destinations, "edu", &edu.to_string()).await
    }

    async fn enqueue(
        &self,
        destinations: impl IntoIterator<Item = OwnedServerName>,
        kind: &str,
        payload: &str,
    ) -> ServiceResult<()> {
        let mut destinations: Vec<OwnedServerName> = destinations
            .into_iter()
            .filter(|d| *d != self.context.server_name && self.federation.allowed(d))
            .collect();
        destinations.sort();
        destinations.dedup();
        if destinations.is_empty() || self.context.config.federation.listen.is_none() {
            return Ok(());
        }
        self.context
            .storage
            .federation_outbox
            .enqueue(&destinations, kind, payload)
            .await?;
        for destination in destinations {
            // Whichever process of the server holds the destination's lease sends it.
            self.context
                .notifier
                .broadcast(crate::cluster::ClusterMessage::Deliver {
                    destination: destination.clone(),
                });
            self.kick(destination);
        }
        Ok(())
    }

    /// Another process of this server queued something for `destination`.
    pub(crate) fn deliver_here(&self, destination: OwnedServerName) {
        if self.context.config.federation.listen.is_some() {
            self.kick(destination);
        }
    }

    /// Starts delivering whatever an earlier run left queued.
    pub async fn resume(&self) -> ServiceResult<()> {
        if self.context.config.federation.listen.is_none() {
            return Ok(());
        }
        for destination in self
            .context
            .storage
            .federation_outbox
            .destinations()
            .await?
        {
            self.kick(destination);
        }
        Ok(())
    }

    /// `server` just talked to us, so it is up: a delivery waiting out a backoff goes now.
    pub fn peer_is_up(&self, server: &ServerName) {
        if let Some(notify) = self.lock_running().get(server) {
            notify.notify_one();
        }
    }

    fn lock_running(&self) -> std::sync::MutexGuard<'_, HashMap<OwnedServerName, Arc<Notify>>> {
        self.running.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Makes sure a task delivers to `destination`.
    fn kick(&self, destination: OwnedServerName) {
        let mut running = self.lock_running();
        if let Some(notify) = running.get(&destination) {
            notify.notify_one();
            return;
        }
        let notify = Arc::new(Notify::new());
        running.insert(destination.clone(), notify.clone());
        drop(running);
        let sender = self.clone();
        tokio::spawn(async move { sender.deliver(destination, notify).await });
    }

    async fn deliver(self, destination: OwnedServerName, notify: Arc<Notify>) {
        let outbox = &self.context.storage.federation_outbox;
        // A backoff recorded by an earlier run is waited out once.
        if let Ok(Some(retry_at)) = outbox.retry_at(&destination).await {
            let wait = retry_at.saturating_sub(self.context.now());
            self.wait(&notify, Duration::from_millis(wait)).await;
        }
        let mut failures = 0;
        loop {
            // Only the holder of the destination's lease delivers, so that nothing goes out
            // twice or out of order when several processes share the queue.
            let now = self.context.now();
            let until = now.saturating_add(self.context.config.federation.lease_ms);
            match outbox
                .acquire_lease(&destination, &self.run_id, now, until)
                .await
            {
                Ok(true) => {}
                Ok(false) => {
                    self.lock_running().remove(&destination);
                    return;
                }
                Err(e) => {
                    tracing::warn!(%destination, "cannot take the delivery lease: {e}");
                    self.wait(&notify, Duration::from_secs(1)).await;
                    continue;
                }
            }
            let items = match outbox
                .pending(
                    &destination,
                    MAX_PDUS_PER_TRANSACTION,
                    MAX_EDUS_PER_TRANSACTION,
                )
                .await
            {
                Ok(items) => items,
                Err(e) => {
                    tracing::warn!(%destination, "cannot read the federation outbox: {e}");
                    self.wait(&notify, Duration::from_secs(1)).await;
                    continue;
                }
            };
            if items.is_empty() {
                self.lock_running().remove(&destination);
                if let Err(e) = outbox.release_lease(&destination, &self.run_id).await {
                    tracing::warn!(%destination, "cannot release the delivery lease: {e}");
                }
                // Something queued after the read above would have found this task still
                // registered; look once more now that it is not.
                if outbox
                    .pending(&destination, 1, 1)
                    .await
                    .is_ok_and(|items| !items.is_empty())
                {
                    self.kick(destination);
                }
                return;
            }
            match self.send_transaction(&destination, &items).await {
                Ok(()) => {
                    failures = 0;
                    let ids: Vec<i64> = items.iter().map(|item| item.id).collect();
                    if let Err(e) = outbox.delivered(&destination, &ids).await {
                        tracing::warn!(%destination, "cannot update the federation outbox: {e}");
                    }
                    if let Err(e) = outbox.record_success(&destination).await {
                        tracing::warn!(%destination, "cannot clear the backoff: {e}");
                    }
                }
                Err(e) => {
                    let delay = self.record_failure(&destination, failures).await;
                    failures = failures.saturating_add(1);
                    tracing::info!(%destination, "delivery failed, retrying in {delay:?}: {e}");
                    self.wait(&notify, delay).await;
                }
            }
        }
    }

    async fn wait(&self, notify: &Notify, delay: Duration) {
        tokio::select! {
            () = tokio::time::sleep(delay) => {}
            () = notify.notified() => {}
        }
    }

    /// Records the failure (so a restart keeps waiting) and returns how long to wait.
    async fn record_failure(&self, destination: &ServerName, failures: u32) -> Duration {
        let config = &self.context.config.federation;
        let delay = backoff(config.retry_initial_ms, config.retry_max_ms, failures);
        let retry_at = self.context.now().saturating_add(delay);
        if let Err(e) = self
            .context
            .storage
            .federation_outbox
            .record_failure(destination, retry_at)
            .await
        {
            tracing::warn!(%destination, "cannot record the backoff: {e}");
        }
        Duration::from_millis(delay)
    }

    async fn send_transaction(
        &self,
        destination: &ServerName,
        items: &[estafette_storage::OutboxItem],
    ) -> ServiceResult<()> {
        let mut pdus = Vec::new();
        let mut edus = Vec::new();
        for item in items {
            let raw = RawJsonValue::from_string(item.payload.clone())
                .map_err(|e| ServiceError::Internal(format!("queued item {}: {e}", item.id)))?;
            if item.kind == "pdu" {
                pdus.push(raw);
            } else {
                edus.push(ruma::serde::Raw::from_json(raw));
            }
        }
        let first = items.first().map_or(0, |item| item.id);
        let last = items.last().map_or(0, |item| item.id);
        let txn_id = format!("{}{first}-{last}", self.run_id);
        let now = MilliSecondsSinceUnixEpoch(UInt::new(self.context.now()).unwrap_or_default());
        let mut request =
            send_transaction::Request::new(txn_id.into(), self.context.server_name.clone(), now);
        tracing::debug!(%destination, pdus = pdus.len(), edus = edus.len(), "sending a transaction");
        request.pdus = pdus;
        request.edus = edus;
        let response = self.federation.send(destination, request).await?;
        for (event_id, result) in response.pdus {
            if let Err(error) = result {
                tracing::info!(%destination, %event_id, "the destination refused an event: {error}");
            }
        }
        Ok(())
    }
}

/// `initial × 2^failures`, capped.
fn backoff(initial_ms: u64, max_ms: u64, failures: u32) -> u64 {
    initial_ms
        .saturating_mul(1u64.checked_shl(failures.min(40)).unwrap_or(u64::MAX))
        .min(max_ms)
}

#[cfg(test)]
mod tests {
    use super::backoff;

    #[test]
    fn backoff_doubles_up_to_the_cap() {
        let delays: Vec<u64> = (0..6).map(|n| backoff(100, 1_000, n)).collect();
        assert_eq!(delays, [100, 200, 400, 800, 1_000, 1_000]);
        assert_eq!(backoff(2_000, 600_000, 200), 600_000);
    }
}
