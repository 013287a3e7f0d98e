//! Link previews: off unless the operator enables them; never a connection to this server's
//! own network (loopback, private, link-local… addresses, checked after DNS resolution and at
//! every redirect) unless allow-listed; size and time limits; OpenGraph read from the page and
//! its image kept as scanned media of this server.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use estafette_tests::{Clamd, EICAR, RawClient, TestServer};

use crate::antivirus::detections;
use crate::media::{dimensions, png};
use crate::room_helpers::user;

/// A listener that counts the connections made to it and answers each with a page.
struct Trap {
    address: SocketAddr,
    connections: Arc<AtomicUsize>,
}

impl Trap {
    async fn start(ip: &str) -> Self {
        let listener = tokio::net::TcpListener::bind((ip, 0)).await.unwrap();
        let address = listener.local_addr().unwrap();
        let connections = Arc::new(AtomicUsize::new(0));
        let counted = connections.clone();
        tokio::spawn(async move {
            while let Ok((mut stream, _)) = listener.accept().await {
                counted.fetch_add(1, Ordering::SeqCst);
                use tokio::io::AsyncWriteExt;
                let body = "<meta property=\"og:title\" content=\"internal secret\">";
                let page = format!(
                    "HTTP/1.1 200 OK\r\ncontent-type: text/html\r\ncontent-length: {}\r\n\r\n{body}",
                    body.len()
                );
                let _ = stream.write_all(page.as_bytes()).await;
            }
        });
        Self {
            address,
            connections,
        }
    }

    fn connections(&self) -> usize {
        self.connections.load(Ordering::SeqCst)
    }
}

fn preview_path(url: &str) -> String {
    let query: String = url::form_urlencoded::byte_serialize(url.as_bytes()).collect();
    format!("/_matrix/client/v1/media/preview_url?url={query}")
}

#[tokio::test]
async fn link_previews_are_off_unless_the_operator_enables_them() {
    let server = TestServer::start().await;
    let (_, alice) = user(server.raw(), "alice").await;
    let url = "https://example.org/";
    alice
        .get(&preview_path(url))
        .await
        .assert_error(404, "M_UNRECOGNIZED");
    alice
        .get(&format!("/_matrix/media/v3/preview_url?url={url}"))
        .await
        .assert_error(404, "M_UNRECOGNIZED");

    let server = TestServer::builder()
        .configure(|config| config.url_preview.enabled = true)
        .start()
        .await;
    server
        .raw()
        .get(&preview_path(url))
        .await
        .assert_error(401, "M_MISSING_TOKEN");
}

/// With no allow-list, no link reaches this machine or its networks, however it is written:
/// address literals, names resolving to them, IPv4 in IPv6 clothing.
#[tokio::test]
async fn link_previews_never_reach_loopback_private_or_link_local_addresses() {
    let trap = Trap::start("127.0.0.1").await;
    let server = TestServer::builder()
        .configure(|config| config.url_preview.enabled = true)
        .start()
        .await;
    let (_, alice) = user(server.raw(), "alice").await;
    let port = trap.address.port();
    for url in [
        format!("http://127.0.0.1:{port}/"),
        format!("http://localhost:{port}/"),
        format!("http://2130706433:{port}/"),
        format!("http://0x7f.1:{port}/"),
        format!("http://[::ffff:127.0.0.1]:{port}/"),
        format!("http://0.0.0.0:{port}/"),
        format!("http://[::1]:{port}/"),
        "http://10.20.30.40/".to_owned(),
        "http://172.16.0.1/".to_owned(),
        "https://192.168.1.1/admin".to_owned(),
        "http://169.254.169.254/latest/meta-data/".to_owned(),
        "http://100.64.0.1/".to_owned(),
        "http://[fe80::1]/".to_owned(),
        "http://[fd00::1]/".to_owned(),
        "http://224.0.0.1/".to_owned(),
    ] {
        let response = alice.get(&preview_path(&url)).await;
        response.assert_error(403, "M_FORBIDDEN");
        let message = response.body["error"].as_str().unwrap_or_default();
        assert!(message.contains("may not reach"), "{url}: {message}");
    }
    assert_eq!(trap.connections(), 0, "a refused link was connected to");

    for url in [
        "file:///etc/passwd",
        "ftp://example.org/",
        "gopher://127.0.0.1/",
        "no url at all",
    ] {
        alice
            .get(&preview_path(url))
            .await
            .assert_error(400, "M_INVALID_PARAM");
    }
}

/// A site on 127.0.0.1, and what each path of it serves.
#[derive(Clone)]
pub(crate) struct Site {
    pub(crate) base: String,
    hits: Arc<AtomicUsize>,
    /// Where `/to-elsewhere` redirects.
    elsewhere: SocketAddr,
}

impl Site {
    pub(crate) async fn start(elsewhere: SocketAddr) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let site = Self {
            base: format!("http://{}", listener.local_addr().unwrap()),
            hits: Arc::default(),
            elsewhere,
        };
        tokio::spawn(axum::serve(listener, site_router(site.clone())).into_future());
        site
    }
}

/// Previews on, for the site on 127.0.0.1 only, within small limits.
pub(crate) fn previews_of_the_site(config: &mut estafette_core::Config) {
    let previews = &mut config.url_preview;
    previews.enabled = true;
    previews.allowed_ip_ranges = vec!["127.0.0.1/32".to_owned()];
    previews.max_bytes = 100_000;
    previews.timeout_secs = 1;
}

async fn article(State(site): State<Site>) -> Response {
    site.hits.fetch_add(1, Ordering::SeqCst);
    html(
        "<html><head><title>not this</title>\
         <meta property=\"og:title\" content=\"D&eacute;cret n&#176; 2026-1 &amp; annexes\">\
         <meta property=\"og:description\" content=\"Le texte int&eacute;gral.\">\
         <meta property=\"og:site_name\" content=\"Journal officiel\">\
         <meta property=\"og:image\" content=\"../images/cover.png\">\
         </head><body>…</body></html>",
    )
}

fn html(body: &'static str) -> Response {
    ([(header::CONTENT_TYPE, "text/html; charset=utf-8")], body).into_response()
}

fn site_router(site: Site) -> axum::Router {
    let latin1 = b"<title>Caf\xe9 du commerce</title><meta name=description content='Ouvert'>";
    axum::Router::new()
        .route("/docs/article", get(article))
        .route(
            "/images/cover.png",
            get(|| async { ([(header::CONTENT_TYPE, "image/png")], png(40, 20)) }),
        )
        .route(
            "/photo",
            get(|| async { ([(header::CONTENT_TYPE, "image/png")], png(30, 30)) }),
        )
        .route(
            "/latin1",
            get(move || async move {
                let content_type = "text/html; charset=ISO-8859-1";
                ([(header::CONTENT_TYPE, content_type)], latin1.to_vec())
            }),
        )
        .route(
            "/infected",
            get(|| async { html("<meta property=og:title content=Trap><meta property=og:image content=/eicar.png>") }),
        )
        .route(
            "/eicar.png",
            get(|| async { ([(header::CONTENT_TYPE, "image/png")], EICAR.to_vec()) }),
        )
        .route(
            "/to-article",
            get(|| async { Redirect::to("/docs/article") }),
        )
        .route(
            "/to-elsewhere",
            get(|State(site): State<Site>| async move {
                Redirect::to(&format!("http://{}/", site.elsewhere))
            }),
        )
        .route(
            "/huge",
            get(|| async { html_owned(format!("<title>{}</title>", "x".repeat(200_000))) }),
        )
        .route(
            "/slow",
            get(|| async {
                tokio::time::sleep(Duration::from_secs(5)).await;
                html("<title>too late</title>")
            }),
        )
        .route("/missing", get(|| async { StatusCode::NOT_FOUND }))
        .with_state(site)
}

fn html_owned(body: String) -> Response {
    ([(header::CONTENT_TYPE, "text/html")], body).into_response()
}

async fn preview(client: &RawClient, url: &str) -> serde_json::Value {
    let response = client.get(&preview_path(url)).await;
    response.assert_ok();
    response.body
}

/// An allow-listed site is previewed: OpenGraph read and unescaped, a relative image fetched,
/// scanned and kept as media here, redirects followed but checked again, limits enforced.
#[tokio::test]
async fn allow_listed_sites_are_previewed_within_limits() {
    let clamd = Clamd::start().await;
    let elsewhere = Trap::start("127.0.0.2").await;
    let site = Site::start(elsewhere.address).await;
    let base = site.base.clone();
    let address = clamd.address();
    let server = TestServer::builder()
        .configure(move |config| {
            config.antivirus.clamd = Some(address);
            previews_of_the_site(config);
        })
        .start()
        .await;
    let (_, alice) = user(server.raw(), "alice").await;

    let article = preview(&alice, &format!("{base}/docs/article#section-2")).await;
    assert_eq!(article["og:title"], "Décret n° 2026-1 & annexes");
    assert_eq!(article["og:description"], "Le texte intégral.");
    assert_eq!(article["og:site_name"], "Journal officiel");
    assert_eq!(article["og:image:width"], 40);
    assert_eq!(article["og:image:height"], 20);
    assert_eq!(article["og:image:type"], "image/png");
    assert_eq!(article["matrix:image:size"], png(40, 20).len());
    let image = article["og:image"].as_str().unwrap();
    let (origin, id) = image
        .strip_prefix("mxc://")
        .unwrap()
        .split_once('/')
        .unwrap();
    assert_eq!(origin, server.server_name());
    let (status, _, bytes) = alice
        .get_bytes(&format!("/_matrix/client/v1/media/download/{origin}/{id}"))
        .await;
    assert_eq!((status, dimensions(&bytes)), (200, (40, 20)));

    // Kept for the next asker, through either endpoint; a redirect leads to the same page.
    let again = alice
        .get(&format!(
            "/_matrix/media/v3/preview_url?url={base}/docs/article"
        ))
        .await;
    assert_eq!(again.body, article);
    assert_eq!(site.hits.load(Ordering::SeqCst), 1, "previews are reused");
    let redirected = preview(&alice, &format!("{base}/to-article")).await;
    assert_eq!(redirected["og:title"], article["og:title"]);

    let photo = preview(&alice, &format!("{base}/photo")).await;
    assert_eq!(
        (
            photo["og:image:width"].clone(),
            photo["og:image:height"].clone()
        ),
        (30.into(), 30.into())
    );
    assert!(photo["og:image"].as_str().unwrap().starts_with("mxc://"));
    let latin1 = preview(&alice, &format!("{base}/latin1")).await;
    assert_eq!(latin1["og:title"], "Café du commerce");
    assert_eq!(latin1["og:description"], "Ouvert");

    // An infected image is neither kept nor shown; the operator sees who linked to it.
    let infected = preview(&alice, &format!("{base}/infected")).await;
    assert_eq!(infected["og:title"], "Trap");
    assert!(infected.get("og:image").is_none(), "{infected}");
    let detected = detections(&server).await;
    assert_eq!(detected.len(), 1, "{detected:?}");
    assert_eq!(detected[0].source, "url_preview");
    alice
        .get(&preview_path(&format!("{base}/eicar.png")))
        .await
        .assert_error(403, "M_FORBIDDEN");

    // A redirect to an address that is not allow-listed is refused before connecting.
    let refused = alice
        .get(&preview_path(&format!("{base}/to-elsewhere")))
        .await;
    refused.assert_error(403, "M_FORBIDDEN");
    assert_eq!(elsewhere.connections(), 0);

    for path in ["/huge", "/slow", "/missing"] {
        let response = alice.get(&preview_path(&format!("{base}{path}"))).await;
        response.assert_error(502, "M_UNKNOWN");
    }
}

/// Previews' images are a cache: deleted once nobody asked for them in the retention period,
/// while users' uploads stay.
#[tokio::test]
async fn previews_images_not_asked_for_are_deleted() {
    let site = Site::start("127.0.0.2:9".parse().unwrap()).await;
    let server = TestServer::builder()
        .configure(|config| {
            previews_of_the_site(config);
            config.url_preview.image_retention_secs = 1;
        })
        .start()
        .await;
    let (_, alice) = user(server.raw(), "alice").await;
    let (origin, uploaded) = crate::media::upload(&alice, png(5, 5)).await;
    let photo = preview(&alice, &format!("{}/photo", site.base)).await;
    let image = photo["og:image"].as_str().unwrap().to_owned();
    let image_id = image.rsplit('/').next().unwrap().to_owned();
    let download = |id: &str| format!("/_matrix/client/v1/media/download/{origin}/{id}");
    let (status, _, _) = alice.get_bytes(&download(&image_id)).await;
    assert_eq!(status, 200);

    // This server's clock moves only when told to: past the retention period.
    server.advance_clock(1_500);
    let media = &server.services().context.storage.media;
    let name = ruma::ServerName::parse(&origin).unwrap();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while media.get(&name, &image_id).await.unwrap().is_some() {
        assert!(tokio::time::Instant::now() < deadline, "never deleted");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    alice
        .get(&download(&image_id))
        .await
        .assert_error(404, "M_NOT_FOUND");
    let (status, _, bytes) = alice.get_bytes(&download(&uploaded)).await;
    assert_eq!((status, bytes), (200, png(5, 5)), "uploads are not a cache");
    // The next preview is made afresh, with an image that exists.
    let again = preview(&alice, &format!("{}/photo", site.base)).await;
    assert_ne!(again["og:image"], image.as_str());
}
