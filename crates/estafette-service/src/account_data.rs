//! Per-user configuration that clients store on the server, globally or per room.

use std::sync::Arc;

use ruma::{RoomId, UserId};
use serde_json::value::RawValue as RawJsonValue;

use crate::{Context, Requester, ServiceError, ServiceResult};

/// Types the server manages itself; clients may read but not write them here.
const SERVER_MANAGED_GLOBAL: &[&str] = &["m.push_rules"];
const SERVER_MANAGED_ROOM: &[&str] = &["m.fully_read"];

#[derive(Clone)]
pub struct AccountDataService {
    context: Arc<Context>,
}

impl AccountDataService {
    pub(crate) fn new(context: Arc<Context>) -> Self {
        Self { context }
    }

    fn ensure_own(requester: &Requester, user_id: &UserId, verb: &str) -> ServiceResult<()> {
        if requester.user_id != user_id {
            return Err(ServiceError::Forbidden(format!(
                "You cannot {verb} another user's account data"
            )));
        }
        Ok(())
    }

    pub async fn set(
        &self,
        requester: &Requester,
        user_id: &UserId,
        room_id: Option<&RoomId>,
        data_type: &str,
        content: &RawJsonValue,
    ) -> ServiceResult<()> {
        Self::ensure_own(requester, user_id, "change")?;
        let managed = if room_id.is_some() {
            SERVER_MANAGED_ROOM
        } else {
            SERVER_MANAGED_GLOBAL
        };
        if managed.contains(&data_type) {
            return Err(ServiceError::ServerManaged(format!(
                "Cannot set {data_type} through this API; the server manages it"
            )));
        }
        if !content.get().trim_start().starts_with('{') {
            return Err(ServiceError::BadJson(
                "Account data content must be a JSON object".into(),
            ));
        }
        let now = self.context.now();
        let position = self
            .context
            .storage
            .account_data
            .set(user_id, room_id, data_type, content.get(), now)
            .await?;
        self.context
            .notifier
            .notify(&[user_id.to_owned()], position);
        Ok(())
    }

    pub async fn get(
        &self,
        requester: &Requester,
        user_id: &UserId,
        room_id: Option<&RoomId>,
        data_type: &str,
    ) -> ServiceResult<Box<RawJsonValue>> {
        Self::ensure_own(requester, user_id, "read")?;
        let json = self
            .context
            .storage
            .account_data
            .get(user_id, room_id, data_type)
            .await?
            .ok_or_else(|| {
                ServiceError::NotFound(format!("No account data of type {data_type}"))
            })?;
        RawJsonValue::from_string(json)
            .map_err(|e| ServiceError::Internal(format!("stored account data: {e}")))
    }
}
