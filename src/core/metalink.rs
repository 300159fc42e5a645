//! MirrorManager-format metalink documents (see shared reference R1–R8): render the
//! document that dnf reads, the MM-style "not found" document, and parse either
//! back for `hotpush verify` and the tests.
//!
//! Pure: values in, text out. It never touches the clock (the caller gives
//! `pubdate_unix`), the network or the file system, and it does not decide which
//! hosts are listed; the caller passes only hosts that were verified.
//!
//! librepo matches element names literally, so the `mm0:` prefix is written and
//! read as text, never resolved as a namespace. Only sha256 and sha512 are written:
//! librepo checks the strongest hash, libdnf's refresh check uses every
//! sha256/sha512, and weaker hashes only make the document bigger (R2, R8).
use std::fmt::Write as _;

use anyhow::{bail, Context as _};
use quick_xml::events::{BytesStart, Event};
use quick_xml::Reader;
use sha2::{Digest, Sha256, Sha512};

/// Upper bound for a metalink document handed to [`parse`]; ours are about 1 KB.
pub const METALINK_BYTES_MAX: usize = 1024 * 1024;

/// `preference` of the first URL; each following URL gets one less, floor 1.
const PREFERENCE_FIRST: u32 = 100;

/// What a metalink says about one repomd.xml.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RepomdFacts {
    /// Lower-case hex.
    pub sha256: String,
    /// Lower-case hex.
    pub sha512: String,
    pub size: u64,
    /// Seconds since the epoch (`mm0:timestamp`), normally the repomd revision.
    pub timestamp: u64,
}

impl RepomdFacts {
    /// The facts of the exact bytes `repomd`.
    pub fn of(repomd: &[u8], timestamp: u64) -> RepomdFacts {
        RepomdFacts {
            sha256: hex::encode(Sha256::digest(repomd)),
            sha512: hex::encode(Sha512::digest(repomd)),
            size: repomd.len() as u64,
            timestamp,
        }
    }
}

/// One metalink document for one repository.
#[derive(Debug, Clone, Copy)]
pub struct MetalinkDoc<'a> {
    pub repomd: &'a RepomdFacts,
    /// Older repomds; empty while a security advisory is live.
    pub alternates: &'a [RepomdFacts],
    /// Full URLs ending in `/repodata/repomd.xml`, in the order clients must try
    /// them (origin first).
    pub urls: &'a [String],
    /// From the caller, never the clock.
    pub pubdate_unix: u64,
}

/// Renders the MirrorManager document: `<file name="repomd.xml">` with
/// `mm0:timestamp`, `size`, sha256 + sha512, optional `mm0:alternates`, and the URLs
/// in document order with preference 100, 99, …
pub fn render(doc: &MetalinkDoc<'_>) -> String {
    let mut out = String::with_capacity(1024);
    out.push_str(&header(doc.pubdate_unix));
    out.push_str(" <files>\n  <file name=\"repomd.xml\">\n");
    write_facts(&mut out, doc.repomd, "   ");
    if !doc.alternates.is_empty() {
        out.push_str("   <mm0:alternates>\n");
        for alternate in doc.alternates {
            out.push_str("    <mm0:alternate>\n");
            write_facts(&mut out, alternate, "     ");
            out.push_str("    </mm0:alternate>\n");
        }
        out.push_str("   </mm0:alternates>\n");
    }
    out.push_str("   <resources maxconnections=\"1\">\n");
    for (index, url) in doc.urls.iter().enumerate() {
        let preference = preference_of(index);
        let protocol = xml_escape(scheme_of(url));
        let _ = writeln!(
            out,
            "    <url protocol=\"{protocol}\" type=\"{protocol}\" preference=\"{preference}\">{}</url>",
            xml_escape(url)
        );
    }
    out.push_str("   </resources>\n  </file>\n </files>\n</metalink>\n");
    out
}

/// The document MirrorManager answers with its 404: no `<files>`, only a comment
/// naming what was asked for (sanitised, as it comes from the query string).
pub fn render_not_found(repo: &str, arch: &str) -> String {
    let mut out = String::with_capacity(512);
    out.push_str(&header_without_pubdate());
    let _ = writeln!(
        out,
        "<!--\n# repo = {} arch = {} error: invalid repo or arch\n-->",
        comment_safe(repo),
        comment_safe(arch)
    );
    out.push_str("</metalink>\n");
    out
}

/// A metalink read back: what `hotpush verify` and the tests check.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ParsedMetalink {
    /// The `<file name="repomd.xml">` entry.
    pub repomd: ParsedFacts,
    pub alternates: Vec<ParsedFacts>,
    /// In document order.
    pub urls: Vec<ParsedUrl>,
}

/// The facts of one repomd as a document states them.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ParsedFacts {
    pub timestamp: Option<u64>,
    pub size: Option<u64>,
    /// `(type, lower-case hex)` in document order, e.g. `("sha256", "…")`.
    pub hashes: Vec<(String, String)>,
}

impl ParsedFacts {
    /// The hash of this type, if the document gives one.
    pub fn hash(&self, kind: &str) -> Option<&str> {
        self.hashes
            .iter()
            .find(|(k, _)| k == kind)
            .map(|(_, v)| v.as_str())
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParsedUrl {
    pub url: String,
    pub preference: Option<u32>,
    pub protocol: Option<String>,
}

/// Parses a metalink the way librepo does: element names literally (with the
/// `mm0:` prefix), only the `<file name="repomd.xml">` entry. A document without
/// that entry (such as [`render_not_found`]'s) is an error.
pub fn parse(text: &str) -> anyhow::Result<ParsedMetalink> {
    if text.len() > METALINK_BYTES_MAX {
        bail!(
            "the metalink is {} bytes, more than the {METALINK_BYTES_MAX} accepted",
            text.len()
        );
    }
    let mut reader = Reader::from_str(text);

    let mut parsed = ParsedMetalink::default();
    let mut found_repomd = false;
    // Element names from the root down to the current element.
    let mut path: Vec<String> = Vec::new();
    // The `<file>` being read is repomd.xml.
    let mut in_repomd = false;
    // Text of the innermost element so far (text and entity references).
    let mut text_buf = String::new();
    // Attributes of the innermost `<hash>` / `<url>`.
    let mut hash_type: Option<String> = None;
    let mut url_attrs: (Option<u32>, Option<String>) = (None, None);

    loop {
        let position = reader.buffer_position();
        let event = reader
            .read_event()
            .with_context(|| format!("malformed metalink XML near byte {position}"))?;
        match event {
            Event::Start(start) => {
                let name = element_name(&start)?;
                if path.is_empty() && name != "metalink" {
                    bail!("the root element is `<{name}>`, not `<metalink>`");
                }
                text_buf.clear();
                match name.as_str() {
                    "file" if path.last().map(String::as_str) == Some("files") => {
                        in_repomd = attribute(&start, "name")?.as_deref() == Some("repomd.xml");
                        if in_repomd {
                            if found_repomd {
                                bail!("the metalink has two `<file name=\"repomd.xml\">` entries");
                            }
                            found_repomd = true;
                        }
                    }
                    "mm0:alternate" if in_repomd => parsed.alternates.push(ParsedFacts::default()),
                    "hash" if in_repomd => {
                        let kind = attribute(&start, "type")?
                            .context("a `<hash>` element has no `type` attribute")?;
                        hash_type = Some(kind.to_ascii_lowercase());
                    }
                    "url" if in_repomd => {
                        let preference = match attribute(&start, "preference")? {
                            Some(p) => Some(p.trim().parse::<u32>().with_context(|| {
                                format!("`<url preference=\"{p}\">` is not a number")
                            })?),
                            None => None,
                        };
                        url_attrs = (preference, attribute(&start, "protocol")?);
                    }
                    _ => {}
                }
                path.push(name);
            }
            Event::Empty(start) => {
                let name = element_name(&start)?;
                if path.is_empty() {
                    bail!("the metalink document is empty (`<{name}/>`)");
                }
            }
            Event::Text(text) => {
                text_buf.push_str(&text.xml_content().context("bad text in the metalink")?);
            }
            Event::CData(data) => {
                text_buf.push_str(&data.xml_content().context("bad CDATA in the metalink")?);
            }
            Event::GeneralRef(reference) => text_buf.push_str(&resolve_reference(&reference)?),
            Event::End(_) => {
                let name = path.pop().unwrap_or_default();
                if in_repomd {
                    let in_alternate = path.iter().any(|p| p == "mm0:alternate");
                    let facts = if in_alternate {
                        parsed.alternates.last_mut()
                    } else {
                        Some(&mut parsed.repomd)
                    };
                    let value = text_buf.trim();
                    match (name.as_str(), facts) {
                        ("mm0:timestamp", Some(facts)) => {
                            facts.timestamp = Some(value.parse().with_context(|| {
                                format!("`<mm0:timestamp>{value}</mm0:timestamp>` is not a number")
                            })?);
                        }
                        ("size", Some(facts)) => {
                            facts.size = Some(value.parse().with_context(|| {
                                format!("`<size>{value}</size>` is not a number")
                            })?);
                        }
                        ("hash", Some(facts)) => {
                            if let Some(kind) = hash_type.take() {
                                facts.hashes.push((kind, value.to_ascii_lowercase()));
                            }
                        }
                        ("url", _) => {
                            if value.is_empty() {
                                bail!("a `<url>` element is empty");
                            }
                            let (preference, protocol) = std::mem::take(&mut url_attrs);
                            parsed.urls.push(ParsedUrl {
                                url: value.to_owned(),
                                preference,
                                protocol,
                            });
                        }
                        ("file", _) => in_repomd = false,
                        _ => {}
                    }
                }
                text_buf.clear();
            }
            Event::Eof => break,
            _ => {}
        }
    }
    if !path.is_empty() {
        bail!("the metalink ends inside `<{}>`", path.join("><"));
    }
    if !found_repomd {
        bail!(
            "the metalink has no `<file name=\"repomd.xml\">` entry \
             (the server does not know this repo, or it is not a metalink)"
        );
    }
    Ok(parsed)
}

fn resolve_reference(reference: &quick_xml::events::BytesRef<'_>) -> anyhow::Result<String> {
    if let Some(ch) = reference
        .resolve_char_ref()
        .context("bad character reference in the metalink")?
    {
        return Ok(ch.to_string());
    }
    let name = reference
        .decode()
        .context("bad entity reference in the metalink")?;
    Ok(match name.as_ref() {
        "amp" => "&",
        "lt" => "<",
        "gt" => ">",
        "quot" => "\"",
        "apos" => "'",
        other => bail!("unknown entity `&{other};` in the metalink"),
    }
    .to_owned())
}

fn element_name(start: &BytesStart<'_>) -> anyhow::Result<String> {
    Ok(std::str::from_utf8(start.name().as_ref())
        .context("an element name in the metalink is not UTF-8")?
        .to_owned())
}

fn attribute(start: &BytesStart<'_>, key: &str) -> anyhow::Result<Option<String>> {
    for attr in start.attributes() {
        let attr = attr.context("malformed attribute in the metalink")?;
        if attr.key.as_ref() == key.as_bytes() {
            let value = attr
                .unescape_value()
                .context("bad attribute value in the metalink")?;
            return Ok(Some(value.into_owned()));
        }
    }
    Ok(None)
}

fn header(pubdate_unix: u64) -> String {
    let pubdate = httpdate::fmt_http_date(
        std::time::UNIX_EPOCH + std::time::Duration::from_secs(pubdate_unix),
    );
    format!(
        "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<metalink version=\"3.0\" \
         xmlns=\"http://www.metalinker.org/\" type=\"dynamic\" pubdate=\"{pubdate}\" \
         generator=\"hotpush\" xmlns:mm0=\"http://fedorahosted.org/mirrormanager\">\n"
    )
}

fn header_without_pubdate() -> String {
    "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<metalink version=\"3.0\" \
     xmlns=\"http://www.metalinker.org/\" type=\"dynamic\" generator=\"hotpush\" \
     xmlns:mm0=\"http://fedorahosted.org/mirrormanager\">\n"
        .to_owned()
}

fn write_facts(out: &mut String, facts: &RepomdFacts, indent: &str) {
    let _ = write!(
        out,
        "{indent}<mm0:timestamp>{}</mm0:timestamp>\n\
         {indent}<size>{}</size>\n\
         {indent}<verification>\n\
         {indent} <hash type=\"sha256\">{}</hash>\n\
         {indent} <hash type=\"sha512\">{}</hash>\n\
         {indent}</verification>\n",
        facts.timestamp,
        facts.size,
        xml_escape(&facts.sha256),
        xml_escape(&facts.sha512),
    );
}

fn preference_of(index: usize) -> u32 {
    let index = u32::try_from(index).unwrap_or(u32::MAX);
    PREFERENCE_FIRST.saturating_sub(index).max(1)
}

/// `https` for `https://…`; `http` when the URL has no scheme.
fn scheme_of(url: &str) -> &str {
    match url.split_once("://") {
        Some((scheme, _)) if !scheme.is_empty() => scheme,
        _ => "http",
    }
}

/// Escapes text and attribute values; a character XML cannot carry becomes U+FFFD.
fn xml_escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for ch in crate::core::advisory::xml_safe(text).chars() {
        match ch {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            _ => out.push(ch),
        }
    }
    out
}

/// Keeps a value from the query string harmless inside an XML comment: only
/// `[A-Za-z0-9._+-]` survive, `--` cannot appear, and the length is bounded.
fn comment_safe(value: &str) -> String {
    const CHARS_MAX: usize = 64;
    let mut out = String::new();
    for ch in value.chars().take(CHARS_MAX) {
        let ch = if ch.is_ascii_alphanumeric() || matches!(ch, '.' | '_' | '+' | '-') {
            ch
        } else {
            '_'
        };
        if ch == '-' && out.ends_with('-') {
            out.push('_');
        } else {
            out.push(ch);
        }
    }
    if out.ends_with('-') {
        out.push('_');
    }
    out
}

/// One host a metalink may list, as [`spread_order`] sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SpreadHost {
    /// Relative share of first places (0 = last, after every weighted host).
    pub weight: u32,
    pub origin: bool,
}

/// The order of one answer (indices into `hosts`): dnf downloads metadata
/// and packages from the first URL that works, so each host is first with a
/// probability proportional to its weight, the rest follow in the same
/// weighted way (draws without replacement). While `origin_first` the origin
/// leads and the others follow in the order given (`mirrors.toml` order). `random` yields uniform
/// numbers in `[0, 1)`; pure: the caller brings the randomness.
pub fn spread_order(
    hosts: &[SpreadHost],
    origin_first: bool,
    mut random: impl FnMut() -> f64,
) -> Vec<usize> {
    let mut order = Vec::with_capacity(hosts.len());
    let mut left: Vec<usize> = (0..hosts.len()).collect();
    if origin_first {
        if let Some(pos) = left.iter().position(|&i| hosts[i].origin) {
            order.push(left.remove(pos));
        }
        order.append(&mut left);
        return order;
    }
    while !left.is_empty() {
        let total: u64 = left.iter().map(|&i| u64::from(hosts[i].weight)).sum();
        if total == 0 {
            order.append(&mut left);
            break;
        }
        let mut point = (random().clamp(0.0, 1.0) * total as f64) as u64;
        let mut pick = left.len() - 1;
        for (pos, &i) in left.iter().enumerate() {
            let w = u64::from(hosts[i].weight);
            if w > 0 && point < w {
                pick = pos;
                break;
            }
            point = point.saturating_sub(w);
        }
        // A rounding at the top end must not pick a host of weight 0.
        if hosts[left[pick]].weight == 0 {
            pick = left
                .iter()
                .rposition(|&i| hosts[i].weight > 0)
                .unwrap_or(pick);
        }
        order.push(left.remove(pick));
    }
    order
}

#[cfg(test)]
mod tests {
    use super::*;

    fn facts(n: u8) -> RepomdFacts {
        RepomdFacts::of(&[n; 100], 1_700_000_000 + u64::from(n))
    }

    #[test]
    fn round_trip_keeps_order_hashes_and_alternates() {
        let main = facts(1);
        let alternates = [facts(2), facts(3)];
        let urls = vec![
            "http://[::1]:8080/pub/critical/43/x86_64/repodata/repomd.xml".to_owned(),
            "https://b.example/pub/x?a=1&b=2/repodata/repomd.xml".to_owned(),
        ];
        let text = render(&MetalinkDoc {
            repomd: &main,
            alternates: &alternates,
            urls: &urls,
            pubdate_unix: 0,
        });
        let parsed = parse(&text).unwrap();
        assert_eq!(parsed.repomd.hash("sha256"), Some(main.sha256.as_str()));
        assert_eq!(parsed.repomd.hash("sha512"), Some(main.sha512.as_str()));
        assert_eq!(parsed.repomd.size, Some(100));
        assert_eq!(parsed.repomd.timestamp, Some(main.timestamp));
        assert_eq!(parsed.alternates.len(), 2);
        assert_eq!(
            parsed.alternates[1].hash("sha512"),
            Some(alternates[1].sha512.as_str())
        );
        let got: Vec<&str> = parsed.urls.iter().map(|u| u.url.as_str()).collect();
        assert_eq!(got, urls.iter().map(String::as_str).collect::<Vec<_>>());
        assert_eq!(parsed.urls[0].preference, Some(100));
        assert_eq!(parsed.urls[1].preference, Some(99));
        assert_eq!(parsed.urls[1].protocol.as_deref(), Some("https"));
        assert!(text.contains("pubdate=\"Thu, 01 Jan 1970 00:00:00 GMT\""));
    }

    #[test]
    fn not_found_is_not_a_repomd_metalink() {
        let text = render_not_found("crit--x<y>", "x86_64");
        assert!(!text.contains("<files>"));
        assert!(!text.contains("x<y"));
        assert!(!text[text.find("<!--").unwrap() + 4..text.find("-->").unwrap()].contains("--"));
        assert!(parse(&text).is_err());
    }

    #[test]
    fn preference_floor_is_one() {
        assert_eq!(preference_of(0), 100);
        assert_eq!(preference_of(99), 1);
        assert_eq!(preference_of(500), 1);
    }

    #[test]
    fn spread_order_gives_each_host_its_weight_of_first_places() {
        let hosts = [
            SpreadHost {
                weight: 1,
                origin: true,
            },
            SpreadHost {
                weight: 3,
                origin: false,
            },
            SpreadHost {
                weight: 0,
                origin: false,
            },
            SpreadHost {
                weight: 1,
                origin: false,
            },
        ];
        // A deterministic uniform sequence.
        let mut x = 0u64;
        let mut random = move || {
            x = x
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (x >> 11) as f64 / (1u64 << 53) as f64
        };
        let mut first = [0u32; 4];
        for _ in 0..10_000 {
            let order = spread_order(&hosts, false, &mut random);
            let mut sorted = order.clone();
            sorted.sort_unstable();
            assert_eq!(sorted, vec![0, 1, 2, 3], "every host exactly once");
            assert_eq!(order[3], 2, "weight 0 comes last");
            first[order[0]] += 1;
        }
        assert_eq!(first[2], 0);
        for (i, want) in [(0, 0.2), (1, 0.6), (3, 0.2)] {
            let share = f64::from(first[i]) / 10_000.0;
            assert!((share - want).abs() < 0.03, "host {i}: {share}");
        }
        assert_eq!(spread_order(&hosts, true, &mut random)[0], 0);
        assert_eq!(spread_order(&hosts, true, || 0.999_999), [0, 1, 2, 3]);
        assert_eq!(spread_order(&hosts, false, || 0.999_999)[..2], [3, 1]);
        assert!(spread_order(&[], true, || 0.5).is_empty());
    }
}
