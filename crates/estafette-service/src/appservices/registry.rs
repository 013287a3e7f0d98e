//! The application services this server was started with, and the questions every layer asks
//! of them: whose token is this, who owns this user or alias.

use std::sync::Arc;

use estafette_core::Registration;
use ruma::UserId;

/// The loaded registrations, fixed for the life of the process.
#[derive(Debug, Default)]
pub struct AppserviceRegistry {
    services: Vec<Arc<Registration>>,
}

impl AppserviceRegistry {
    pub fn new(registrations: Vec<Registration>) -> Self {
        Self {
            services: registrations.into_iter().map(Arc::new).collect(),
        }
    }

    pub fn all(&self) -> &[Arc<Registration>] {
        &self.services
    }

    pub fn is_empty(&self) -> bool {
        self.services.is_empty()
    }

    /// The service an `as_token` belongs to. Every token is compared in full, in time that
    /// does not depend on where they differ.
    pub fn by_token(&self, token: &str) -> Option<&Arc<Registration>> {
        let mut found = None;
        for service in &self.services {
            if constant_time_eq(service.as_token.as_bytes(), token.as_bytes()) {
                found = Some(service);
            }
        }
        found
    }

    pub fn by_id(&self, id: &str) -> Option<&Arc<Registration>> {
        self.services.iter().find(|service| service.id == id)
    }

    /// The service that owns this user ID alone (an exclusive users namespace or its sender).
    pub fn exclusive_owner_of_user(&self, user_id: &UserId) -> Option<&Arc<Registration>> {
        self.services
            .iter()
            .find(|s| s.sender == user_id || s.owns_user_exclusively(user_id))
    }

    /// The service that owns this alias alone.
    pub fn exclusive_owner_of_alias(&self, alias: &str) -> Option<&Arc<Registration>> {
        self.services
            .iter()
            .find(|s| s.owns_alias_exclusively(alias))
    }

    /// Whether a users namespace holds the user ID (the services to ask about it).
    pub fn claims_user(&self, user_id: &UserId) -> bool {
        self.services
            .iter()
            .any(|s| s.matches_user(user_id.as_str()))
    }

    /// Whether the user is an application service's (its sender or in a users namespace):
    /// bridged users, whom people-only rules (display name lock, account expiry) leave alone.
    pub fn is_appservice_user(&self, user_id: &UserId) -> bool {
        self.services.iter().any(|s| s.is_user_of(user_id))
    }
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}
