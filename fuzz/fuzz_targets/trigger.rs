//! The build-system trigger's request rules (`core::trigger`): a JSON body read
//! as the trigger request type and turned into fetch items against a fixed
//! `fetch_base`, and `parse_base` and `check_under_base` on arbitrary strings
//! (the first line as a base, each later line as a URL under it and under the
//! fixed base). What must hold: no panic; every accepted item's URL parses
//! again and lies under the base (`check_under_base` again), its file name is a
//! plain `N-V-R.ARCH.rpm` without `/` and ends the URL's path; no file name
//! twice; a parsed base is http(s) with a host, no credentials, query or
//! fragment, and a path ending in `/`. The Standard Webhooks check runs on the
//! same input (the first three lines as id, timestamp and signatures, the rest
//! as the body, the first eight bytes as the clock): no panic at any timestamp.
#![no_main]

use hotpush::core::api::TriggerRequest;
use hotpush::core::trigger::{
    check_under_base, fetch_items, parse_base, split_file_name, FetchItem, ITEMS_MAX,
};
use libfuzzer_sys::fuzz_target;

const FETCH_BASE: &str = "https://koji.example.org/kojifiles";

fuzz_target!(|data: &[u8]| {
    let mut parts = data.splitn(4, |b| *b == b'\n');
    let id = String::from_utf8_lossy(parts.next().unwrap_or_default());
    let ts = String::from_utf8_lossy(parts.next().unwrap_or_default());
    let sig = String::from_utf8_lossy(parts.next().unwrap_or_default());
    let body = parts.next().unwrap_or_default();
    let mut clock = [0u8; 8];
    for (c, b) in clock.iter_mut().zip(data) {
        *c = *b;
    }
    let now = u64::from_le_bytes(clock);
    let _ = hotpush::core::webhook::verify(b"a fuzzing key", &id, &ts, &sig, body, now);

    let base = parse_base(FETCH_BASE).expect("the fixed fetch_base parses");
    if let Ok(request) = serde_json::from_slice::<TriggerRequest>(data) {
        if let Ok(items) = fetch_items(&base, &request.builds, &request.urls) {
            assert!(!items.is_empty() && items.len() <= ITEMS_MAX);
            for (i, item) in items.iter().enumerate() {
                check_item(&base, item);
                assert!(
                    items[..i].iter().all(|o| o.file_name != item.file_name),
                    "`{}` accepted twice",
                    item.file_name
                );
            }
        }
    }
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let mut lines = text.split('\n');
    let own = parse_base(lines.next().unwrap_or(""));
    if let Ok(own) = &own {
        check_base(own);
    }
    for line in lines {
        for b in [Some(&base), own.as_ref().ok()].into_iter().flatten() {
            // `join` parses an absolute URL as it is and resolves a relative one.
            let Ok(url) = b.join(line) else {
                continue;
            };
            if check_under_base(b, &url).is_ok() {
                under(b, &url);
            }
        }
    }
});

/// An accepted item: its URL under the base, its file name plain.
fn check_item(base: &url::Url, item: &FetchItem) {
    let url = base
        .join(&item.url)
        .unwrap_or_else(|e| panic!("accepted URL `{}` does not parse: {e}", item.url));
    assert_eq!(
        url.as_str(),
        item.url,
        "an accepted URL is not in its parsed form"
    );
    if let Err(e) = check_under_base(base, &url) {
        panic!("accepted URL `{}` is not under `{base}`: {e}", item.url);
    }
    under(base, &url);
    let name = &item.file_name;
    assert!(
        !name.is_empty() && !name.contains('/') && !name.contains('\\'),
        "file name `{}`",
        name.escape_debug()
    );
    assert!(!name.chars().any(|c| c.is_control() || c.is_whitespace()));
    let (_, _, _, arch) = split_file_name(name)
        .unwrap_or_else(|| panic!("file name `{}` is not N-V-R.ARCH.rpm", name.escape_debug()));
    assert_eq!(arch, item.arch);
    assert!(
        url.path().ends_with(&format!("/{name}")),
        "`{}` does not end in `/{name}`",
        url.path()
    );
    if let Some(sha) = &item.sha256 {
        assert!(sha.len() == 64 && sha.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')));
    }
}

/// What `check_under_base` promises, checked on the URL's own parts.
fn under(base: &url::Url, url: &url::Url) {
    assert_eq!(url.scheme(), base.scheme());
    assert_eq!(url.host_str(), base.host_str());
    assert_eq!(url.port_or_known_default(), base.port_or_known_default());
    assert!(url.username().is_empty() && url.password().is_none());
    assert!(url.query().is_none() && url.fragment().is_none());
    let rest = url
        .path()
        .strip_prefix(base.path())
        .unwrap_or_else(|| panic!("`{url}` is not under `{base}`"));
    assert!(!rest.is_empty() && !rest.contains('%'));
    assert!(rest
        .split('/')
        .all(|s| !s.is_empty() && s != "." && s != ".."));
    assert!(
        url.as_str().starts_with(base.as_str()),
        "`{url}` does not start with `{base}`"
    );
}

/// A base `parse_base` accepted.
fn check_base(base: &url::Url) {
    assert!(matches!(base.scheme(), "http" | "https"));
    assert!(base.host_str().is_some_and(|h| !h.is_empty()));
    assert!(base.username().is_empty() && base.password().is_none());
    assert!(base.query().is_none() && base.fragment().is_none());
    assert!(base.path().ends_with('/') && !base.path().contains('%'));
}
