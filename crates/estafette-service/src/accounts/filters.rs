//! Stored `/sync` filters.

use std::sync::Arc;

use ruma::UserId;
use ruma::api::client::filter::FilterDefinition;

use crate::{Context, Requester, ServiceError, ServiceResult};

#[derive(Clone)]
pub struct FilterService {
    context: Arc<Context>,
}

impl FilterService {
    pub(crate) fn new(context: Arc<Context>) -> Self {
        Self { context }
    }

    pub async fn create(
        &self,
        requester: &Requester,
        user_id: &UserId,
        filter: &FilterDefinition,
    ) -> ServiceResult<String> {
        if requester.user_id != user_id {
            return Err(ServiceError::Forbidden(
                "You cannot create filters for another user".into(),
            ));
        }
        let json =
            serde_json::to_string(filter).map_err(|e| ServiceError::BadJson(e.to_string()))?;
        crate::limits::bounded("The filter", &json, crate::limits::MAX_FILTER_BYTES)?;
        Ok(self.context.storage.filters.create(user_id, &json).await?)
    }

    pub async fn get(
        &self,
        requester: &Requester,
        user_id: &UserId,
        filter_id: &str,
    ) -> ServiceResult<FilterDefinition> {
        if requester.user_id != user_id {
            return Err(ServiceError::Forbidden(
                "You cannot read another user's filters".into(),
            ));
        }
        let json = self
            .context
            .storage
            .filters
            .get(user_id, filter_id)
            .await?
            .ok_or_else(|| ServiceError::NotFound(format!("Filter {filter_id} not found")))?;
        serde_json::from_str(&json)
            .map_err(|e| ServiceError::Internal(format!("stored filter: {e}")))
    }
}
