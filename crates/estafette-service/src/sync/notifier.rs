//! Wakes the long-polling `/sync` requests of exactly the users an update concerns.
//!
//! Behind a trait so that a deployment of several processes sharing PostgreSQL can relay
//! notifications between processes (LISTEN/NOTIFY) and fan them out locally the same way.

use std::collections::HashMap;
use std::sync::Mutex;

use ruma::{OwnedUserId, UserId};
use tokio::sync::watch;

pub trait Notifier: Send + Sync {
    /// Tells the given users' waiting requests that the stream reached `position`.
    fn notify(&self, users: &[OwnedUserId], position: i64);
    /// A receiver that changes whenever something new concerns `user`. Subscribe *before*
    /// looking for updates, so that nothing arriving in between is missed.
    fn subscribe(&self, user: &UserId) -> watch::Receiver<i64>;
    /// Tells the server's other processes (there are none for a single process).
    fn broadcast(&self, _message: crate::cluster::ClusterMessage) {}
    /// Wakes this process's waiting requests only: for what another process relayed.
    fn notify_here(&self, users: &[OwnedUserId], position: i64) {
        self.notify(users, position);
    }
}

/// The in-process notifier: one watch channel per user with a waiting request.
#[derive(Default)]
pub struct LocalNotifier {
    channels: Mutex<HashMap<OwnedUserId, watch::Sender<i64>>>,
}

impl Notifier for LocalNotifier {
    fn notify(&self, users: &[OwnedUserId], position: i64) {
        let mut channels = self.channels.lock().unwrap_or_else(|p| p.into_inner());
        for user in users {
            if let Some(sender) = channels.get(user) {
                sender.send_replace(position);
            }
        }
        // Forget users nobody waits for any more.
        channels.retain(|_, sender| sender.receiver_count() > 0);
    }

    fn subscribe(&self, user: &UserId) -> watch::Receiver<i64> {
        let mut channels = self.channels.lock().unwrap_or_else(|p| p.into_inner());
        channels
            .entry(user.to_owned())
            .or_insert_with(|| watch::channel(0).0)
            .subscribe()
    }
}

#[cfg(test)]
mod tests {
    use ruma::user_id;

    use super::*;

    #[tokio::test]
    async fn only_the_concerned_user_wakes() {
        let notifier = LocalNotifier::default();
        let mut alice = notifier.subscribe(user_id!("@alice:x"));
        let bob = notifier.subscribe(user_id!("@bob:x"));
        notifier.notify(&[user_id!("@alice:x").to_owned()], 7);
        assert!(alice.has_changed().unwrap());
        assert_eq!(*alice.borrow_and_update(), 7);
        assert!(!bob.has_changed().unwrap());
        drop(bob);
    }
}
