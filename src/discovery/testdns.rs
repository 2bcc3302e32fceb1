//! A small DNS server for tests: answers SRV, A, AAAA and CNAME queries
//! from a table that the test changes while it runs.
//!
//! It binds UDP and TCP on the same port of 127.0.0.1 through the runtime
//! seam, so that a [`Resolver`] pointed at it behaves as against a real
//! server. It can be told to answer SERVFAIL, to stay silent (so the client
//! times out), to truncate UDP answers (so the client retries over TCP), or
//! to fail only the next few queries. Every query is logged for assertions.
//! It is an authoritative server for every name in its table: a name not in
//! the table is NXDOMAIN, a name in it without records of the asked type is
//! an empty NOERROR answer, and CNAMEs are answered and, unless turned off,
//! chased within the table as real servers do.
//!
//! It is public (not `#[cfg(test)]`) so that integration tests can use it
//! too. It is not meant for production use; nothing outside tests starts it.

use std::cell::RefCell;
use std::collections::HashMap;
use std::io;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr};
use std::rc::Rc;
use std::time::Duration;

use hickory_proto::op::{Message, MessageType, OpCode, ResponseCode};
use hickory_proto::rr::rdata::{A, AAAA, CNAME, SRV};
use hickory_proto::rr::{RData, Record, RecordType};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::dns::{to_name, Resolver};
use super::resolv_conf::{fqdn, ResolvConf};
use crate::rt;

/// How the server treats a query.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Behavior {
    /// Answers from the table.
    #[default]
    Answer,
    /// Answers SERVFAIL.
    ServFail,
    /// Does not answer at all.
    Silent,
    /// Over UDP, answers with the TC bit and no records; TCP is answered
    /// from the table.
    TruncateUdp,
}

/// One query the server received.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Logged {
    /// As asked, lower-cased, with the trailing dot.
    pub name: String,
    pub rtype: RecordType,
    pub tcp: bool,
}

#[derive(Default)]
struct State {
    /// Lower-cased FQDN -> its records. A name present with no records is
    /// NODATA; an absent name is NXDOMAIN.
    records: HashMap<String, Vec<RData>>,
    behavior: Behavior,
    /// Overrides of `behavior` for one name, or one name and type.
    overrides: HashMap<(String, Option<RecordType>), Behavior>,
    /// This many next queries get SERVFAIL, whatever else is set.
    fail_next: usize,
    no_chase: bool,
    log: Vec<Logged>,
}

/// A running test DNS server. Dropping it stops it.
pub struct TestDns {
    addr: SocketAddr,
    state: Rc<RefCell<State>>,
    _udp: rt::Task<()>,
    _tcp: rt::Task<()>,
}

impl TestDns {
    /// Starts a server on 127.0.0.1, UDP and TCP on one free port.
    pub async fn start() -> io::Result<TestDns> {
        let (listener, udp) = bind_pair()?;
        let addr = udp.local_addr()?;
        let state = Rc::new(RefCell::new(State::default()));
        let udp_task = rt::spawn(serve_udp(udp, state.clone()));
        let tcp_task = rt::spawn(serve_tcp(listener, state.clone()));
        Ok(TestDns {
            addr,
            state,
            _udp: udp_task,
            _tcp: tcp_task,
        })
    }

    /// The address both transports listen on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// A resolv.conf naming this server (and its port), no search domains.
    pub fn resolv_conf(&self) -> ResolvConf {
        ResolvConf {
            nameservers: vec![self.addr.ip()],
            port: self.addr.port(),
            ..ResolvConf::default()
        }
    }

    /// A resolver using only this server, with short exchange deadlines.
    pub fn resolver(&self) -> Resolver {
        Resolver::from_conf(self.resolv_conf()).with_exchange_timeout(Duration::from_millis(300))
    }

    fn with<T>(&self, f: impl FnOnce(&mut State) -> T) -> T {
        f(&mut self.state.borrow_mut())
    }

    /// Replaces `name`'s records of `rtype` (creating the name).
    fn set(&self, name: &str, rtype: RecordType, data: Vec<RData>) {
        self.with(|s| {
            let records = s.records.entry(key(name)).or_default();
            records.retain(|r| r.record_type() != rtype);
            records.extend(data);
        });
    }

    /// Sets `name`'s A records.
    pub fn set_a(&self, name: &str, ips: &[Ipv4Addr]) {
        let data = ips.iter().map(|ip| RData::A(A(*ip))).collect();
        self.set(name, RecordType::A, data);
    }

    /// Sets `name`'s AAAA records.
    pub fn set_aaaa(&self, name: &str, ips: &[Ipv6Addr]) {
        let data = ips.iter().map(|ip| RData::AAAA(AAAA(*ip))).collect();
        self.set(name, RecordType::AAAA, data);
    }

    /// Sets `name`'s SRV records, as `(target, port)` with priority and
    /// weight 0. Targets that are not valid names are skipped.
    pub fn set_srv(&self, name: &str, records: &[(&str, u16)]) {
        let data = records
            .iter()
            .filter_map(|(target, port)| {
                let target = to_name(&fqdn(target)).ok()?;
                Some(RData::SRV(SRV::new(0, 0, *port, target)))
            })
            .collect();
        self.set(name, RecordType::SRV, data);
    }

    /// Makes `name` a CNAME for `target`.
    pub fn set_cname(&self, name: &str, target: &str) {
        let data = to_name(&fqdn(target))
            .map(|t| RData::CNAME(CNAME(t)))
            .into_iter()
            .collect();
        self.set(name, RecordType::CNAME, data);
    }

    /// Removes `name` (it becomes NXDOMAIN).
    pub fn remove(&self, name: &str) {
        self.with(|s| s.records.remove(&key(name)));
    }

    /// Sets how every query is treated.
    pub fn set_behavior(&self, behavior: Behavior) {
        self.with(|s| s.behavior = behavior);
    }

    /// Sets how queries for `name` (of `rtype`, or of any type) are
    /// treated, overriding [`TestDns::set_behavior`].
    pub fn set_behavior_for(&self, name: &str, rtype: Option<RecordType>, behavior: Behavior) {
        self.with(|s| s.overrides.insert((key(name), rtype), behavior));
    }

    /// Answers the next `n` queries with SERVFAIL.
    pub fn fail_next(&self, n: usize) {
        self.with(|s| s.fail_next = n);
    }

    /// Whether CNAMEs are chased within the table (default: yes).
    pub fn set_chase_cnames(&self, chase: bool) {
        self.with(|s| s.no_chase = !chase);
    }

    /// The queries received so far.
    pub fn queries(&self) -> Vec<Logged> {
        self.with(|s| s.log.clone())
    }

    /// Forgets the queries received so far.
    pub fn clear_queries(&self) {
        self.with(|s| s.log.clear());
    }
}

fn key(name: &str) -> String {
    fqdn(&name.to_ascii_lowercase())
}

/// A TCP listener and a UDP socket on the same port. TCP is bound first:
/// a port-0 TCP bind never shares a port, whereas the later UDP bind to
/// that port fails (and is retried) if the UDP port is taken.
fn bind_pair() -> io::Result<(rt::Listener, rt::UdpSocket)> {
    let mut last = None;
    for _ in 0..32 {
        let listener = rt::Listener::bind((Ipv4Addr::LOCALHOST, 0).into())?;
        let addr = listener.local_addr()?;
        match rt::UdpSocket::bind(addr) {
            Ok(udp) => return Ok((listener, udp)),
            Err(e) => last = Some(e),
        }
    }
    Err(last.unwrap_or_else(|| io::Error::other("no free port")))
}

async fn serve_udp(socket: rt::UdpSocket, state: Rc<RefCell<State>>) {
    let mut buf = vec![0u8; usize::from(u16::MAX)];
    loop {
        let (n, from) = match socket.recv_from(&mut buf).await {
            Ok(got) => got,
            Err(_) => {
                rt::sleep(Duration::from_millis(1)).await;
                continue;
            }
        };
        let reply = buf.get(..n).and_then(|q| answer(&state, q, false));
        if let Some(reply) = reply {
            let _ = socket.send_to(&reply, from).await;
        }
    }
}

async fn serve_tcp(listener: rt::Listener, state: Rc<RefCell<State>>) {
    loop {
        let Ok(stream) = listener.accept().await else {
            rt::sleep(Duration::from_millis(1)).await;
            continue;
        };
        rt::spawn(serve_conn(stream, state.clone())).detach();
    }
}

async fn serve_conn(mut stream: rt::Stream, state: Rc<RefCell<State>>) {
    loop {
        let mut len = [0u8; 2];
        if stream.read_exact(&mut len).await.is_err() {
            return;
        }
        let mut query = vec![0u8; usize::from(u16::from_be_bytes(len))];
        if stream.read_exact(&mut query).await.is_err() {
            return;
        }
        let Some(reply) = answer(&state, &query, true) else {
            continue;
        };
        let Ok(len) = u16::try_from(reply.len()) else {
            return;
        };
        let mut framed = len.to_be_bytes().to_vec();
        framed.extend_from_slice(&reply);
        if stream.write_all(&framed).await.is_err() || stream.flush().await.is_err() {
            return;
        }
    }
}

/// The encoded reply to one query, or `None` to stay silent.
fn answer(state: &RefCell<State>, query: &[u8], tcp: bool) -> Option<Vec<u8>> {
    let request = Message::from_vec(query).ok()?;
    if request.metadata.message_type != MessageType::Query {
        return None;
    }
    let question = request.queries.first()?.clone();
    let name = question.name().to_ascii().to_ascii_lowercase();
    let rtype = question.query_type();

    let mut s = state.borrow_mut();
    s.log.push(Logged {
        name: name.clone(),
        rtype,
        tcp,
    });
    let behavior = if s.fail_next > 0 {
        s.fail_next -= 1;
        Behavior::ServFail
    } else {
        s.overrides
            .get(&(name.clone(), Some(rtype)))
            .or_else(|| s.overrides.get(&(name.clone(), None)))
            .copied()
            .unwrap_or(s.behavior)
    };

    let mut reply = Message::response(request.metadata.id, OpCode::Query);
    reply.metadata.recursion_desired = request.metadata.recursion_desired;
    reply.metadata.recursion_available = true;
    reply.metadata.authoritative = true;
    reply.add_query(question);
    if let Some(edns) = &request.edns {
        reply.set_edns(edns.clone());
    }
    match behavior {
        Behavior::Silent => return None,
        Behavior::ServFail => reply.metadata.response_code = ResponseCode::ServFail,
        Behavior::TruncateUdp if !tcp => reply.metadata.truncation = true,
        Behavior::TruncateUdp | Behavior::Answer => match records(&s, &name, rtype) {
            Some(answers) => {
                reply.add_answers(answers);
            }
            None => reply.metadata.response_code = ResponseCode::NXDomain,
        },
    }
    reply.to_vec().ok()
}

/// The answer records for `name`, or `None` for NXDOMAIN.
fn records(s: &State, name: &str, rtype: RecordType) -> Option<Vec<Record>> {
    let mut out = Vec::new();
    let mut owner = name.to_string();
    // Chase CNAMEs within the table, at most 16 deep (loops stop there).
    for _ in 0..16 {
        let Some(data) = s.records.get(&owner) else {
            // The first name must exist; a dangling CNAME target ends the
            // chain with what was found.
            return if out.is_empty() { None } else { Some(out) };
        };
        let owner_name = to_name(&owner).ok()?;
        let direct: Vec<&RData> = data.iter().filter(|d| d.record_type() == rtype).collect();
        if !direct.is_empty() || rtype == RecordType::CNAME {
            out.extend(
                direct
                    .into_iter()
                    .map(|d| Record::from_rdata(owner_name.clone(), 30, d.clone())),
            );
            return Some(out);
        }
        let Some(RData::CNAME(target)) = data.iter().find(|d| d.record_type() == RecordType::CNAME)
        else {
            return Some(out);
        };
        out.push(Record::from_rdata(
            owner_name,
            30,
            RData::CNAME(target.clone()),
        ));
        if s.no_chase {
            return Some(out);
        }
        owner = target.0.to_ascii().to_ascii_lowercase();
    }
    Some(out)
}
