//! A plain HTTP client for the cases a well-behaved SDK never produces.

use serde_json::Value;

#[derive(Clone)]
pub struct RawClient {
    base_url: String,
    http: reqwest::Client,
    token: Option<String>,
}

/// Status and JSON body of a response.
#[derive(Debug)]
pub struct RawResponse {
    pub status: u16,
    pub headers: reqwest::header::HeaderMap,
    pub body: Value,
}

impl RawResponse {
    /// Status, headers and JSON body (`null` when empty or not JSON) of a response.
    pub async fn read(response: reqwest::Response) -> Self {
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let bytes = response.bytes().await.expect("a response body");
        let body = if bytes.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&bytes).unwrap_or(Value::Null)
        };
        Self {
            status,
            headers,
            body,
        }
    }

    pub fn errcode(&self) -> &str {
        self.body["errcode"].as_str().unwrap_or("")
    }

    /// Asserts the spec's error shape: status, errcode and a human-readable message.
    #[track_caller]
    pub fn assert_error(&self, status: u16, errcode: &str) -> &Self {
        assert_eq!(
            (self.status, self.errcode()),
            (status, errcode),
            "unexpected response: {self:?}"
        );
        assert!(
            self.body["error"].as_str().is_some_and(|m| !m.is_empty()),
            "no error message: {self:?}"
        );
        self
    }

    #[track_caller]
    pub fn assert_ok(&self) -> &Self {
        assert_eq!(self.status, 200, "unexpected response: {self:?}");
        self
    }
}

impl RawClient {
    pub fn new(base_url: String) -> Self {
        Self {
            base_url,
            http: reqwest::Client::new(),
            token: None,
        }
    }

    pub fn with_token(mut self, token: impl Into<String>) -> Self {
        self.token = Some(token.into());
        self
    }

    /// The token this client presents.
    /// The server's address, for requests this client cannot shape.
    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    pub fn token_for_tests(&self) -> &str {
        self.token.as_deref().unwrap_or_default()
    }

    /// Another client for the same server, presenting `token`.
    pub fn clone_with(&self, token: &str) -> Self {
        Self {
            base_url: self.base_url.clone(),
            http: self.http.clone(),
            token: Some(token.to_owned()),
        }
    }

    /// Another client for the same server, without access token.
    pub fn anonymous(&self) -> Self {
        Self {
            base_url: self.base_url.clone(),
            http: self.http.clone(),
            token: None,
        }
    }

    pub async fn get(&self, path: &str) -> RawResponse {
        self.send(reqwest::Method::GET, path, None).await
    }

    pub async fn post(&self, path: &str, body: Value) -> RawResponse {
        self.send(
            reqwest::Method::POST,
            path,
            Some(body.to_string().into_bytes()),
        )
        .await
    }

    pub async fn put(&self, path: &str, body: Value) -> RawResponse {
        self.send(
            reqwest::Method::PUT,
            path,
            Some(body.to_string().into_bytes()),
        )
        .await
    }

    pub async fn delete(&self, path: &str, body: Value) -> RawResponse {
        self.send(
            reqwest::Method::DELETE,
            path,
            Some(body.to_string().into_bytes()),
        )
        .await
    }

    /// Sends exactly these bytes.
    pub async fn send(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Vec<u8>>,
    ) -> RawResponse {
        let mut request = self
            .http
            .request(method, format!("{}{path}", self.base_url));
        if let Some(token) = &self.token {
            request = request.bearer_auth(token);
        }
        if let Some(body) = body {
            request = request
                .header("content-type", "application/json")
                .body(body);
        }
        let response = request.send().await.expect("the server answers");
        RawResponse::read(response).await
    }

    /// Uploads a file (`POST /_matrix/media/v3/upload`); the `mxc://` URI when accepted.
    pub async fn upload(&self, content_type: &str, filename: &str, bytes: Vec<u8>) -> RawResponse {
        let path = format!("/_matrix/media/v3/upload?filename={filename}");
        self.send_file(reqwest::Method::POST, &path, content_type, bytes)
            .await
    }

    /// Sends a file's bytes as the body of `method path`.
    pub async fn send_file(
        &self,
        method: reqwest::Method,
        path: &str,
        content_type: &str,
        bytes: Vec<u8>,
    ) -> RawResponse {
        let mut request = self
            .http
            .request(method, format!("{}{path}", self.base_url))
            .header("content-type", content_type)
            .body(bytes);
        if let Some(token) = &self.token {
            request = request.bearer_auth(token);
        }
        let response = request.send().await.expect("the server answers");
        RawResponse::read(response).await
    }

    /// GETs a path and returns the status, content type and bytes (for media).
    pub async fn get_bytes(&self, path: &str) -> (u16, Option<String>, Vec<u8>) {
        let mut request = self.http.get(format!("{}{path}", self.base_url));
        if let Some(token) = &self.token {
            request = request.bearer_auth(token);
        }
        let response = request.send().await.expect("the server answers");
        let status = response.status().as_u16();
        let content_type = response
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .map(ToOwned::to_owned);
        let bytes = response.bytes().await.expect("a response body").to_vec();
        (status, content_type, bytes)
    }

    /// `POST /login` with the password of a local user.
    pub async fn login(&self, user: &str, password: &str) -> RawResponse {
        self.post("/_matrix/client/v3/login", password_login(user, password))
            .await
    }

    /// Registers through the dummy UIA flow and returns (user_id, access_token, device_id).
    pub async fn register(&self, username: &str, password: &str) -> (String, String, String) {
        let first = self
            .post(
                "/_matrix/client/v3/register",
                serde_json::json!({"username": username, "password": password}),
            )
            .await;
        assert_eq!(first.status, 401, "{first:?}");
        let session = first.body["session"]
            .as_str()
            .expect("a UIA session")
            .to_owned();
        let done = self
            .post(
                "/_matrix/client/v3/register",
                serde_json::json!({"username": username, "password": password, "auth": {"type": "m.login.dummy", "session": session}}),
            )
            .await;
        done.assert_ok();
        let field = |name: &str| done.body[name].as_str().expect(name).to_owned();
        (field("user_id"), field("access_token"), field("device_id"))
    }
}

/// The body of an `m.login.password` login with an `m.id.user` identifier.
pub fn password_login(user: &str, password: &str) -> Value {
    serde_json::json!({"type": "m.login.password", "identifier": {"type": "m.id.user", "user": user}, "password": password})
}
