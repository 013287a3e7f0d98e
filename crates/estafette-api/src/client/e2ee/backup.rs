//! Server-side key backup: `/room_keys/version[/{version}]` and `/room_keys/keys[/{roomId}[/{sessionId}]]`.

use std::collections::BTreeMap;

use axum::extract::State;
use estafette_service::{BackupInfo, BackupSessions};
use ruma::api::client::backup::{
    RoomKeyBackup, add_backup_keys, add_backup_keys_for_room, add_backup_keys_for_session,
    create_backup_version, delete_backup_keys, delete_backup_keys_for_room,
    delete_backup_keys_for_session, delete_backup_version, get_backup_info, get_backup_keys,
    get_backup_keys_for_room, get_backup_keys_for_session, get_latest_backup_info,
    update_backup_version,
};
use ruma::serde::Raw;
use ruma::{OwnedRoomId, UInt};
use serde_json::Value as JsonValue;

use crate::extract::{ApiResult, Ruma, RumaResponse};
use crate::json::{plain, raw};
use crate::router::Routes;
use crate::{ApiError, AppState};

pub(crate) fn routes(router: Routes) -> Routes {
    router
        .ruma(create_backup_version)
        .ruma(get_latest_backup_info)
        .ruma(get_backup_info)
        .ruma(update_backup_version)
        .ruma(delete_backup_version)
        .ruma(add_backup_keys)
        .ruma(add_backup_keys_for_room)
        .ruma(add_backup_keys_for_session)
        .ruma(get_backup_keys)
        .ruma(get_backup_keys_for_room)
        .ruma(get_backup_keys_for_session)
        .ruma(delete_backup_keys)
        .ruma(delete_backup_keys_for_room)
        .ruma(delete_backup_keys_for_session)
}

fn count(n: u64) -> UInt {
    UInt::new(n).unwrap_or_default()
}

fn rooms_in(rooms: &BTreeMap<OwnedRoomId, RoomKeyBackup>) -> Result<BackupSessions, ApiError> {
    rooms
        .iter()
        .map(|(room, backup)| Ok((room.to_string(), sessions_in(&backup.sessions)?)))
        .collect()
}

fn sessions_in<T>(
    sessions: &BTreeMap<String, Raw<T>>,
) -> Result<BTreeMap<String, JsonValue>, ApiError> {
    sessions
        .iter()
        .map(|(id, data)| Ok((id.clone(), plain(data)?)))
        .collect()
}

fn sessions_out<T>(
    sessions: &BTreeMap<String, JsonValue>,
) -> Result<BTreeMap<String, Raw<T>>, ApiError> {
    sessions
        .iter()
        .map(|(id, data)| Ok((id.clone(), raw(data)?)))
        .collect()
}

fn one_room(room_id: &OwnedRoomId, sessions: BTreeMap<String, JsonValue>) -> BackupSessions {
    BTreeMap::from([(room_id.to_string(), sessions)])
}

/// `POST /_matrix/client/v3/room_keys/version`
async fn create_backup_version(
    State(state): State<AppState>,
    request: Ruma<create_backup_version::v3::Request>,
) -> ApiResult<create_backup_version::v3::Response> {
    let user = &request.requester()?.user_id;
    let version = state
        .services
        .backup
        .create_version(user, &plain(&request.body.algorithm)?)
        .await?;
    Ok(RumaResponse(create_backup_version::v3::Response::new(
        version,
    )))
}

fn info_parts(
    info: BackupInfo,
) -> Result<
    (
        Raw<ruma::api::client::backup::BackupAlgorithm>,
        UInt,
        String,
        String,
    ),
    ApiError,
> {
    Ok((
        raw(&info.algorithm)?,
        count(info.count),
        info.etag,
        info.version,
    ))
}

/// `GET /_matrix/client/v3/room_keys/version`
async fn get_latest_backup_info(
    State(state): State<AppState>,
    request: Ruma<get_latest_backup_info::v3::Request>,
) -> ApiResult<get_latest_backup_info::v3::Response> {
    let info = state
        .services
        .backup
        .info(&request.requester()?.user_id, None)
        .await?;
    let (algorithm, count, etag, version) = info_parts(info)?;
    Ok(RumaResponse(get_latest_backup_info::v3::Response::new(
        algorithm, count, etag, version,
    )))
}

/// `GET /_matrix/client/v3/room_keys/version/{version}`
async fn get_backup_info(
    State(state): State<AppState>,
    request: Ruma<get_backup_info::v3::Request>,
) -> ApiResult<get_backup_info::v3::Response> {
    let info = state
        .services
        .backup
        .info(&request.requester()?.user_id, Some(&request.body.version))
        .await?;
    let (algorithm, count, etag, version) = info_parts(info)?;
    Ok(RumaResponse(get_backup_info::v3::Response::new(
        algorithm, count, etag, version,
    )))
}

/// `PUT /_matrix/client/v3/room_keys/version/{version}`
async fn update_backup_version(
    State(state): State<AppState>,
    request: Ruma<update_backup_version::v3::Request>,
) -> ApiResult<update_backup_version::v3::Response> {
    let body = &request.body;
    state
        .services
        .backup
        .update_version(
            &request.requester()?.user_id,
            &body.version,
            &plain(&body.algorithm)?,
        )
        .await?;
    Ok(RumaResponse(update_backup_version::v3::Response::new()))
}

/// `DELETE /_matrix/client/v3/room_keys/version/{version}`
async fn delete_backup_version(
    State(state): State<AppState>,
    request: Ruma<delete_backup_version::v3::Request>,
) -> ApiResult<delete_backup_version::v3::Response> {
    state
        .services
        .backup
        .delete_version(&request.requester()?.user_id, &request.body.version)
        .await?;
    Ok(RumaResponse(delete_backup_version::v3::Response::new()))
}

/// `PUT /_matrix/client/v3/room_keys/keys`
async fn add_backup_keys(
    State(state): State<AppState>,
    request: Ruma<add_backup_keys::v3::Request>,
) -> ApiResult<add_backup_keys::v3::Response> {
    let body = &request.body;
    let (n, etag) = state
        .services
        .backup
        .put_keys(
            &request.requester()?.user_id,
            &body.version,
            &rooms_in(&body.rooms)?,
        )
        .await?;
    Ok(RumaResponse(add_backup_keys::v3::Response::new(
        etag,
        count(n),
    )))
}

/// `PUT /_matrix/client/v3/room_keys/keys/{roomId}`
async fn add_backup_keys_for_room(
    State(state): State<AppState>,
    request: Ruma<add_backup_keys_for_room::v3::Request>,
) -> ApiResult<add_backup_keys_for_room::v3::Response> {
    let body = &request.body;
    let rooms = one_room(&body.room_id, sessions_in(&body.sessions)?);
    let (n, etag) = state
        .services
        .backup
        .put_keys(&request.requester()?.user_id, &body.version, &rooms)
        .await?;
    Ok(RumaResponse(add_backup_keys_for_room::v3::Response::new(
        etag,
        count(n),
    )))
}

/// `PUT /_matrix/client/v3/room_keys/keys/{roomId}/{sessionId}`
async fn add_backup_keys_for_session(
    State(state): State<AppState>,
    request: Ruma<add_backup_keys_for_session::v3::Request>,
) -> ApiResult<add_backup_keys_for_session::v3::Response> {
    let body = &request.body;
    let rooms = one_room(
        &body.room_id,
        BTreeMap::from([(body.session_id.clone(), plain(&body.session_data)?)]),
    );
    let (n, etag) = state
        .services
        .backup
        .put_keys(&request.requester()?.user_id, &body.version, &rooms)
        .await?;
    Ok(RumaResponse(
        add_backup_keys_for_session::v3::Response::new(etag, count(n)),
    ))
}

/// `GET /_matrix/client/v3/room_keys/keys`
async fn get_backup_keys(
    State(state): State<AppState>,
    request: Ruma<get_backup_keys::v3::Request>,
) -> ApiResult<get_backup_keys::v3::Response> {
    let rooms = state
        .services
        .backup
        .keys(
            &request.requester()?.user_id,
            &request.body.version,
            None,
            None,
        )
        .await?;
    let rooms = rooms
        .iter()
        .map(|(room, sessions)| {
            let room = OwnedRoomId::try_from(room.as_str())
                .map_err(|e| ApiError::bad_json(e.to_string()))?;
            Ok((room, RoomKeyBackup::new(sessions_out(sessions)?)))
        })
        .collect::<Result<_, ApiError>>()?;
    Ok(RumaResponse(get_backup_keys::v3::Response::new(rooms)))
}

/// `GET /_matrix/client/v3/room_keys/keys/{roomId}`
async fn get_backup_keys_for_room(
    State(state): State<AppState>,
    request: Ruma<get_backup_keys_for_room::v3::Request>,
) -> ApiResult<get_backup_keys_for_room::v3::Response> {
    let body = &request.body;
    let user = &request.requester()?.user_id;
    let mut rooms = state
        .services
        .backup
        .keys(user, &body.version, Some(body.room_id.as_str()), None)
        .await?;
    let sessions = rooms.remove(body.room_id.as_str()).unwrap_or_default();
    Ok(RumaResponse(get_backup_keys_for_room::v3::Response::new(
        sessions_out(&sessions)?,
    )))
}

/// `GET /_matrix/client/v3/room_keys/keys/{roomId}/{sessionId}`
async fn get_backup_keys_for_session(
    State(state): State<AppState>,
    request: Ruma<get_backup_keys_for_session::v3::Request>,
) -> ApiResult<get_backup_keys_for_session::v3::Response> {
    let body = &request.body;
    let user = &request.requester()?.user_id;
    let rooms = state
        .services
        .backup
        .keys(
            user,
            &body.version,
            Some(body.room_id.as_str()),
            Some(&body.session_id),
        )
        .await?;
    let data = rooms
        .values()
        .flat_map(|sessions| sessions.values())
        .next()
        .cloned()
        .unwrap_or_default();
    Ok(RumaResponse(
        get_backup_keys_for_session::v3::Response::new(raw(&data)?),
    ))
}

/// `DELETE /_matrix/client/v3/room_keys/keys`
async fn delete_backup_keys(
    State(state): State<AppState>,
    request: Ruma<delete_backup_keys::v3::Request>,
) -> ApiResult<delete_backup_keys::v3::Response> {
    let (n, etag) = state
        .services
        .backup
        .delete_keys(
            &request.requester()?.user_id,
            &request.body.version,
            None,
            None,
        )
        .await?;
    Ok(RumaResponse(delete_backup_keys::v3::Response::new(
        etag,
        count(n),
    )))
}

/// `DELETE /_matrix/client/v3/room_keys/keys/{roomId}`
async fn delete_backup_keys_for_room(
    State(state): State<AppState>,
    request: Ruma<delete_backup_keys_for_room::v3::Request>,
) -> ApiResult<delete_backup_keys_for_room::v3::Response> {
    let body = &request.body;
    let user = &request.requester()?.user_id;
    let (n, etag) = state
        .services
        .backup
        .delete_keys(user, &body.version, Some(body.room_id.as_str()), None)
        .await?;
    Ok(RumaResponse(
        delete_backup_keys_for_room::v3::Response::new(etag, count(n)),
    ))
}

/// `DELETE /_matrix/client/v3/room_keys/keys/{roomId}/{sessionId}`
async fn delete_backup_keys_for_session(
    State(state): State<AppState>,
    request: Ruma<delete_backup_keys_for_session::v3::Request>,
) -> ApiResult<delete_backup_keys_for_session::v3::Response> {
    let body = &request.body;
    let user = &request.requester()?.user_id;
    let session = Some(body.session_id.as_str());
    let (n, etag) = state
        .services
        .backup
        .delete_keys(user, &body.version, Some(body.room_id.as_str()), session)
        .await?;
    Ok(RumaResponse(
        delete_backup_keys_for_session::v3::Response::new(etag, count(n)),
    ))
}
