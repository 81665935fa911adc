//! A very small blocking HTTP/1.1 server for `/metrics` and the admin API.
//!
//! Both endpoints see a handful of requests a minute (a scraper, an operator),
//! so they run on their own plain threads, never on a data core, and need
//! neither keep-alive nor chunked bodies: one request per connection
//! (`Connection: close`), bodies by `Content-Length` only, bounded header and
//! body sizes, read/write timeouts, and a cap on connections served at once.
//! Writing this (about 200 lines) was preferred to pulling an HTTP stack in.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// Longest request head (request line and headers) accepted.
const HEAD_BYTES_MAX: usize = 16 << 10;
/// Largest request body accepted.
pub const BODY_BYTES_MAX: usize = 1 << 20;
/// Connections served at the same time; more get 503.
const CONNECTIONS_MAX: usize = 32;
/// Read and write timeout of one connection.
const IO_TIMEOUT_MS: u64 = 10_000;

/// One parsed request.
#[derive(Debug, Clone, Default)]
pub struct Request {
    pub method: String,
    /// Path without the query string.
    pub path: String,
    pub query: String,
    /// Header names in lower case.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    pub peer: Option<SocketAddr>,
}

impl Request {
    /// First header named `name` (lower case).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

/// A response; the body is sent with `Content-Length`.
#[derive(Debug, Clone)]
pub struct Response {
    pub status: u16,
    pub content_type: &'static str,
    pub body: Vec<u8>,
    /// Extra headers (e.g. `WWW-Authenticate`).
    pub headers: Vec<(&'static str, String)>,
}

impl Response {
    pub fn new(status: u16, content_type: &'static str, body: impl Into<Vec<u8>>) -> Response {
        Response {
            status,
            content_type,
            body: body.into(),
            headers: Vec::new(),
        }
    }

    pub fn json(status: u16, value: &serde_json::Value) -> Response {
        let mut body = serde_json::to_vec_pretty(value).unwrap_or_else(|_| b"{}".to_vec());
        body.push(b'\n');
        Response::new(status, "application/json", body)
    }

    /// `{"error": message}` with `status`.
    pub fn error(status: u16, message: impl Into<String>) -> Response {
        Response::json(status, &serde_json::json!({ "error": message.into() }))
    }
}

fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        201 => "Created",
        202 => "Accepted",
        204 => "No Content",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        409 => "Conflict",
        413 => "Payload Too Large",
        500 => "Internal Server Error",
        501 => "Not Implemented",
        503 => "Service Unavailable",
        _ => "Status",
    }
}

/// What serves requests.
pub type Handler = Arc<dyn Fn(&Request) -> Response + Send + Sync>;

/// Serves `listener` on a thread named `name` for the rest of the process.
pub fn serve(listener: TcpListener, name: &str, handler: Handler) -> std::io::Result<()> {
    let active = Arc::new(AtomicUsize::new(0));
    let thread_name = name.to_owned();
    std::thread::Builder::new()
        .name(thread_name.clone())
        .spawn(move || {
            for stream in listener.incoming() {
                let Ok(mut stream) = stream else { continue };
                if active.fetch_add(1, Ordering::SeqCst) >= CONNECTIONS_MAX {
                    active.fetch_sub(1, Ordering::SeqCst);
                    let _ = write_response(&mut stream, &Response::error(503, "busy"));
                    continue;
                }
                let (handler, active) = (handler.clone(), active.clone());
                let spawned = std::thread::Builder::new()
                    .name(format!("{thread_name}-conn"))
                    .spawn(move || {
                        serve_one(stream, &handler);
                        active.fetch_sub(1, Ordering::SeqCst);
                    });
                if spawned.is_err() {
                    log::warn!("{thread_name}: cannot start a connection thread");
                }
            }
        })?;
    Ok(())
}

fn serve_one(mut stream: TcpStream, handler: &Handler) {
    let timeout = Some(Duration::from_millis(IO_TIMEOUT_MS));
    let _ = stream.set_read_timeout(timeout);
    let _ = stream.set_write_timeout(timeout);
    let response = match read_request(&mut stream) {
        Ok(mut req) => {
            req.peer = stream.peer_addr().ok();
            handler(&req)
        }
        Err(resp) => resp,
    };
    let _ = write_response(&mut stream, &response);
}

/// Reads one request; an error is the response to send instead.
pub fn read_request(stream: &mut impl Read) -> Result<Request, Response> {
    let mut reader = BufReader::new(stream);
    let mut head_bytes = 0usize;
    let mut line = String::new();
    let mut read_line = |reader: &mut BufReader<_>, line: &mut String| {
        line.clear();
        let n = reader
            .by_ref()
            .take((HEAD_BYTES_MAX - head_bytes.min(HEAD_BYTES_MAX)) as u64)
            .read_line(line)
            .map_err(|_| Response::error(400, "cannot read the request"))?;
        head_bytes += n;
        if n == 0 || !line.ends_with('\n') {
            return Err(Response::error(400, "request head too long or truncated"));
        }
        Ok(line.trim_end_matches(['\r', '\n']).to_owned())
    };
    let request_line = read_line(&mut reader, &mut line)?;
    let mut parts = request_line.split(' ');
    let (Some(method), Some(target), Some(version)) = (parts.next(), parts.next(), parts.next())
    else {
        return Err(Response::error(400, "malformed request line"));
    };
    if !version.starts_with("HTTP/1.") {
        return Err(Response::error(400, "only HTTP/1.x is served"));
    }
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    let mut req = Request {
        method: method.to_owned(),
        path: path.to_owned(),
        query: query.to_owned(),
        ..Request::default()
    };
    loop {
        let header = read_line(&mut reader, &mut line)?;
        if header.is_empty() {
            break;
        }
        let Some((name, value)) = header.split_once(':') else {
            return Err(Response::error(400, "malformed header"));
        };
        req.headers
            .push((name.trim().to_ascii_lowercase(), value.trim().to_owned()));
    }
    if req.header("transfer-encoding").is_some() {
        return Err(Response::error(400, "send the body with Content-Length"));
    }
    let len = match req.header("content-length") {
        None => 0,
        Some(v) => v
            .parse::<usize>()
            .map_err(|_| Response::error(400, "bad Content-Length"))?,
    };
    if len > BODY_BYTES_MAX {
        return Err(Response::error(413, "request body too large"));
    }
    req.body = vec![0; len];
    reader
        .read_exact(&mut req.body)
        .map_err(|_| Response::error(400, "request body shorter than Content-Length"))?;
    Ok(req)
}

/// Writes `resp` and closes the exchange.
pub fn write_response(stream: &mut impl Write, resp: &Response) -> std::io::Result<()> {
    let mut head = format!(
        "HTTP/1.1 {} {}\r\nContent-Type: {}\r\nContent-Length: {}\r\nConnection: close\r\n",
        resp.status,
        reason(resp.status),
        resp.content_type,
        resp.body.len()
    );
    for (name, value) in &resp.headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str("\r\n");
    stream.write_all(head.as_bytes())?;
    stream.write_all(&resp.body)?;
    stream.flush()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_a_request_with_a_body() {
        let raw = b"POST /api/v1/users?x=1 HTTP/1.1\r\nHost: a\r\nContent-Length: 4\r\nAuthorization: Bearer t\r\n\r\nabcdEXTRA";
        let req = read_request(&mut &raw[..]).unwrap();
        assert_eq!(req.method, "POST");
        assert_eq!(req.path, "/api/v1/users");
        assert_eq!(req.query, "x=1");
        assert_eq!(req.header("authorization"), Some("Bearer t"));
        assert_eq!(req.body, b"abcd");
    }

    #[test]
    fn refuses_garbage_and_oversized_bodies() {
        assert_eq!(
            read_request(&mut &b"nonsense\r\n\r\n"[..])
                .unwrap_err()
                .status,
            400
        );
        let big = format!(
            "PUT / HTTP/1.1\r\nContent-Length: {}\r\n\r\n",
            BODY_BYTES_MAX + 1
        );
        assert_eq!(read_request(&mut big.as_bytes()).unwrap_err().status, 413);
        let short = b"PUT / HTTP/1.1\r\nContent-Length: 10\r\n\r\nab";
        assert_eq!(read_request(&mut &short[..]).unwrap_err().status, 400);
        let long = format!(
            "GET / HTTP/1.1\r\nX: {}\r\n\r\n",
            "a".repeat(HEAD_BYTES_MAX)
        );
        assert_eq!(read_request(&mut long.as_bytes()).unwrap_err().status, 400);
    }

    #[test]
    fn response_has_length_and_close() {
        let mut out = Vec::new();
        write_response(&mut out, &Response::error(404, "no such user")).unwrap();
        let text = String::from_utf8(out).unwrap();
        assert!(text.starts_with("HTTP/1.1 404 Not Found\r\n"));
        assert!(text.contains("Connection: close\r\n"));
        let body = text.split("\r\n\r\n").nth(1).unwrap();
        assert!(text.contains(&format!("Content-Length: {}\r\n", body.len())));
        let v: serde_json::Value = serde_json::from_str(body).unwrap();
        assert_eq!(v["error"], "no such user");
    }
}
