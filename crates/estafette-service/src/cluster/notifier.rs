use std::sync::Arc;

use estafette_storage::{ClusterFeed, MAX_CLUSTER_MESSAGE};
use ruma::{OwnedUserId, UserId};
use serde::{Deserialize, Serialize};
use tokio::sync::{mpsc, watch};

use super::ClusterMessage;
use crate::{LocalNotifier, Notifier};

/// A message with the process that sent it, so that a process skips its own.
#[derive(Serialize, Deserialize)]
pub(super) struct Envelope {
    pub(super) from: String,
    #[serde(flatten)]
    pub(super) message: ClusterMessage,
}

/// Wakes this process's waiting requests at once and relays every notification (and the other
/// [`ClusterMessage`]s) to the server's other processes, in the order they were made.
pub struct ClusterNotifier {
    local: LocalNotifier,
    instance: String,
    outbox: mpsc::UnboundedSender<String>,
}

impl ClusterNotifier {
    /// `instance` names this process among the server's (random, unique per start).
    pub fn new(feed: Arc<dyn ClusterFeed>, instance: String) -> Self {
        let (outbox, mut pending) = mpsc::unbounded_channel::<String>();
        tokio::spawn(async move {
            while let Some(message) = pending.recv().await {
                if let Err(err) = feed.publish(&message).await {
                    tracing::warn!(error = %err, "cluster: a message to the other processes was lost");
                }
            }
        });
        Self {
            local: LocalNotifier::default(),
            instance,
            outbox,
        }
    }

    pub(super) fn instance(&self) -> &str {
        &self.instance
    }

    fn send(&self, message: ClusterMessage) {
        let envelope = Envelope {
            from: self.instance.clone(),
            message,
        };
        match serde_json::to_string(&envelope) {
            Ok(json) if json.len() <= MAX_CLUSTER_MESSAGE => {
                let _ = self.outbox.send(json);
            }
            Ok(_) => self.split(envelope.message),
            Err(err) => tracing::warn!(error = %err, "cluster: cannot encode a message"),
        }
    }

    /// A wake-up for more users than one message holds goes as several.
    fn split(&self, message: ClusterMessage) {
        match message {
            ClusterMessage::Wake { users, position } if users.len() > 1 => {
                let (first, second) = users.split_at(users.len() / 2);
                for half in [first, second] {
                    self.send(ClusterMessage::Wake {
                        users: half.to_vec(),
                        position,
                    });
                }
            }
            other => tracing::warn!(?other, "cluster: a message is too large to relay"),
        }
    }
}

impl Notifier for ClusterNotifier {
    fn notify(&self, users: &[OwnedUserId], position: i64) {
        self.local.notify(users, position);
        if !users.is_empty() {
            self.send(ClusterMessage::Wake {
                users: users.to_vec(),
                position,
            });
        }
    }

    fn subscribe(&self, user: &UserId) -> watch::Receiver<i64> {
        self.local.subscribe(user)
    }

    fn broadcast(&self, message: ClusterMessage) {
        self.send(message);
    }

    fn notify_here(&self, users: &[OwnedUserId], position: i64) {
        self.local.notify(users, position);
    }
}
