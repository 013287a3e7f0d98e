//! The accounts list for operators: one statement for the page, one for the total, with the
//! display name, avatar and latest device activity of each account.

use async_trait::async_trait;
use ruma::OwnedUserId;
use sqlx::Row;

use crate::sql::{Db, corrupt, from_db, to_db};
use crate::{AdminRepository, ListedUser, StorageResult, UserListQuery, UserOrder};

/// Each account with what the list shows and sorts by.
const LISTED: &str = "SELECT u.user_id, u.is_admin, u.deactivated, u.created_ts,
       (SELECT p.value_json FROM profiles p
        WHERE p.user_id = u.user_id AND p.field = 'displayname') AS displayname,
       (SELECT p.value_json FROM profiles p
        WHERE p.user_id = u.user_id AND p.field = 'avatar_url') AS avatar_url,
       (SELECT MAX(d.last_seen_ts) FROM devices d WHERE d.user_id = u.user_id) AS last_seen_ts
FROM users u";

/// `%text%` for `LIKE … ESCAPE '\'`, the text's own wildcards escaped.
fn contains(text: &str) -> String {
    let escaped: String = text
        .to_lowercase()
        .chars()
        .flat_map(|c| match c {
            '%' | '_' | '\\' => vec!['\\', c],
            c => vec![c],
        })
        .collect();
    format!("%{escaped}%")
}

/// The query's filters over `listed` (`$1`: name, `$2`: user ID, `$3`/`$4`: flags).
const FILTERS: &str = "($1 = '' OR LOWER(user_id) LIKE '@' || $1 || ':%' ESCAPE '\\'
         OR LOWER(COALESCE(displayname, '')) LIKE $1 ESCAPE '\\')
     AND ($2 = '' OR LOWER(user_id) LIKE $2 ESCAPE '\\')
     AND ($3 < 0 OR deactivated = $3)
     AND ($4 < 0 OR is_admin = $4)";

fn flag(value: Option<bool>) -> i64 {
    value.map_or(-1, i64::from)
}

fn decode_text(value: Option<String>) -> Option<String> {
    value
        .and_then(|json| serde_json::from_str::<serde_json::Value>(&json).ok())
        .and_then(|value| value.as_str().map(str::to_owned))
}

#[async_trait]
impl AdminRepository for Db {
    async fn users(&self, query: &UserListQuery) -> StorageResult<(Vec<ListedUser>, u64)> {
        let name = query.name.as_deref().map(contains).unwrap_or_default();
        let user_id = match query.name {
            Some(_) => String::new(),
            None => query.user_id.as_deref().map(contains).unwrap_or_default(),
        };
        let column = match query.order {
            UserOrder::Name => "user_id",
            UserOrder::DisplayName => "displayname",
            UserOrder::AvatarUrl => "avatar_url",
            UserOrder::Admin => "is_admin",
            UserOrder::Deactivated => "deactivated",
            UserOrder::CreationTs => "created_ts",
            UserOrder::LastSeenTs => "last_seen_ts",
        };
        let direction = if query.descending { "DESC" } else { "ASC" };
        let total: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
            "SELECT COUNT(*) FROM ({LISTED}) listed WHERE {FILTERS}"
        )))
        .bind(&name)
        .bind(&user_id)
        .bind(flag(query.deactivated))
        .bind(flag(query.admins))
        .fetch_one(&self.pool)
        .await?;
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT * FROM ({LISTED}) listed WHERE {FILTERS}
             ORDER BY {column} {direction}, user_id ASC LIMIT $5 OFFSET $6"
        )))
        .bind(&name)
        .bind(&user_id)
        .bind(flag(query.deactivated))
        .bind(flag(query.admins))
        .bind(to_db(query.limit))
        .bind(to_db(query.from))
        .fetch_all(&self.pool)
        .await?;
        let users = rows
            .iter()
            .map(|row| {
                Ok(ListedUser {
                    user_id: OwnedUserId::try_from(row.try_get::<String, _>("user_id")?)
                        .map_err(|e| corrupt("users.user_id", e))?,
                    display_name: decode_text(row.try_get("displayname")?),
                    avatar_url: decode_text(row.try_get("avatar_url")?),
                    is_admin: row.try_get::<i64, _>("is_admin")? != 0,
                    deactivated: row.try_get::<i64, _>("deactivated")? != 0,
                    created_ts: from_db(row.try_get("created_ts")?),
                    last_seen_ts: row.try_get::<Option<i64>, _>("last_seen_ts")?.map(from_db),
                })
            })
            .collect::<StorageResult<Vec<_>>>()?;
        Ok((users, from_db(total)))
    }
}
