//! The dashboard at `/` and the public advisory page at `/advisory/{id}`: static
//! HTML, CSS and JavaScript embedded in the binary. The pages hold no data; the
//! script reads `/api/v1` and re-renders when `/api/v1/events` says something
//! changed. This module knows nothing of the store beyond "is this advisory
//! published" (an embargoed advisory's page is the unknown id's 404) and never
//! puts data into HTML itself except the escaped advisory id. The pages send no
//! token: they show the public view only.
use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};

use crate::origin::app::App;
use crate::origin::http::api;

const INDEX_HTML: &str = include_str!("assets/index.html");
const ADVISORY_HTML: &str = include_str!("assets/advisory.html");
const DASHBOARD_CSS: &str = include_str!("assets/dashboard.css");
const DASHBOARD_JS: &str = include_str!("assets/dashboard.js");

/// The placeholder in `advisory.html` replaced by the (escaped) advisory id.
const ADVISORY_SLOT: &str = "{{advisory}}";

fn html(status: StatusCode, body: String) -> Response {
    (
        status,
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        body,
    )
        .into_response()
}

/// The empty advisory table body in `index.html` that the first paint fills.
const ADVISORY_ROWS_SLOT: &str = "<tbody data-first-paint=\"advisories\"></tbody>";
/// The "no advisories" line, shown by the first paint only when there are none.
const ADVISORIES_EMPTY: &str = "<p id=\"advisories-empty\" class=\"muted\" hidden>";

/// `GET /`: the first paint is the real public state (published and retired
/// advisories, rendered here, escaped), so the page is right before its
/// script loads and without JavaScript; the script then keeps it live.
/// Nothing under embargo is read: the public scope only.
pub async fn index(State(app): State<Arc<App>>) -> Response {
    let view = match api::status_view(&app, api::Scope::Public) {
        Ok(v) => v,
        Err(_) => return html(StatusCode::OK, INDEX_HTML.to_owned()),
    };
    html(StatusCode::OK, first_paint(&view.advisories))
}

/// `index.html` with the advisory rows filled in.
fn first_paint(advisories: &[crate::core::api::AdvisoryView]) -> String {
    let mut rows = String::from("<tbody data-first-paint=\"advisories\">");
    let mut sorted: Vec<_> = advisories.iter().collect();
    sorted.sort_by(|a, b| b.updated.cmp(&a.updated).then(a.id.cmp(&b.id)));
    for a in sorted {
        let updated = chrono::DateTime::from_timestamp(a.updated, 0)
            .map(|t| t.format("%Y-%m-%d %H:%M UTC").to_string())
            .unwrap_or_default();
        rows.push_str(&format!(
            "<tr><td class=\"mono\"><a href=\"/advisory/{href}\">{id}</a></td>\
             <td><span class=\"badge sev-{sev}\">{sev}</span></td>\
             <td><span class=\"badge state-{state}\">{state}</span></td>\
             <td class=\"mono\">{cves}</td><td class=\"mono\">{packages}</td>\
             <td class=\"muted\">\u{2014}</td><td>{updated}</td></tr>",
            href = escape_html(&percent_encode(&a.id)),
            id = escape_html(&a.id),
            sev = escape_html(&a.severity),
            state = escape_html(&a.state),
            cves = escape_html(&a.cves.join(" ")),
            packages = escape_html(&a.packages.join(" ")),
        ));
    }
    rows.push_str("</tbody>");
    let page = INDEX_HTML.replacen(ADVISORY_ROWS_SLOT, &rows, 1);
    if advisories.is_empty() {
        page.replacen(
            ADVISORIES_EMPTY,
            "<p id=\"advisories-empty\" class=\"muted\">",
            1,
        )
    } else {
        page
    }
}

/// Advisory ids are letters, digits and `-_.:`; anything else is escaped.
fn percent_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.:".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// `GET /advisory/{id}`: the public page of one advisory; 404 for unknown ids
/// and, alike, for an advisory not yet published (embargoed).
pub async fn advisory_page(State(app): State<Arc<App>>, Path(id): Path<String>) -> Response {
    let known = match app.store.published_advisories() {
        Ok(public) => public.contains(&id),
        Err(e) => {
            tracing::error!(error = format!("{e:#}"), "cannot read the advisory");
            return html(
                StatusCode::INTERNAL_SERVER_ERROR,
                not_found_page("The advisory cannot be read right now."),
            );
        }
    };
    if !known {
        return html(
            StatusCode::NOT_FOUND,
            not_found_page(&format!("There is no advisory {}.", escape_html(&id))),
        );
    }
    html(
        StatusCode::OK,
        ADVISORY_HTML.replace(ADVISORY_SLOT, &escape_html(&id)),
    )
}

fn not_found_page(message_html: &str) -> String {
    format!(
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>hotpush: not found</title><link rel=\"stylesheet\" href=\"/assets/dashboard.css\"></head>\
         <body><header><h1><a href=\"/\">hotpush</a></h1></header><main><p>{message_html}</p>\
         <p><a href=\"/\">Back to the dashboard</a></p></main></body></html>\n"
    )
}

/// `GET /assets/{file}`: the stylesheet and the script.
pub async fn asset(Path(file): Path<String>) -> Response {
    let (body, content_type) = match file.as_str() {
        "dashboard.css" => (DASHBOARD_CSS, "text/css; charset=utf-8"),
        "dashboard.js" => (DASHBOARD_JS, "text/javascript; charset=utf-8"),
        _ => return (StatusCode::NOT_FOUND, "no such asset\n").into_response(),
    };
    (
        [
            (header::CONTENT_TYPE, content_type),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        body,
    )
        .into_response()
}

/// Escapes text for HTML element content and attribute values.
pub fn escape_html(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_paint_lists_public_advisories_escaped() {
        let adv = crate::core::api::AdvisoryView {
            id: "FEDORA-2026-0001".into(),
            severity: "critical".into(),
            summary: String::new(),
            description: String::new(),
            cves: vec!["CVE-2026-1234".into()],
            releases: vec![],
            state: "live".into(),
            issued: 0,
            updated: 1_700_000_000,
            packages: vec!["a<b>-1-1.x86_64".into()],
        };
        let page = first_paint(std::slice::from_ref(&adv));
        assert!(
            page.contains("href=\"/advisory/FEDORA-2026-0001\""),
            "{page}"
        );
        assert!(page.contains("CVE-2026-1234"));
        assert!(page.contains("a&lt;b&gt;-1-1.x86_64"));
        assert!(!page.contains("a<b>"));
        assert!(page.contains(ADVISORIES_EMPTY));
        let empty = first_paint(&[]);
        assert!(empty.contains("<p id=\"advisories-empty\" class=\"muted\">No advisories"));
        // Both slots exist in the page, once each.
        assert_eq!(INDEX_HTML.matches(ADVISORY_ROWS_SLOT).count(), 1);
        assert_eq!(INDEX_HTML.matches(ADVISORIES_EMPTY).count(), 1);
    }

    #[test]
    fn escaping_covers_markup_and_quotes() {
        assert_eq!(
            escape_html(r#"<a href="x">'&'</a>"#),
            "&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;"
        );
    }

    #[test]
    fn the_advisory_page_has_exactly_one_slot_per_use() {
        assert!(ADVISORY_HTML.contains(ADVISORY_SLOT));
        assert!(!INDEX_HTML.contains(ADVISORY_SLOT));
    }

    /// The script never assigns markup from data: no innerHTML, outerHTML,
    /// insertAdjacentHTML or document.write.
    #[test]
    fn the_script_inserts_text_only() {
        for banned in [
            "innerHTML",
            "outerHTML",
            "insertAdjacentHTML",
            "document.write",
        ] {
            assert!(!DASHBOARD_JS.contains(banned), "dashboard.js uses {banned}");
        }
    }
}
