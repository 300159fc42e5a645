//! The metalink document read with an independent quick-xml pass (not
//! `metalink::parse`), the way librepo reads it: literal `mm0:` names, document
//! order, hashes of the exact repomd bytes, the R8 size budget, and the 404 form.
use hotpush::core::metalink::{self, MetalinkDoc, RepomdFacts};
use quick_xml::events::Event;
use quick_xml::Reader;
use sha2::{Digest, Sha256, Sha512};

/// One element: path from the root joined by `/`, attributes, text.
type Element = (String, Vec<(String, String)>, String);

/// Every element as (path from the root joined by `/`, attributes, text), in
/// document order.
fn elements(text: &str) -> Vec<Element> {
    let mut reader = Reader::from_str(text);
    let mut path: Vec<String> = Vec::new();
    let mut out: Vec<Element> = Vec::new();
    let mut open: Vec<usize> = Vec::new();
    loop {
        match reader.read_event().expect("well-formed XML") {
            Event::Start(e) => {
                path.push(String::from_utf8(e.name().as_ref().to_vec()).unwrap());
                let attrs = e
                    .attributes()
                    .map(|a| {
                        let a = a.unwrap();
                        (
                            String::from_utf8(a.key.as_ref().to_vec()).unwrap(),
                            a.unescape_value().unwrap().into_owned(),
                        )
                    })
                    .collect();
                out.push((path.join("/"), attrs, String::new()));
                open.push(out.len() - 1);
            }
            Event::Empty(e) => {
                let name = String::from_utf8(e.name().as_ref().to_vec()).unwrap();
                out.push((
                    format!("{}/{name}", path.join("/")),
                    Vec::new(),
                    String::new(),
                ));
            }
            Event::Text(t) => {
                if let Some(&i) = open.last() {
                    out[i].2.push_str(&t.xml_content().unwrap());
                }
            }
            Event::GeneralRef(r) => {
                let s = match r.decode().unwrap().as_ref() {
                    "amp" => "&",
                    "lt" => "<",
                    "gt" => ">",
                    "quot" => "\"",
                    "apos" => "'",
                    other => panic!("unexpected entity {other}"),
                };
                if let Some(&i) = open.last() {
                    out[i].2.push_str(s);
                }
            }
            Event::End(_) => {
                path.pop();
                open.pop();
            }
            Event::Eof => break,
            _ => {}
        }
    }
    for e in &mut out {
        e.2 = e.2.trim().to_owned();
    }
    out
}

fn attr<'a>(attrs: &'a [(String, String)], key: &str) -> Option<&'a str> {
    attrs
        .iter()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.as_str())
}

const FILE: &str = "metalink/files/file";

/// Origin plus three partners with realistic, long URLs.
fn four_urls() -> Vec<String> {
    let path = "pub/critical/43/x86_64/repodata/repomd.xml";
    vec![
        format!("https://critical-updates.fedoraproject.org/{path}"),
        format!("https://[2001:db8:1234:5678::10]/fedora-critical/{path}"),
        format!("https://mirror.partner-b.example.net:8443/mirrors/fedora/{path}"),
        format!("http://198.51.100.77/linux/fedora-critical/{path}"),
    ]
}

#[test]
fn metalink_has_the_mirrormanager_structure_in_document_order() {
    let repomd = b"<repomd>the exact bytes</repomd>\n".repeat(30);
    let facts = RepomdFacts::of(&repomd, 1_767_225_600);
    let urls = four_urls();
    let text = metalink::render(&MetalinkDoc {
        repomd: &facts,
        alternates: &[],
        urls: &urls,
        pubdate_unix: 1_767_225_660,
    });
    let els = elements(&text);

    let root = &els[0];
    assert_eq!(root.0, "metalink");
    assert_eq!(attr(&root.1, "version"), Some("3.0"));
    assert_eq!(attr(&root.1, "type"), Some("dynamic"));
    assert_eq!(attr(&root.1, "xmlns"), Some("http://www.metalinker.org/"));
    assert_eq!(
        attr(&root.1, "xmlns:mm0"),
        Some("http://fedorahosted.org/mirrormanager")
    );
    assert_eq!(
        attr(&root.1, "pubdate"),
        Some("Thu, 01 Jan 2026 00:01:00 GMT")
    );

    let file = els.iter().find(|e| e.0 == FILE).expect("<file>");
    assert_eq!(attr(&file.1, "name"), Some("repomd.xml"));

    // Children of <file> in MM order: timestamp, size, verification, resources.
    let children: Vec<&str> = els
        .iter()
        .filter_map(|e| e.0.strip_prefix(&format!("{FILE}/")))
        .filter(|rest| !rest.contains('/'))
        .collect();
    assert_eq!(
        children,
        ["mm0:timestamp", "size", "verification", "resources"]
    );
    let text_of = |p: &str| {
        els.iter()
            .find(|e| e.0 == format!("{FILE}/{p}"))
            .unwrap()
            .2
            .clone()
    };
    assert_eq!(text_of("mm0:timestamp"), "1767225600");
    assert_eq!(text_of("size"), repomd.len().to_string());

    let hashes: Vec<(String, String)> = els
        .iter()
        .filter(|e| e.0 == format!("{FILE}/verification/hash"))
        .map(|e| (attr(&e.1, "type").unwrap().to_owned(), e.2.clone()))
        .collect();
    assert_eq!(
        hashes,
        [
            ("sha256".to_owned(), hex::encode(Sha256::digest(&repomd))),
            ("sha512".to_owned(), hex::encode(Sha512::digest(&repomd))),
        ]
    );

    let resources = els
        .iter()
        .find(|e| e.0 == format!("{FILE}/resources"))
        .unwrap();
    assert_eq!(attr(&resources.1, "maxconnections"), Some("1"));
    let got: Vec<(String, String, String)> = els
        .iter()
        .filter(|e| e.0 == format!("{FILE}/resources/url"))
        .map(|e| {
            (
                e.2.clone(),
                attr(&e.1, "preference").unwrap().to_owned(),
                attr(&e.1, "protocol").unwrap().to_owned(),
            )
        })
        .collect();
    let want: Vec<(String, String, String)> = urls
        .iter()
        .zip(["100", "99", "98", "97"])
        .map(|(u, p)| {
            let scheme = u.split("://").next().unwrap().to_owned();
            (u.clone(), p.to_owned(), scheme)
        })
        .collect();
    assert_eq!(got, want, "URLs in the order given, preference 100, 99, …");

    // No alternates element at all when there are none.
    assert!(!text.contains("alternate"));
}

#[test]
fn metalink_with_origin_and_three_partners_fits_the_size_budget() {
    // The budget R8: at most 1,500 bytes for the body that every no-change
    // refresh of every client downloads.
    let facts = RepomdFacts::of(&[7u8; 3000], 1_767_225_600);
    let text = metalink::render(&MetalinkDoc {
        repomd: &facts,
        alternates: &[],
        urls: &four_urls(),
        pubdate_unix: 1_767_225_600,
    });
    eprintln!("metalink with origin + 3 partners: {} bytes", text.len());
    assert!(
        text.len() <= 1500,
        "metalink is {} bytes:\n{text}",
        text.len()
    );
}

#[test]
fn alternates_carry_their_own_facts_under_literal_mm0_names() {
    let current = RepomdFacts::of(b"new", 20);
    let older = [RepomdFacts::of(b"old", 10), RepomdFacts::of(b"older", 5)];
    let urls = four_urls();
    let text = metalink::render(&MetalinkDoc {
        repomd: &current,
        alternates: &older,
        urls: &urls[..1],
        pubdate_unix: 0,
    });
    let els = elements(&text);
    let alt = format!("{FILE}/mm0:alternates/mm0:alternate");
    let stamps: Vec<&str> = els
        .iter()
        .filter(|e| e.0 == format!("{alt}/mm0:timestamp"))
        .map(|e| e.2.as_str())
        .collect();
    assert_eq!(stamps, ["10", "5"]);
    let sha512s: Vec<&str> = els
        .iter()
        .filter(|e| {
            e.0 == format!("{alt}/verification/hash") && attr(&e.1, "type") == Some("sha512")
        })
        .map(|e| e.2.as_str())
        .collect();
    assert_eq!(
        sha512s,
        [older[0].sha512.as_str(), older[1].sha512.as_str()]
    );
    // The main entry's hash is still the current one, and alternates come before resources.
    let main512 = els
        .iter()
        .find(|e| {
            e.0 == format!("{FILE}/verification/hash") && attr(&e.1, "type") == Some("sha512")
        })
        .unwrap();
    assert_eq!(main512.2, current.sha512);
    assert!(text.find("<mm0:alternates>").unwrap() < text.find("<resources").unwrap());

    // Our own parser agrees.
    let parsed = metalink::parse(&text).unwrap();
    assert_eq!(parsed.alternates.len(), 2);
    assert_eq!(parsed.alternates[0].timestamp, Some(10));
    assert_eq!(parsed.repomd.hash("sha256"), Some(current.sha256.as_str()));
}

#[test]
fn urls_are_escaped_and_read_back_exactly() {
    let urls = vec!["https://h.example/a&b/<x>/\"q\"/repodata/repomd.xml".to_owned()];
    let facts = RepomdFacts::of(b"x", 1);
    let text = metalink::render(&MetalinkDoc {
        repomd: &facts,
        alternates: &[],
        urls: &urls,
        pubdate_unix: 0,
    });
    assert!(text.contains("a&amp;b/&lt;x&gt;"), "{text}");
    let els = elements(&text);
    let url = els
        .iter()
        .find(|e| e.0 == format!("{FILE}/resources/url"))
        .unwrap();
    assert_eq!(url.2, urls[0]);
    assert_eq!(metalink::parse(&text).unwrap().urls[0].url, urls[0]);
}

#[test]
fn not_found_document_has_no_files_and_names_the_request_safely() {
    let text = metalink::render_not_found("critical-f99", "x86_64");
    let els = elements(&text);
    assert_eq!(els.len(), 1, "only the <metalink> root: {els:?}");
    assert_eq!(els[0].0, "metalink");
    assert!(
        text.contains("critical-f99") && text.contains("x86_64"),
        "{text}"
    );

    // Hostile query values cannot break out of the comment.
    let text = metalink::render_not_found("a-->\n<files><file name=\"repomd.xml\">", "--");
    let els = elements(&text);
    assert_eq!(els.len(), 1, "{text}");
    let err = metalink::parse(&text).unwrap_err();
    assert!(err.to_string().contains("repomd.xml"), "{err}");
}

#[test]
fn facts_hash_the_exact_bytes() {
    let facts = RepomdFacts::of(b"abc", 42);
    assert_eq!(
        facts.sha256,
        "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    );
    assert_eq!(&facts.sha512[..16], "ddaf35a193617aba");
    assert_eq!(facts.size, 3);
    assert_eq!(facts.timestamp, 42);
}
