//! `/_matrix/media_proxy/unstable/…`: download, thumbnail and scan plain media; download and
//! scan encrypted attachments (their metadata in clear or encrypted to `public_key`). Every
//! route needs a valid access token in the `Authorization` header, cached results included.

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use estafette_service::{MediaFile, MediaRequester, ScanReport, ThumbnailMethod};
use http::{HeaderMap, HeaderValue, Method, header};
use ruma::{OwnedServerName, OwnedUserId, ServerName};
use serde_json::{Value as JsonValue, json};

use super::scanner_error::ScannerError;
use crate::AppState;
use crate::client::media::content::disposition;
use crate::extract::ClientIp;
use crate::router::Routes;

const PREFIX: &str = "/_matrix/media_proxy/unstable";

pub(super) fn routes(routes: Routes) -> Routes {
    let route = |path: &str| format!("{PREFIX}{path}");
    routes
        .axum(
            &route("/download/{server_name}/{media_id}"),
            &[Method::GET],
            get(download),
        )
        .axum(
            &route("/thumbnail/{server_name}/{media_id}"),
            &[Method::GET],
            get(thumbnail),
        )
        .axum(
            &route("/scan/{server_name}/{media_id}"),
            &[Method::GET],
            get(scan),
        )
        .axum(
            &route("/download_encrypted"),
            &[Method::POST],
            post(download_encrypted),
        )
        .axum(
            &route("/scan_encrypted"),
            &[Method::POST],
            post(scan_encrypted),
        )
        .axum(&route("/public_key"), &[Method::GET], get(public_key))
}

/// The user whose access token is in the `Authorization` header (the query string is not
/// accepted, as in the reference scanner), on a server that scans: without an antivirus the
/// API is not offered at all, rather than calling clean files nobody scanned.
async fn requester(
    state: &AppState,
    headers: &HeaderMap,
    client_ip: Option<std::net::IpAddr>,
) -> Result<OwnedUserId, ScannerError> {
    if !state.services.antivirus.enabled() {
        return Err(ScannerError::new(
            http::StatusCode::NOT_FOUND,
            "M_UNRECOGNIZED",
            "This server scans no files (no antivirus is configured), so it offers no \
             content scanner",
        ));
    }
    let token = headers
        .get(header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.strip_prefix("Bearer "))
        .map(str::trim)
        .filter(|token| !token.is_empty())
        .ok_or_else(|| {
            ScannerError::new(
                http::StatusCode::UNAUTHORIZED,
                "M_MISSING_TOKEN",
                "Missing access token",
            )
        })?;
    let ip = client_ip.map(|ip| ip.to_string());
    let requester = state
        .services
        .sessions
        .authenticate(token, ip.as_deref())
        .await?;
    state
        .services
        .account_validity
        .check(&requester.user_id)
        .await?;
    Ok(requester.user_id)
}

fn server_name(server: &str, media_id: &str) -> Result<OwnedServerName, ScannerError> {
    ServerName::parse(server).map_err(|_| {
        ScannerError::new(
            http::StatusCode::NOT_FOUND,
            "M_NOT_FOUND",
            format!("mxc://{server}/{media_id} not found"),
        )
    })
}

/// A file answered as the media repository answers it.
fn file_response(file: MediaFile) -> Response {
    let disposition = disposition(&file, None).to_string();
    let content_type = file.served_content_type();
    let mut response = file.bytes.into_response();
    let headers = response.headers_mut();
    for (name, value) in [
        (header::CONTENT_TYPE, content_type),
        (header::CONTENT_DISPOSITION, disposition),
    ] {
        if let Ok(value) = HeaderValue::from_str(&value) {
            headers.insert(name, value);
        }
    }
    response
}

fn report(report: ScanReport) -> Json<JsonValue> {
    Json(json!({"clean": report.clean, "info": report.info}))
}

/// `GET …/download/{serverName}/{mediaId}`
async fn download(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    headers: HeaderMap,
    Path((server, media_id)): Path<(String, String)>,
) -> Result<Response, ScannerError> {
    let user = requester(&state, &headers, ip).await?;
    let server = server_name(&server, &media_id)?;
    let file = state
        .services
        .content_scanner
        .download(&user, &server, &media_id)
        .await?;
    Ok(file_response(file))
}

/// `GET …/thumbnail/{serverName}/{mediaId}?width&height&method`
async fn thumbnail(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    headers: HeaderMap,
    Path((server, media_id)): Path<(String, String)>,
    RawQuery(query): RawQuery,
) -> Result<Response, ScannerError> {
    let user = requester(&state, &headers, ip).await?;
    let server = server_name(&server, &media_id)?;
    let (width, height, method) = thumbnail_parameters(query.as_deref().unwrap_or_default())?;
    let file = state
        .services
        .media
        .thumbnail(
            &server,
            &media_id,
            width,
            height,
            method,
            MediaRequester::User(&user),
        )
        .await?;
    // What the client is given is checked, as the reference scanner checks the thumbnail.
    state.services.content_scanner.check_type(&file.bytes)?;
    Ok(file_response(file))
}

/// `width` and `height` (required, positive) and `method` (`crop`, the default, or `scale`).
fn thumbnail_parameters(query: &str) -> Result<(u32, u32, ThumbnailMethod), ScannerError> {
    let (mut width, mut height, mut method) = (None, None, ThumbnailMethod::Crop);
    for pair in query.split('&').filter(|pair| !pair.is_empty()) {
        let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
        let size = || {
            value
                .parse::<u32>()
                .ok()
                .filter(|size| *size > 0)
                .ok_or_else(|| {
                    ScannerError::new(
                        http::StatusCode::BAD_REQUEST,
                        "M_INVALID_PARAM",
                        format!("{name} must be a positive integer"),
                    )
                })
        };
        match name {
            "width" => width = Some(size()?),
            "height" => height = Some(size()?),
            "method" if value == "scale" => method = ThumbnailMethod::Scale,
            "method" if value == "crop" => method = ThumbnailMethod::Crop,
            "method" => {
                return Err(ScannerError::new(
                    http::StatusCode::BAD_REQUEST,
                    "M_INVALID_PARAM",
                    "method must be crop or scale",
                ));
            }
            _ => {}
        }
    }
    match (width, height) {
        (Some(width), Some(height)) => Ok((width, height, method)),
        _ => Err(ScannerError::new(
            http::StatusCode::BAD_REQUEST,
            "M_MISSING_PARAM",
            "width and height are required",
        )),
    }
}

/// `GET …/scan/{serverName}/{mediaId}`
async fn scan(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    headers: HeaderMap,
    Path((server, media_id)): Path<(String, String)>,
) -> Result<Json<JsonValue>, ScannerError> {
    let user = requester(&state, &headers, ip).await?;
    let server = server_name(&server, &media_id)?;
    let result = state
        .services
        .content_scanner
        .scan(&user, &server, &media_id)
        .await?;
    Ok(report(result))
}

fn json_body(body: &[u8]) -> Result<JsonValue, ScannerError> {
    if body.is_empty() {
        return Err(ScannerError::malformed("No content in request body"));
    }
    serde_json::from_slice(body).map_err(|e| ScannerError::malformed(e.to_string()))
}

/// `POST …/download_encrypted`
async fn download_encrypted(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ScannerError> {
    let user = requester(&state, &headers, ip).await?;
    let scanner = &state.services.content_scanner;
    let file = scanner.attachment(&json_body(&body)?)?;
    let file = scanner.download_encrypted(&user, &file).await?;
    Ok(file_response(file))
}

/// `POST …/scan_encrypted`
async fn scan_encrypted(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<JsonValue>, ScannerError> {
    let user = requester(&state, &headers, ip).await?;
    let scanner = &state.services.content_scanner;
    let file = scanner.attachment(&json_body(&body)?)?;
    Ok(report(scanner.scan_encrypted(&user, &file).await?))
}

/// `GET …/public_key`
async fn public_key(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    headers: HeaderMap,
) -> Result<Json<JsonValue>, ScannerError> {
    requester(&state, &headers, ip).await?;
    Ok(Json(
        json!({"public_key": state.services.content_scanner.public_key()}),
    ))
}
