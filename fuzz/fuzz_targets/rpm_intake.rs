//! RPM intake on arbitrary bytes: `read_package` must return a result (a package
//! or a refusal), never panic, abort or allocate what the bytes merely claim.
#![no_main]

use hotpush::core::rpm::{read_package, FileFacts, SignaturePolicy};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let facts = FileFacts {
        location_href: "Packages/f/fuzz.rpm".into(),
        time_file: 0,
    };
    if let Ok(read) = read_package(data, facts, &SignaturePolicy::Ignore) {
        // Whatever passes has an identity that makes a safe file name.
        let p = read.package;
        let name = p.file_name();
        assert!(!name.contains('/') && !name.chars().any(char::is_control), "{name:?}");
    }
});
