//! The OpenAPI document of `/api/v1`, generated with utoipa from the wire types
//! in `core::api` (their `ToSchema` derives and doc comments) and the
//! `#[utoipa::path]` attribute on each handler in `http::api`, so it cannot
//! drift from what the handlers take and answer. Built once, on first request.
use std::sync::LazyLock;

use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

use crate::origin::http::{api, keys, trigger, webhooks};

#[derive(OpenApi)]
#[openapi(
    info(
        title = "hotpush origin API",
        version = "1",
        description = "Push signed security fixes, follow them to every partner mirror, and read \
            what is live where. State-changing requests need `Authorization: Bearer <token>` \
            (`hotpush token create`) from a member of the push group; every decision is audited."
    ),
    servers((url = "/")),
    paths(
        api::status,
        api::list_pushes,
        api::create_push,
        api::get_push,
        api::upload_package,
        api::submit_push,
        api::cancel_push,
        api::approve_push,
        api::push_checklist,
        api::list_advisories,
        api::get_advisory,
        api::retire,
        api::announcement,
        api::send_announcement,
        api::audit,
        api::activity,
        api::webhook_deliveries,
        api::events,
        api::openapi,
        api::get_check_hold,
        api::put_check_hold,
        keys::list_keys,
        keys::add_key,
        keys::remove_key,
        trigger::receive,
        keys::repo_keys,
        keys::prepare_next_repo_key,
        keys::switch_repo_key,
        keys::retire_repo_key,
        webhooks::summary,
    ),
    // Sent inside the event stream, so no operation names it as a body.
    components(schemas(crate::core::api::EventView)),
    modifiers(&BearerToken)
)]
struct ApiDoc;

/// The `bearer` security scheme the state-changing operations name.
struct BearerToken;

impl Modify for BearerToken {
    fn modify(&self, doc: &mut utoipa::openapi::OpenApi) {
        doc.components
            .get_or_insert_with(Default::default)
            .add_security_scheme(
                "bearer",
                SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
            );
        // The build-system trigger: a Standard Webhooks signature (with
        // `webhook-id` and `webhook-timestamp`), no token.
        doc.components
            .get_or_insert_with(Default::default)
            .add_security_scheme(
                "webhook_signature",
                SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::new("webhook-signature"))),
            );
    }
}

/// The body of a package upload: the RPM file itself, not JSON.
#[derive(utoipa::ToSchema)]
#[schema(value_type = String, format = Binary)]
#[allow(dead_code)]
pub(crate) struct RpmFile(Vec<u8>);

static DOCUMENT: LazyLock<String> = LazyLock::new(|| {
    ApiDoc::openapi()
        .to_pretty_json()
        .expect("the OpenAPI document serialises")
});

/// The OpenAPI document (JSON) served at `/api/v1/openapi.json`.
pub fn openapi_json() -> &'static str {
    &DOCUMENT
}

#[cfg(test)]
mod tests {
    #[test]
    fn every_state_changing_operation_needs_the_bearer_token() {
        let doc: serde_json::Value = serde_json::from_str(super::openapi_json()).unwrap();
        assert_eq!(
            doc["components"]["securitySchemes"]["bearer"]["scheme"],
            "bearer"
        );
        let mut changing = 0;
        for (path, ops) in doc["paths"].as_object().unwrap() {
            for (method, op) in ops.as_object().unwrap() {
                if matches!(method.as_str(), "post" | "put" | "delete" | "patch") {
                    changing += 1;
                    // The trigger is signed by the build system instead.
                    let scheme = if path.starts_with("/api/v1/triggers/") {
                        "webhook_signature"
                    } else {
                        "bearer"
                    };
                    assert_eq!(
                        op["security"],
                        serde_json::json!([{ scheme: [] }]),
                        "{method} {path}"
                    );
                    assert!(op["responses"]["401"].is_object(), "{method} {path}");
                }
            }
        }
        assert_eq!(
            changing, 14,
            "create, upload, submit, cancel, approve, retire, send an announcement, check-hold, add and remove a key, \
             the trigger, prepare, switch and retire a repo key"
        );
    }
}
