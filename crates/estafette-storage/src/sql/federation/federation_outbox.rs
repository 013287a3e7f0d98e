use async_trait::async_trait;
use ruma::{OwnedServerName, ServerName};
use sqlx::Row;

use crate::sql::{Db, corrupt, from_db, to_db};
use crate::{FederationOutboxRepository, OutboxItem, StorageResult};

#[async_trait]
impl FederationOutboxRepository for Db {
    async fn enqueue(
        &self,
        destinations: &[OwnedServerName],
        kind: &str,
        payload: &str,
    ) -> StorageResult<()> {
        let mut tx = self.write_transaction().await?;
        // Items for one destination commit in the order of their IDs, which is the order they
        // are sent in: a sender never reads an item while an earlier one is still in flight.
        // (Locks taken in name order: two enqueues never wait for each other in a cycle.)
        let mut sorted: Vec<&OwnedServerName> = destinations.iter().collect();
        sorted.sort();
        for destination in sorted {
            self.lock(&mut tx, &format!("federation_outbox {destination}"))
                .await?;
        }
        for destination in destinations {
            sqlx::query(
                "INSERT INTO federation_outbox (destination, kind, payload) VALUES ($1, $2, $3)",
            )
            .bind(destination.as_str())
            .bind(kind)
            .bind(payload)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    async fn pending(
        &self,
        destination: &ServerName,
        max_pdus: u32,
        max_edus: u32,
    ) -> StorageResult<Vec<OutboxItem>> {
        let rows = sqlx::query(
            "SELECT id, kind, payload FROM (
               SELECT id, kind, payload FROM federation_outbox
                 WHERE destination = $1 AND kind = 'pdu' ORDER BY id LIMIT $2) AS pdus
             UNION ALL
             SELECT id, kind, payload FROM (
               SELECT id, kind, payload FROM federation_outbox
                 WHERE destination = $1 AND kind = 'edu' ORDER BY id LIMIT $3) AS edus
             ORDER BY id",
        )
        .bind(destination.as_str())
        .bind(i64::from(max_pdus))
        .bind(i64::from(max_edus))
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| {
                Ok(OutboxItem {
                    id: row.try_get("id")?,
                    kind: row.try_get("kind")?,
                    payload: row.try_get("payload")?,
                })
            })
            .collect()
    }

    async fn delivered(&self, destination: &ServerName, ids: &[i64]) -> StorageResult<()> {
        let mut tx = self.write_transaction().await?;
        for id in ids {
            sqlx::query("DELETE FROM federation_outbox WHERE destination = $1 AND id = $2")
                .bind(destination.as_str())
                .bind(id)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    async fn destinations(&self) -> StorageResult<Vec<OwnedServerName>> {
        let names: Vec<String> =
            sqlx::query_scalar("SELECT DISTINCT destination FROM federation_outbox")
                .fetch_all(&self.pool)
                .await?;
        names
            .into_iter()
            .map(|name| {
                OwnedServerName::try_from(name).map_err(|e| corrupt("federation_outbox", e))
            })
            .collect()
    }

    async fn record_failure(&self, destination: &ServerName, retry_at: u64) -> StorageResult<u32> {
        let mut tx = self.write_transaction().await?;
        let failures: i64 = sqlx::query_scalar(
            "INSERT INTO federation_backoff (destination, failures, retry_at) VALUES ($1, 1, $2)
             ON CONFLICT (destination) DO UPDATE SET failures = federation_backoff.failures + 1, retry_at = excluded.retry_at
             RETURNING failures",
        )
        .bind(destination.as_str())
        .bind(to_db(retry_at))
        .fetch_one(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(u32::try_from(failures).unwrap_or(u32::MAX))
    }

    async fn record_success(&self, destination: &ServerName) -> StorageResult<()> {
        self.write(
            sqlx::query("DELETE FROM federation_backoff WHERE destination = $1")
                .bind(destination.as_str()),
        )
        .await?;
        Ok(())
    }

    async fn retry_at(&self, destination: &ServerName) -> StorageResult<Option<u64>> {
        let retry_at: Option<i64> =
            sqlx::query_scalar("SELECT retry_at FROM federation_backoff WHERE destination = $1")
                .bind(destination.as_str())
                .fetch_optional(&self.pool)
                .await?;
        Ok(retry_at.map(from_db))
    }

    async fn acquire_lease(
        &self,
        destination: &ServerName,
        owner: &str,
        now: u64,
        until: u64,
    ) -> StorageResult<bool> {
        // One statement, atomic on both backends: insert, or take over an expired lease, or
        // renew one's own; otherwise no row comes back.
        let mut tx = self.write_transaction().await?;
        let granted: Option<String> = sqlx::query_scalar(
            "INSERT INTO federation_leases (destination, owner, expires_ts) VALUES ($1, $2, $4)
             ON CONFLICT (destination) DO UPDATE SET owner = excluded.owner, expires_ts = excluded.expires_ts
             WHERE federation_leases.owner = excluded.owner OR federation_leases.expires_ts < $3
             RETURNING owner",
        )
        .bind(destination.as_str())
        .bind(owner)
        .bind(to_db(now))
        .bind(to_db(until))
        .fetch_optional(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(granted.is_some())
    }

    async fn release_lease(&self, destination: &ServerName, owner: &str) -> StorageResult<()> {
        self.write(
            sqlx::query("DELETE FROM federation_leases WHERE destination = $1 AND owner = $2")
                .bind(destination.as_str())
                .bind(owner),
        )
        .await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use ruma::{OwnedServerName, server_name};

    use crate::sql::testing::open_temporary;

    #[tokio::test]
    async fn each_destination_gets_its_items_in_order_until_delivered() {
        let (_dir, storage) = open_temporary().await;
        let outbox = &storage.federation_outbox;
        let a: OwnedServerName = server_name!("a.example").to_owned();
        let b: OwnedServerName = server_name!("b.example").to_owned();
        outbox
            .enqueue(&[a.clone(), b.clone()], "pdu", "1")
            .await
            .unwrap();
        outbox
            .enqueue(std::slice::from_ref(&a), "edu", "2")
            .await
            .unwrap();
        outbox
            .enqueue(std::slice::from_ref(&a), "pdu", "3")
            .await
            .unwrap();
        let items = outbox.pending(&a, 1, 10).await.unwrap();
        let payloads: Vec<&str> = items.iter().map(|i| i.payload.as_str()).collect();
        assert_eq!(payloads, ["1", "2"], "one PDU at most, EDUs too, in order");
        outbox
            .delivered(&a, &items.iter().map(|i| i.id).collect::<Vec<_>>())
            .await
            .unwrap();
        let rest = outbox.pending(&a, 50, 100).await.unwrap();
        assert_eq!(rest.len(), 1);
        assert_eq!(rest[0].payload, "3");
        assert_eq!(outbox.pending(&b, 50, 100).await.unwrap().len(), 1);

        assert_eq!(outbox.record_failure(&a, 10).await.unwrap(), 1);
        assert_eq!(outbox.record_failure(&a, 20).await.unwrap(), 2);
        assert_eq!(outbox.retry_at(&a).await.unwrap(), Some(20));
        outbox.record_success(&a).await.unwrap();
        assert_eq!(outbox.retry_at(&a).await.unwrap(), None);
    }

    #[tokio::test]
    async fn one_owner_delivers_to_a_destination_until_its_lease_expires() {
        let (_dir, storage) = open_temporary().await;
        let outbox = &storage.federation_outbox;
        let a = server_name!("a.example");
        let b = server_name!("b.example");
        assert!(outbox.acquire_lease(a, "p1", 0, 100).await.unwrap());
        assert!(
            !outbox.acquire_lease(a, "p2", 50, 150).await.unwrap(),
            "held"
        );
        assert!(
            outbox.acquire_lease(b, "p2", 50, 150).await.unwrap(),
            "per destination"
        );
        assert!(
            outbox.acquire_lease(a, "p1", 90, 190).await.unwrap(),
            "renewed"
        );
        assert!(
            !outbox.acquire_lease(a, "p2", 150, 250).await.unwrap(),
            "renewal counts"
        );
        assert!(
            outbox.acquire_lease(a, "p2", 191, 291).await.unwrap(),
            "expired: taken over"
        );
        assert!(
            !outbox.acquire_lease(a, "p1", 200, 300).await.unwrap(),
            "the old owner lost it"
        );
        outbox.release_lease(a, "p1").await.unwrap();
        assert!(
            !outbox.acquire_lease(a, "p3", 200, 300).await.unwrap(),
            "not p1's to release"
        );
        outbox.release_lease(a, "p2").await.unwrap();
        assert!(
            outbox.acquire_lease(a, "p3", 200, 300).await.unwrap(),
            "released"
        );
    }

    /// Concurrent processes racing for one destination: exactly one wins.
    #[tokio::test]
    async fn racing_processes_get_one_lease() {
        let (_dir, storage) = open_temporary().await;
        let mut racers = Vec::new();
        for n in 0..8 {
            let storage = storage.clone();
            racers.push(tokio::spawn(async move {
                let owner = format!("p{n}");
                storage
                    .federation_outbox
                    .acquire_lease(server_name!("a.example"), &owner, 0, 100)
                    .await
                    .unwrap()
            }));
        }
        let mut winners = 0;
        for racer in racers {
            winners += usize::from(racer.await.unwrap());
        }
        assert_eq!(winners, 1);
    }

    /// Writers enqueueing side by side (on PostgreSQL) while the sender reads and delivers:
    /// the sender never reads an item while an earlier one for the destination is in flight,
    /// so what it sends is in queue order, each item once.
    #[tokio::test]
    async fn items_enqueued_concurrently_are_read_in_order() {
        let (_dir, storage) = open_temporary().await;
        let outbox = storage.federation_outbox.clone();
        let a: OwnedServerName = server_name!("a.example").to_owned();
        let writers: Vec<_> = (0..16)
            .map(|n| {
                let (outbox, a) = (outbox.clone(), a.clone());
                tokio::spawn(async move {
                    for i in 0..10 {
                        let kind = if (n + i) % 2 == 0 { "pdu" } else { "edu" };
                        outbox
                            .enqueue(std::slice::from_ref(&a), kind, &format!("{n}/{i}"))
                            .await
                            .unwrap();
                    }
                })
            })
            .collect();
        let mut sent: Vec<i64> = Vec::new();
        let started = std::time::Instant::now();
        while sent.len() < 160 {
            assert!(started.elapsed().as_secs() < 60, "sent only {}", sent.len());
            let items = outbox.pending(&a, 1000, 1000).await.unwrap();
            let ids: Vec<i64> = items.iter().map(|item| item.id).collect();
            outbox.delivered(&a, &ids).await.unwrap();
            sent.extend(ids);
            tokio::task::yield_now().await;
        }
        for writer in writers {
            writer.await.unwrap();
        }
        assert!(
            sent.windows(2).all(|pair| pair[0] < pair[1]),
            "sent out of order: {sent:?}"
        );
        assert!(outbox.pending(&a, 1000, 1000).await.unwrap().is_empty());
    }
}
