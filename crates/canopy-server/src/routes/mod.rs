//! The routes, each documented for the OpenAPI document.

pub(crate) mod citizens;
mod methodologies;
mod partners;
mod system;

use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::error::ApiError;
use crate::AppState;

pub(crate) use system::{method_not_allowed, not_found};

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Canopy",
        description = "Canopy carbon inclusion platform: carbon accounts, consent, methodologies, signed partner ingestion and the ledger. Errors are RFC 9457 problem+json documents with a stable `code`.",
        license(name = "Apache-2.0")
    ),
    modifiers(&Security),
    components(schemas(crate::error::Problem))
)]
struct ApiDoc;

struct Security;

impl Modify for Security {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "session",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some("A citizen session token from POST /v1/sessions"))
                    .build(),
            ),
        );
        components.add_security_scheme(
            "admin",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some("The operator's CANOPY_ADMIN_TOKEN"))
                    .build(),
            ),
        );
        components.add_security_scheme(
            "partner_signature",
            SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::with_description(
                "Canopy-Signature",
                "v1=<hex HMAC-SHA256(secret, \"<timestamp>.<METHOD>.<path?query>.<hex SHA-256 of body>\")>, with Canopy-Partner and Canopy-Timestamp headers",
            ))),
        );
    }
}

pub(crate) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::with_openapi(ApiDoc::openapi())
        .routes(routes!(citizens::create_user))
        .routes(routes!(citizens::create_session))
        .routes(routes!(citizens::me))
        .routes(routes!(citizens::ledger))
        .routes(routes!(citizens::grant_consent, citizens::list_consents))
        .routes(routes!(citizens::revoke_consent))
        .routes(routes!(partners::create_partner, partners::list_partners))
        .routes(routes!(partners::rotate_secret, partners::list_secrets))
        .routes(routes!(partners::retire_secret))
        .routes(routes!(partners::create_link))
        .routes(routes!(partners::ingest_events))
        .routes(routes!(methodologies::list, methodologies::publish))
        .routes(routes!(system::healthz))
        .routes(routes!(system::metrics))
}

/// Validates a category list (non-empty, known names; repeats are merged).
pub(crate) fn parse_categories(names: &[String], field: &str) -> Result<canopy_core::types::CategorySet, ApiError> {
    use canopy_core::types::{CategorySet, InvalidCategories};
    CategorySet::parse_names(names).map_err(|e| match e {
        InvalidCategories::Empty => {
            ApiError::bad_request("invalid_scope", format!("{field} must name at least one category"))
        }
        InvalidCategories::Unknown(e) => ApiError::bad_request("invalid_scope", format!("{field}: {e}")),
    })
}

/// Category names of a set.
pub(crate) fn category_names(set: canopy_core::types::CategorySet) -> Vec<String> {
    set.to_vec().into_iter().map(|c| c.as_str().to_owned()).collect()
}
