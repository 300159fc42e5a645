//! The fast lane of the read path: what every fleet check and every package
//! download asks (`GET`/`HEAD` of the metalink, repomd.xml and `/pub` files)
//! answered from memory without hyper, axum or a task per request.
//!
//! A service hands [`io::serve`](crate::io::serve) a [`Lane`]: a function
//! from a plain request head to an [`Answer`] (`None`: not mine, hyper takes
//! the connection). The service's axum handlers build their responses with
//! the same functions, so both paths give the same status, headers and
//! bytes; `tests/it/lane.rs` compares them.
//!
//! This module parses a head ([`parse`]) and writes an answer ([`encode`]).
//! Only a plain head is the lane's: `GET` or `HEAD`, HTTP/1.0 or 1.1, a path
//! with nothing percent-encoded, at most [`HEADERS_MAX`] headers within
//! [`HEAD_BYTES_MAX`], and no header that asks for a body, a range, an
//! upgrade or an expectation. Anything else, including every malformed head,
//! goes to hyper with the bytes already read, so the lane never has to
//! refuse a request.
use std::cell::RefCell;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use axum::http::{self, header, HeaderMap, HeaderName, HeaderValue, Method, StatusCode, Version};
use bytes::Bytes;

/// A complete answer from memory: status, headers and body.
pub type Answer = http::Response<Bytes>;

/// A service's fast lane: `Some` answers the request, `None` hands it to
/// hyper. Called on the listener's accept threads and in connection tasks,
/// so it must not block for long (memory, a `stat`, a small cached read).
pub type Lane = Arc<dyn Fn(&http::Request<()>) -> Option<Answer> + Send + Sync>;

/// Attached to an [`Answer`] whose body is the whole of this file (the very
/// bytes read from it): a plain TCP connection sends them with `sendfile(2)`
/// instead of copying them from memory.
#[derive(Debug, Clone)]
pub struct FileBody(pub Arc<std::fs::File>);

/// A request head longer than this goes to hyper.
pub const HEAD_BYTES_MAX: usize = 8 * 1024;
/// A request with more headers than this goes to hyper.
pub const HEADERS_MAX: usize = 32;

/// An [`Answer`] as an axum response, for the handlers that share it.
pub fn into_response(answer: Answer) -> axum::response::Response {
    answer.map(axum::body::Body::from)
}

/// What the bytes read so far hold. (Returned once per request and matched
/// at once: the size of the `Lane` variant costs nothing a box would save.)
#[derive(Debug)]
#[allow(clippy::large_enum_variant)]
pub enum Parsed {
    /// Not a whole head yet (and still within [`HEAD_BYTES_MAX`]).
    Partial,
    /// Not the lane's: hyper answers it (also every malformed head).
    Other,
    /// A plain head.
    Lane(LaneHead),
}

/// A plain request head and what the connection does after it.
#[derive(Debug)]
pub struct LaneHead {
    /// Method, URI, version and headers; no body.
    pub req: http::Request<()>,
    /// Bytes of the head, up to and including its blank line.
    pub len: usize,
    /// The client asked to close after this answer (`Connection: close`, or
    /// HTTP/1.0, which the lane never keeps alive).
    pub close: bool,
}

/// Headers that make a request not the lane's.
fn not_plain(name: &HeaderName) -> bool {
    name == header::CONTENT_LENGTH
        || name == header::TRANSFER_ENCODING
        || name == header::EXPECT
        || name == header::UPGRADE
        || name == header::RANGE
        || name == header::IF_RANGE
}

/// Reads one request head from the start of `buf`.
pub fn parse(buf: &[u8]) -> Parsed {
    let mut headers = [httparse::EMPTY_HEADER; HEADERS_MAX];
    let mut p = httparse::Request::new(&mut headers);
    let len = match p.parse(buf) {
        Ok(httparse::Status::Complete(len)) if len <= HEAD_BYTES_MAX => len,
        Ok(httparse::Status::Partial) if buf.len() < HEAD_BYTES_MAX => return Parsed::Partial,
        _ => return Parsed::Other,
    };
    let method = match p.method {
        Some("GET") => Method::GET,
        Some("HEAD") => Method::HEAD,
        _ => return Parsed::Other,
    };
    let version = match p.version {
        Some(1) => Version::HTTP_11,
        Some(0) => Version::HTTP_10,
        _ => return Parsed::Other,
    };
    let Some(path) = p
        .path
        .filter(|p| p.starts_with('/') && !p.contains(['%', '#']))
    else {
        return Parsed::Other;
    };
    let Ok(uri) = http::Uri::try_from(path) else {
        return Parsed::Other;
    };
    let mut close = version == Version::HTTP_10;
    let mut map = HeaderMap::with_capacity(p.headers.len());
    for h in p.headers.iter() {
        let (Ok(name), Ok(value)) = (
            HeaderName::from_bytes(h.name.as_bytes()),
            HeaderValue::from_bytes(h.value),
        ) else {
            return Parsed::Other;
        };
        if not_plain(&name) {
            return Parsed::Other;
        }
        if name == header::CONNECTION
            && h.value
                .split(|b| *b == b',')
                .any(|t| t.trim_ascii().eq_ignore_ascii_case(b"close"))
        {
            close = true;
        }
        map.append(name, value);
    }
    let mut req = http::Request::new(());
    *req.method_mut() = method;
    *req.uri_mut() = uri;
    *req.version_mut() = version;
    *req.headers_mut() = map;
    Parsed::Lane(LaneHead { req, len, close })
}

/// The bytes of `answer` on the wire: its head, and its body (empty for a
/// `HEAD` request, a 304 or a 204). Adds `Date`, a `Content-Length` when the
/// answer has none, and `Connection: close` when `close`; drops any
/// `Connection` or `Transfer-Encoding` the answer carries.
pub fn encode(answer: &Answer, head_only: bool, close: bool) -> (Vec<u8>, Bytes) {
    let status = answer.status();
    let bodiless = status == StatusCode::NOT_MODIFIED
        || status == StatusCode::NO_CONTENT
        || status.is_informational();
    let mut out = Vec::with_capacity(256);
    out.extend_from_slice(b"HTTP/1.1 ");
    out.extend_from_slice(status.as_str().as_bytes());
    out.push(b' ');
    out.extend_from_slice(status.canonical_reason().unwrap_or("").as_bytes());
    out.extend_from_slice(b"\r\n");
    for (name, value) in answer.headers() {
        if name == header::CONNECTION || name == header::TRANSFER_ENCODING || name == header::DATE {
            continue;
        }
        push_header(&mut out, name.as_str().as_bytes(), value.as_bytes());
    }
    with_http_date(|date| push_header(&mut out, b"date", date));
    if !bodiless && !answer.headers().contains_key(header::CONTENT_LENGTH) {
        let len = answer.body().len().to_string();
        push_header(&mut out, b"content-length", len.as_bytes());
    }
    if close {
        push_header(&mut out, b"connection", b"close");
    }
    out.extend_from_slice(b"\r\n");
    let body = if head_only || bodiless {
        Bytes::new()
    } else {
        answer.body().clone()
    };
    (out, body)
}

fn push_header(out: &mut Vec<u8>, name: &[u8], value: &[u8]) {
    out.extend_from_slice(name);
    out.extend_from_slice(b": ");
    out.extend_from_slice(value);
    out.extend_from_slice(b"\r\n");
}

/// The IMF-fixdate of now, formatted once per second per thread.
fn with_http_date<R>(f: impl FnOnce(&[u8]) -> R) -> R {
    thread_local! {
        static DATE: RefCell<(u64, String)> = const { RefCell::new((u64::MAX, String::new())) };
    }
    let now = SystemTime::now();
    let secs = now.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
    DATE.with(|d| {
        let mut d = d.borrow_mut();
        if d.0 != secs {
            *d = (secs, httpdate::fmt_http_date(now));
        }
        f(d.1.as_bytes())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lane(head: &str) -> LaneHead {
        match parse(head.as_bytes()) {
            Parsed::Lane(h) => h,
            other => panic!("{head:?}: {other:?}"),
        }
    }

    fn is_other(head: &str) -> bool {
        matches!(parse(head.as_bytes()), Parsed::Other)
    }

    #[test]
    fn a_plain_head_is_the_lanes_with_its_length_and_close() {
        let head = "GET /metalink?repo=critical-f43&arch=x86_64 HTTP/1.1\r\nHost: h\r\nIf-None-Match: W/\"a\"\r\n\r\nGET /next";
        let h = lane(head);
        assert_eq!(h.len, head.find("GET /next").unwrap());
        assert_eq!(h.req.method(), Method::GET);
        assert_eq!(h.req.uri().path(), "/metalink");
        assert_eq!(h.req.uri().query(), Some("repo=critical-f43&arch=x86_64"));
        assert_eq!(h.req.headers()[header::IF_NONE_MATCH], "W/\"a\"");
        assert!(!h.close);
        assert!(lane("HEAD /x HTTP/1.1\r\nConnection: keep-alive, Close\r\n\r\n").close);
        assert!(lane("GET /x HTTP/1.0\r\n\r\n").close);
        assert!(!lane("GET /x HTTP/1.1\r\nConnection: closed\r\n\r\n").close);
    }

    #[test]
    fn everything_but_a_plain_head_goes_to_hyper() {
        for head in [
            "POST /x HTTP/1.1\r\n\r\n",
            "PUT /x HTTP/1.1\r\n\r\n",
            "OPTIONS * HTTP/1.1\r\n\r\n",
            "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n",
            "GET http://h/x HTTP/1.1\r\n\r\n",
            "GET /pub/a%2e%2e/b HTTP/1.1\r\n\r\n",
            "GET /x#frag HTTP/1.1\r\n\r\n",
            "GET /x HTTP/1.1\r\nContent-Length: 0\r\n\r\n",
            "GET /x HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n",
            "GET /x HTTP/1.1\r\nExpect: 100-continue\r\n\r\n",
            "GET /x HTTP/1.1\r\nUpgrade: h2c\r\n\r\n",
            "GET /x HTTP/1.1\r\nRange: bytes=0-1\r\n\r\n",
            "GET /x HTTP/1.1\r\nIf-Range: \"a\"\r\n\r\n",
            "GET /x HTTP/1.1\r\nBad Name: v\r\n\r\n",
            "GET /x HTTP/1.1\r\nX: a\rb\r\n\r\n",
            "get /x HTTP/1.1\r\n\r\n",
        ] {
            assert!(is_other(head), "{head:?} went to the lane");
        }
        let many: String = (0..=HEADERS_MAX).map(|i| format!("X-{i}: v\r\n")).collect();
        assert!(is_other(&format!("GET /x HTTP/1.1\r\n{many}\r\n")));
        let long = format!("GET /{} HTTP/1.1\r\n\r\n", "a".repeat(HEAD_BYTES_MAX));
        assert!(is_other(&long));
        assert!(
            is_other(&long[..HEAD_BYTES_MAX + 1]),
            "too long and not whole"
        );
    }

    #[test]
    fn a_head_not_yet_whole_waits() {
        for head in [
            "",
            "G",
            "GET /x HTTP/1.1\r\n",
            "GET /x HTTP/1.1\r\nHost: h\r\n",
        ] {
            assert!(
                matches!(parse(head.as_bytes()), Parsed::Partial),
                "{head:?}"
            );
        }
    }

    fn text(answer: &Answer, head_only: bool, close: bool) -> (String, Bytes) {
        let (head, body) = encode(answer, head_only, close);
        (String::from_utf8(head).unwrap(), body)
    }

    #[test]
    fn an_answer_is_written_with_date_length_and_close() {
        let mut a = Answer::new(Bytes::from_static(b"hello"));
        a.headers_mut()
            .insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain"));
        a.headers_mut()
            .insert(header::CONNECTION, HeaderValue::from_static("keep-alive"));
        let (head, body) = text(&a, false, false);
        assert!(head.starts_with("HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ndate: "));
        assert!(
            head.ends_with(" GMT\r\ncontent-length: 5\r\n\r\n"),
            "{head}"
        );
        assert!(!head.contains("keep-alive"));
        assert_eq!(body, "hello");
        let date = head.lines().find_map(|l| l.strip_prefix("date: ")).unwrap();
        assert!(httpdate::parse_http_date(date).is_ok(), "{date}");

        let (head, body) = text(&a, true, true);
        assert!(head.ends_with("content-length: 5\r\nconnection: close\r\n\r\n"));
        assert!(body.is_empty(), "HEAD sends no body");

        let mut nm = Answer::new(Bytes::new());
        *nm.status_mut() = StatusCode::NOT_MODIFIED;
        nm.headers_mut()
            .insert(header::ETAG, HeaderValue::from_static("\"x\""));
        let (head, body) = text(&nm, false, false);
        assert!(head.starts_with("HTTP/1.1 304 Not Modified\r\netag: \"x\"\r\ndate: "));
        assert!(!head.contains("content-length"), "{head}");
        assert!(body.is_empty());
    }
}
