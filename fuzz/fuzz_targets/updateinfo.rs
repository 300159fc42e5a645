//! updateinfo.xml (hotpush writes it; nothing here reads another's): any strings in
//! every advisory field must render to a well-formed document, read back to its
//! end by quick-xml with every character one XML 1.0 can carry.
#![no_main]

use hotpush::core::advisory::is_xml_char;
use hotpush::core::repodata::{render_updateinfo, Advisory, AdvisoryPackage};
use libfuzzer_sys::fuzz_target;
use quick_xml::events::Event;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let mut parts = text.split('\u{1}').map(str::to_owned);
    let mut next = || parts.next().unwrap_or_default();
    let advisory = Advisory {
        id: next(),
        kind: next(),
        severity: next(),
        title: next(),
        summary: next(),
        description: next(),
        issued: data.len() as u64,
        updated: u64::MAX,
        release_name: next(),
        collection: next(),
        from: next(),
        cves: vec![next(), next()],
        packages: vec![AdvisoryPackage {
            name: next(),
            epoch: next(),
            version: next(),
            release: next(),
            arch: next(),
            src: next(),
            filename: next(),
            sha256: next(),
        }],
    };
    let doc = render_updateinfo(&[advisory]);
    assert!(doc.chars().all(is_xml_char));
    let mut reader = quick_xml::Reader::from_str(&doc);
    let mut depth = 0usize;
    loop {
        let event = reader.read_event().expect("well-formed");
        match &event {
            Event::Start(s) | Event::Empty(s) => {
                for a in s.attributes() {
                    let v = a.expect("attribute").unescape_value().expect("value");
                    assert!(v.chars().all(is_xml_char));
                }
            }
            _ => {}
        }
        match event {
            Event::Start(_) => depth += 1,
            Event::End(_) => depth = depth.checked_sub(1).expect("balanced tags"),
            Event::Eof => break,
            _ => {}
        }
    }
    assert_eq!(depth, 0);
});
