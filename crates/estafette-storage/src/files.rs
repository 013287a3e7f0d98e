//! Media bytes as files under the data directory: `media/<origin>/<media id>/<variant>`.
//! Media IDs and variants are checked to be plain names, so no path can leave the directory.

use std::path::PathBuf;

use async_trait::async_trait;
use ruma::ServerName;

use crate::{MediaFileRepository, StorageError, StorageResult};

pub struct FileStore {
    root: PathBuf,
}

impl FileStore {
    pub fn new(root: PathBuf) -> Self {
        Self { root }
    }

    fn path(&self, origin: &ServerName, media_id: &str, variant: &str) -> StorageResult<PathBuf> {
        let plain = |part: &str| {
            !part.is_empty()
                && part
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
                && !part.starts_with('.')
        };
        // A server name may hold a port (`host:8448`); the colon is kept out of the path.
        let origin = origin.as_str().replace(':', "_");
        if !plain(&origin) || !plain(media_id) || !plain(variant) {
            return Err(StorageError::Corrupt(format!(
                "unsafe media path {origin}/{media_id}/{variant}"
            )));
        }
        Ok(self.root.join(origin).join(media_id).join(variant))
    }
}

#[async_trait]
impl MediaFileRepository for FileStore {
    async fn write(
        &self,
        origin: &ServerName,
        media_id: &str,
        variant: &str,
        bytes: &[u8],
    ) -> StorageResult<()> {
        let path = self.path(origin, media_id, variant)?;
        let io = |e: std::io::Error| StorageError::Corrupt(format!("{}: {e}", path.display()));
        if let Some(dir) = path.parent() {
            tokio::fs::create_dir_all(dir).await.map_err(io)?;
        }
        // Written aside then renamed, so a reader never sees half a file.
        let partial = path.with_extension("partial");
        tokio::fs::write(&partial, bytes).await.map_err(io)?;
        tokio::fs::rename(&partial, &path).await.map_err(io)?;
        Ok(())
    }

    async fn read(
        &self,
        origin: &ServerName,
        media_id: &str,
        variant: &str,
    ) -> StorageResult<Option<Vec<u8>>> {
        let path = self.path(origin, media_id, variant)?;
        match tokio::fs::read(&path).await {
            Ok(bytes) => Ok(Some(bytes)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(StorageError::Corrupt(format!("{}: {e}", path.display()))),
        }
    }
}

#[cfg(test)]
mod tests {
    use ruma::server_name;

    use super::FileStore;
    use crate::MediaFileRepository;

    #[tokio::test]
    async fn files_round_trip_and_paths_cannot_escape() {
        let dir = tempfile::tempdir().unwrap();
        let store = FileStore::new(dir.path().to_owned());
        let origin = server_name!("localhost:8448");
        store
            .write(origin, "abc", "original", b"bytes")
            .await
            .unwrap();
        assert_eq!(
            store
                .read(origin, "abc", "original")
                .await
                .unwrap()
                .as_deref(),
            Some(&b"bytes"[..])
        );
        assert_eq!(store.read(origin, "abd", "original").await.unwrap(), None);
        assert!(store.read(origin, "../etc", "original").await.is_err());
        assert!(store.write(origin, "abc", "../x", b"").await.is_err());
    }
}
