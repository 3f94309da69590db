//! A deliberately tiny HTTP/1.1 server for the Prometheus endpoint:
//! `GET /metrics`, `GET /healthz`, `GET /readyz`, on `metrics-bind`:
//! `metrics-port` (`auto`: an ephemeral port, logged as
//! `Metrics listening addr=<addr>`).
//!
//! One request per connection, answered with `Connection: close`. Every
//! resource is bounded: the request head is at most `MAX_REQUEST` bytes
//! (431 beyond), it must arrive within `READ_TIMEOUT` (408), at most
//! `MAX_CONNECTIONS` are served at once (more are closed at accept), and a
//! request that is not well-formed HTTP/1.x gets 400. Only GET is served
//! (405 otherwise); unknown paths get 404.

use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;
use tokio::task::JoinHandle;

use super::MetricsPort;
use crate::shared::Shared;

/// Largest request head accepted.
pub const MAX_REQUEST: usize = 8 * 1024;
/// Time allowed to send the request head.
pub const READ_TIMEOUT: Duration = Duration::from_secs(5);
/// Time allowed to take the response.
const WRITE_TIMEOUT: Duration = Duration::from_secs(10);
/// Connections served at once.
pub const MAX_CONNECTIONS: usize = 64;

/// A response: status, content type, body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    /// HTTP status code.
    pub status: u16,
    /// `Content-Type`.
    pub content_type: &'static str,
    /// Extra header lines (without CRLF).
    pub extra: Vec<String>,
    /// Body.
    pub body: String,
}

impl Response {
    fn text(status: u16, body: &str) -> Self {
        Self {
            status,
            content_type: "text/plain; charset=utf-8",
            extra: Vec::new(),
            body: body.to_string(),
        }
    }

    /// The bytes on the wire.
    pub fn to_bytes(&self) -> Vec<u8> {
        let reason = match self.status {
            200 => "OK",
            400 => "Bad Request",
            404 => "Not Found",
            405 => "Method Not Allowed",
            408 => "Request Timeout",
            431 => "Request Header Fields Too Large",
            503 => "Service Unavailable",
            _ => "Unknown",
        };
        let mut head = format!(
            "HTTP/1.1 {} {reason}\r\nContent-Type: {}\r\nContent-Length: {}\r\nConnection: close\r\n",
            self.status,
            self.content_type,
            self.body.len()
        );
        for h in &self.extra {
            head.push_str(h);
            head.push_str("\r\n");
        }
        head.push_str("\r\n");
        let mut v = head.into_bytes();
        v.extend_from_slice(self.body.as_bytes());
        v
    }
}

/// A parsed request line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    /// Method (`GET`).
    pub method: String,
    /// Path without the query string.
    pub path: String,
}

fn is_token(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
}

/// Parses a request head (everything before the blank line). `None` when
/// it is not well-formed HTTP/1.0 or 1.1.
pub fn parse_head(head: &[u8]) -> Option<Request> {
    let text = std::str::from_utf8(head).ok()?;
    let mut lines = text.split('\n').map(|l| l.strip_suffix('\r').unwrap_or(l));
    let mut parts = lines.next()?.split(' ');
    let (method, target, version) = (parts.next()?, parts.next()?, parts.next()?);
    if parts.next().is_some() || !is_token(method) || !matches!(version, "HTTP/1.0" | "HTTP/1.1") {
        return None;
    }
    if !target.starts_with('/') || target.bytes().any(|b| b.is_ascii_control()) {
        return None;
    }
    for line in lines {
        if line.is_empty() {
            continue;
        }
        let (name, _) = line.split_once(':')?;
        if !is_token(name) {
            return None;
        }
    }
    let path = target.split_once('?').map_or(target, |(p, _)| p);
    Some(Request {
        method: method.to_string(),
        path: path.to_string(),
    })
}

/// Answers a parsed request.
pub fn respond(shared: &Shared, req: &Request) -> Response {
    if req.method != "GET" {
        let mut r = Response::text(405, "method not allowed\n");
        r.extra.push("Allow: GET".into());
        return r;
    }
    match req.path.as_str() {
        "/metrics" => Response {
            status: 200,
            content_type: "text/plain; version=0.0.4; charset=utf-8",
            extra: Vec::new(),
            body: super::metrics::render(shared),
        },
        "/healthz" => Response::text(200, "ok\n"),
        "/readyz" => {
            if shared.observe.is_ready(shared) {
                Response::text(200, "ready\n")
            } else {
                Response::text(503, "not ready\n")
            }
        }
        _ => Response::text(404, "not found\n"),
    }
}

/// Where the head ends (index just past the blank line), if it has.
fn head_end(buf: &[u8]) -> Option<usize> {
    let crlf = buf.windows(4).position(|w| w == b"\r\n\r\n").map(|i| i + 4);
    let lf = buf.windows(2).position(|w| w == b"\n\n").map(|i| i + 2);
    match (crlf, lf) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

enum ReadOutcome {
    Head(Vec<u8>),
    TooLarge,
    Truncated,
    Closed,
}

async fn read_head(stream: &mut TcpStream) -> ReadOutcome {
    let mut buf = Vec::with_capacity(1024);
    let mut chunk = [0u8; 1024];
    loop {
        let n = match stream.read(&mut chunk).await {
            Ok(n) => n,
            Err(_) => return ReadOutcome::Closed,
        };
        if n == 0 {
            return if buf.is_empty() {
                ReadOutcome::Closed
            } else {
                ReadOutcome::Truncated
            };
        }
        buf.extend_from_slice(chunk.get(..n).unwrap_or_default());
        if let Some(end) = head_end(&buf) {
            if end > MAX_REQUEST {
                return ReadOutcome::TooLarge;
            }
            buf.truncate(end);
            return ReadOutcome::Head(buf);
        }
        if buf.len() >= MAX_REQUEST {
            return ReadOutcome::TooLarge;
        }
    }
}

async fn serve_one(shared: Arc<Shared>, mut stream: TcpStream) {
    let response = match tokio::time::timeout(READ_TIMEOUT, read_head(&mut stream)).await {
        Err(_) => Response::text(408, "request timeout\n"),
        Ok(ReadOutcome::Closed) => return,
        Ok(ReadOutcome::TooLarge) => Response::text(431, "request too large\n"),
        Ok(ReadOutcome::Truncated) => Response::text(400, "bad request\n"),
        Ok(ReadOutcome::Head(head)) => match parse_head(&head) {
            Some(req) => respond(&shared, &req),
            None => Response::text(400, "bad request\n"),
        },
    };
    let bytes = response.to_bytes();
    let _ = tokio::time::timeout(WRITE_TIMEOUT, stream.write_all(&bytes)).await;
    let _ = stream.shutdown().await;
}

async fn accept_loop(shared: Arc<Shared>, listener: TcpListener) {
    let permits = Arc::new(Semaphore::new(MAX_CONNECTIONS));
    loop {
        let stream = match listener.accept().await {
            Ok((s, _)) => s,
            Err(e) => {
                // EMFILE and friends: back off instead of spinning.
                tracing::warn!(error = %e, "metrics accept failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        // Over the limit the connection is closed at once: a scraper
        // retries, and a flood cannot pile up tasks.
        let Ok(permit) = permits.clone().try_acquire_owned() else {
            continue;
        };
        let shared = shared.clone();
        tokio::spawn(async move {
            serve_one(shared, stream).await;
            drop(permit);
        });
    }
}

/// Binds the metrics endpoint if `metrics-port` asks for one and serves it
/// in a task (the caller aborts it at the end of shutdown, so `/readyz`
/// answers 503 while connections drain).
pub async fn start(shared: &Arc<Shared>) -> std::io::Result<Option<JoinHandle<()>>> {
    let cfg = shared.config().observe;
    let port = match cfg.metrics_port {
        MetricsPort::Off => return Ok(None),
        MetricsPort::Auto => 0,
        MetricsPort::Port(p) => p,
    };
    let host = cfg.metrics_bind;
    let target = if host.contains(':') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    };
    let listener = TcpListener::bind(&target).await.map_err(|e| {
        std::io::Error::new(
            e.kind(),
            format!("could not bind metrics address {target}: {e}"),
        )
    })?;
    let addr = listener.local_addr()?;
    shared.observe.set_metrics_addr(addr);
    tracing::info!("Metrics listening addr={addr}");
    Ok(Some(tokio::spawn(accept_loop(shared.clone(), listener))))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_parsing() {
        let r = parse_head(b"GET /metrics?x=1 HTTP/1.1\r\nHost: a\r\nAccept: */*\r\n\r\n").unwrap();
        assert_eq!(
            r,
            Request {
                method: "GET".into(),
                path: "/metrics".into()
            }
        );
        assert!(parse_head(b"GET /metrics HTTP/1.0\n\n").is_some());
        for bad in [
            &b"garbage\r\n\r\n"[..],
            b"GET /metrics\r\n\r\n",
            b"GET metrics HTTP/1.1\r\n\r\n",
            b"GET /metrics HTTP/2\r\n\r\n",
            b"GET  /metrics HTTP/1.1\r\n\r\n",
            b"GET /metrics HTTP/1.1\r\nno colon here\r\n\r\n",
            b"GET /metrics HTTP/1.1\r\nBad Name: x\r\n\r\n",
            b"G\xffT /metrics HTTP/1.1\r\n\r\n",
        ] {
            assert!(
                parse_head(bad).is_none(),
                "{:?}",
                String::from_utf8_lossy(bad)
            );
        }
    }

    #[test]
    fn routes() {
        let shared = Shared::new(crate::ServerConfig::default());
        let get = |p: &str| {
            respond(
                &shared,
                &Request {
                    method: "GET".into(),
                    path: p.into(),
                },
            )
        };
        assert_eq!(get("/healthz").status, 200);
        assert_eq!(get("/nope").status, 404);
        assert_eq!(
            get("/readyz").status,
            503,
            "not ready before the listeners run"
        );
        shared.observe.set_ready(true);
        assert_eq!(get("/readyz").status, 200);
        shared.shutdown.send_replace(true);
        assert_eq!(get("/readyz").status, 503, "not ready once shutdown begins");
        assert_eq!(get("/healthz").status, 200);
        let m = get("/metrics");
        assert_eq!(m.status, 200);
        assert!(m.content_type.starts_with("text/plain; version=0.0.4"));
        let post = respond(
            &shared,
            &Request {
                method: "POST".into(),
                path: "/metrics".into(),
            },
        );
        assert_eq!(post.status, 405);
        let wire = String::from_utf8(post.to_bytes()).unwrap();
        assert!(wire.starts_with("HTTP/1.1 405 Method Not Allowed\r\n"));
        assert!(wire.contains("\r\nAllow: GET\r\n") && wire.contains("Content-Length: 19\r\n"));
    }

    #[test]
    fn head_end_detection() {
        assert_eq!(head_end(b"GET / HTTP/1.1\r\n\r\nbody"), Some(18));
        assert_eq!(head_end(b"GET / HTTP/1.1\n\n"), Some(16));
        assert_eq!(head_end(b"GET / HTTP/1.1\r\n"), None);
    }
}
