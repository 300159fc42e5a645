//! Property test of the XML writers: for thousands of random strings, with every
//! control character, markup character, the non-characters U+FFFE/U+FFFF and
//! characters from every plane, in every text field of a package, an advisory and
//! a metalink, the documents stay well-formed XML 1.0 (quick-xml reads them to the
//! end with matching tags and valid attributes, and every character, literal or
//! referenced, is one XML can carry), and text XML can carry comes back unchanged.
//! Seeded, so a failure repeats.

use quick_xml::events::Event;
use quick_xml::Reader;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use super::{render_package, Advisory, AdvisoryPackage};
use crate::core::advisory::{is_xml_char, xml_safe};
use crate::core::metalink::{self, MetalinkDoc, RepomdFacts};
use crate::core::rpm::{ChangelogEntry, DepFlag, Dependency, FileKind, Package, PackageFile};

const ROUNDS: usize = 3000;

/// A random string drawn from the characters that break XML writers.
fn hostile(rng: &mut StdRng) -> String {
    const SPECIAL: &[char] = &[
        '<',
        '>',
        '&',
        '"',
        '\'',
        ']',
        ';',
        '#',
        '\u{7f}',
        '\u{85}',
        '\u{9f}',
        '\u{a0}',
        '\u{d7ff}',
        '\u{e000}',
        '\u{fffd}',
        '\u{fffe}',
        '\u{ffff}',
        '\u{10000}',
        '\u{10ffff}',
        '\u{2028}',
        '\u{feff}',
    ];
    let len = rng.gen_range(0..24);
    (0..len)
        .map(|_| match rng.gen_range(0..5) {
            0 => char::from(rng.gen_range(0u8..0x20)),
            1 => SPECIAL[rng.gen_range(0..SPECIAL.len())],
            2 => char::from(rng.gen_range(b' '..=b'~')),
            3 => char::from_u32(rng.gen_range(0x80..0x11_0000)).unwrap_or('\u{fffd}'),
            _ => char::from(rng.gen_range(b'a'..=b'z')),
        })
        .collect()
}

/// Reads `doc` to its end and checks well-formedness; returns the text content of
/// every element named `collect` (references resolved), in order.
fn check_well_formed(doc: &str, collect: &str) -> Vec<String> {
    if let Some(c) = doc.chars().find(|&c| !is_xml_char(c)) {
        panic!("literal U+{:04X} in:\n{doc}", c as u32);
    }
    let mut reader = Reader::from_str(doc);
    let mut depth = 0usize;
    let mut texts = Vec::new();
    let mut current: Option<String> = None;
    loop {
        let event = reader
            .read_event()
            .unwrap_or_else(|e| panic!("not well-formed ({e}):\n{doc}"));
        let opened = matches!(event, Event::Start(_));
        match event {
            Event::Start(start) | Event::Empty(start) => {
                for attr in start.attributes() {
                    let attr = attr.unwrap_or_else(|e| panic!("bad attribute ({e}):\n{doc}"));
                    let value = attr
                        .unescape_value()
                        .unwrap_or_else(|e| panic!("bad attribute value ({e}):\n{doc}"));
                    assert!(value.chars().all(is_xml_char), "{value:?} in:\n{doc}");
                }
                let wanted = start.name().as_ref() == collect.as_bytes();
                if opened {
                    if wanted {
                        current = Some(String::new());
                    }
                    depth += 1;
                } else if wanted {
                    texts.push(String::new());
                }
            }
            Event::End(end) => {
                depth = depth.checked_sub(1).expect("more end tags than start tags");
                if end.name().as_ref() == collect.as_bytes() {
                    texts.push(current.take().unwrap_or_default());
                }
            }
            Event::Text(t) => {
                // `decode`, not `xml_content`: no end-of-line normalisation, so the text
                // compares with what was written.
                let text = t.decode().expect("text decodes");
                if let Some(c) = current.as_mut() {
                    c.push_str(&text);
                }
            }
            Event::GeneralRef(r) => {
                let resolved = match r.resolve_char_ref().expect("valid character reference") {
                    Some(c) => {
                        assert!(is_xml_char(c), "reference to U+{:04X}", c as u32);
                        c.to_string()
                    }
                    None => match &*r.decode().expect("entity name") {
                        "amp" => "&".into(),
                        "lt" => "<".into(),
                        "gt" => ">".into(),
                        "quot" => "\"".into(),
                        "apos" => "'".into(),
                        other => panic!("unknown entity {other} in:\n{doc}"),
                    },
                };
                if let Some(c) = current.as_mut() {
                    c.push_str(&resolved);
                }
            }
            Event::Eof => break,
            _ => {}
        }
    }
    assert_eq!(depth, 0, "unclosed elements in:\n{doc}");
    texts
}

fn dep(rng: &mut StdRng) -> Dependency {
    Dependency {
        name: hostile(rng),
        flags: Some(DepFlag::Ge),
        epoch: Some(hostile(rng)),
        version: Some(hostile(rng)),
        release: Some(hostile(rng)),
        pre: rng.gen(),
    }
}

fn package(rng: &mut StdRng) -> Package {
    Package {
        name: hostile(rng),
        arch: hostile(rng),
        epoch: hostile(rng),
        version: hostile(rng),
        release: hostile(rng),
        sha256: hostile(rng),
        summary: hostile(rng),
        description: hostile(rng),
        packager: hostile(rng),
        url: hostile(rng),
        location_href: format!("Packages/{}", hostile(rng)),
        license: hostile(rng),
        vendor: hostile(rng),
        group: hostile(rng),
        buildhost: hostile(rng),
        sourcerpm: hostile(rng),
        provides: vec![dep(rng)],
        requires: vec![dep(rng)],
        conflicts: vec![dep(rng)],
        recommends: vec![dep(rng)],
        files: vec![
            PackageFile {
                path: format!("/usr/bin/{}", hostile(rng)),
                kind: FileKind::File,
            },
            PackageFile {
                path: hostile(rng),
                kind: FileKind::Dir,
            },
        ],
        changelogs: vec![ChangelogEntry {
            author: hostile(rng),
            date: rng.gen(),
            text: hostile(rng),
        }],
        ..Package::default()
    }
}

fn advisory(rng: &mut StdRng) -> Advisory {
    Advisory {
        id: hostile(rng),
        kind: hostile(rng),
        severity: hostile(rng),
        title: hostile(rng),
        summary: hostile(rng),
        description: hostile(rng),
        issued: rng.gen(),
        updated: rng.gen(),
        release_name: hostile(rng),
        collection: hostile(rng),
        from: hostile(rng),
        cves: vec![hostile(rng), hostile(rng)],
        packages: vec![AdvisoryPackage {
            name: hostile(rng),
            epoch: hostile(rng),
            version: hostile(rng),
            release: hostile(rng),
            arch: hostile(rng),
            src: hostile(rng),
            filename: hostile(rng),
            sha256: hostile(rng),
        }],
    }
}

#[test]
fn primary_filelists_and_other_are_well_formed_for_any_string() {
    let mut rng = StdRng::seed_from_u64(0x5eed_0001);
    for _ in 0..ROUNDS {
        let p = package(&mut rng);
        let xml = render_package(&p);
        let ns = r#"xmlns="a" xmlns:rpm="b""#;
        let summaries = check_well_formed(&format!("<r {ns}>{}</r>", xml.primary), "summary");
        assert_eq!(summaries, [xml_safe(&p.summary).into_owned()]);
        check_well_formed(&format!("<r>{}</r>", xml.filelists), "");
        check_well_formed(&format!("<r>{}</r>", xml.other), "");
    }
}

#[test]
fn updateinfo_is_well_formed_for_any_string() {
    let mut rng = StdRng::seed_from_u64(0x5eed_0002);
    for _ in 0..ROUNDS / 3 {
        let advisories: Vec<Advisory> = (0..3).map(|_| advisory(&mut rng)).collect();
        let doc = super::updateinfo::render_updateinfo(&advisories);
        let descriptions = check_well_formed(&doc, "description");
        let want: Vec<String> = advisories
            .iter()
            .map(|a| xml_safe(&a.description).into_owned())
            .collect();
        assert_eq!(descriptions, want);
    }
}

#[test]
fn metalinks_are_well_formed_for_any_url() {
    let mut rng = StdRng::seed_from_u64(0x5eed_0003);
    let facts = RepomdFacts::of(b"<repomd/>", 1);
    for _ in 0..ROUNDS {
        let urls: Vec<String> = (0..3)
            .map(|_| format!("https://{}/repodata/repomd.xml", hostile(&mut rng)))
            .collect();
        let doc = metalink::render(&MetalinkDoc {
            repomd: &facts,
            alternates: &[],
            urls: &urls,
            pubdate_unix: 1,
        });
        let got = check_well_formed(&doc, "url");
        let want: Vec<String> = urls.iter().map(|u| xml_safe(u).into_owned()).collect();
        assert_eq!(got, want);
    }
}
