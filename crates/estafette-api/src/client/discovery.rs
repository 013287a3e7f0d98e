//! Server discovery and feature negotiation: `/versions`, `/.well-known/matrix/client`,
//! `/capabilities`.

use std::collections::BTreeMap;

use axum::extract::State;
use ruma::RoomVersionId;
use ruma::api::client::discovery::get_capabilities::v3::{
    Capabilities, ProfileFieldsCapability, RoomVersionStability, RoomVersionsCapability,
};
use ruma::api::client::discovery::{
    discover_homeserver, discover_support, get_capabilities, get_supported_versions,
};
use ruma::api::client::profile::ProfileFieldName;

use crate::AppState;
use crate::extract::{ApiResult, Ruma, RumaResponse};
use crate::router::Routes;

/// The spec versions whose Client-Server API this server implements.
const SUPPORTED_VERSIONS: &[&str] = &[
    "v1.1", "v1.2", "v1.3", "v1.4", "v1.5", "v1.6", "v1.7", "v1.8", "v1.9", "v1.10", "v1.11",
    "v1.12", "v1.13", "v1.14", "v1.15", "v1.16",
];

pub(super) fn routes(router: Routes) -> Routes {
    router
        .ruma(get_supported_versions)
        .ruma(discover_homeserver)
        .ruma(discover_federation_server)
        .ruma(discover_support)
        .ruma(get_capabilities)
}

/// `GET /_matrix/client/versions`
async fn get_supported_versions(
    State(state): State<AppState>,
    _request: Ruma<get_supported_versions::Request>,
) -> ApiResult<get_supported_versions::Response> {
    let mut response = get_supported_versions::Response::new(
        SUPPORTED_VERSIONS.iter().map(|v| (*v).to_owned()).collect(),
    );
    response.unstable_features = [
        "org.matrix.msc2918.refresh_token",
        // Clients look for these before asking for the rooms they share with someone.
        "uk.half-shot.msc2666.query_mutual_rooms",
        "uk.half-shot.msc2666.query_mutual_rooms.stable",
        // MatrixRTC: `/rtc/transports`.
        "org.matrix.msc4143",
        // Room summaries (v1.15's `/room_summary`, first as MSC3266).
        "im.nheko.summary",
        // Simplified sliding sync (MSC4186), which Element X requires.
        "org.matrix.simplified_msc3575",
        // Thread subscriptions, and their sliding sync extension and pages.
        "org.matrix.msc4306",
        "org.matrix.msc4308",
        // Push for every encrypted event, a rule clients turn on (Element X does).
        "org.matrix.msc4028",
    ]
    .into_iter()
    .map(|feature| (feature.to_owned(), true))
    .collect::<BTreeMap<_, _>>();
    // Sign-in by QR code: its rendezvous sessions, in MSC4108's earlier wire form and in
    // MSC4388's.
    let qr_login = state.services.rendezvous.enabled();
    for feature in ["org.matrix.msc4108", "io.element.msc4388"] {
        response
            .unstable_features
            .insert(feature.to_owned(), qr_login);
    }
    // Delayed events (MSC4140), which MatrixRTC calls use to leave when a client vanishes.
    response.unstable_features.insert(
        "org.matrix.msc4140".to_owned(),
        state.services.delayed_events.enabled(),
    );
    Ok(RumaResponse(response))
}

/// `GET /.well-known/matrix/client`
async fn discover_homeserver(
    State(state): State<AppState>,
    _request: Ruma<discover_homeserver::Request>,
) -> ApiResult<discover_homeserver::Response> {
    let base_url = state.services.context.config.base_url();
    let mut response =
        discover_homeserver::Response::new(discover_homeserver::HomeserverInfo::new(base_url));
    // The homeserver is its own identity service (lookups, email invitations, TCHAP.md §1).
    response.identity_server = Some(discover_homeserver::IdentityServerInfo::new(
        state.services.context.config.base_url(),
    ));
    // Clients that do not ask `/rtc/transports` yet read the LiveKit service here.
    response.rtc_foci = super::calls::livekit_transports(&state);
    Ok(RumaResponse(response))
}

/// `GET /.well-known/matrix/server`: the delegation other servers follow, when configured
/// (on both listeners: the federation one may be the server name's HTTPS port).
pub(crate) async fn discover_federation_server(
    State(state): State<AppState>,
    _request: Ruma<ruma::api::federation::discovery::discover_homeserver::Request>,
) -> ApiResult<ruma::api::federation::discovery::discover_homeserver::Response> {
    let delegated = state
        .services
        .context
        .config
        .federation
        .well_known_server
        .as_deref()
        .and_then(|name| ruma::OwnedServerName::try_from(name).ok())
        .ok_or_else(|| {
            crate::ApiError::new(
                http::StatusCode::NOT_FOUND,
                ruma::api::error::ErrorKind::NotFound,
                "No delegation is configured",
            )
        })?;
    Ok(RumaResponse(
        ruma::api::federation::discovery::discover_homeserver::Response::new(delegated),
    ))
}

/// `GET /.well-known/matrix/support`: the contacts and page of `[support]`.
async fn discover_support(
    State(state): State<AppState>,
    _request: Ruma<discover_support::Request>,
) -> ApiResult<discover_support::Response> {
    let support = &state.services.context.config.support;
    if support.contacts.is_empty() && support.page.is_none() {
        return Err(crate::ApiError::new(
            http::StatusCode::NOT_FOUND,
            ruma::api::error::ErrorKind::NotFound,
            "No support information is configured",
        ));
    }
    // The configuration was validated at start: every contact has an ID or an address.
    let contacts = support
        .contacts
        .iter()
        .filter_map(|contact| {
            let role = discover_support::ContactRole::from(contact.role.as_str());
            let matrix_id = contact
                .matrix_id
                .as_deref()
                .and_then(|id| ruma::OwnedUserId::try_from(id).ok());
            let mut entry = match (&matrix_id, &contact.email_address) {
                (Some(id), _) => discover_support::Contact::with_matrix_id(role, id.clone()),
                (None, Some(email)) => {
                    discover_support::Contact::with_email_address(role, email.clone())
                }
                (None, None) => return None,
            };
            entry.email_address = contact.email_address.clone();
            Some(entry)
        })
        .collect();
    let mut response = discover_support::Response::with_contacts(contacts);
    response.support_page = support.page.clone();
    Ok(RumaResponse(response))
}

/// `GET /_matrix/client/v3/capabilities`
async fn get_capabilities(
    State(state): State<AppState>,
    _request: Ruma<get_capabilities::v3::Request>,
) -> ApiResult<get_capabilities::v3::Response> {
    let mut capabilities = Capabilities::new();
    capabilities.change_password.enabled = true;
    capabilities.room_versions = RoomVersionsCapability::new(
        RoomVersionId::V12,
        [RoomVersionId::V10, RoomVersionId::V11, RoomVersionId::V12]
            .into_iter()
            .map(|version| (version, RoomVersionStability::Stable))
            .collect(),
    );
    let services = &state.services;
    // Adding an address needs an email to validate it.
    capabilities.thirdparty_id_changes.enabled =
        services.threepids.changes_allowed() && services.email.enabled();
    if state.services.context.config.policy.lock_displayname {
        let mut fields = ProfileFieldsCapability::new(true);
        fields.disallowed = Some(vec![ProfileFieldName::DisplayName]);
        capabilities.profile_fields = Some(fields);
        // What clients older than Matrix 1.16 (and Element Web today) read.
        #[allow(deprecated)]
        {
            capabilities.set_displayname.enabled = false;
        }
    }
    Ok(RumaResponse(get_capabilities::v3::Response::new(
        capabilities,
    )))
}
