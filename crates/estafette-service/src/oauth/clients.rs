//! Dynamic client registration (RFC 7591) with the spec's strict redirect URIs.

use serde_json::{Map, Value as JsonValue};
use url::Url;

use super::{OAuthError, OAuthService};
use crate::ServiceResult;

const SUPPORTED_GRANTS: &[&str] = &[
    "authorization_code",
    "refresh_token",
    super::DEVICE_GRANT_TYPE,
];
const CLIENT_ID_LENGTH: usize = 24;
/// Human-readable fields kept, with their localized variants (`client_name#fr`).
const DESCRIPTIVE_FIELDS: &[&str] = &["client_name", "logo_uri", "tos_uri", "policy_uri"];

#[derive(Debug, Clone)]
pub struct RegisteredClient {
    pub client_id: String,
    /// The metadata as registered (what the server kept of the request), with `client_id`.
    pub metadata: JsonValue,
}

fn invalid(description: impl Into<String>) -> OAuthError {
    OAuthError::new("invalid_client_metadata", description)
}

fn invalid_redirect(uri: &str, why: &str) -> OAuthError {
    OAuthError::new(
        "invalid_redirect_uri",
        format!("Redirect URI '{uri}': {why}"),
    )
}

/// `https`, without credentials in it.
fn https_url(value: &str, field: &str) -> Result<Url, OAuthError> {
    let url = Url::parse(value).map_err(|e| invalid(format!("{field} is not a URL: {e}")))?;
    if url.scheme() != "https" || url.host_str().is_none() {
        return Err(invalid(format!("{field} must be an https URL")));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(invalid(format!("{field} must not carry credentials")));
    }
    Ok(url)
}

/// Whether `host` is the client URI's host or one of its subdomains.
fn under(host: &str, base: &str) -> bool {
    host == base || host.ends_with(&format!(".{base}"))
}

/// The spec's rules for redirect URIs ("Redirect URI validation"), after RFC 8252 §7.
pub(crate) fn check_redirect_uri(
    uri: &str,
    client_uri: &Url,
    native: bool,
) -> Result<(), OAuthError> {
    let url = Url::parse(uri).map_err(|e| invalid_redirect(uri, &format!("not a URI ({e})")))?;
    if url.fragment().is_some() {
        return Err(invalid_redirect(uri, "must not have a fragment"));
    }
    let base = client_uri.host_str().unwrap_or_default();
    let web_like = |url: &Url| -> Result<(), OAuthError> {
        if !url.username().is_empty() || url.password().is_some() {
            return Err(invalid_redirect(uri, "must not carry credentials"));
        }
        match url.host_str() {
            Some(host) if under(host, base) => Ok(()),
            _ => Err(invalid_redirect(
                uri,
                &format!("must be on {base} or a subdomain of it"),
            )),
        }
    };
    match url.scheme() {
        "https" => web_like(&url),
        "http" if native => {
            let loopback = matches!(url.host_str(), Some("localhost" | "127.0.0.1" | "[::1]"));
            if !loopback {
                return Err(invalid_redirect(
                    uri,
                    "http is for the loopback interface only",
                ));
            }
            if url.port().is_some() {
                return Err(invalid_redirect(
                    uri,
                    "a loopback URI names no port (any is accepted)",
                ));
            }
            Ok(())
        }
        scheme if native && scheme.contains('.') => {
            let reversed: Vec<&str> = base.split('.').rev().collect();
            let reversed = reversed.join(".");
            if scheme != reversed && !scheme.starts_with(&format!("{reversed}.")) {
                return Err(invalid_redirect(
                    uri,
                    &format!("a private-use scheme starts with {reversed}"),
                ));
            }
            if uri[scheme.len() + 1..].starts_with("//") {
                return Err(invalid_redirect(uri, "a private-use URI has no authority"));
            }
            Ok(())
        }
        _ => Err(invalid_redirect(
            uri,
            if native {
                "native clients use a private-use scheme, http on loopback or https"
            } else {
                "web clients use https"
            },
        )),
    }
}

impl OAuthService {
    /// Registers a client from its metadata (RFC 7591 §2), keeping what this server supports.
    pub async fn register_client(
        &self,
        request: &JsonValue,
    ) -> ServiceResult<Result<RegisteredClient, OAuthError>> {
        let metadata = match validate(request) {
            Ok(metadata) => metadata,
            Err(err) => return Ok(Err(err)),
        };
        let client_id = self.context.random.alphanumeric(CLIENT_ID_LENGTH);
        let mut registered = JsonValue::Object(metadata);
        registered["client_id"] = JsonValue::String(client_id.clone());
        self.context
            .storage
            .oauth_clients
            .register(&client_id, &registered.to_string(), self.context.now())
            .await?;
        Ok(Ok(RegisteredClient {
            client_id,
            metadata: registered,
        }))
    }

    /// A registered client's metadata.
    pub(crate) async fn client(&self, client_id: &str) -> ServiceResult<Option<JsonValue>> {
        let record = self.context.storage.oauth_clients.get(client_id).await?;
        Ok(record.and_then(|record| serde_json::from_str(&record.metadata_json).ok()))
    }
}

fn validate(request: &JsonValue) -> Result<Map<String, JsonValue>, OAuthError> {
    let Some(object) = request.as_object() else {
        return Err(invalid("The client metadata must be a JSON object"));
    };
    let text = |field: &str| object.get(field).and_then(JsonValue::as_str);
    let native = match text("application_type").unwrap_or("web") {
        "web" => false,
        "native" => true,
        other => return Err(invalid(format!("Unknown application_type '{other}'"))),
    };
    let client_uri = https_url(
        text("client_uri").ok_or_else(|| invalid("client_uri is required"))?,
        "client_uri",
    )?;
    match text("token_endpoint_auth_method").unwrap_or("none") {
        "none" => {}
        other => {
            return Err(invalid(format!(
                "token_endpoint_auth_method '{other}' is not supported: clients are public ('none')"
            )));
        }
    }
    let strings = |field: &str| -> Result<Option<Vec<String>>, OAuthError> {
        match object.get(field) {
            None => Ok(None),
            Some(JsonValue::Array(values)) => values
                .iter()
                .map(|v| {
                    v.as_str()
                        .map(str::to_owned)
                        .ok_or_else(|| invalid(format!("{field} holds strings")))
                })
                .collect::<Result<Vec<_>, _>>()
                .map(Some),
            Some(_) => Err(invalid(format!("{field} must be an array of strings"))),
        }
    };
    let asked = strings("grant_types")?.unwrap_or_else(|| vec!["authorization_code".to_owned()]);
    let grants: Vec<String> = asked
        .into_iter()
        .filter(|grant| SUPPORTED_GRANTS.contains(&grant.as_str()))
        .collect();
    let code_grant = grants.iter().any(|grant| grant == "authorization_code");
    if !code_grant && !grants.iter().any(|grant| grant == super::DEVICE_GRANT_TYPE) {
        return Err(invalid(
            "This server issues tokens through the authorization_code and device_code grants",
        ));
    }
    if let Some(types) = strings("response_types")?
        && types.iter().any(|t| t != "code")
    {
        return Err(invalid("The only response type is 'code'"));
    }
    let redirect_uris = strings("redirect_uris")?.unwrap_or_default();
    if redirect_uris.is_empty() && code_grant {
        return Err(OAuthError::new(
            "invalid_redirect_uri",
            "redirect_uris is required",
        ));
    }
    for uri in &redirect_uris {
        check_redirect_uri(uri, &client_uri, native)?;
    }
    let mut kept = Map::new();
    for (field, value) in object {
        let base = field.split('#').next().unwrap_or_default();
        if !DESCRIPTIVE_FIELDS.contains(&base) {
            continue;
        }
        let Some(value) = value.as_str() else {
            return Err(invalid(format!("{field} must be a string")));
        };
        if base != "client_name" {
            https_url(value, field)?;
        }
        kept.insert(field.clone(), JsonValue::String(value.to_owned()));
    }
    kept.insert(
        "application_type".into(),
        (if native { "native" } else { "web" }).into(),
    );
    kept.insert("client_uri".into(), client_uri.as_str().into());
    kept.insert("redirect_uris".into(), redirect_uris.into());
    kept.insert("grant_types".into(), grants.into());
    kept.insert("response_types".into(), vec!["code"].into());
    kept.insert("token_endpoint_auth_method".into(), "none".into());
    Ok(kept)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redirect_uris_follow_the_specs_examples() {
        let client = Url::parse("https://example.com/").unwrap();
        for (uri, native) in [
            ("https://example.com/callback", false),
            ("https://app.example.com/callback", false),
            ("https://example.com:5173/?query=value", false),
            ("com.example.app:/callback", true),
            ("com.example:/", true),
            ("com.example:callback", true),
            ("http://localhost/callback", true),
            ("http://127.0.0.1/callback", true),
            ("http://[::1]/callback", true),
        ] {
            assert!(
                check_redirect_uri(uri, &client, native).is_ok(),
                "{uri} is valid"
            );
        }
        for (uri, native) in [
            ("https://example.com/callback#fragment", false),
            ("http://example.com/callback", false),
            ("http://localhost/", false),
            ("https://evil.com/callback", false),
            ("https://notexample.com/callback", false),
            ("https://user:pass@example.com/callback", false),
            ("example:/callback", true),
            ("com.example.app://callback", true),
            ("https://localhost/callback", true),
            ("http://localhost:1234/callback", true),
        ] {
            assert!(
                check_redirect_uri(uri, &client, native).is_err(),
                "{uri} is invalid"
            );
        }
    }

    #[test]
    fn registration_keeps_what_is_supported_and_refuses_the_rest() {
        let request = serde_json::json!({
            "client_name": "My App", "client_name#fr": "Mon application",
            "client_uri": "https://example.com/", "redirect_uris": ["https://app.example.com/cb"],
            "grant_types": ["authorization_code", "refresh_token",
                            "urn:ietf:params:oauth:grant-type:token-exchange"],
            "application_type": "web", "software_id": "ignored"
        });
        let kept = validate(&request).unwrap();
        assert_eq!(
            kept["grant_types"],
            serde_json::json!(["authorization_code", "refresh_token"])
        );
        assert_eq!(kept["client_name#fr"], "Mon application");
        assert!(!kept.contains_key("software_id"));
        for (field, value) in [
            ("client_uri", serde_json::json!("http://example.com/")),
            ("redirect_uris", serde_json::json!([])),
            ("redirect_uris", serde_json::json!(["https://evil.com/cb"])),
            (
                "token_endpoint_auth_method",
                serde_json::json!("client_secret_basic"),
            ),
            ("grant_types", serde_json::json!(["refresh_token"])),
            ("application_type", serde_json::json!("desktop")),
            ("logo_uri", serde_json::json!("javascript:alert(1)")),
        ] {
            let mut bad = request.clone();
            bad[field] = value;
            assert!(validate(&bad).is_err(), "{field}");
        }
    }
}
