use std::collections::BTreeMap;

use async_trait::async_trait;
use ruma::UserId;
use serde_json::Value as JsonValue;
use sqlx::Row;

use crate::sql::{Db, corrupt};
use crate::{ProfileRepository, StorageResult};

fn parse(field: &str, text: &str) -> StorageResult<JsonValue> {
    serde_json::from_str(text).map_err(|e| corrupt(&format!("profile field {field}"), e))
}

#[async_trait]
impl ProfileRepository for Db {
    async fn get_all(&self, user_id: &UserId) -> StorageResult<BTreeMap<String, JsonValue>> {
        let rows = sqlx::query("SELECT field, value_json FROM profiles WHERE user_id = $1")
            .bind(user_id.as_str())
            .fetch_all(&self.pool)
            .await?;
        rows.iter()
            .map(|row| {
                let field: String = row.try_get("field")?;
                let text: String = row.try_get("value_json")?;
                let value = parse(&field, &text)?;
                Ok((field, value))
            })
            .collect()
    }

    async fn get_field(&self, user_id: &UserId, field: &str) -> StorageResult<Option<JsonValue>> {
        let text: Option<String> =
            sqlx::query_scalar("SELECT value_json FROM profiles WHERE user_id = $1 AND field = $2")
                .bind(user_id.as_str())
                .bind(field)
                .fetch_optional(&self.pool)
                .await?;
        text.map(|text| parse(field, &text)).transpose()
    }

    async fn set_field(
        &self,
        user_id: &UserId,
        field: &str,
        value: Option<&JsonValue>,
    ) -> StorageResult<()> {
        match value {
            Some(value) => {
                self.write(
                    sqlx::query(
                        "INSERT INTO profiles (user_id, field, value_json) VALUES ($1, $2, $3)
                     ON CONFLICT (user_id, field) DO UPDATE SET value_json = excluded.value_json",
                    )
                    .bind(user_id.as_str())
                    .bind(field)
                    .bind(value.to_string()),
                )
                .await?;
            }
            None => {
                self.write(
                    sqlx::query("DELETE FROM profiles WHERE user_id = $1 AND field = $2")
                        .bind(user_id.as_str())
                        .bind(field),
                )
                .await?;
            }
        }
        Ok(())
    }

    async fn clear(&self, user_id: &UserId) -> StorageResult<()> {
        self.write(sqlx::query("DELETE FROM profiles WHERE user_id = $1").bind(user_id.as_str()))
            .await?;
        Ok(())
    }
}
