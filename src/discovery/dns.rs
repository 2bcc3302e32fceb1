//! The DNS client: turns a parsed [`Lookup`] into `host:port` strings.
//!
//! This module owns the DNS exchanges (UDP, TCP on truncation) and the
//! interpretation of answers. It uses `hickory-proto` only to encode and
//! decode messages; all network IO goes through the runtime seam
//! ([`rt::UdpSocket`], [`rt::connect`]). It keeps no state between lookups:
//! caching the last good answer is the [`Provider`](super::Provider)'s job.
//!
//! It follows Thanos v0.31.0's default `miekgdns` resolver
//! (`pkg/discovery/dns/miekgdns/{resolver.go,lookup.go}`) and the address
//! logic of `pkg/discovery/dns/resolver.go`:
//!
//! 1. resolv.conf is read again for every query (no restart is needed when
//!    it changes); an explicit file or a fixed [`ResolvConf`] can be given
//!    instead, which tests do.
//! 2. For every candidate name of the search list
//!    ([`ResolvConf::name_list`]), each name server is asked in turn. One
//!    exchange is a UDP query with EDNS0 (payload 4096, miekg's
//!    `DefaultMsgSize`) and recursion desired; a truncated answer is asked
//!    again over TCP without EDNS0, and a truncated TCP answer is an error.
//!    A server's answer is taken when its rcode is NOERROR or NXDOMAIN;
//!    anything else (SERVFAIL, REFUSED, a timeout, a malformed message)
//!    moves on to the next server.
//! 3. The first candidate name answered with NOERROR wins, even with an
//!    empty answer. If every candidate got NXDOMAIN the name is *not found*,
//!    which callers turn into an empty result rather than an error; if any
//!    candidate got no usable answer from any server the lookup fails.
//! 4. Addresses: AAAA is asked first; if that fails or its answer is empty,
//!    A is asked (and its failure is the lookup's). A CNAME in the answer is
//!    resolved the same way, recursively, for at most 8 lookups in all (the
//!    name itself and 7 CNAME links; Thanos's `maxIterations`); any other
//!    record type in the answer is an error. A CNAME target that does not
//!    exist makes the whole name "not found", as in Thanos.
//! 5. SRV: every answer record must be SRV. `dnssrv+` then resolves every
//!    target's addresses: a target that is not found is skipped, a target
//!    whose lookup fails fails the whole address.
//!
//! Each exchange is bounded by a deadline (2 s by default, as miekg's
//! client's dial/read/write timeouts). Thanos's resolver ignores its
//! context, so a lookup is bounded only by these; the provider additionally
//! bounds each address by its resolution interval.
//!
//! One deliberate difference: a host that is an IP literal
//! (`dns+10.0.0.1:10901`) resolves to itself, as Go's own resolver does,
//! instead of being sent to the name server as a name.

use std::fmt;
use std::future::Future;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::PathBuf;
use std::pin::Pin;
use std::time::Duration;

use hickory_proto::op::{Edns, Message, MessageType, Query, ResponseCode};
use hickory_proto::rr::{Name, RData, Record, RecordType};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::address::{self, Address, AddressError, Lookup, QType};
use super::resolv_conf::{self, ResolvConf};
use crate::rt;

/// How long one exchange with one server may take (miekg's default).
pub const DEFAULT_EXCHANGE_TIMEOUT: Duration = Duration::from_secs(2);

/// The UDP payload size advertised with EDNS0 (miekg's `DefaultMsgSize`).
pub const EDNS_PAYLOAD: u16 = 4096;

/// How many lookups one address name may take, its CNAME chain included
/// (Thanos's `maxIterations`): a chain of 7 CNAMEs is followed, 8 is not.
pub const MAX_CNAME_DEPTH: usize = 8;

/// Why a lookup gave no answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DnsError {
    /// The address itself is wrong; no query was sent.
    Address(AddressError),
    /// Every candidate name was answered with NXDOMAIN. [`Resolver::resolve`]
    /// turns this into an empty result.
    NotFound(String),
    /// Some candidate name got no usable answer from any server, or an
    /// answer could not be used. The message says what and where.
    Failed(String),
}

impl DnsError {
    /// True for [`DnsError::NotFound`].
    pub fn is_not_found(&self) -> bool {
        matches!(self, DnsError::NotFound(_))
    }

    /// Prefixes a failure with what was being done; other kinds pass
    /// through unchanged (so "not found" stays recognisable, as with Go's
    /// `errors.Cause`).
    fn context(self, what: impl fmt::Display) -> DnsError {
        match self {
            DnsError::Failed(msg) => DnsError::Failed(format!("{what}: {msg}")),
            other => other,
        }
    }
}

impl fmt::Display for DnsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DnsError::Address(e) => e.fmt(f),
            DnsError::NotFound(name) => write!(f, "no such host {name:?}"),
            DnsError::Failed(msg) => f.write_str(msg),
        }
    }
}

impl std::error::Error for DnsError {}

impl From<AddressError> for DnsError {
    fn from(e: AddressError) -> Self {
        DnsError::Address(e)
    }
}

/// One SRV record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Srv {
    pub priority: u16,
    pub weight: u16,
    pub port: u16,
    /// As in the answer: fully qualified, with the trailing dot.
    pub target: String,
}

#[derive(Debug, Clone)]
enum ConfSource {
    File(PathBuf),
    Fixed(ResolvConf),
}

/// A DNS resolver configured by resolv.conf. Cheap to clone; holds no
/// sockets between lookups.
#[derive(Debug, Clone)]
pub struct Resolver {
    source: ConfSource,
    port: Option<u16>,
    exchange_timeout: Duration,
}

impl Resolver {
    /// Reads `/etc/resolv.conf` for every query.
    pub fn system() -> Resolver {
        Resolver::from_file(resolv_conf::DEFAULT_PATH)
    }

    /// Reads the resolv.conf at `path` for every query.
    pub fn from_file(path: impl Into<PathBuf>) -> Resolver {
        Resolver {
            source: ConfSource::File(path.into()),
            port: None,
            exchange_timeout: DEFAULT_EXCHANGE_TIMEOUT,
        }
    }

    /// Uses `conf` as it is, reading no file.
    pub fn from_conf(conf: ResolvConf) -> Resolver {
        Resolver {
            source: ConfSource::Fixed(conf),
            port: None,
            exchange_timeout: DEFAULT_EXCHANGE_TIMEOUT,
        }
    }

    /// Asks every name server on `port` instead of the configured one.
    pub fn with_port(mut self, port: u16) -> Resolver {
        self.port = Some(port);
        self
    }

    /// Bounds each exchange with one server by `timeout`.
    pub fn with_exchange_timeout(mut self, timeout: Duration) -> Resolver {
        self.exchange_timeout = timeout;
        self
    }

    /// The configuration the next query would use.
    pub fn conf(&self) -> Result<ResolvConf, DnsError> {
        let mut conf = match &self.source {
            ConfSource::Fixed(conf) => conf.clone(),
            ConfSource::File(path) => ResolvConf::read(path).map_err(|e| {
                DnsError::Failed(format!(
                    "could not load resolv.conf {}: {e}",
                    path.display()
                ))
            })?,
        };
        if let Some(port) = self.port {
            conf.port = port;
        }
        Ok(conf)
    }

    /// Resolves one address string (`dns+…`, `dnssrv+…`, `dnssrvnoa+…`, or
    /// a static `host:port`, which is returned as it is).
    pub async fn resolve(&self, addr: &str) -> Result<Vec<String>, DnsError> {
        match address::parse(addr)? {
            Address::Static(addr) => Ok(vec![addr]),
            Address::Lookup(lookup) => self.resolve_lookup(&lookup).await,
        }
    }

    /// Resolves a parsed lookup into `[scheme//]host:port` strings, in
    /// answer order (duplicates are possible). A name that does not exist
    /// gives an empty list, not an error.
    pub async fn resolve_lookup(&self, lookup: &Lookup) -> Result<Vec<String>, DnsError> {
        let host = &lookup.host;
        match lookup.qtype {
            QType::A => {
                let port = lookup
                    .port
                    .as_deref()
                    .ok_or_else(|| AddressError::MissingPort(host.clone()))?;
                let ips = self.ips_or_empty(host, host).await?;
                Ok(ips
                    .into_iter()
                    .map(|ip| lookup.format_ip(ip, port))
                    .collect())
            }
            QType::Srv | QType::SrvNoA => {
                let records = match self.lookup_srv(host).await {
                    Ok(records) => records,
                    Err(e) if e.is_not_found() => Vec::new(),
                    Err(e) => return Err(e.context(format_args!("lookup SRV records {host:?}"))),
                };
                let mut out = Vec::new();
                for srv in records {
                    let port = match &lookup.port {
                        Some(port) => port.clone(),
                        None => srv.port.to_string(),
                    };
                    if lookup.qtype == QType::SrvNoA {
                        out.push(lookup.format(&srv.target, &port));
                        continue;
                    }
                    for ip in self.ips_or_empty(&srv.target, host).await? {
                        out.push(lookup.format_ip(ip, &port));
                    }
                }
                Ok(out)
            }
        }
    }

    /// `lookup_ip`, with "not found" as an empty list; failures name the
    /// address's host as Thanos does.
    async fn ips_or_empty(&self, name: &str, host: &str) -> Result<Vec<IpAddr>, DnsError> {
        match self.lookup_ip(name).await {
            Ok(ips) => Ok(ips),
            Err(e) if e.is_not_found() => Ok(Vec::new()),
            Err(e) => Err(e.context(format_args!("lookup IP addresses {host:?}"))),
        }
    }

    /// The addresses of `host`: AAAA first, A if that fails or is empty;
    /// CNAMEs are followed.
    pub async fn lookup_ip(&self, host: &str) -> Result<Vec<IpAddr>, DnsError> {
        if let Ok(ip) = host.parse::<IpAddr>() {
            return Ok(vec![ip]);
        }
        self.lookup_ip_at(host.to_string(), 1).await
    }

    fn lookup_ip_at(
        &self,
        host: String,
        depth: usize,
    ) -> Pin<Box<dyn Future<Output = Result<Vec<IpAddr>, DnsError>> + '_>> {
        Box::pin(async move {
            if depth > MAX_CNAME_DEPTH {
                return Err(DnsError::Failed(format!(
                    "maximum number of recursive iterations reached ({MAX_CNAME_DEPTH})"
                )));
            }
            let answers = match self.lookup(&host, RecordType::AAAA).await {
                Ok(answers) if !answers.is_empty() => answers,
                _ => self.lookup(&host, RecordType::A).await?,
            };
            let mut ips = Vec::new();
            for record in answers {
                match record.data {
                    RData::A(a) => ips.push(IpAddr::V4(a.0)),
                    RData::AAAA(aaaa) => ips.push(IpAddr::V6(aaaa.0)),
                    RData::CNAME(cname) => {
                        let target = cname.0.to_ascii();
                        let more = self
                            .lookup_ip_at(target.clone(), depth + 1)
                            .await
                            .map_err(|e| e.context(format_args!("recursively resolve {target}")))?;
                        ips.extend(more);
                    }
                    _ => {
                        return Err(DnsError::Failed(format!(
                            "invalid A, AAAA or CNAME response record {}",
                            describe(&record)
                        )))
                    }
                }
            }
            Ok(ips)
        })
    }

    /// The SRV records of `name` (taken as given: no `_service._proto`
    /// is added).
    pub async fn lookup_srv(&self, name: &str) -> Result<Vec<Srv>, DnsError> {
        let answers = self.lookup(name, RecordType::SRV).await?;
        let mut out = Vec::with_capacity(answers.len());
        for record in answers {
            match record.data {
                RData::SRV(srv) => out.push(Srv {
                    priority: srv.priority,
                    weight: srv.weight,
                    port: srv.port,
                    target: srv.target.to_ascii(),
                }),
                _ => {
                    return Err(DnsError::Failed(format!(
                        "invalid SRV response record {}",
                        describe(&record)
                    )))
                }
            }
        }
        Ok(out)
    }

    /// Thanos's `lookupWithSearchPath`: the answer records for the first
    /// candidate name that exists (see the module doc, step 3).
    async fn lookup(&self, name: &str, rtype: RecordType) -> Result<Vec<Record>, DnsError> {
        let conf = self.conf()?;
        let mut errors = Vec::new();
        for candidate in conf.name_list(name) {
            match self.ask_any_server(&conf, &candidate, rtype).await {
                Ok(msg) if msg.metadata.response_code == ResponseCode::NoError => {
                    return Ok(msg.answers)
                }
                Ok(_nxdomain) => {}
                Err(e) => errors.push(e),
            }
        }
        if errors.is_empty() {
            return Err(DnsError::NotFound(name.to_string()));
        }
        Err(DnsError::Failed(format!(
            "could not resolve {name:?}: all servers responded with errors to at least one \
             search domain. Errs ;{}",
            errors.join(";")
        )))
    }

    /// Thanos's `lookupFromAnyServer`: the first NOERROR or NXDOMAIN answer.
    async fn ask_any_server(
        &self,
        conf: &ResolvConf,
        name: &str,
        rtype: RecordType,
    ) -> Result<Message, String> {
        let mut errors = Vec::new();
        for server in conf.servers() {
            match self.ask_server(server, name, rtype).await {
                Ok(msg)
                    if matches!(
                        msg.metadata.response_code,
                        ResponseCode::NoError | ResponseCode::NXDomain
                    ) =>
                {
                    return Ok(msg)
                }
                Ok(msg) => errors.push(format!(
                    "resolution against server {} for {name}: rcode {}",
                    server.ip(),
                    msg.metadata.response_code
                )),
                Err(e) => errors.push(format!(
                    "resolution against server {} for {name}: {e}",
                    server.ip()
                )),
            }
        }
        Err(format!(
            "could not resolve {name}: no servers returned a viable answer. Errs ;{}",
            errors.join(";")
        ))
    }

    /// Thanos's `askServerForName`: UDP with EDNS0, then TCP without it if
    /// the answer was truncated.
    async fn ask_server(
        &self,
        server: SocketAddr,
        name: &str,
        rtype: RecordType,
    ) -> Result<Message, String> {
        let (id, query) = encode_query(name, rtype, true)?;
        let udp = rt::timeout(self.exchange_timeout, exchange_udp(server, id, &query))
            .await
            .map_err(|e| format!("exchange: udp: {e}"))?
            .map_err(|e| format!("exchange: udp: {e}"))?;
        if let Some(msg) = udp {
            return Ok(msg);
        }
        let (id, query) = encode_query(name, rtype, false)?;
        let msg = rt::timeout(
            self.exchange_timeout,
            exchange_tcp(server, id, &query, self.exchange_timeout),
        )
        .await
        .map_err(|e| format!("exchange: tcp: {e}"))?
        .map_err(|e| format!("exchange: tcp: {e}"))?;
        if msg.metadata.truncation {
            return Err("got truncated message on TCP (64kiB limit exceeded?)".into());
        }
        Ok(msg)
    }
}

/// A query for `name` (already fully qualified) with a fresh random id.
fn encode_query(name: &str, rtype: RecordType, edns: bool) -> Result<(u16, Vec<u8>), String> {
    let qname = to_name(name)?;
    let mut msg = Message::query();
    msg.metadata.recursion_desired = true;
    msg.add_query(Query::query(qname, rtype));
    if edns {
        let mut e = Edns::new();
        e.set_max_payload(EDNS_PAYLOAD);
        msg.set_edns(e);
    }
    let id = msg.metadata.id;
    let bytes = msg
        .to_vec()
        .map_err(|e| format!("encode query for {name}: {e}"))?;
    Ok((id, bytes))
}

/// A wire name from text, taking labels as raw bytes (as miekg does) so
/// that names hickory's text parser would refuse still go out.
pub(super) fn to_name(name: &str) -> Result<Name, String> {
    let trimmed = name.strip_suffix('.').unwrap_or(name);
    if trimmed.is_empty() {
        return Ok(Name::root());
    }
    Name::from_labels(trimmed.split('.').map(str::as_bytes))
        .map_err(|e| format!("invalid name {name:?}: {e}"))
}

/// Header fields read straight from the wire, so that a truncated answer
/// that does not decode still sends us to TCP.
const HEADER_LEN: usize = 12;
const FLAG_QR: u8 = 0x80;
const FLAG_TC: u8 = 0x02;

/// One UDP exchange. `Ok(None)` means the answer was truncated. Datagrams
/// from elsewhere or with another id are ignored (the caller's deadline
/// bounds the wait).
async fn exchange_udp(
    server: SocketAddr,
    id: u16,
    query: &[u8],
) -> std::io::Result<Option<Message>> {
    let local: SocketAddr = match server {
        SocketAddr::V4(_) => (Ipv4Addr::UNSPECIFIED, 0).into(),
        SocketAddr::V6(_) => (Ipv6Addr::UNSPECIFIED, 0).into(),
    };
    let socket = rt::UdpSocket::bind(local)?;
    socket.send_to(query, server).await?;
    let mut buf = vec![0u8; usize::from(u16::MAX)];
    loop {
        let (n, from) = socket.recv_from(&mut buf).await?;
        let Some(reply) = buf.get(..n) else {
            continue;
        };
        if from != server || reply.len() < HEADER_LEN {
            continue;
        }
        if u16::from_be_bytes([reply[0], reply[1]]) != id || reply[2] & FLAG_QR == 0 {
            continue;
        }
        if reply[2] & FLAG_TC != 0 {
            return Ok(None);
        }
        return decode(reply).map(Some);
    }
}

/// One TCP exchange: two-byte length prefix each way (RFC 1035 4.2.2).
async fn exchange_tcp(
    server: SocketAddr,
    id: u16,
    query: &[u8],
    connect_within: Duration,
) -> std::io::Result<Message> {
    let mut stream = rt::connect(server, connect_within).await?;
    let len = u16::try_from(query.len())
        .map_err(|_| std::io::Error::new(std::io::ErrorKind::InvalidInput, "query too long"))?;
    let mut framed = Vec::with_capacity(query.len() + 2);
    framed.extend_from_slice(&len.to_be_bytes());
    framed.extend_from_slice(query);
    stream.write_all(&framed).await?;
    stream.flush().await?;
    loop {
        let mut len = [0u8; 2];
        stream.read_exact(&mut len).await?;
        let mut reply = vec![0u8; usize::from(u16::from_be_bytes(len))];
        stream.read_exact(&mut reply).await?;
        let msg = decode(&reply)?;
        if msg.metadata.id == id && msg.metadata.message_type == MessageType::Response {
            return Ok(msg);
        }
    }
}

fn decode(bytes: &[u8]) -> std::io::Result<Message> {
    Message::from_vec(bytes).map_err(|e| {
        std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!("malformed DNS message: {e}"),
        )
    })
}

/// A record for error messages: `name TYPE`.
fn describe(record: &Record) -> String {
    format!("{} {}", record.name, record.record_type())
}

// A failed unwrap is a failed test.
#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn query_encoding_round_trips() {
        let (id, bytes) = encode_query("_grpc._tcp.store.ns.", RecordType::SRV, true).unwrap();
        let msg = Message::from_vec(&bytes).unwrap();
        assert_eq!(msg.metadata.id, id);
        assert!(msg.metadata.recursion_desired);
        assert_eq!(msg.queries[0].name().to_ascii(), "_grpc._tcp.store.ns.");
        assert_eq!(msg.queries[0].query_type(), RecordType::SRV);
        assert_eq!(
            msg.edns.as_ref().map(|e| e.max_payload()),
            Some(EDNS_PAYLOAD)
        );
        let (_, bytes) = encode_query("store.", RecordType::A, false).unwrap();
        assert!(Message::from_vec(&bytes).unwrap().edns.is_none());
        // Names hickory's text parser refuses still encode; empty labels do not.
        assert!(encode_query("-odd.name.", RecordType::A, false).is_ok());
        assert!(encode_query("a..b.", RecordType::A, false).is_err());
        assert!(encode_query(".", RecordType::A, false).is_ok());
    }

    #[test]
    fn decode_never_panics_on_junk() {
        // Deterministic pseudo-random bytes, plus every prefix of a real
        // message: all must give Ok or Err, never a panic.
        let (_, real) = encode_query("store.ns.", RecordType::AAAA, true).unwrap();
        for n in 0..real.len() {
            let _ = decode(&real[..n]);
        }
        let mut x: u32 = 0x1234_5678;
        for len in 0..600 {
            let bytes: Vec<u8> = (0..len % 300)
                .map(|_| {
                    x ^= x << 13;
                    x ^= x >> 17;
                    x ^= x << 5;
                    x as u8
                })
                .collect();
            let _ = decode(&bytes);
        }
    }

    #[test]
    fn errors_display() {
        assert_eq!(
            DnsError::Failed("x".into())
                .context("lookup IP addresses \"h\"")
                .to_string(),
            "lookup IP addresses \"h\": x"
        );
        let nf = DnsError::NotFound("h".into()).context("ignored");
        assert!(nf.is_not_found());
    }
}
