//! The read path's fast lane (`io::lane`): arbitrary bytes as what a client
//! sent on a new connection. What must hold: no panic; a head the lane takes
//! is within the bytes and `HEAD_BYTES_MAX`, is `GET` or `HEAD`, its path
//! starts with `/` and has nothing percent-encoded, and it carries none of
//! the headers that make a request not plain (body, range, upgrade,
//! expectation); the same bytes cut at the head's end parse to the same head.
//! An answer echoing the request's header values is written with exactly one
//! blank line, at its end (no header value can end the head early).
#![no_main]

use hotpush::io::lane::{encode, parse, Answer, Parsed, HEAD_BYTES_MAX};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Parsed::Lane(head) = parse(data) else {
        return;
    };
    assert!(head.len <= data.len() && head.len <= HEAD_BYTES_MAX);
    let req = &head.req;
    assert!(req.method() == "GET" || req.method() == "HEAD");
    let target = req.uri().path_and_query().unwrap().as_str();
    assert!(target.starts_with('/') && !target.contains('%'), "{target:?}");
    for name in [
        "content-length",
        "transfer-encoding",
        "expect",
        "upgrade",
        "range",
        "if-range",
    ] {
        assert!(!req.headers().contains_key(name), "{name}");
    }
    match parse(&data[..head.len]) {
        Parsed::Lane(again) => {
            assert_eq!(again.len, head.len);
            assert_eq!(again.req.uri(), req.uri());
            assert_eq!(again.close, head.close);
        }
        other => panic!("the head alone parses to {other:?}"),
    }
    let mut answer = Answer::new(bytes::Bytes::from_static(b"body"));
    for (name, value) in req.headers() {
        answer.headers_mut().append(name.clone(), value.clone());
    }
    let (bytes, body) = encode(&answer, req.method() == "HEAD", head.close);
    let blank = bytes.windows(4).filter(|w| *w == b"\r\n\r\n").count();
    assert_eq!(blank, 1);
    assert!(bytes.ends_with(b"\r\n\r\n"));
    assert!(body.len() <= 4);
});
