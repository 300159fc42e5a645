//! The primary.xml reader of the retirement watcher (`decode_primary`: gzip, zstd
//! or plain XML from another repository) on arbitrary bytes.
#![no_main]

use std::collections::BTreeSet;

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let names: BTreeSet<String> = ["hello", "openssl", "a"].map(String::from).into();
    let _ = hotpush::origin::retirement::decode_primary(data, &names);
});
