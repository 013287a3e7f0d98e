use std::sync::Arc;
use std::time::Duration;

use super::ClusterMessage;
use super::notifier::{ClusterNotifier, Envelope};
use crate::{Notifier, ServiceResult, Services};

/// Starts applying what the server's other processes relay. Nothing to do on a backend that
/// runs one process only.
pub async fn join(services: &Services, notifier: Arc<ClusterNotifier>) -> ServiceResult<()> {
    let Some(mut messages) = services.context.storage.cluster.listen().await? else {
        return Ok(());
    };
    // A process that died leaves its destinations' leases to expire; the survivors look for
    // queued deliveries regularly and take them over.
    // Stream positions of writers that rolled back or died are forgotten as well.
    let sender = services.federation_sender.clone();
    let streams = services.context.storage.streams.clone();
    let period = Duration::from_millis(services.context.config.federation.lease_ms / 2 + 1);
    tokio::spawn(async move {
        loop {
            tokio::time::sleep(period).await;
            if let Err(err) = sender.resume().await {
                tracing::warn!(error = %err, "cluster: cannot look for deliveries to take over");
            }
            if let Err(err) = streams.clear_abandoned().await {
                tracing::warn!(error = %err, "cluster: cannot clear abandoned stream positions");
            }
        }
    });
    let services = services.clone();
    tokio::spawn(async move {
        while let Some(raw) = messages.recv().await {
            if raw.is_empty() {
                // Messages may have been lost while the connection was down: deliveries that
                // another process asked for are picked up again.
                if let Err(err) = services.federation_sender.resume().await {
                    tracing::warn!(error = %err, "cluster: cannot resume deliveries");
                }
                continue;
            }
            let envelope: Envelope = match serde_json::from_str(&raw) {
                Ok(envelope) => envelope,
                Err(err) => {
                    tracing::warn!(error = %err, "cluster: an unreadable message");
                    continue;
                }
            };
            if envelope.from != notifier.instance()
                && let Err(err) = apply(&services, &*notifier, envelope.message).await
            {
                tracing::warn!(error = %err, "cluster: cannot apply a relayed change");
            }
        }
    });
    Ok(())
}

async fn apply(
    services: &Services,
    notifier: &dyn Notifier,
    message: ClusterMessage,
) -> ServiceResult<()> {
    match message {
        ClusterMessage::Wake { users, position } => notifier.notify_here(&users, position),
        ClusterMessage::Typing {
            room_id,
            user_id,
            typing,
            timeout_ms,
            position,
        } => {
            let timeout = Duration::from_millis(timeout_ms);
            return services
                .typing
                .record_relayed(&room_id, &user_id, typing, timeout, position)
                .await;
        }
        ClusterMessage::Evict { event_id } => services.rooms.evict(&event_id),
        ClusterMessage::Deliver { destination } => {
            services.federation_sender.deliver_here(destination)
        }
    }
    Ok(())
}
