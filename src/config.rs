//! `hotpush.toml`: the raw `deny_unknown_fields` wire struct and the validated
//! `Config` built from it, with every default from DESIGN.md.
