//! Argon2id password hashing, off the async runtime because each hash is deliberately slow,
//! and a few at a time: each one takes a core and 19 MiB for as long as it runs, so a burst of
//! registrations or logins beyond the cores only piles up memory (it finishes no sooner).

use std::sync::Arc;

use argon2::Argon2;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use estafette_core::config::AuthConfig;
use tokio::sync::Semaphore;

use crate::{Context, ServiceError, ServiceResult};

/// Permits to run a hash: one per core.
pub(crate) fn hashing_slots() -> Arc<Semaphore> {
    let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
    Arc::new(Semaphore::new(cores))
}

pub(crate) async fn hash(
    slots: &Semaphore,
    password: String,
    salt: [u8; 16],
) -> ServiceResult<String> {
    let _slot = slots
        .acquire()
        .await
        .map_err(|e| ServiceError::Internal(e.to_string()))?;
    tokio::task::spawn_blocking(move || {
        let salt =
            SaltString::encode_b64(&salt).map_err(|e| ServiceError::Internal(e.to_string()))?;
        Argon2::default()
            .hash_password(password.as_bytes(), &salt)
            .map(|hash| hash.to_string())
            .map_err(|e| ServiceError::Internal(format!("password hashing failed: {e}")))
    })
    .await
    .map_err(|e| ServiceError::Internal(e.to_string()))?
}

/// A new password, checked against the policy, hashed with a fresh salt.
pub(crate) async fn hash_new(
    context: &Context,
    slots: &Semaphore,
    password: String,
) -> ServiceResult<String> {
    check_policy(&context.config.auth, &password)?;
    let mut salt = [0u8; 16];
    context.random.fill_bytes(&mut salt);
    hash(slots, password, salt).await
}

/// The configured password policy (M_WEAK_PASSWORD otherwise).
pub(crate) fn check_policy(auth: &AuthConfig, password: &str) -> ServiceResult<()> {
    let min = auth.password_min_length;
    if password.chars().count() < min {
        return Err(ServiceError::WeakPassword(format!(
            "The password must be at least {min} characters long"
        )));
    }
    if auth.password_require_all_classes {
        let classes: [(&str, fn(char) -> bool); 4] = [
            ("a lowercase letter", char::is_lowercase),
            ("an uppercase letter", char::is_uppercase),
            ("a digit", |c| c.is_ascii_digit()),
            ("a symbol", |c| !c.is_alphanumeric()),
        ];
        let missing: Vec<&str> = classes
            .iter()
            .filter(|(_, class)| !password.chars().any(class))
            .map(|(name, _)| *name)
            .collect();
        if !missing.is_empty() {
            return Err(ServiceError::WeakPassword(format!(
                "The password must contain {}",
                missing.join(", ")
            )));
        }
    }
    Ok(())
}

/// `false` for a wrong password or an unreadable stored hash.
pub(crate) async fn verify(slots: &Semaphore, password: String, stored: String) -> bool {
    let Ok(_slot) = slots.acquire().await else {
        return false;
    };
    tokio::task::spawn_blocking(move || {
        PasswordHash::new(&stored)
            .map(|parsed| {
                Argon2::default()
                    .verify_password(password.as_bytes(), &parsed)
                    .is_ok()
            })
            .unwrap_or(false)
    })
    .await
    .unwrap_or(false)
}

#[cfg(test)]
mod tests {
    #[tokio::test]
    async fn hashes_are_argon2id_and_verify() {
        let slots = super::hashing_slots();
        let hash = super::hash(&slots, "correct horse".into(), [7; 16])
            .await
            .unwrap();
        assert!(hash.starts_with("$argon2id$"), "{hash}");
        assert!(super::verify(&slots, "correct horse".into(), hash.clone()).await);
        assert!(!super::verify(&slots, "wrong horse".into(), hash).await);
        assert!(!super::verify(&slots, "x".into(), "not a hash".into()).await);
    }

    /// A hash waits for a free slot: with every slot taken, none starts.
    #[tokio::test]
    async fn hashes_wait_for_a_free_slot() {
        let slots = std::sync::Arc::new(tokio::sync::Semaphore::new(1));
        let taken = slots.clone().acquire_owned().await.unwrap();
        let waiting = {
            let slots = slots.clone();
            tokio::spawn(async move { super::hash(&slots, "pw".into(), [1; 16]).await })
        };
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
        assert!(!waiting.is_finished(), "a hash ran without a slot");
        drop(taken);
        assert!(waiting.await.unwrap().is_ok());
    }
}
