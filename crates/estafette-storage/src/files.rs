//! Media bytes as files under the data directory: each distinct content once, by its SHA-256,
//! at `media/_content/<2 hex>/<hash>`; thumbnails (and media stored before contents were
//! shared) at `media/<origin>/<media id>/<variant>`. Media IDs, variants and hashes are checked
//! to be plain names, so no path can leave the directory.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use async_trait::async_trait;
use ruma::ServerName;

use crate::{MediaFileRepository, StorageError, StorageResult};

/// Where shared contents live: no server's directory can have this name (server names do not
/// start with an underscore).
const CONTENT_DIR: &str = "_content";
/// A variant name, to find the directory of a media's variants.
const ORIGINAL_VARIANT: &str = "original";

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

    fn content_path(&self, content_hash: &str) -> StorageResult<PathBuf> {
        let lower_hex = |b: u8| matches!(b, b'0'..=b'9' | b'a'..=b'f');
        if content_hash.len() != 64 || !content_hash.bytes().all(lower_hex) {
            return Err(StorageError::Corrupt(format!(
                "unsafe content hash {content_hash}"
            )));
        }
        Ok(self
            .root
            .join(CONTENT_DIR)
            .join(&content_hash[..2])
            .join(content_hash))
    }
}

/// Written aside then renamed, so that a reader never sees half a file; each writer has its
/// own aside, so that concurrent writers of the same content do not mix.
async fn write_whole(path: &Path, bytes: &[u8]) -> StorageResult<()> {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let io = |e: std::io::Error| StorageError::Corrupt(format!("{}: {e}", path.display()));
    if let Some(dir) = path.parent() {
        tokio::fs::create_dir_all(dir).await.map_err(io)?;
    }
    let partial = path.with_extension(format!(
        "partial-{}-{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    ));
    tokio::fs::write(&partial, bytes).await.map_err(io)?;
    tokio::fs::rename(&partial, path).await.map_err(io)
}

async fn read_whole(path: &Path) -> StorageResult<Option<Vec<u8>>> {
    match tokio::fs::read(path).await {
        Ok(bytes) => Ok(Some(bytes)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(StorageError::Corrupt(format!("{}: {e}", path.display()))),
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
        write_whole(&self.path(origin, media_id, variant)?, bytes).await
    }

    async fn read(
        &self,
        origin: &ServerName,
        media_id: &str,
        variant: &str,
    ) -> StorageResult<Option<Vec<u8>>> {
        read_whole(&self.path(origin, media_id, variant)?).await
    }

    async fn write_content(&self, content_hash: &str, bytes: &[u8]) -> StorageResult<()> {
        let path = self.content_path(content_hash)?;
        // Already there: marked written now, so that a retention purge leaves it alone while
        // the media about to refer to it is recorded.
        let touched = path.clone();
        let marked = tokio::task::spawn_blocking(move || {
            let file = std::fs::File::options().append(true).open(touched)?;
            file.set_modified(std::time::SystemTime::now())
        })
        .await;
        if matches!(marked, Ok(Ok(()))) {
            return Ok(());
        }
        write_whole(&path, bytes).await
    }

    async fn read_content(&self, content_hash: &str) -> StorageResult<Option<Vec<u8>>> {
        read_whole(&self.content_path(content_hash)?).await
    }

    async fn delete_variants(&self, origin: &ServerName, media_id: &str) -> StorageResult<()> {
        let any_variant = self.path(origin, media_id, ORIGINAL_VARIANT)?;
        let Some(dir) = any_variant.parent() else {
            return Ok(());
        };
        match tokio::fs::remove_dir_all(dir).await {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                Err(StorageError::Corrupt(format!("{}: {e}", dir.display())))
            }
            _ => Ok(()),
        }
    }

    async fn delete_content(
        &self,
        content_hash: &str,
        grace: std::time::Duration,
    ) -> StorageResult<()> {
        let path = self.content_path(content_hash)?;
        let io = |e: std::io::Error| StorageError::Corrupt(format!("{}: {e}", path.display()));
        let written = match tokio::fs::metadata(&path).await {
            Ok(metadata) => metadata.modified().map_err(io)?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(io(e)),
        };
        let age = written.elapsed().unwrap_or_default();
        if age < grace {
            return Ok(());
        }
        match tokio::fs::remove_file(&path).await {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(io(e)),
            _ => Ok(()),
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

    #[tokio::test]
    async fn each_content_is_stored_once_by_its_hash() {
        let dir = tempfile::tempdir().unwrap();
        let store = FileStore::new(dir.path().to_owned());
        let hash = "ab".repeat(32);
        store.write_content(&hash, b"report").await.unwrap();
        store.write_content(&hash, b"report").await.unwrap();
        assert_eq!(
            store.read_content(&hash).await.unwrap().as_deref(),
            Some(&b"report"[..])
        );
        let files = std::fs::read_dir(dir.path().join("_content").join("ab"))
            .unwrap()
            .count();
        assert_eq!(files, 1);
        assert_eq!(store.read_content(&"cd".repeat(32)).await.unwrap(), None);
        assert!(store.read_content("../../etc/passwd").await.is_err());
        assert!(store.write_content(&"zz".repeat(32), b"").await.is_err());
    }

    #[tokio::test]
    async fn contents_are_deleted_only_once_their_grace_has_passed() {
        use std::time::Duration;
        let dir = tempfile::tempdir().unwrap();
        let store = FileStore::new(dir.path().to_owned());
        let hash = "ef".repeat(32);
        store.write_content(&hash, b"cached").await.unwrap();
        store
            .delete_content(&hash, Duration::from_secs(60))
            .await
            .unwrap();
        assert!(
            store.read_content(&hash).await.unwrap().is_some(),
            "just written"
        );
        tokio::time::sleep(Duration::from_millis(30)).await;
        store
            .delete_content(&hash, Duration::from_millis(20))
            .await
            .unwrap();
        assert_eq!(store.read_content(&hash).await.unwrap(), None);
        store
            .delete_content(&hash, Duration::ZERO)
            .await
            .expect("deleting what is gone is no error");

        // Writing the same bytes again restarts the grace.
        store.write_content(&hash, b"cached").await.unwrap();
        tokio::time::sleep(Duration::from_millis(30)).await;
        store.write_content(&hash, b"cached").await.unwrap();
        store
            .delete_content(&hash, Duration::from_millis(20))
            .await
            .unwrap();
        assert!(store.read_content(&hash).await.unwrap().is_some());

        let origin = server_name!("remote.org");
        store
            .write(origin, "m", "thumbnail-8x8-crop", b"png")
            .await
            .unwrap();
        store.delete_variants(origin, "m").await.unwrap();
        assert_eq!(
            store.read(origin, "m", "thumbnail-8x8-crop").await.unwrap(),
            None
        );
        store.delete_variants(origin, "never").await.unwrap();
    }
}
