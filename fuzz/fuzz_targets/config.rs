//! The configuration files from text: `hotpush.toml` (`Config::from_toml`) and
//! `mirrors.toml` (`parse_mirrors`); relative paths resolve under a directory that
//! does not exist, so nothing real is read.
#![no_main]

use std::path::Path;

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let _ = hotpush::origin::config::Config::from_toml(
        text,
        Path::new("/nonexistent-hotpush-fuzz/hotpush.toml"),
    );
    let _ = hotpush::origin::mirrors::parse_mirrors(
        Path::new("/nonexistent-hotpush-fuzz/mirrors.toml"),
        text,
    );
});
