//! Uploads: in one request (`POST /_matrix/media/v3/upload`), or an `mxc://` URI created first
//! (`POST /_matrix/media/v1/create`) and its bytes sent later, once, by the same user. Every
//! upload is scanned before it is acknowledged and counts towards the user's quota.

use estafette_storage::MediaRecord;
use ruma::{OwnedMxcUri, ServerName};

use super::repository::{MediaService, is_media_id, not_found};
use crate::{Requester, ServiceError, ServiceResult};

/// An `mxc://` URI waiting for its bytes.
#[derive(Debug, Clone)]
pub struct CreatedMedia {
    pub uri: OwnedMxcUri,
    /// When the URI is forgotten if no bytes came.
    pub unused_expires_at: u64,
}

/// The bytes of an upload and how they are described.
#[derive(Debug, Clone, Copy)]
pub struct Upload<'a> {
    pub content_type: Option<&'a str>,
    pub filename: Option<&'a str>,
    pub bytes: &'a [u8],
}

impl MediaService {
    /// `POST /_matrix/media/v3/upload`
    pub async fn upload(
        &self,
        requester: &Requester,
        upload: Upload<'_>,
    ) -> ServiceResult<OwnedMxcUri> {
        let media_id = self.context.random.alphanumeric(24);
        let origin = self.context.server_name.clone();
        let record = self.accept(requester, &origin, &media_id, upload).await?;
        self.context
            .storage
            .media
            .put(&origin, &media_id, &record)
            .await?;
        Ok(OwnedMxcUri::from(format!("mxc://{origin}/{media_id}")))
    }

    /// `POST /_matrix/media/v1/create`
    pub async fn create(&self, requester: &Requester) -> ServiceResult<CreatedMedia> {
        let config = &self.context.config.media;
        let user = requester.user_id.as_str();
        let now = self.context.now();
        let media = &self.context.storage.media;
        if media.pending_count(user, now).await? >= config.max_pending_uploads {
            return Err(ServiceError::LimitExceeded(format!(
                "At most {} uploads may wait for their content at once",
                config.max_pending_uploads
            )));
        }
        let media_id = self.context.random.alphanumeric(24);
        let origin = &self.context.server_name;
        let unused_expires_at = now + config.unused_expiry_secs * 1000;
        let record = MediaRecord {
            content_type: None,
            filename: None,
            size: 0,
            uploader: Some(user.to_owned()),
            created_ts: now,
            content_hash: None,
            pending_until: Some(unused_expires_at),
            last_access_ts: now,
        };
        media.put(origin, &media_id, &record).await?;
        Ok(CreatedMedia {
            uri: OwnedMxcUri::from(format!("mxc://{origin}/{media_id}")),
            unused_expires_at,
        })
    }

    /// `PUT /_matrix/media/v3/upload/{serverName}/{mediaId}`: the bytes of a created URI.
    pub async fn upload_to(
        &self,
        requester: &Requester,
        server: &ServerName,
        media_id: &str,
        upload: Upload<'_>,
    ) -> ServiceResult<()> {
        let media = &self.context.storage.media;
        let record = if server == self.context.server_name && is_media_id(media_id) {
            media.get(server, media_id).await?
        } else {
            None
        };
        let Some(record) = record else {
            return Err(not_found(server, media_id));
        };
        if record.uploader.as_deref() != Some(requester.user_id.as_str()) {
            return Err(ServiceError::Forbidden(
                "Only the user who created this media ID may upload to it".to_owned(),
            ));
        }
        match record.pending_until {
            None => return Err(already_uploaded()),
            Some(until) if until <= self.context.now() => return Err(not_found(server, media_id)),
            Some(_) => {}
        }
        let uploaded = self.accept(requester, server, media_id, upload).await?;
        if media
            .complete(server, media_id, &uploaded, self.context.now())
            .await?
        {
            Ok(())
        } else {
            // Another request uploaded first, or the URI expired meanwhile.
            Err(already_uploaded())
        }
    }

    /// Keeps a file the server fetched for `requester` (a link preview's image) as media of
    /// this server: scanned like an upload, counted in nobody's quota.
    pub(crate) async fn keep_fetched(
        &self,
        requester: &ruma::UserId,
        content_type: &str,
        bytes: &[u8],
        source: &'static str,
    ) -> ServiceResult<OwnedMxcUri> {
        let media_id = self.context.random.alphanumeric(24);
        let origin = self.context.server_name.clone();
        let who = (requester.as_str(), source);
        let hash = self.keep_clean((&origin, &media_id), bytes, who).await?;
        let record = MediaRecord {
            content_type: Some(content_type.to_owned()),
            filename: None,
            size: bytes.len() as u64,
            uploader: None,
            created_ts: self.context.now(),
            content_hash: Some(hash),
            pending_until: None,
            last_access_ts: self.context.now(),
        };
        let media = &self.context.storage.media;
        media.put(&origin, &media_id, &record).await?;
        Ok(OwnedMxcUri::from(format!("mxc://{origin}/{media_id}")))
    }

    /// Checks an upload (size, quota, antivirus) and keeps its bytes; the record to store.
    async fn accept(
        &self,
        requester: &Requester,
        origin: &ServerName,
        media_id: &str,
        upload: Upload<'_>,
    ) -> ServiceResult<MediaRecord> {
        let config = &self.context.config.media;
        let bytes = upload.bytes;
        let limit = config.max_upload_bytes;
        if bytes.len() > limit {
            return Err(ServiceError::TooLarge(format!(
                "Files are limited to {limit} bytes"
            )));
        }
        let user = requester.user_id.as_str();
        if let Some(quota) = config.user_quota_bytes {
            let used = self.context.storage.media.uploaded_bytes(user).await?;
            if used + bytes.len() as u64 > quota {
                return Err(ServiceError::Forbidden(format!(
                    "This upload would exceed your storage quota of {quota} bytes \
                     ({used} bytes used)"
                )));
            }
        }
        let hash = self
            .keep_clean((origin, media_id), bytes, (user, "upload"))
            .await?;
        Ok(MediaRecord {
            content_type: upload.content_type.map(ToOwned::to_owned),
            filename: upload.filename.map(ToOwned::to_owned),
            size: bytes.len() as u64,
            uploader: Some(user.to_owned()),
            created_ts: self.context.now(),
            content_hash: Some(hash),
            pending_until: None,
            last_access_ts: self.context.now(),
        })
    }
}

fn already_uploaded() -> ServiceError {
    ServiceError::CannotOverwriteMedia("This media ID already has its content".to_owned())
}
