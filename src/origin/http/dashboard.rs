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

/// `GET /`.
pub async fn index() -> Response {
    html(StatusCode::OK, INDEX_HTML.to_owned())
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
