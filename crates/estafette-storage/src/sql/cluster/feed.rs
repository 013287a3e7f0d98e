use async_trait::async_trait;
use sqlx::postgres::PgListener;
use tokio::sync::mpsc;

use crate::sql::{Db, Dialect};
use crate::{ClusterFeed, StorageResult};

/// The one NOTIFY channel of the server's processes.
const CHANNEL: &str = "estafette_cluster";

#[async_trait]
impl ClusterFeed for Db {
    async fn publish(&self, message: &str) -> StorageResult<()> {
        if self.dialect == Dialect::Sqlite {
            return Ok(());
        }
        self.write(
            sqlx::query("SELECT pg_notify($1, $2)")
                .bind(CHANNEL)
                .bind(message),
        )
        .await?;
        Ok(())
    }

    async fn listen(&self) -> StorageResult<Option<mpsc::Receiver<String>>> {
        let Some(url) = &self.postgres_url else {
            return Ok(None);
        };
        let mut listener = PgListener::connect(url).await?;
        listener.listen(CHANNEL).await?;
        let (sender, receiver) = mpsc::channel(4_096);
        tokio::spawn(async move {
            loop {
                let message = match listener.try_recv().await {
                    Ok(Some(notification)) => notification.payload().to_owned(),
                    // The connection was lost and is being re-established: tell the receiver
                    // that messages may have been missed.
                    Ok(None) => String::new(),
                    Err(err) => {
                        tracing::warn!(error = %err, "cluster feed: listening failed, retrying");
                        tokio::time::sleep(std::time::Duration::from_secs(1)).await;
                        continue;
                    }
                };
                if sender.send(message).await.is_err() {
                    return;
                }
            }
        });
        Ok(Some(receiver))
    }
}
