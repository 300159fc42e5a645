//! The repomd.xml reader (`parse_repomd`, used on partners' and our own documents)
//! on arbitrary bytes: an error or entries, never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = hotpush::core::repodata::repomd::parse_repomd(data);
    let _ = hotpush::origin::retirement::repomd_revision(data);
});
