//! Reading generated repositories in tests: decompressing records, the
//! repomd.xml records, the consistency check of repomd against its files, and
//! the golden input tree.
use std::collections::BTreeMap;
use std::io::Read;
use std::path::Path;
use std::process::Command;

use quick_xml::events::Event;
use sha2::{Digest, Sha256};

use crate::common::support::{real_rpms, run_ok};

pub(crate) fn decompress(name: &str, bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    if name.ends_with(".gz") {
        flate2::read::GzDecoder::new(bytes)
            .read_to_end(&mut out)
            .unwrap();
    } else if name.ends_with(".zst") {
        out = zstd::stream::decode_all(bytes).unwrap();
    } else {
        panic!("unknown suffix: {name}");
    }
    out
}

pub(crate) fn sha256_hex(b: &[u8]) -> String {
    hex::encode(Sha256::digest(b))
}

/// `<data type>` -> child element name -> (text or href).
pub(crate) fn repomd_records(repomd: &str) -> Vec<(String, BTreeMap<String, String>)> {
    let mut reader = quick_xml::Reader::from_str(repomd);
    let mut out: Vec<(String, BTreeMap<String, String>)> = Vec::new();
    let mut current: Option<String> = None;
    loop {
        match reader.read_event().unwrap() {
            Event::Eof => break,
            Event::Start(e) if e.name().as_ref() == b"data" => {
                let ty = e
                    .try_get_attribute("type")
                    .unwrap()
                    .unwrap()
                    .unescape_value()
                    .unwrap()
                    .into_owned();
                out.push((ty, BTreeMap::new()));
            }
            Event::Start(e) => {
                current = Some(String::from_utf8(e.name().as_ref().to_vec()).unwrap())
            }
            Event::Empty(e) if e.name().as_ref() == b"location" => {
                let href = e
                    .try_get_attribute("href")
                    .unwrap()
                    .unwrap()
                    .unescape_value()
                    .unwrap()
                    .into_owned();
                out.last_mut().unwrap().1.insert("location".into(), href);
            }
            Event::Text(t) => {
                if let (Some(c), Some(last)) = (&current, out.last_mut()) {
                    last.1.insert(c.clone(), t.decode().unwrap().into_owned());
                }
            }
            Event::End(_) => current = None,
            _ => {}
        }
    }
    out
}

/// Checks every repomd record against the file bytes it names.
pub(crate) fn assert_repomd_consistent(repomd: &str, read: impl Fn(&str) -> Vec<u8>) {
    for (ty, rec) in repomd_records(repomd) {
        let href = &rec["location"];
        let bytes = read(href);
        assert_eq!(rec["checksum"], sha256_hex(&bytes), "{ty}: checksum");
        assert_eq!(rec["size"], bytes.len().to_string(), "{ty}: size");
        assert!(
            href.contains(&format!("/{}-{ty}.xml.", rec["checksum"])),
            "{ty}: href {href} names its checksum"
        );
        let open = decompress(href, &bytes);
        assert_eq!(
            rec["open-checksum"],
            sha256_hex(&open),
            "{ty}: open-checksum"
        );
        assert_eq!(rec["open-size"], open.len().to_string(), "{ty}: open-size");
    }
}

/// Copies the golden input (`createrepo_c/`, `rpm-rs/`, `edge-rpms/` as sibling
/// directories) into `dest` with every mtime at 1700000000, as the README of
/// the golden files says.
pub(crate) fn golden_input(dest: &Path) {
    std::fs::create_dir_all(dest).unwrap();
    let real = real_rpms();
    let edge = real.join("../edge-rpms");
    let mut cp = Command::new("cp");
    cp.arg("-r")
        .arg(real.join("createrepo_c"))
        .arg(real.join("rpm-rs"))
        .arg(edge)
        .arg(dest);
    run_ok(&mut cp);
    run_ok(Command::new("chmod").arg("-R").arg("u+w").arg(dest));
    run_ok(Command::new("find").arg(dest).args([
        "-name",
        "*.rpm",
        "-exec",
        "touch",
        "-d",
        "@1700000000",
        "{}",
        "+",
    ]));
}

/// Reads a generated repository: repomd.xml and each record's uncompressed XML.
pub(crate) fn read_repo(root: &Path) -> (String, BTreeMap<String, String>) {
    let repomd = std::fs::read_to_string(root.join("repodata/repomd.xml")).unwrap();
    let mut xml = BTreeMap::new();
    for (ty, rec) in repomd_records(&repomd) {
        let href = &rec["location"];
        let bytes = std::fs::read(root.join(href)).unwrap();
        xml.insert(ty, String::from_utf8(decompress(href, &bytes)).unwrap());
    }
    (repomd, xml)
}
