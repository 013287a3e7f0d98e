//! Server-side key backup: versions of a user's encrypted room-key backup and the sessions in
//! them; for each session the best copy is kept (spec: "Server-side key backups").

use std::collections::BTreeMap;
use std::sync::Arc;

use estafette_storage::BackupKey;
use ruma::UserId;
use serde_json::{Value as JsonValue, json};

use crate::{Context, ServiceError, ServiceResult};

/// Sessions as clients send and receive them: room → session → `KeyBackupData`.
pub type BackupSessions = BTreeMap<String, BTreeMap<String, JsonValue>>;

/// A backup version as `/room_keys/version` describes it.
#[derive(Debug, Clone)]
pub struct BackupInfo {
    pub version: String,
    /// `{"algorithm": …, "auth_data": …}`
    pub algorithm: JsonValue,
    pub count: u64,
    pub etag: String,
}

#[derive(Clone)]
pub struct BackupService {
    context: Arc<Context>,
}

fn not_found() -> ServiceError {
    ServiceError::NotFound("No such backup version".into())
}

fn version_number(version: &str) -> ServiceResult<i64> {
    version.parse().map_err(|_| not_found())
}

/// Whether `new` should replace `old` (spec: verified keys first, then the earliest first
/// message index, then the fewest forwards).
fn better(new: &BackupKey, old: &BackupKey) -> bool {
    (
        !new.is_verified,
        new.first_message_index,
        new.forwarded_count,
    ) < (
        !old.is_verified,
        old.first_message_index,
        old.forwarded_count,
    )
}

impl BackupService {
    pub(crate) fn new(context: Arc<Context>) -> Self {
        Self { context }
    }

    pub async fn create_version(
        &self,
        user_id: &UserId,
        algorithm: &JsonValue,
    ) -> ServiceResult<String> {
        let name = algorithm
            .get("algorithm")
            .and_then(JsonValue::as_str)
            .ok_or_else(|| ServiceError::BadJson("algorithm is required".into()))?;
        let version = self
            .context
            .storage
            .backup
            .create_version(user_id, name, &algorithm.to_string())
            .await?;
        Ok(version.to_string())
    }

    pub async fn info(&self, user_id: &UserId, version: Option<&str>) -> ServiceResult<BackupInfo> {
        let number = version.map(version_number).transpose()?;
        let stored = self
            .context
            .storage
            .backup
            .version(user_id, number)
            .await?
            .ok_or_else(not_found)?;
        Ok(BackupInfo {
            version: stored.version.to_string(),
            algorithm: serde_json::from_str(&stored.auth_data_json).unwrap_or_default(),
            count: stored.count,
            etag: stored.etag.to_string(),
        })
    }

    pub async fn update_version(
        &self,
        user_id: &UserId,
        version: &str,
        algorithm: &JsonValue,
    ) -> ServiceResult<()> {
        let current = self.info(user_id, Some(version)).await?;
        if current.algorithm.get("algorithm") != algorithm.get("algorithm") {
            return Err(ServiceError::InvalidParam(
                "The algorithm of a backup version cannot change".into(),
            ));
        }
        if algorithm
            .get("version")
            .and_then(JsonValue::as_str)
            .is_some_and(|v| v != version)
        {
            return Err(ServiceError::InvalidParam(
                "The version in the body differs from the path".into(),
            ));
        }
        let number = version_number(version)?;
        self.context
            .storage
            .backup
            .update_version(user_id, number, &algorithm.to_string())
            .await?;
        Ok(())
    }

    pub async fn delete_version(&self, user_id: &UserId, version: &str) -> ServiceResult<()> {
        if !self
            .context
            .storage
            .backup
            .delete_version(user_id, version_number(version)?)
            .await?
        {
            return Err(not_found());
        }
        Ok(())
    }

    /// Only the current version accepts keys.
    async fn current(&self, user_id: &UserId, version: &str) -> ServiceResult<i64> {
        let latest = self
            .context
            .storage
            .backup
            .version(user_id, None)
            .await?
            .ok_or_else(not_found)?;
        if latest.version.to_string() != version {
            return Err(ServiceError::WrongRoomKeysVersion(
                latest.version.to_string(),
            ));
        }
        Ok(latest.version)
    }

    /// Stores sessions, keeping the better copy of each; returns (count, etag).
    pub async fn put_keys(
        &self,
        user_id: &UserId,
        version: &str,
        rooms: &BackupSessions,
    ) -> ServiceResult<(u64, String)> {
        let number = self.current(user_id, version).await?;
        let mut winners = Vec::new();
        for (room_id, sessions) in rooms {
            for (session_id, data) in sessions {
                let number_of = |field: &str| data.get(field).and_then(JsonValue::as_u64);
                let key = BackupKey {
                    room_id: room_id.clone(),
                    session_id: session_id.clone(),
                    first_message_index: number_of("first_message_index").ok_or_else(|| {
                        ServiceError::BadJson("first_message_index is required".into())
                    })?,
                    forwarded_count: number_of("forwarded_count").ok_or_else(|| {
                        ServiceError::BadJson("forwarded_count is required".into())
                    })?,
                    is_verified: data
                        .get("is_verified")
                        .and_then(JsonValue::as_bool)
                        .unwrap_or(false),
                    session_data_json: data
                        .get("session_data")
                        .filter(|d| d.is_object())
                        .ok_or_else(|| {
                            ServiceError::BadJson("session_data must be an object".into())
                        })?
                        .to_string(),
                };
                let existing = self
                    .context
                    .storage
                    .backup
                    .session(user_id, number, room_id, session_id)
                    .await?;
                if existing.is_none_or(|old| better(&key, &old)) {
                    winners.push(key);
                }
            }
        }
        self.context
            .storage
            .backup
            .put_sessions(user_id, number, &winners)
            .await?;
        let info = self.info(user_id, Some(version)).await?;
        Ok((info.count, info.etag))
    }

    pub async fn keys(
        &self,
        user_id: &UserId,
        version: &str,
        room_id: Option<&str>,
        session_id: Option<&str>,
    ) -> ServiceResult<BackupSessions> {
        let number = version_number(version)?;
        self.context
            .storage
            .backup
            .version(user_id, Some(number))
            .await?
            .ok_or_else(not_found)?;
        let mut rooms: BackupSessions = BTreeMap::new();
        for key in self
            .context
            .storage
            .backup
            .sessions(user_id, number, room_id, session_id)
            .await?
        {
            let data = json!({
                "first_message_index": key.first_message_index,
                "forwarded_count": key.forwarded_count,
                "is_verified": key.is_verified,
                "session_data": serde_json::from_str::<JsonValue>(&key.session_data_json).unwrap_or_default(),
            });
            rooms
                .entry(key.room_id)
                .or_default()
                .insert(key.session_id, data);
        }
        if session_id.is_some() && rooms.is_empty() {
            return Err(ServiceError::NotFound(
                "No such session in the backup".into(),
            ));
        }
        Ok(rooms)
    }

    pub async fn delete_keys(
        &self,
        user_id: &UserId,
        version: &str,
        room_id: Option<&str>,
        session_id: Option<&str>,
    ) -> ServiceResult<(u64, String)> {
        let number = self.current(user_id, version).await?;
        self.context
            .storage
            .backup
            .delete_sessions(user_id, number, room_id, session_id)
            .await?;
        let info = self.info(user_id, Some(version)).await?;
        Ok((info.count, info.etag))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(verified: bool, index: u64, forwards: u64) -> BackupKey {
        BackupKey {
            room_id: "!r".into(),
            session_id: "s".into(),
            first_message_index: index,
            forwarded_count: forwards,
            is_verified: verified,
            session_data_json: "{}".into(),
        }
    }

    #[test]
    fn the_spec_decides_which_session_copy_wins() {
        assert!(
            better(&key(true, 10, 5), &key(false, 0, 0)),
            "verified wins"
        );
        assert!(!better(&key(false, 0, 0), &key(true, 10, 5)));
        assert!(
            better(&key(false, 1, 9), &key(false, 2, 0)),
            "then the lower first index"
        );
        assert!(
            better(&key(false, 1, 1), &key(false, 1, 2)),
            "then fewer forwards"
        );
        assert!(
            !better(&key(false, 1, 1), &key(false, 1, 1)),
            "an equal copy changes nothing"
        );
    }
}
