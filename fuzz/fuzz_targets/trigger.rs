//! The build-system trigger as `POST /api/v1/triggers/{name}` reads it: the
//! Standard Webhooks headers (`core::webhook::verify`, any timestamp and
//! clock), the JSON body into `TriggerRequest`, and every package it names
//! turned into URLs under a fixed `fetch_base` (`core::trigger::fetch_items`);
//! also `parse_base` and `check_under_base` on arbitrary text. What must hold:
//! no panic, and every accepted package's URL lies under the base (checked
//! again on the parsed URL) with a plain file name that is its last segment.
#![no_main]

use hotpush::core::api::TriggerRequest;
use hotpush::core::trigger::{check_under_base, fetch_items, parse_base};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    // Headers: the first three lines (id, timestamp, signature), the rest the body.
    let mut parts = data.splitn(4, |b| *b == b'\n');
    let id = String::from_utf8_lossy(parts.next().unwrap_or_default());
    let ts = String::from_utf8_lossy(parts.next().unwrap_or_default());
    let sig = String::from_utf8_lossy(parts.next().unwrap_or_default());
    let body = parts.next().unwrap_or_default();
    let now = u64::from_le_bytes(
        data.iter()
            .copied()
            .chain(std::iter::repeat(0))
            .take(8)
            .collect::<Vec<u8>>()
            .try_into()
            .unwrap(),
    );
    let _ = hotpush::core::webhook::verify(b"a fuzzing key", &id, &ts, &sig, body, now);

    let base = parse_base("https://kojipkgs.example.org/koji/").unwrap();
    if let Ok(req) = serde_json::from_slice::<TriggerRequest>(body) {
        if let Ok(items) = fetch_items(&base, &req.builds, &req.urls) {
            for item in items {
                let url = url::Url::parse(&item.url).expect("an accepted URL parses");
                check_under_base(&base, &url).expect("an accepted URL is under fetch_base");
                assert!(!item.file_name.contains('/') && !item.file_name.is_empty());
                assert!(url.path().ends_with(&format!("/{}", item.file_name)));
            }
        }
    }
    // Arbitrary text as a base and as a URL under it.
    if let Ok(text) = std::str::from_utf8(data) {
        if let Ok(b) = parse_base(text) {
            assert!(b.path().ends_with('/'));
        }
        if let Ok(u) = url::Url::parse(text) {
            let _ = check_under_base(&base, &u);
        }
    }
});
