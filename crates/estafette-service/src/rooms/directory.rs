//! Room aliases and the public room directory.

use ruma::events::StateEventType;
use ruma::{OwnedRoomAliasId, OwnedRoomId, OwnedServerName, RoomAliasId, RoomId};
use serde_json::Value as JsonValue;

use super::RoomService;
use crate::{Requester, ServiceError, ServiceResult};

const DEFAULT_DIRECTORY_LIMIT: usize = 100;

/// A room as the public directory shows it.
#[derive(Debug, Clone)]
pub struct PublicRoom {
    pub room_id: OwnedRoomId,
    pub name: Option<String>,
    pub topic: Option<String>,
    pub canonical_alias: Option<OwnedRoomAliasId>,
    pub avatar_url: Option<String>,
    pub num_joined_members: u64,
    pub world_readable: bool,
    pub guest_can_join: bool,
    pub join_rule: String,
    pub room_type: Option<String>,
}

#[derive(Debug, Clone, Default)]
pub struct PublicRoomsPage {
    pub chunk: Vec<PublicRoom>,
    pub next_batch: Option<String>,
    pub prev_batch: Option<String>,
    pub total: u64,
}

/// What to look for in the directory.
#[derive(Debug, Clone, Default)]
pub struct DirectoryQuery {
    pub search: Option<String>,
    /// `None` inside means rooms without a type.
    pub room_types: Option<Vec<Option<String>>>,
    pub since: Option<String>,
    pub limit: Option<usize>,
    /// Whose directory: another server's is asked of that server.
    pub server: Option<OwnedServerName>,
    /// Asked by another server, which is not shown rooms that never leave this one.
    pub for_federation: bool,
}

impl RoomService {
    fn ensure_local_alias(&self, alias: &RoomAliasId) -> ServiceResult<()> {
        if alias.server_name() != self.context.server_name {
            return Err(ServiceError::InvalidParam(format!(
                "{alias} does not belong to this server"
            )));
        }
        Ok(())
    }

    pub async fn create_alias(
        &self,
        requester: &Requester,
        alias: &RoomAliasId,
        room_id: &RoomId,
    ) -> ServiceResult<()> {
        self.ensure_local_alias(alias)?;
        self.ensure_alias_not_reserved(requester, alias)?;
        self.room_rules(room_id).await?;
        let membership = self
            .context
            .storage
            .memberships
            .get(room_id, &requester.user_id)
            .await?;
        if !membership.is_some_and(|m| m.membership == "join") {
            return Err(ServiceError::Forbidden(
                "You must be in the room to give it an alias".into(),
            ));
        }
        let now = self.context.now();
        if !self
            .context
            .storage
            .aliases
            .create(alias, room_id, &requester.user_id, now)
            .await?
        {
            return Err(ServiceError::Conflict(format!(
                "The alias {alias} already exists"
            )));
        }
        Ok(())
    }

    /// The room an alias points to, and servers that can help join it; another server's
    /// alias is asked of that server.
    /// An alias in an application service's exclusive namespace is the service's alone.
    fn ensure_alias_not_reserved(
        &self,
        requester: &Requester,
        alias: &RoomAliasId,
    ) -> ServiceResult<()> {
        match self
            .context
            .appservices
            .exclusive_owner_of_alias(alias.as_str())
        {
            Some(owner) if requester.appservice.as_deref() != Some(owner.id.as_str()) => {
                Err(ServiceError::Exclusive(format!(
                    "{alias} is reserved by application service {}",
                    owner.id
                )))
            }
            _ => Ok(()),
        }
    }

    pub async fn resolve_alias(
        &self,
        alias: &RoomAliasId,
    ) -> ServiceResult<(OwnedRoomId, Vec<OwnedServerName>)> {
        if alias.server_name() == self.context.server_name {
            return self.resolve_local_alias(alias).await;
        }
        use ruma::api::federation::query::get_room_information;
        let request = get_room_information::v1::Request::new(alias.to_owned());
        let response = self
            .federation
            .send(alias.server_name(), request)
            .await
            .map_err(|err| err.unavailable_as_not_found(format_args!("Room alias {alias}")))?;
        Ok((response.room_id, response.servers))
    }

    /// A local alias, as this server answers clients and other servers.
    pub async fn resolve_local_alias(
        &self,
        alias: &RoomAliasId,
    ) -> ServiceResult<(OwnedRoomId, Vec<OwnedServerName>)> {
        let not_found = || ServiceError::NotFound(format!("Room alias {alias} not found"));
        if alias.server_name() != self.context.server_name {
            return Err(not_found());
        }
        let mut found = self.context.storage.aliases.resolve(alias).await?;
        // An application service whose namespace holds the alias may create it now.
        if found.is_none() && self.appservice_queries.alias_exists(alias.as_str()).await {
            found = self.context.storage.aliases.resolve(alias).await?;
        }
        let (room_id, _) = found.ok_or_else(not_found)?;
        Ok((room_id, vec![self.context.server_name.clone()]))
    }

    /// The alias's creator, or a member with power to set the canonical alias, may delete it.
    pub async fn delete_alias(
        &self,
        requester: &Requester,
        alias: &RoomAliasId,
    ) -> ServiceResult<()> {
        self.ensure_local_alias(alias)?;
        self.ensure_alias_not_reserved(requester, alias)?;
        let (room_id, creator) = self
            .context
            .storage
            .aliases
            .resolve(alias)
            .await?
            .ok_or_else(|| ServiceError::NotFound(format!("Room alias {alias} not found")))?;
        if creator != requester.user_id
            && !self
                .may_send_state(requester, &room_id, "m.room.canonical_alias")
                .await?
        {
            return Err(ServiceError::Forbidden(
                "You may not delete this alias".into(),
            ));
        }
        self.context.storage.aliases.delete(alias).await?;
        Ok(())
    }

    async fn may_send_state(
        &self,
        requester: &Requester,
        room_id: &RoomId,
        kind: &str,
    ) -> ServiceResult<bool> {
        let (_, rules) = self.room_rules(room_id).await?;
        let (state, _) = self.current_state(room_id).await?;
        let levels = self.power_levels(&state, &rules).await?;
        Ok(levels.allows(&requester.user_id, levels.for_event(kind, true)))
    }

    pub async fn room_aliases(
        &self,
        requester: &Requester,
        room_id: &RoomId,
    ) -> ServiceResult<Vec<OwnedRoomAliasId>> {
        self.visible_until(&requester.user_id, room_id).await?;
        Ok(self.context.storage.aliases.of_room(room_id).await?)
    }

    /// Local aliases in an `m.room.canonical_alias` event must point to the room.
    pub(crate) async fn check_canonical_alias(
        &self,
        room_id: &RoomId,
        content: &JsonValue,
    ) -> ServiceResult<()> {
        let mut aliases: Vec<&str> = content
            .get("alias")
            .and_then(JsonValue::as_str)
            .into_iter()
            .collect();
        if let Some(alt) = content.get("alt_aliases").and_then(JsonValue::as_array) {
            aliases.extend(alt.iter().filter_map(JsonValue::as_str));
        }
        for alias in aliases {
            let alias = RoomAliasId::parse(alias)
                .map_err(|e| ServiceError::BadAlias(format!("{alias}: {e}")))?;
            if alias.server_name() != self.context.server_name {
                continue;
            }
            let target = self
                .context
                .storage
                .aliases
                .resolve(&alias)
                .await?
                .map(|(room, _)| room);
            if target.as_deref() != Some(room_id) {
                return Err(ServiceError::BadAlias(format!(
                    "{alias} does not point to this room"
                )));
            }
        }
        Ok(())
    }

    pub async fn directory_visibility(&self, room_id: &RoomId) -> ServiceResult<bool> {
        let room = self.context.storage.rooms.get(room_id).await?;
        room.map(|room| room.is_public)
            .ok_or_else(|| ServiceError::NotFound(format!("Room {room_id} not found")))
    }

    pub async fn set_directory_visibility(
        &self,
        requester: &Requester,
        room_id: &RoomId,
        public: bool,
    ) -> ServiceResult<()> {
        self.directory_visibility(room_id).await?;
        if !self
            .may_send_state(requester, room_id, "m.room.canonical_alias")
            .await?
        {
            return Err(ServiceError::Forbidden(
                "You may not change this room's directory visibility".into(),
            ));
        }
        if public {
            self.check_publication(room_id).await?;
        }
        self.context
            .storage
            .rooms
            .set_public(room_id, public)
            .await?;
        Ok(())
    }

    /// `/publicRooms`: published rooms, most members first, with an offset as the token.
    pub async fn public_rooms(&self, query: DirectoryQuery) -> ServiceResult<PublicRoomsPage> {
        if let Some(search) = &query.search {
            crate::limits::bounded(
                "The search term",
                search,
                crate::limits::MAX_SEARCH_TERM_BYTES,
            )?;
        }
        if let Some(server) = &query.server
            && *server != self.context.server_name
        {
            return self.remote_public_rooms(server, &query).await;
        }
        let mut rooms = Vec::new();
        for room_id in self.context.storage.rooms.public_rooms().await? {
            if query.for_federation && !self.federates(&room_id).await? {
                continue;
            }
            let room = self.room_summary(room_id).await?;
            if let Some(search) = &query.search {
                let search = search.to_lowercase();
                let haystack = [
                    room.name.as_deref(),
                    room.topic.as_deref(),
                    room.canonical_alias.as_ref().map(|a| a.as_str()),
                ];
                if !haystack
                    .iter()
                    .flatten()
                    .any(|text| text.to_lowercase().contains(&search))
                {
                    continue;
                }
            }
            if let Some(types) = &query.room_types {
                if !types.iter().any(|t| *t == room.room_type) {
                    continue;
                }
            }
            rooms.push(room);
        }
        rooms.sort_by(|a, b| {
            b.num_joined_members
                .cmp(&a.num_joined_members)
                .then_with(|| a.room_id.cmp(&b.room_id))
        });
        let offset = match &query.since {
            Some(token) => token
                .strip_prefix('o')
                .and_then(|n| n.parse::<usize>().ok())
                .ok_or_else(|| {
                    ServiceError::InvalidParam(format!("Invalid directory token '{token}'"))
                })?,
            None => 0,
        };
        let limit = query.limit.unwrap_or(DEFAULT_DIRECTORY_LIMIT).clamp(1, 500);
        let total = rooms.len() as u64;
        let next_batch = (offset + limit < rooms.len()).then(|| format!("o{}", offset + limit));
        let prev_batch = (offset > 0).then(|| format!("o{}", offset.saturating_sub(limit)));
        let chunk = rooms.into_iter().skip(offset).take(limit).collect();
        Ok(PublicRoomsPage {
            chunk,
            next_batch,
            prev_batch,
            total,
        })
    }

    /// What the directory and space hierarchies show of a room.
    pub(crate) async fn room_summary(&self, room_id: OwnedRoomId) -> ServiceResult<PublicRoom> {
        let (state, _) = self.current_state(&room_id).await?;
        let mut room = PublicRoom {
            room_id,
            name: None,
            topic: None,
            canonical_alias: None,
            avatar_url: None,
            num_joined_members: 0,
            world_readable: false,
            guest_can_join: false,
            join_rule: "public".into(),
            room_type: None,
        };
        let content =
            |kind: StateEventType| {
                let state = &state;
                async move {
                    match state.get(&(kind, String::new())) {
                        Some(id) => Ok::<_, ServiceError>(self.pdu(id).await?.and_then(|pdu| {
                            serde_json::from_str::<JsonValue>(pdu.content.get()).ok()
                        })),
                        None => Ok(None),
                    }
                }
            };
        let text = |content: Option<JsonValue>, field: &str| {
            content.and_then(|c| {
                c.get(field)
                    .and_then(JsonValue::as_str)
                    .map(ToOwned::to_owned)
            })
        };
        room.name = text(content(StateEventType::RoomName).await?, "name");
        room.topic = text(content(StateEventType::RoomTopic).await?, "topic");
        room.avatar_url = text(content(StateEventType::RoomAvatar).await?, "url");
        room.canonical_alias = text(content(StateEventType::RoomCanonicalAlias).await?, "alias")
            .and_then(|alias| OwnedRoomAliasId::try_from(alias).ok());
        room.join_rule = text(content(StateEventType::RoomJoinRules).await?, "join_rule")
            .unwrap_or_else(|| "invite".into());
        room.world_readable = text(
            content(StateEventType::RoomHistoryVisibility).await?,
            "history_visibility",
        )
        .as_deref()
            == Some("world_readable");
        room.guest_can_join = text(
            content(StateEventType::RoomGuestAccess).await?,
            "guest_access",
        )
        .as_deref()
            == Some("can_join");
        room.room_type = text(content(StateEventType::RoomCreate).await?, "type");
        let members = self
            .context
            .storage
            .memberships
            .of_room(&room.room_id)
            .await?;
        room.num_joined_members = members.iter().filter(|m| m.membership == "join").count() as u64;
        Ok(room)
    }
}

impl RoomService {
    /// Another server's directory, through `POST /_matrix/federation/v1/publicRooms`.
    async fn remote_public_rooms(
        &self,
        server: &ruma::ServerName,
        query: &DirectoryQuery,
    ) -> ServiceResult<PublicRoomsPage> {
        use ruma::api::federation::directory::get_public_rooms_filtered;
        use ruma::directory::RoomTypeFilter;
        let mut request = get_public_rooms_filtered::v1::Request::new();
        request.limit = query
            .limit
            .map(|limit| ruma::UInt::new_saturating(limit as u64));
        request.since = query.since.clone();
        request.filter.generic_search_term = query.search.clone();
        request.filter.room_types = query
            .room_types
            .iter()
            .flatten()
            .map(|room_type| RoomTypeFilter::from(room_type.clone()))
            .collect();
        let response = self.federation.send(server, request).await.map_err(|err| {
            err.unavailable_as_not_found(format_args!("The room directory of {server}"))
        })?;
        let chunk = response
            .chunk
            .into_iter()
            .map(|room| PublicRoom {
                room_id: room.room_id,
                name: room.name,
                topic: room.topic,
                canonical_alias: room.canonical_alias,
                avatar_url: room.avatar_url.map(|url| url.to_string()),
                num_joined_members: room.num_joined_members.into(),
                world_readable: room.world_readable,
                guest_can_join: room.guest_can_join,
                join_rule: room.join_rule.as_str().to_owned(),
                room_type: room.room_type.map(|t| t.to_string()),
            })
            .collect::<Vec<_>>();
        Ok(PublicRoomsPage {
            total: response
                .total_room_count_estimate
                .map_or(chunk.len() as u64, u64::from),
            chunk,
            next_batch: response.next_batch,
            prev_batch: response.prev_batch,
        })
    }
}
