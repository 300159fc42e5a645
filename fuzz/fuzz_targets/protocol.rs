//! The partner protocol's request parsing, as a receiver sees a request: the four
//! signed headers, the relative paths a push names, and the JSON bodies.
#![no_main]

use hotpush::core::protocol::{
    check_relative_path, parse_headers, verify, CommitRequest, LackingRequest, NonceCache,
    HEADER_CONTENT_SHA256, HEADER_NONCE, HEADER_SIGNATURE, HEADER_TIMESTAMP,
};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = serde_json::from_slice::<LackingRequest>(data);
    if let Ok(commit) = serde_json::from_slice::<CommitRequest>(data) {
        let _ = commit;
    }
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let lines: Vec<&str> = text.split('\n').collect();
    for line in &lines {
        let _ = check_relative_path(line);
    }
    let get = |name: &str| {
        let i = [HEADER_TIMESTAMP, HEADER_NONCE, HEADER_CONTENT_SHA256, HEADER_SIGNATURE]
            .iter()
            .position(|h| *h == name)?;
        lines.get(i).copied()
    };
    if let Ok(signed) = parse_headers(get) {
        let mut nonces = NonceCache::default();
        let path = lines.get(4).copied().unwrap_or("/");
        let _ = verify(b"secret", "PUT", path, &signed, signed.timestamp_secs, &mut nonces);
    }
});
