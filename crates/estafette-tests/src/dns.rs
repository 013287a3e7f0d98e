//! A DNS server on loopback for discovery tests: it answers the SRV and address records it is
//! given, and `localhost` with 127.0.0.1; every other name does not exist.

use std::net::{Ipv4Addr, SocketAddr};
use std::str::FromStr;

use hickory_resolver::proto::op::{Message, OpCode, ResponseCode};
use hickory_resolver::proto::rr::rdata::{A, SRV};
use hickory_resolver::proto::rr::{Name, RData, Record, RecordType};
use tokio::net::UdpSocket;
use tokio::task::JoinHandle;

/// An address record: `name` (e.g. `example.test.`) is at `ip`.
pub struct AddressRecord {
    pub name: String,
    pub ip: Ipv4Addr,
}

/// An SRV record: `name` (e.g. `_matrix-fed._tcp.example.test.`) points to `target:port`.
pub struct SrvRecord {
    pub name: String,
    pub target: String,
    pub port: u16,
}

pub struct TestDns {
    pub addr: SocketAddr,
    task: JoinHandle<()>,
}

impl TestDns {
    pub async fn start(records: Vec<SrvRecord>) -> Self {
        Self::start_with(records, Vec::new()).await
    }

    pub async fn start_with(records: Vec<SrvRecord>, addresses: Vec<AddressRecord>) -> Self {
        let socket = UdpSocket::bind("127.0.0.1:0").await.expect("a UDP port");
        let addr = socket.local_addr().expect("its address");
        let task = tokio::spawn(async move {
            let mut buffer = vec![0u8; 4096];
            loop {
                let Ok((len, peer)) = socket.recv_from(&mut buffer).await else {
                    return;
                };
                let Ok(query) = Message::from_vec(&buffer[..len]) else {
                    continue;
                };
                let answer = answer(&query, &records, &addresses);
                if let Ok(bytes) = answer.to_vec() {
                    let _ = socket.send_to(&bytes, peer).await;
                }
            }
        });
        Self { addr, task }
    }
}

impl Drop for TestDns {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn answer(query: &Message, records: &[SrvRecord], addresses: &[AddressRecord]) -> Message {
    let mut response = Message::response(query.metadata.id, OpCode::Query);
    response.add_queries(query.queries.clone());
    for question in &query.queries {
        let name = question.name().to_utf8();
        match question.query_type() {
            RecordType::SRV => {
                for record in records.iter().filter(|r| r.name == name) {
                    if let Ok(target) = Name::from_str(&record.target) {
                        response.add_answer(Record::from_rdata(
                            question.name().clone(),
                            60,
                            RData::SRV(SRV::new(0, 0, record.port, target)),
                        ));
                    }
                }
            }
            RecordType::A => {
                let ip = if name == "localhost." {
                    Some(Ipv4Addr::LOCALHOST)
                } else {
                    addresses.iter().find(|a| a.name == name).map(|a| a.ip)
                };
                if let Some(ip) = ip {
                    response.add_answer(Record::from_rdata(
                        question.name().clone(),
                        60,
                        RData::A(A(ip)),
                    ));
                }
            }
            _ => {}
        }
    }
    if response.answers.is_empty() {
        response.metadata.response_code = ResponseCode::NXDomain;
    }
    response
}
