//! A round-robin HTTP proxy in front of several processes of one server, as an operator's load
//! balancer would be: every request (not every connection) goes to the next process.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use axum::body::Body;
use axum::extract::{Request, State};
use axum::response::Response;

struct Backends {
    urls: Vec<String>,
    next: AtomicUsize,
    served: Vec<AtomicUsize>,
    http: reqwest::Client,
}

pub struct RoundRobinProxy {
    base_url: String,
    backends: Arc<Backends>,
}

impl RoundRobinProxy {
    pub async fn start(backend_urls: &[String]) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind the proxy");
        let base_url = format!("http://{}", listener.local_addr().expect("proxy address"));
        let backends = Arc::new(Backends {
            urls: backend_urls.to_vec(),
            next: AtomicUsize::new(0),
            served: backend_urls.iter().map(|_| AtomicUsize::new(0)).collect(),
            http: reqwest::Client::new(),
        });
        let app = axum::Router::new()
            .fallback(forward)
            .with_state(backends.clone());
        tokio::spawn(async move { axum::serve(listener, app).await });
        Self { base_url, backends }
    }

    pub fn base_url(&self) -> String {
        self.base_url.clone()
    }

    /// How many requests each backend answered.
    pub fn served(&self) -> Vec<usize> {
        self.backends
            .served
            .iter()
            .map(|count| count.load(Ordering::Relaxed))
            .collect()
    }
}

async fn forward(State(backends): State<Arc<Backends>>, request: Request) -> Response {
    let index = backends.next.fetch_add(1, Ordering::Relaxed) % backends.urls.len();
    let (parts, body) = request.into_parts();
    let path = parts.uri.path_and_query().map_or("/", |path| path.as_str());
    let url = format!("{}{path}", backends.urls[index]);
    let answer = async {
        let body = axum::body::to_bytes(body, usize::MAX).await.ok()?;
        let mut outgoing = backends.http.request(parts.method.clone(), url).body(body);
        for (name, value) in &parts.headers {
            if name != http::header::HOST {
                outgoing = outgoing.header(name, value);
            }
        }
        let incoming = outgoing.send().await.ok()?;
        let mut response = Response::builder().status(incoming.status());
        for (name, value) in incoming.headers() {
            response = response.header(name, value);
        }
        let bytes = incoming.bytes().await.ok()?;
        response.body(Body::from(bytes)).ok()
    }
    .await;
    backends.served[index].fetch_add(1, Ordering::Relaxed);
    answer.unwrap_or_else(|| {
        let mut response = Response::new(Body::from("the backend did not answer"));
        *response.status_mut() = http::StatusCode::BAD_GATEWAY;
        response
    })
}
