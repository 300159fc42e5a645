//! `GET /api/v1/webhooks/summary`: the public face of the outbound webhooks'
//! delivery log (the dashboard's "Webhooks" table): counts per `[[webhook]]`,
//! numbered by its place in `hotpush.toml`, over public message types only, so
//! neither a webhook's name or URL nor anything under embargo shows. The
//! messages themselves stay behind the push group
//! (`GET /api/v1/webhooks/deliveries`).
use std::sync::Arc;

use axum::extract::State;
use axum::Json;

use crate::core::api::{WebhookCountsView, WebhookSummaryView};
use crate::io::http_error::ApiError;
use crate::origin::app::App;

/// `GET /api/v1/webhooks/summary`.
#[utoipa::path(
    get,
    path = "/api/v1/webhooks/summary",
    operation_id = "webhookSummary",
    summary = "Delivered, pending and given-up counts of public webhook messages, per webhook",
    responses((status = 200, description = "OK", body = WebhookSummaryView))
)]
pub async fn summary(State(app): State<Arc<App>>) -> Result<Json<WebhookSummaryView>, ApiError> {
    let counts = app
        .store
        .webhook_counts(crate::core::webhook::PRE_PUBLICATION)?;
    let webhooks = app
        .config
        .webhooks
        .iter()
        .enumerate()
        .map(|(i, hook)| {
            let row = counts.iter().find(|c| c.webhook == hook.name);
            WebhookCountsView {
                number: i as u32 + 1,
                delivered: row.map_or(0, |r| r.delivered),
                pending: row.map_or(0, |r| r.pending),
                given_up: row.map_or(0, |r| r.given_up),
                last_delivered_at_ms: row.and_then(|r| r.last_delivered_at_ms),
            }
        })
        .collect();
    Ok(Json(WebhookSummaryView { webhooks }))
}
