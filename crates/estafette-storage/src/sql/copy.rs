//! `estafette db copy`: a server's whole database into an empty one (SQLite to PostgreSQL, so
//! that a server that started on the default can grow), then verified: the row count of every
//! table, and a sample of events whose stored JSON is compared and whose IDs are re-derived
//! from their reference hashes.

use std::collections::BTreeMap;

use futures_util::TryStreamExt;
use ruma::{CanonicalJsonObject, RoomVersionId};
use sqlx::any::AnyRow;
use sqlx::{AnyPool, Row, ValueRef};

use super::connect::{Access, connect};
use super::{DatabaseTarget, Dialect};
use crate::{StorageError, StorageResult};

/// Rows per INSERT statement (well under both backends' limits on bound values).
const BATCH: usize = 200;
/// Events whose JSON and ID are checked after the copy.
const SAMPLE: usize = 200;

/// What was copied and checked.
#[derive(Debug, Default)]
pub struct CopyReport {
    /// Each table and its row count (the same on both sides).
    pub tables: BTreeMap<String, i64>,
    /// Events compared with their original.
    pub events_verified: usize,
    /// Of those, events whose ID was re-derived from their reference hash (room versions 3+).
    pub events_rehashed: usize,
}

/// A destination column: its name and the family of its type, which decides how a value (or a
/// NULL) is bound.
struct Column {
    name: String,
    kind: Kind,
}

#[derive(Clone, Copy)]
enum Kind {
    Integer,
    Real,
    Text,
    Bytes,
}

enum Value {
    Integer(Option<i64>),
    Real(Option<f64>),
    Text(Option<String>),
    Bytes(Option<Vec<u8>>),
}

/// Copies every table of `source` into `destination`, which must hold no data yet.
pub async fn copy_database(
    source: &DatabaseTarget,
    destination: &DatabaseTarget,
) -> StorageResult<CopyReport> {
    if source == destination {
        return Err(failed(
            "the source and the destination are the same database",
        ));
    }
    let from = connect(source, 2, Access::ReadWrite).await?;
    let to = connect(destination, 2, Access::ReadWrite).await?;
    let tables = tables(&from, source.dialect()).await?;
    for table in &tables {
        if table != "stream_position" && count(&to, table).await? > 0 {
            return Err(failed(&format!(
                "the destination already holds data (table {table}); copy into an empty database"
            )));
        }
    }
    // Filled by the migrations; replaced by the source's.
    sqlx::query("DELETE FROM stream_position")
        .execute(&to)
        .await?;
    let mut report = CopyReport::default();
    for table in &tables {
        let columns = columns(&to, destination.dialect(), table).await?;
        copy_table(&from, &to, table, &columns).await?;
        let (copied, original) = (count(&to, table).await?, count(&from, table).await?);
        if copied != original {
            return Err(failed(&format!(
                "{table}: {copied} rows copied of {original}"
            )));
        }
        report.tables.insert(table.clone(), copied);
    }
    if destination.dialect() == Dialect::Postgres {
        restart_identities(&to).await?;
    }
    (report.events_verified, report.events_rehashed) = verify_events(&from, &to).await?;
    from.close().await;
    to.close().await;
    Ok(report)
}

fn failed(reason: &str) -> StorageError {
    StorageError::Corrupt(format!("database copy: {reason}"))
}

async fn tables(pool: &AnyPool, dialect: Dialect) -> StorageResult<Vec<String>> {
    let sql = match dialect {
        // FTS5 keeps its index in shadow tables (`event_search_*`) that are not data.
        Dialect::Sqlite => {
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'
             AND name NOT LIKE 'event_search_%' AND name <> 'schema_migrations' ORDER BY name"
        }
        Dialect::Postgres => {
            "SELECT CAST(table_name AS TEXT) FROM information_schema.tables
             WHERE table_schema = current_schema() AND table_type = 'BASE TABLE'
             AND table_name NOT IN ('schema_migrations', 'stream_in_flight') ORDER BY table_name"
        }
    };
    Ok(sqlx::query_scalar(sql).fetch_all(pool).await?)
}

/// Table names come from the database's own catalogue, never from input.
async fn count(pool: &AnyPool, table: &str) -> StorageResult<i64> {
    let sql = format!("SELECT COUNT(*) FROM {table}");
    Ok(sqlx::query_scalar(sqlx::AssertSqlSafe(sql))
        .fetch_one(pool)
        .await?)
}

/// The columns a copy writes: all but generated ones (the search vector).
async fn columns(pool: &AnyPool, dialect: Dialect, table: &str) -> StorageResult<Vec<Column>> {
    let rows: Vec<(String, String)> = match dialect {
        Dialect::Postgres => {
            sqlx::query_as(
                "SELECT CAST(column_name AS TEXT), CAST(data_type AS TEXT)
                 FROM information_schema.columns
                 WHERE table_schema = current_schema() AND table_name = $1 AND is_generated = 'NEVER'
                 ORDER BY ordinal_position",
            )
            .bind(table)
            .fetch_all(pool)
            .await?
        }
        Dialect::Sqlite => {
            let sql = format!("SELECT name, type FROM pragma_table_info('{table}') ORDER BY cid");
            sqlx::query_as(sqlx::AssertSqlSafe(sql))
                .fetch_all(pool)
                .await?
        }
    };
    Ok(rows
        .into_iter()
        .map(|(name, declared)| {
            let declared = declared.to_ascii_lowercase();
            let kind = if declared.contains("int") {
                Kind::Integer
            } else if declared.contains("double") || declared.contains("real") {
                Kind::Real
            } else if declared.contains("bytea") || declared.contains("blob") {
                Kind::Bytes
            } else {
                Kind::Text
            };
            Column { name, kind }
        })
        .collect())
}

async fn copy_table(
    from: &AnyPool,
    to: &AnyPool,
    table: &str,
    columns: &[Column],
) -> StorageResult<()> {
    let names = columns
        .iter()
        .map(|column| column.name.as_str())
        .collect::<Vec<_>>()
        .join(", ");
    let select = format!("SELECT {names} FROM {table}");
    let mut rows = sqlx::query(sqlx::AssertSqlSafe(select)).fetch(from);
    let mut tx = to.begin().await?;
    let mut batch: Vec<Vec<Value>> = Vec::with_capacity(BATCH);
    while let Some(row) = rows.try_next().await? {
        batch.push(read_row(&row, columns)?);
        if batch.len() == BATCH {
            insert(&mut tx, table, &names, std::mem::take(&mut batch)).await?;
        }
    }
    if !batch.is_empty() {
        insert(&mut tx, table, &names, batch).await?;
    }
    tx.commit().await?;
    Ok(())
}

/// Reads a row as the destination's column types want it (SQLite is loosely typed).
fn read_row(row: &AnyRow, columns: &[Column]) -> StorageResult<Vec<Value>> {
    columns
        .iter()
        .enumerate()
        .map(|(index, column)| {
            if row.try_get_raw(index)?.is_null() {
                return Ok(match column.kind {
                    Kind::Integer => Value::Integer(None),
                    Kind::Real => Value::Real(None),
                    Kind::Text => Value::Text(None),
                    Kind::Bytes => Value::Bytes(None),
                });
            }
            Ok(match column.kind {
                Kind::Integer => {
                    Value::Integer(Some(row.try_get::<i64, _>(index).or_else(|_| {
                        row.try_get::<String, _>(index)?
                            .parse()
                            .map_err(|e| sqlx::Error::Decode(Box::new(e)))
                    })?))
                }
                Kind::Real => Value::Real(Some(row.try_get(index)?)),
                Kind::Text => Value::Text(Some(
                    row.try_get::<String, _>(index)
                        .or_else(|_| row.try_get::<i64, _>(index).map(|n| n.to_string()))?,
                )),
                Kind::Bytes => Value::Bytes(Some(row.try_get(index)?)),
            })
        })
        .collect()
}

async fn insert(
    tx: &mut sqlx::Transaction<'static, sqlx::Any>,
    table: &str,
    names: &str,
    rows: Vec<Vec<Value>>,
) -> StorageResult<()> {
    let width = rows.first().map_or(0, Vec::len);
    let tuples = (0..rows.len())
        .map(|row| {
            let placeholders = (1..=width)
                .map(|column| format!("${}", row * width + column))
                .collect::<Vec<_>>()
                .join(", ");
            format!("({placeholders})")
        })
        .collect::<Vec<_>>()
        .join(", ");
    let sql = format!("INSERT INTO {table} ({names}) VALUES {tuples}");
    let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
    for value in rows.into_iter().flatten() {
        query = match value {
            Value::Integer(value) => query.bind(value),
            Value::Real(value) => query.bind(value),
            Value::Text(value) => query.bind(value),
            Value::Bytes(value) => query.bind(value),
        };
    }
    query.execute(&mut **tx).await?;
    Ok(())
}

/// Identity columns continue after the largest copied key.
async fn restart_identities(pool: &AnyPool) -> StorageResult<()> {
    let identities: Vec<(String, String)> = sqlx::query_as(
        "SELECT CAST(table_name AS TEXT), CAST(column_name AS TEXT) FROM information_schema.columns
         WHERE table_schema = current_schema() AND is_identity = 'YES'",
    )
    .fetch_all(pool)
    .await?;
    for (table, column) in identities {
        let sql = format!(
            "SELECT CAST(setval(pg_get_serial_sequence('{table}', '{column}'),
                    COALESCE((SELECT MAX({column}) FROM {table}), 0) + 1, false) AS BIGINT)"
        );
        sqlx::query(sqlx::AssertSqlSafe(sql)).execute(pool).await?;
    }
    Ok(())
}

/// Compares a sample of events spread over the whole stream, and re-derives the ID of each
/// from its reference hash where the room version makes IDs hashes (3 and later).
async fn verify_events(from: &AnyPool, to: &AnyPool) -> StorageResult<(usize, usize)> {
    let orderings: Vec<i64> =
        sqlx::query_scalar("SELECT stream_ordering FROM events ORDER BY stream_ordering")
            .fetch_all(from)
            .await?;
    let step = (orderings.len() / SAMPLE).max(1);
    let (mut verified, mut rehashed) = (0, 0);
    for ordering in orderings.iter().step_by(step) {
        let (original, copy) = (
            sampled_event(from, *ordering).await?,
            sampled_event(to, *ordering).await?,
        );
        let event_id: String = copy.try_get("event_id")?;
        let json: String = copy.try_get("json")?;
        if original.try_get::<String, _>("event_id")? != event_id
            || original.try_get::<String, _>("json")? != json
        {
            return Err(failed(&format!("event {event_id} differs after the copy")));
        }
        let version: Option<String> = copy.try_get("room_version")?;
        if let Some(rules) = version
            .and_then(|version| RoomVersionId::try_from(version).ok())
            .and_then(|version| version.rules())
            .filter(|rules| {
                !matches!(
                    rules.event_id_format,
                    ruma::room_version_rules::EventIdFormatVersion::V1
                )
            })
        {
            let object: CanonicalJsonObject = serde_json::from_str(&json)
                .map_err(|e| failed(&format!("event {event_id}: {e}")))?;
            let hash = ruma::signatures::reference_hash(&object, &rules)
                .map_err(|e| failed(&format!("event {event_id}: {e}")))?;
            if event_id != format!("${hash}") {
                return Err(failed(&format!(
                    "event {event_id} does not hash to its ID after the copy"
                )));
            }
            rehashed += 1;
        }
        verified += 1;
    }
    Ok((verified, rehashed))
}

async fn sampled_event(pool: &AnyPool, ordering: i64) -> StorageResult<AnyRow> {
    Ok(sqlx::query(
        "SELECT e.event_id, e.json, r.room_version FROM events e
         LEFT JOIN rooms r ON r.room_id = e.room_id WHERE e.stream_ordering = $1",
    )
    .bind(ordering)
    .fetch_one(pool)
    .await?)
}
