use async_trait::async_trait;

use crate::sql::{Db, Dialect};
use crate::{StorageResult, StreamRepository};

/// The position up to which every write has committed: below the smallest position still in
/// flight, or the last one taken when none is. One statement, so one snapshot: a position's
/// allocation and its in-flight record commit together (`Db::next_stream_id`). A record whose
/// transaction rolled back or died does not count; "committed" counts, for a record read just
/// before its transaction's commit removed it.
const CURRENT_POSTGRES: &str = "SELECT COALESCE(
    (SELECT MIN(position) - 1 FROM stream_in_flight
     WHERE pg_xact_status(CAST(CAST(xid AS TEXT) AS xid8)) IN ('in progress', 'committed')),
    (SELECT position FROM stream_position))";

#[async_trait]
impl StreamRepository for Db {
    async fn current(&self) -> StorageResult<i64> {
        let sql = match self.dialect {
            Dialect::Sqlite => "SELECT position FROM stream_position",
            Dialect::Postgres => CURRENT_POSTGRES,
        };
        Ok(sqlx::query_scalar(sql).fetch_one(&self.pool).await?)
    }

    /// A position for something kept in memory (typing): nothing is written at it, so it is
    /// never in flight.
    async fn allocate(&self) -> StorageResult<i64> {
        Ok(sqlx::query_scalar(
            "UPDATE stream_position SET position = position + 1 RETURNING position",
        )
        .fetch_one(&self.pool)
        .await?)
    }

    async fn clear_abandoned(&self) -> StorageResult<u64> {
        if self.dialect == Dialect::Sqlite {
            return Ok(0);
        }
        let result = sqlx::query(
            "DELETE FROM stream_in_flight
             WHERE COALESCE(pg_xact_status(CAST(CAST(xid AS TEXT) AS xid8)), 'aborted') = 'aborted'",
        )
        .execute(&self.pool)
        .await?;
        Ok(result.rows_affected())
    }
}
