use async_trait::async_trait;
use ruma::{EventId, OwnedEventId, OwnedRoomId};
use sqlx::{AnyConnection, Row};

use crate::sql::{Db, Dialect, corrupt, placeholders};
use crate::{SearchEntry, SearchMatch, SearchQuery, SearchRepository, StorageResult};

/// The full-text query matching every word as a word prefix, each word quoted so that nothing the
/// user typed is read as query syntax: FTS5's `"word"*` on SQLite, a tsquery's `'word':*` on
/// PostgreSQL.
fn match_expression(dialect: Dialect, words: &[String]) -> String {
    let quoted = words.iter().map(|word| match dialect {
        Dialect::Sqlite => format!("\"{}\"*", word.replace('"', "\"\"")),
        Dialect::Postgres => format!("'{}':*", word.replace('\\', "\\\\").replace('\'', "''")),
    });
    let separator = match dialect {
        Dialect::Sqlite => " ",
        Dialect::Postgres => " & ",
    };
    quoted.collect::<Vec<_>>().join(separator)
}

pub(in crate::sql) async fn insert_entry(
    conn: &mut AnyConnection,
    entry: &SearchEntry<'_>,
) -> StorageResult<()> {
    sqlx::query(
        "INSERT INTO event_search (text, key, event_id, room_id, sender, stream_ordering)
         VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(entry.text)
    .bind(entry.key)
    .bind(entry.event_id.as_str())
    .bind(entry.room_id.as_str())
    .bind(entry.sender.as_str())
    .bind(entry.stream_ordering)
    .execute(conn)
    .await?;
    Ok(())
}

#[async_trait]
impl SearchRepository for Db {
    async fn index(&self, entry: &SearchEntry<'_>) -> StorageResult<()> {
        let mut tx = self.write_transaction().await?;
        insert_entry(&mut tx, entry).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn remove(&self, event_id: &EventId) -> StorageResult<()> {
        self.write(
            sqlx::query("DELETE FROM event_search WHERE event_id = $1").bind(event_id.as_str()),
        )
        .await?;
        Ok(())
    }

    async fn search(&self, query: &SearchQuery<'_>) -> StorageResult<(Vec<SearchMatch>, u64)> {
        if query.words.is_empty() || query.rooms.is_empty() || query.keys.is_empty() {
            return Ok((Vec::new(), 0));
        }
        let (matches, rank) = match self.dialect {
            Dialect::Sqlite => ("event_search MATCH $1", "-bm25(event_search)"),
            Dialect::Postgres => (
                "vector @@ to_tsquery('estafette_search', $1)",
                "CAST(ts_rank(vector, to_tsquery('estafette_search', $1)) AS DOUBLE PRECISION)",
            ),
        };
        let mut conditions = vec![matches.to_owned()];
        let mut next = 2;
        let mut list = |column: &str, negated: bool, count: usize| {
            let not = if negated { "NOT " } else { "" };
            conditions.push(format!("{column} {not}IN ({})", placeholders(next, count)));
            next += count;
        };
        list("key", false, query.keys.len());
        list("room_id", false, query.rooms.len());
        if let Some(senders) = query.senders {
            list("sender", false, senders.len());
        }
        if !query.not_senders.is_empty() {
            list("sender", true, query.not_senders.len());
        }
        let filter = conditions.join(" AND ");
        let order = if query.recent_first {
            "CAST(stream_ordering AS BIGINT) DESC"
        } else {
            "rank DESC, CAST(stream_ordering AS BIGINT) DESC"
        };
        let page_sql = format!(
            "SELECT event_id, room_id, {rank} AS rank FROM event_search
             WHERE {filter} ORDER BY {order} LIMIT {} OFFSET {}",
            query.limit, query.offset
        );
        let count_sql = format!("SELECT COUNT(*) FROM event_search WHERE {filter}");
        let expression = match_expression(self.dialect, query.words);
        let senders = query.senders.unwrap_or_default();
        // The SQL is made of fixed fragments and placeholders only: what users typed is bound.
        let bind_all = |sql: String| {
            let mut statement = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(expression.clone());
            for key in query.keys {
                statement = statement.bind(*key);
            }
            for room in query.rooms {
                statement = statement.bind(room.as_str());
            }
            for sender in senders.iter().chain(query.not_senders) {
                statement = statement.bind(sender.as_str());
            }
            statement
        };
        let rows = bind_all(page_sql).fetch_all(&self.pool).await?;
        let total: i64 = bind_all(count_sql)
            .fetch_one(&self.pool)
            .await?
            .try_get(0)?;
        let matches = rows
            .iter()
            .map(|row| {
                Ok(SearchMatch {
                    event_id: OwnedEventId::try_from(row.try_get::<String, _>("event_id")?)
                        .map_err(|e| corrupt("event_search.event_id", e))?,
                    room_id: OwnedRoomId::try_from(row.try_get::<String, _>("room_id")?)
                        .map_err(|e| corrupt("event_search.room_id", e))?,
                    rank: row.try_get("rank")?,
                })
            })
            .collect::<StorageResult<Vec<_>>>()?;
        Ok((matches, u64::try_from(total).unwrap_or_default()))
    }
}

#[cfg(test)]
mod tests {
    use ruma::{OwnedEventId, OwnedRoomId, OwnedUserId, event_id, room_id, user_id};

    use crate::sql::testing::open_temporary;
    use crate::{SearchEntry, SearchQuery};

    #[tokio::test]
    async fn words_are_matched_as_prefixes_in_the_rooms_and_keys_asked() {
        let (_dir, storage) = open_temporary().await;
        let (alice, bob) = (user_id!("@alice:x"), user_id!("@bob:x"));
        let entries = [
            (
                event_id!("$1"),
                room_id!("!a:x"),
                alice,
                "content.body",
                "Réunion budgétaire demain",
            ),
            (
                event_id!("$2"),
                room_id!("!a:x"),
                bob,
                "content.body",
                "le budget est voté",
            ),
            (
                event_id!("$3"),
                room_id!("!b:x"),
                alice,
                "content.body",
                "budget de l'autre salle",
            ),
            (
                event_id!("$4"),
                room_id!("!a:x"),
                alice,
                "content.topic",
                "Budget 2027",
            ),
            (
                event_id!("$5"),
                room_id!("!a:x"),
                alice,
                "content.body",
                "\"*) OR NEAR(",
            ),
        ];
        for (n, (event_id, room_id, sender, key, text)) in entries.iter().enumerate() {
            let entry = SearchEntry {
                event_id,
                room_id,
                sender,
                stream_ordering: n as i64 + 1,
                key,
                text,
            };
            storage.search.index(&entry).await.unwrap();
        }
        let rooms: Vec<OwnedRoomId> = vec![room_id!("!a:x").to_owned()];
        let search =
            |words: &[&str], keys: &'static [&'static str], senders: Option<Vec<OwnedUserId>>| {
                let words: Vec<String> = words.iter().map(|w| (*w).to_owned()).collect();
                let storage = storage.clone();
                let rooms = rooms.clone();
                async move {
                    let query = SearchQuery {
                        words: &words,
                        keys,
                        rooms: &rooms,
                        senders: senders.as_deref(),
                        not_senders: &[],
                        recent_first: true,
                        offset: 0,
                        limit: 10,
                    };
                    let (found, count) = storage.search.search(&query).await.unwrap();
                    let ids: Vec<OwnedEventId> = found.into_iter().map(|m| m.event_id).collect();
                    (ids, count)
                }
            };
        // Accents do not matter, words are prefixes, other rooms and keys are left out.
        let (ids, count) = search(&["budget"], &["content.body"], None).await;
        assert_eq!(ids, [event_id!("$2"), event_id!("$1")]);
        assert_eq!(count, 2);
        let (ids, _) = search(&["budget"], &["content.topic"], None).await;
        assert_eq!(ids, [event_id!("$4")]);
        let (ids, _) = search(&["budget", "vot"], &["content.body"], None).await;
        assert_eq!(ids, [event_id!("$2")]);
        let (ids, _) = search(&["budget"], &["content.body"], Some(vec![alice.to_owned()])).await;
        assert_eq!(ids, [event_id!("$1")]);
        // FTS5 syntax in what the user types is just text.
        let (ids, _) = search(&["\"*)", "OR", "NEAR("], &["content.body"], None).await;
        assert_eq!(ids, [event_id!("$5")]);

        storage.search.remove(event_id!("$2")).await.unwrap();
        let (ids, _) = search(&["budget"], &["content.body"], None).await;
        assert_eq!(ids, [event_id!("$1")]);
    }
}
