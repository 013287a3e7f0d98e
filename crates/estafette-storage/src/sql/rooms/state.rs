use std::collections::BTreeMap;

use async_trait::async_trait;
use ruma::OwnedEventId;
use sqlx::Row;

use crate::sql::{Db, corrupt};
use crate::{StateEntry, StateRepository, StorageError, StorageResult};

/// A delta chain is cut by a full snapshot once it reaches this length, bounding the work of
/// loading a state group.
pub(super) const MAX_CHAIN_LENGTH: i64 = 50;

#[async_trait]
impl StateRepository for Db {
    async fn load(&self, group: i64) -> StorageResult<Vec<StateEntry>> {
        let mut chain = Vec::new();
        let mut next = Some(group);
        while let Some(id) = next {
            let prev: Option<Option<i64>> =
                sqlx::query_scalar("SELECT prev_group FROM state_groups WHERE id = $1")
                    .bind(id)
                    .fetch_optional(&self.pool)
                    .await?;
            let Some(prev) = prev else {
                return Err(StorageError::Corrupt(format!(
                    "state group {id} is missing"
                )));
            };
            chain.push(id);
            next = prev;
        }
        let mut state = BTreeMap::new();
        for id in chain.into_iter().rev() {
            let rows = sqlx::query("SELECT event_type, state_key, event_id FROM state_group_entries WHERE group_id = $1")
                .bind(id)
                .fetch_all(&self.pool)
                .await?;
            for row in rows {
                let event_id = OwnedEventId::try_from(row.try_get::<String, _>("event_id")?)
                    .map_err(|e| corrupt("state_group_entries.event_id", e))?;
                state.insert(
                    (
                        row.try_get::<String, _>("event_type")?,
                        row.try_get::<String, _>("state_key")?,
                    ),
                    event_id,
                );
            }
        }
        Ok(state
            .into_iter()
            .map(|((kind, key), id)| (kind, key, id))
            .collect())
    }
}
