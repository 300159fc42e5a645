//! XML escaping exactly as libxml2 serializes createrepo_c's documents: text
//! content and attribute values are escaped differently (see
//! `reference/repodata.md` §2). A character XML 1.0 cannot carry (C0 controls
//! other than tab, LF and CR; U+FFFE, U+FFFF) is written as U+FFFD whatever
//! reaches these functions, so no input makes a document that is not
//! well-formed. Pure string functions, nothing else.

use crate::core::advisory::xml_safe;

/// Appends `text` escaped as element content: `&`, `<`, `>` and CR become
/// references; quotes, tabs, newlines and non-ASCII stay as they are.
pub(crate) fn push_text(out: &mut String, text: &str) {
    let text = &*xml_safe(text);
    let bytes = text.as_bytes();
    let mut start = 0;
    for (i, &b) in bytes.iter().enumerate() {
        let rep = match b {
            b'&' => "&amp;",
            b'<' => "&lt;",
            b'>' => "&gt;",
            b'\r' => "&#13;",
            _ => continue,
        };
        out.push_str(&text[start..i]);
        out.push_str(rep);
        start = i + 1;
    }
    out.push_str(&text[start..]);
}

/// Appends `value` escaped as an attribute value (without the quotes): `&`,
/// `<`, `>`, `"`, tab, LF and CR become references, and so does every
/// non-ASCII character (`&#xED;`, upper-case hex, as libxml2 writes it when the
/// node has no document encoding).
pub(crate) fn push_attr(out: &mut String, value: &str) {
    let value = &*xml_safe(value);
    let mut start = 0;
    for (i, c) in value.char_indices() {
        let rep = match c {
            '&' => "&amp;",
            '<' => "&lt;",
            '>' => "&gt;",
            '"' => "&quot;",
            '\t' => "&#9;",
            '\n' => "&#10;",
            '\r' => "&#13;",
            c if !c.is_ascii() => {
                out.push_str(&value[start..i]);
                push_char_ref(out, c);
                start = i + c.len_utf8();
                continue;
            }
            _ => continue,
        };
        out.push_str(&value[start..i]);
        out.push_str(rep);
        start = i + 1;
    }
    out.push_str(&value[start..]);
}

fn push_char_ref(out: &mut String, c: char) {
    use std::fmt::Write;
    // Writing to a String cannot fail.
    let _ = write!(out, "&#x{:X};", c as u32);
}

/// Appends a decimal number.
pub(crate) fn push_u64(out: &mut String, n: u64) {
    let mut buf = [0u8; 20];
    let mut i = buf.len();
    let mut n = n;
    loop {
        i -= 1;
        buf[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    // Only ASCII digits were written.
    out.push_str(std::str::from_utf8(&buf[i..]).unwrap_or("0"));
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(s: &str) -> String {
        let mut o = String::new();
        push_text(&mut o, s);
        o
    }

    fn attr(s: &str) -> String {
        let mut o = String::new();
        push_attr(&mut o, s);
        o
    }

    #[test]
    fn text_escapes_markup_and_cr_only() {
        assert_eq!(
            text("a & <b> \"q\" 'a'\tt\nn\rr žluť"),
            "a &amp; &lt;b&gt; \"q\" 'a'\tt\nn&#13;r žluť"
        );
    }

    #[test]
    fn attributes_escape_quotes_whitespace_and_non_ascii() {
        assert_eq!(attr("Balíček"), "Bal&#xED;&#x10D;ek");
        assert_eq!(
            attr("a & <b> \"q\" 'a'\tt\nn\rr"),
            "a &amp; &lt;b&gt; &quot;q&quot; 'a'&#9;t&#10;n&#13;r"
        );
        assert_eq!(attr("日"), "&#x65E5;");
        assert_eq!(attr("😀"), "&#x1F600;");
    }

    #[test]
    fn numbers() {
        let mut o = String::new();
        push_u64(&mut o, 0);
        o.push(' ');
        push_u64(&mut o, u64::MAX);
        assert_eq!(o, "0 18446744073709551615");
    }
}
