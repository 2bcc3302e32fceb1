//! A fake Prometheus on loopback for the sidecar's failure tests: the few
//! endpoints the sidecar calls, answered from a table, and switches that
//! make it go down (the port closes), answer slowly, answer HTTP errors,
//! send garbage in the middle of a remote-read stream, or fall back to the
//! sampled remote-read answer. It speaks just enough HTTP/1.1 (one request
//! per connection, `Connection: close`).

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use prost::Message;
use sluice::labels::{self, Matcher};
use sluice::promclient::remote_read::encode_frame;
use sluice::proto::prompb;
use sluice::proto::thanos::Label;

/// How the fake answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Normal,
    /// Wait this long before answering anything.
    Slow(Duration),
    /// Answer every request with HTTP 500 and body `boom`.
    Error,
    /// Send one good remote-read frame, then bytes that are no frame.
    Garbage,
    /// Answer remote read with the sampled (non-streamed) response type.
    Sampled,
}

/// One stored series: labels (sorted) and samples.
pub type Stored = (Vec<Label>, Vec<(i64, f64)>);

/// What the fake holds.
#[derive(Debug, Clone)]
pub struct Data {
    /// The `global:` section's external labels.
    pub external_labels: Vec<(String, String)>,
    /// Stored series (labels sorted) and samples; remote read adds the
    /// external labels as Prometheus does (own labels win).
    pub series: Vec<Stored>,
}

struct Shared {
    mode: Mutex<Mode>,
    data: Mutex<Data>,
    requests: Mutex<Vec<String>>,
}

/// A running fake Prometheus; dropping it stops it.
pub struct FakeProm {
    pub addr: SocketAddr,
    shared: Arc<Shared>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl FakeProm {
    pub fn start(data: Data) -> FakeProm {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = l.local_addr().unwrap();
        let shared = Arc::new(Shared {
            mode: Mutex::new(Mode::Normal),
            data: Mutex::new(data),
            requests: Mutex::new(Vec::new()),
        });
        let mut p = FakeProm {
            addr,
            shared,
            stop: Arc::new(AtomicBool::new(false)),
            thread: None,
        };
        p.run(l);
        p
    }

    fn run(&mut self, l: TcpListener) {
        l.set_nonblocking(true).unwrap();
        let (shared, stop) = (self.shared.clone(), self.stop.clone());
        self.thread = Some(std::thread::spawn(move || {
            while !stop.load(Ordering::Acquire) {
                match l.accept() {
                    Ok((s, _)) => {
                        let shared = shared.clone();
                        std::thread::spawn(move || {
                            let _ = serve(s, &shared);
                        });
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(10)),
                }
            }
        }));
    }

    /// Closes the port (Prometheus is down) or opens it again.
    pub fn set_down(&mut self, down: bool) {
        if down {
            self.stop.store(true, Ordering::Release);
            if let Some(t) = self.thread.take() {
                let _ = t.join();
            }
        } else if self.thread.is_none() {
            self.stop = Arc::new(AtomicBool::new(false));
            let l = TcpListener::bind(self.addr).unwrap();
            self.run(l);
        }
    }

    pub fn set_mode(&self, mode: Mode) {
        *self.shared.mode.lock().unwrap() = mode;
    }

    /// The request lines received so far.
    pub fn requests(&self) -> Vec<String> {
        self.shared.requests.lock().unwrap().clone()
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }
}

impl Drop for FakeProm {
    fn drop(&mut self) {
        self.set_down(true);
    }
}

struct Req {
    method: String,
    path: String,
    query: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

fn read_request(s: &TcpStream) -> std::io::Result<Req> {
    s.set_read_timeout(Some(Duration::from_secs(10)))?;
    let mut r = BufReader::new(s);
    let mut line = String::new();
    r.read_line(&mut line)?;
    let mut parts = line.split_whitespace();
    let method = parts.next().unwrap_or_default().to_string();
    let target = parts.next().unwrap_or_default().to_string();
    let (path, query) = target.split_once('?').unwrap_or((&target, ""));
    let mut headers = Vec::new();
    loop {
        let mut h = String::new();
        r.read_line(&mut h)?;
        let h = h.trim_end();
        if h.is_empty() {
            break;
        }
        if let Some((k, v)) = h.split_once(':') {
            headers.push((k.trim().to_ascii_lowercase(), v.trim().to_string()));
        }
    }
    let len: usize = headers
        .iter()
        .find(|(k, _)| k == "content-length")
        .and_then(|(_, v)| v.parse().ok())
        .unwrap_or(0);
    let mut body = vec![0; len];
    r.read_exact(&mut body)?;
    Ok(Req {
        method,
        path: path.to_string(),
        query: query.to_string(),
        headers,
        body,
    })
}

fn respond(s: &mut TcpStream, status: &str, ctype: &str, body: &[u8]) -> std::io::Result<()> {
    write!(
        s,
        "HTTP/1.1 {status}\r\nContent-Type: {ctype}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    )?;
    s.write_all(body)
}

fn json(s: &mut TcpStream, data: &serde_json::Value) -> std::io::Result<()> {
    let body = serde_json::json!({"status": "success", "data": data}).to_string();
    respond(s, "200 OK", "application/json", body.as_bytes())
}

fn serve(mut s: TcpStream, shared: &Shared) -> std::io::Result<()> {
    let req = read_request(&s)?;
    shared
        .requests
        .lock()
        .unwrap()
        .push(format!("{} {}?{}", req.method, req.path, req.query));
    let mode = *shared.mode.lock().unwrap();
    match mode {
        Mode::Slow(d) => std::thread::sleep(d),
        Mode::Error => return respond(&mut s, "500 Internal Server Error", "text/plain", b"boom"),
        _ => {}
    }
    let data = shared.data.lock().unwrap().clone();
    match (req.method.as_str(), req.path.as_str()) {
        ("GET", "/api/v1/status/buildinfo") => {
            json(&mut s, &serde_json::json!({"version": "2.42.0"}))
        }
        ("GET", "/api/v1/status/config") => {
            let mut yaml = String::from("global:\n  scrape_interval: 15s\n");
            if !data.external_labels.is_empty() {
                yaml.push_str("  external_labels:\n");
                for (k, v) in &data.external_labels {
                    yaml.push_str(&format!("    {k}: {v}\n"));
                }
            }
            json(&mut s, &serde_json::json!({ "yaml": yaml }))
        }
        ("POST", "/api/v1/read") => remote_read(&mut s, &req, &data, mode),
        ("GET", "/api/v1/labels") => {
            let mut names: Vec<String> = data
                .series
                .iter()
                .flat_map(|(l, _)| l.iter().map(|x| x.name.clone()))
                .collect();
            names.sort();
            names.dedup();
            json(&mut s, &serde_json::json!(names))
        }
        ("GET", "/api/v1/series") => {
            let maps: Vec<serde_json::Value> = data
                .series
                .iter()
                .map(|(l, _)| {
                    let m: serde_json::Map<String, serde_json::Value> = l
                        .iter()
                        .map(|x| (x.name.clone(), serde_json::Value::from(x.value.clone())))
                        .collect();
                    serde_json::Value::Object(m)
                })
                .collect();
            json(&mut s, &serde_json::Value::Array(maps))
        }
        _ => respond(&mut s, "404 Not Found", "text/plain", b"404 page not found"),
    }
}

/// Remote read as Prometheus v2.42 answers it: the selected series sorted
/// by their stored labels, external labels merged in, one frame each.
fn remote_read(s: &mut TcpStream, req: &Req, data: &Data, mode: Mode) -> std::io::Result<()> {
    let ok = req
        .headers
        .iter()
        .any(|(k, v)| k == "content-encoding" && v == "snappy");
    let Some(read) = decode_read(&req.body).filter(|_| ok) else {
        return respond(s, "400 Bad Request", "text/plain", b"bad read request");
    };
    let q = &read.queries[0];
    let ms: Vec<Matcher> = q
        .matchers
        .iter()
        .map(|m| {
            let t = sluice::proto::thanos::LabelMatcher {
                r#type: m.r#type,
                name: m.name.clone(),
                value: m.value.clone(),
            };
            Matcher::from_proto(&t).unwrap()
        })
        .collect();
    let mut selected: Vec<&Stored> = data
        .series
        .iter()
        .filter(|(l, _)| labels::matches_all(&ms, l))
        .collect();
    selected.sort_by(|a, b| labels::compare(&a.0, &b.0));
    let ext: Vec<Label> = data
        .external_labels
        .iter()
        .map(|(k, v)| labels::label(k, v))
        .collect();
    let merged = |l: &Vec<Label>| {
        let mut m = l.clone();
        for e in &ext {
            if !m.iter().any(|x| x.name == e.name) {
                m.push(e.clone());
            }
        }
        labels::sort(&mut m);
        m
    };
    if mode == Mode::Sampled {
        let resp = prompb::ReadResponse {
            results: vec![prompb::QueryResult {
                timeseries: selected
                    .iter()
                    .map(|(l, samples)| prompb::TimeSeries {
                        labels: merged(l),
                        samples: samples
                            .iter()
                            .map(|&(t, v)| prompb::Sample {
                                value: v,
                                timestamp: t,
                            })
                            .collect(),
                        ..Default::default()
                    })
                    .collect(),
            }],
        };
        let body = snap::raw::Encoder::new()
            .compress_vec(&resp.encode_to_vec())
            .unwrap();
        return respond(s, "200 OK", "application/x-protobuf", &body);
    }
    write!(
        s,
        "HTTP/1.1 200 OK\r\nContent-Type: application/x-streamed-protobuf; proto=prometheus.ChunkedReadResponse\r\nConnection: close\r\n\r\n"
    )?;
    for (i, (l, samples)) in selected.iter().enumerate() {
        let chunks = samples
            .chunks(120)
            .map(|part| prompb::Chunk {
                min_time_ms: part[0].0,
                max_time_ms: part[part.len() - 1].0,
                r#type: prompb::chunk::Encoding::Xor as i32,
                data: sluice::chunk::xor::encode_all(part).unwrap().into(),
            })
            .collect();
        let frame = prompb::ChunkedReadResponse {
            chunked_series: vec![prompb::ChunkedSeries {
                labels: merged(l),
                chunks,
            }],
            query_index: 0,
        };
        s.write_all(&encode_frame(&frame))?;
        if mode == Mode::Garbage && i == 0 {
            // What Prometheus's http.Error appends to a started stream.
            s.write_all(b"query processing would load too many samples into memory\n")?;
            return Ok(());
        }
    }
    Ok(())
}

fn decode_read(body: &[u8]) -> Option<prompb::ReadRequest> {
    let raw = snap::raw::Decoder::new().decompress_vec(body).ok()?;
    prompb::ReadRequest::decode(raw.as_slice()).ok()
}
