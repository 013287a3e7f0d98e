//! Just enough of the Client-Server API to drive a homeserver: registration, rooms, sends
//! and syncs, over plain HTTP.

use std::time::Duration;

use serde_json::{Value, json};

pub type BenchResult<T> = Result<T, String>;

/// A logged-in user.
#[derive(Clone)]
pub struct Session {
    http: reqwest::Client,
    base: String,
    token: String,
    pub user_id: String,
}

fn url(base: &str, path: &str) -> String {
    format!("{}/_matrix/client/v3{path}", base.trim_end_matches('/'))
}

async fn json_of(response: reqwest::Response) -> BenchResult<Value> {
    let status = response.status();
    let body: Value = response
        .json()
        .await
        .map_err(|e| format!("unreadable response: {e}"))?;
    if status.is_success() {
        Ok(body)
    } else {
        Err(format!("HTTP {status}: {body}"))
    }
}

impl Session {
    /// Registers `username` through the `m.login.dummy` stage (the server must allow it).
    pub async fn register(http: &reqwest::Client, base: &str, username: &str) -> BenchResult<Self> {
        let password = format!("{username}-bench-password");
        let body =
            json!({"username": username, "password": password, "auth": {"type": "m.login.dummy"}});
        let mut response = http
            .post(url(base, "/register"))
            .json(&body)
            .send()
            .await
            .map_err(|e| e.to_string())?;
        if response.status().as_u16() == 401 {
            // Servers that want a session first (Synapse) get one.
            let challenge: Value = response.json().await.map_err(|e| e.to_string())?;
            let mut body = body.clone();
            body["auth"]["session"] = challenge["session"].clone();
            response = http
                .post(url(base, "/register"))
                .json(&body)
                .send()
                .await
                .map_err(|e| e.to_string())?;
        }
        let body = json_of(response).await?;
        Ok(Self {
            http: http.clone(),
            base: base.to_owned(),
            token: body["access_token"]
                .as_str()
                .ok_or("no access token")?
                .to_owned(),
            user_id: body["user_id"].as_str().ok_or("no user ID")?.to_owned(),
        })
    }

    async fn post(&self, path: &str, body: Value) -> BenchResult<Value> {
        let response = self
            .http
            .post(url(&self.base, path))
            .bearer_auth(&self.token)
            .json(&body)
            .send()
            .await;
        json_of(response.map_err(|e| e.to_string())?).await
    }

    pub async fn create_room(&self, preset: &str) -> BenchResult<String> {
        let body = self.post("/createRoom", json!({"preset": preset})).await?;
        Ok(body["room_id"].as_str().ok_or("no room ID")?.to_owned())
    }

    pub async fn join(&self, room_id: &str) -> BenchResult<()> {
        self.post(&format!("/join/{room_id}"), json!({}))
            .await
            .map(drop)
    }

    /// Joins a room of another server, through that server.
    pub async fn join_via(&self, room_id: &str, server: &str) -> BenchResult<()> {
        self.post(&format!("/join/{room_id}?via={server}"), json!({}))
            .await
            .map(drop)
    }

    /// `POST /_matrix/media/v3/upload`: the `mxc://` URI.
    pub async fn upload(&self, bytes: Vec<u8>) -> BenchResult<String> {
        let response = self
            .http
            .post(format!(
                "{}/_matrix/media/v3/upload?filename=bench.bin",
                self.base.trim_end_matches('/')
            ))
            .bearer_auth(&self.token)
            .header("content-type", "application/octet-stream")
            .body(bytes)
            .send()
            .await
            .map_err(|e| e.to_string())?;
        let body = json_of(response).await?;
        Ok(body["content_uri"]
            .as_str()
            .ok_or("no content URI")?
            .to_owned())
    }

    /// `GET {scanner}/_matrix/media_proxy/unstable/scan/{mxc}` with this user's token: whether
    /// the file is clean.
    pub async fn scan(&self, scanner: &str, mxc: &str) -> BenchResult<bool> {
        let media = mxc.trim_start_matches("mxc://");
        let response = self
            .http
            .get(format!(
                "{}/_matrix/media_proxy/unstable/scan/{media}",
                scanner.trim_end_matches('/')
            ))
            .bearer_auth(&self.token)
            .send()
            .await
            .map_err(|e| e.to_string())?;
        let body = json_of(response).await?;
        body["clean"]
            .as_bool()
            .ok_or_else(|| format!("not a scan result: {body}"))
    }

    /// The server part of the user ID.
    pub fn server_name(&self) -> &str {
        self.user_id
            .split_once(':')
            .map_or("", |(_, server)| server)
    }

    /// Sends a text message; returns its event ID.
    pub async fn send_text(&self, room_id: &str, txn_id: &str, body: &str) -> BenchResult<String> {
        let path = format!("/rooms/{room_id}/send/m.room.message/{txn_id}");
        let response = self
            .http
            .put(url(&self.base, &path))
            .bearer_auth(&self.token)
            .json(&json!({"msgtype": "m.text", "body": body}))
            .send()
            .await
            .map_err(|e| e.to_string())?;
        let sent = json_of(response).await?;
        Ok(sent["event_id"].as_str().unwrap_or_default().to_owned())
    }

    pub async fn invite(&self, room_id: &str, user_id: &str) -> BenchResult<()> {
        self.post(
            &format!("/rooms/{room_id}/invite"),
            json!({"user_id": user_id}),
        )
        .await
        .map(drop)
    }

    /// Sets an HTTP pusher as Element X does (`event_id_only`).
    pub async fn set_pusher(&self, gateway: &str, pushkey: &str) -> BenchResult<()> {
        let body = json!({
            "kind": "http", "app_id": "org.estafette.bench", "pushkey": pushkey,
            "app_display_name": "bench", "device_display_name": "bench", "lang": "en",
            "data": {"url": gateway, "format": "event_id_only"},
        });
        self.post("/pushers/set", body).await.map(drop)
    }

    /// One page of a room's history, newest first: its events and the token of the next page.
    pub async fn messages_back(
        &self,
        room_id: &str,
        from: Option<&str>,
        limit: usize,
    ) -> BenchResult<(usize, Option<String>)> {
        let mut path = format!("/rooms/{room_id}/messages?dir=b&limit={limit}");
        if let Some(from) = from {
            path.push_str(&format!("&from={from}"));
        }
        let request = self
            .http
            .get(url(&self.base, &path))
            .bearer_auth(&self.token);
        let page = json_of(request.send().await.map_err(|e| e.to_string())?).await?;
        let events = page["chunk"].as_array().map_or(0, Vec::len);
        Ok((events, page["end"].as_str().map(ToOwned::to_owned)))
    }

    /// One simplified sliding sync request (MSC4186) from `pos`, with `body` as sent.
    pub async fn sliding_sync(&self, pos: Option<&str>, body: &Value) -> BenchResult<Value> {
        let mut path = format!(
            "{}/_matrix/client/unstable/org.matrix.simplified_msc3575/sync?timeout=0&set_presence=offline",
            self.base.trim_end_matches('/')
        );
        if let Some(pos) = pos {
            path.push_str(&format!("&pos={pos}"));
        }
        let request = self.http.post(path).bearer_auth(&self.token).json(body);
        json_of(request.send().await.map_err(|e| e.to_string())?).await
    }

    /// One `/sync`; a tight filter keeps the measurement about delivery, not payload size.
    pub async fn sync(&self, since: Option<&str>, timeout: Duration) -> BenchResult<Value> {
        self.sync_with(since, timeout, None).await
    }

    /// `/sync` with a filter given inline (JSON, URL-encoded here).
    pub async fn sync_with(
        &self,
        since: Option<&str>,
        timeout: Duration,
        filter: Option<&str>,
    ) -> BenchResult<Value> {
        let mut path = format!("/sync?timeout={}&set_presence=offline", timeout.as_millis());
        if let Some(since) = since {
            path.push_str(&format!("&since={since}"));
        }
        if let Some(filter) = filter {
            let encoded: String = url::form_urlencoded::byte_serialize(filter.as_bytes()).collect();
            path.push_str(&format!("&filter={encoded}"));
        }
        let request = self
            .http
            .get(url(&self.base, &path))
            .bearer_auth(&self.token);
        json_of(request.send().await.map_err(|e| e.to_string())?).await
    }
}

/// Bodies of the text messages in a sync response, across rooms.
pub fn message_bodies(sync: &Value) -> Vec<String> {
    let Some(rooms) = sync["rooms"]["join"].as_object() else {
        return Vec::new();
    };
    rooms
        .values()
        .flat_map(|room| {
            room["timeline"]["events"]
                .as_array()
                .cloned()
                .unwrap_or_default()
        })
        .filter(|event| event["type"] == "m.room.message")
        .filter_map(|event| event["content"]["body"].as_str().map(ToOwned::to_owned))
        .collect()
}
