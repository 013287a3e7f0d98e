//! `estafette-bench`: a load generator for any Matrix homeserver that allows open registration
//! (`m.login.dummy`) and has rate limiting off. Point it only at servers on this machine.
//!
//! ```text
//! estafette-bench --url http://127.0.0.1:8008 --output bench.json
//! ```

mod client;
mod media;
mod push;
mod scale;
mod scenarios;
mod sliding;
mod stats;

use std::process::ExitCode;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use clap::Parser;
use serde_json::{Value, json};

use scenarios::Users;

#[derive(Parser)]
#[command(about = "Measure a Matrix homeserver: send throughput, fan-out latency, initial sync")]
struct Args {
    /// The homeserver's client API, e.g. http://127.0.0.1:8008; several processes of one
    /// server as a comma-separated list (each user sticks to one, in turn).
    #[arg(long, value_delimiter = ',', required = true)]
    url: Vec<String>,
    /// Concurrent senders for the throughput measurement.
    #[arg(long, default_value_t = 8)]
    senders: usize,
    /// Messages each sender sends.
    #[arg(long, default_value_t = 100)]
    per_sender: usize,
    /// Rooms the senders are spread over (each room's events are ordered, so one room
    /// measures a room's write order, several measure the server's).
    #[arg(long, default_value_t = 1)]
    send_rooms: usize,
    /// Room sizes for the fan-out measurement.
    #[arg(long, value_delimiter = ',', default_value = "2,50,200")]
    fan_out: Vec<usize>,
    /// Messages sent in each fan-out room.
    #[arg(long, default_value_t = 20)]
    fan_out_messages: usize,
    /// Milliseconds between the starts of two fan-out messages.
    #[arg(long, default_value_t = 500)]
    fan_out_interval_ms: u64,
    /// Rooms of the user whose initial sync is timed.
    #[arg(long, default_value_t = 100)]
    rooms: usize,
    /// Messages in each of those rooms.
    #[arg(long, default_value_t = 50)]
    room_messages: usize,
    /// Messages of the room paged back through (0: no pagination measurement).
    #[arg(long, default_value_t = 0)]
    pagination: usize,
    /// Members of the room whose joins are timed as it fills (0: no join measurement).
    #[arg(long, default_value_t = 0)]
    join_members: usize,
    /// Concurrent long-polls of the idle-polls measurement (0: none).
    #[arg(long, default_value_t = 0)]
    long_polls: usize,
    /// Long-polls each of its users keeps open.
    #[arg(long, default_value_t = 20)]
    polls_per_user: usize,
    /// Members of each of its rooms.
    #[arg(long, default_value_t = 10)]
    poll_room_size: usize,
    /// A second homeserver federating with the first (client API URL): adds the federation
    /// delivery latency, both ways, and skips the single-server measurements.
    #[arg(long)]
    federation_peer: Option<String>,
    /// Messages sent each way for the federation measurement.
    #[arg(long, default_value_t = 50)]
    federation_messages: usize,
    /// Measure media only: upload latency for these file sizes in bytes (comma-separated),
    /// and the content scanner's throughput when `--scanner` is given.
    #[arg(long, value_delimiter = ',')]
    media_sizes: Vec<usize>,
    /// Uploads of each size.
    #[arg(long, default_value_t = 20)]
    media_uploads: usize,
    /// A Matrix Content Scanner's URL (Estafette's own is the server's URL).
    #[arg(long)]
    scanner: Option<String>,
    /// Distinct files the scanner scans, first and cached.
    #[arg(long, default_value_t = 200)]
    scanned_files: usize,
    /// Their size in bytes.
    #[arg(long, default_value_t = 100_000)]
    scanned_file_size: usize,
    /// Another server (client API URL) whose user uploads the scanned files, so that the
    /// scanner's server fetches them over federation.
    #[arg(long)]
    scanned_files_on: Option<String>,
    /// Concurrent scan requests.
    #[arg(long, default_value_t = 16)]
    scan_concurrency: usize,
    /// Only push: messages that must ring a pusher on the load generator's own gateway,
    /// before and after an outage of the gateway (0: the other measurements).
    #[arg(long, default_value_t = 0)]
    push_messages: usize,
    /// How long the gateway is down, in milliseconds.
    #[arg(long, default_value_t = 10_000)]
    push_outage_ms: u64,
    /// The gateway's port (0: any free one).
    #[arg(long, default_value_t = 0)]
    push_gateway_port: u16,
    /// Only simplified sliding sync, for a user in this many rooms (0: the other measurements).
    #[arg(long, default_value_t = 0)]
    sliding_rooms: usize,
    /// Write the figures as JSON to this file.
    #[arg(long)]
    output: Option<std::path::PathBuf>,
}

#[tokio::main]
async fn main() -> ExitCode {
    let args = Args::parse();
    let stamp = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or_default();
    let http = match reqwest::Client::builder()
        .pool_max_idle_per_host(512)
        .build()
    {
        Ok(http) => http,
        Err(err) => {
            eprintln!("estafette-bench: {err}");
            return ExitCode::FAILURE;
        }
    };
    let users = Users {
        http,
        bases: args.url.clone(),
        prefix: format!("b{stamp}"),
    };
    let result = async {
        if !args.media_sizes.is_empty() {
            let setup = media::MediaSetup {
                sizes: args.media_sizes.clone(),
                uploads: args.media_uploads,
                scanner: args.scanner.clone(),
                scanned_files: args.scanned_files,
                scanned_file_size: args.scanned_file_size,
                concurrency: args.scan_concurrency,
                upload_server: args.scanned_files_on.clone(),
            };
            let figures = media::media(&users, &setup).await?;
            return Ok(json!({"url": args.url, "media": figures}));
        }
        if args.push_messages > 0 {
            let setup = push::PushSetup {
                messages: args.push_messages,
                interval: Duration::from_millis(args.fan_out_interval_ms),
                outage: Duration::from_millis(args.push_outage_ms),
                port: args.push_gateway_port,
            };
            let figures = push::push(&users, &setup).await?;
            return Ok(json!({"url": args.url, "push": figures}));
        }
        if args.sliding_rooms > 0 {
            let figures = sliding::sliding_sync(&users, args.sliding_rooms, 5).await?;
            return Ok(json!({"url": args.url, "sliding_sync": figures}));
        }
        if let Some(peer) = &args.federation_peer {
            let peer_users = Users {
                http: users.http.clone(),
                bases: vec![peer.clone()],
                prefix: users.prefix.clone(),
            };
            let federation =
                scenarios::federation(&users, &peer_users, args.federation_messages).await?;
            return Ok(json!({"url": args.url, "peer": peer, "federation": federation}));
        }
        let throughput =
            scenarios::send_throughput(&users, args.senders, args.per_sender, args.send_rooms)
                .await?;
        let mut fan_out = Vec::new();
        for members in &args.fan_out {
            fan_out.push(
                scenarios::fan_out(
                    &users,
                    (*members).max(2),
                    args.fan_out_messages,
                    Duration::from_millis(args.fan_out_interval_ms),
                )
                .await?,
            );
        }
        let initial = scenarios::initial_sync(&users, args.rooms, args.room_messages, 5).await?;
        let pagination = match args.pagination {
            0 => Value::Null,
            messages => scenarios::pagination(&users, messages).await?,
        };
        let joins = match args.join_members {
            0 => Value::Null,
            members => scale::join_growth(&users, members).await?,
        };
        let long_polls = match args.long_polls {
            0 => Value::Null,
            polls => {
                let setup = scale::LongPolls {
                    polls,
                    per_user: args.polls_per_user,
                    room_size: args.poll_room_size,
                    messages: args.fan_out_messages,
                    interval: Duration::from_millis(args.fan_out_interval_ms),
                };
                scale::long_polls(&users, &setup).await?
            }
        };
        Ok::<_, String>(
            json!({"url": args.url, "send": throughput, "fan_out": fan_out,
            "initial_sync": initial, "pagination": pagination, "joins": joins,
            "long_polls": long_polls}),
        )
    }
    .await;
    match result {
        Ok(figures) => {
            if let Some(path) = &args.output {
                if let Err(err) = std::fs::write(path, format!("{figures:#}\n")) {
                    eprintln!("estafette-bench: cannot write {}: {err}", path.display());
                    return ExitCode::FAILURE;
                }
            }
            ExitCode::SUCCESS
        }
        Err(err) => {
            eprintln!("estafette-bench: {err}");
            ExitCode::FAILURE
        }
    }
}
