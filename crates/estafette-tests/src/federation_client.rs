//! Requests to a server's federation API signed by another test server (X-Matrix), with
//! exactly the bytes a test chooses: for the cases no well-behaved server sends.

use ruma::OwnedServerName;
use ruma::api::federation::authentication::{XMatrix, XMatrixSigningInput};

use crate::{RawResponse, TestServer};

impl TestServer {
    /// Sends `body` to `target`'s federation listener as a request signed by this server.
    /// A body that is not JSON cannot be signed: it goes with a signature of no content.
    pub async fn federation_request(
        &self,
        target: &TestServer,
        method: reqwest::Method,
        path_and_query: &str,
        body: Option<Vec<u8>>,
    ) -> RawResponse {
        let base = target
            .federation_url()
            .expect("the target serves federation");
        let url = reqwest::Url::parse(&format!("{base}{path_and_query}")).expect("a URL");
        let origin = OwnedServerName::try_from(self.server_name()).expect("a server name");
        let destination = OwnedServerName::try_from(target.server_name()).expect("a server name");
        let signed_path = match url.query() {
            Some(query) => format!("{}?{query}", url.path()),
            None => url.path().to_owned(),
        };
        let body = body.unwrap_or_default();
        let signable = if serde_json::from_slice::<serde_json::Value>(&body).is_ok() {
            body.clone()
        } else {
            Vec::new()
        };
        let request = http::Request::builder()
            .method(method.as_str())
            .uri(&signed_path)
            .body(signable)
            .expect("an HTTP request");
        let key_pair = &self.services().context.server_key.key_pair;
        let input = XMatrixSigningInput::new(origin, destination, key_pair);
        let authorization = XMatrix::sign_http_request(&request, input)
            .map(|x_matrix| x_matrix.to_string())
            .unwrap_or_default();
        let mut builder = self
            .federation_http
            .request(method, url)
            .header(reqwest::header::AUTHORIZATION, authorization);
        if !body.is_empty() {
            builder = builder
                .header(reqwest::header::CONTENT_TYPE, "application/json")
                .body(body);
        }
        let response = builder.send().await.expect("the server answers");
        RawResponse::read(response).await
    }
}
