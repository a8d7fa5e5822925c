//! The routes, each documented for the OpenAPI document.

mod balls;
mod campaigns;
mod certificates;
mod challenges;
mod checkins;
pub(crate) mod citizens;
mod coplantings;
mod energy;
mod figures;
mod friends;
mod leaderboards;
mod medals;
mod meters;
mod methodologies;
mod openadr;
mod partners;
mod pools;
mod projects;
mod redemptions;
mod reports;
mod settlements;
mod system;
mod vouchers;
mod vtn;
mod vtn_subscriptions;
pub(crate) mod your_data;

use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

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
            "sponsor_key",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some("A sponsor's read-only key (`spk_…`) from POST /v1/sponsors/{id}/keys"))
                    .build(),
            ),
        );
        components.add_security_scheme(
            "ven",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some(
                        "An OpenADR VEN's token from POST /openadr3/auth/token (OAuth2 client credentials)",
                    ))
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
    let mut router = routes();
    document_errors(router.get_openapi_mut());
    router
}

fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::with_openapi(ApiDoc::openapi())
        .routes(routes!(citizens::create_user))
        .routes(routes!(citizens::create_session))
        .routes(routes!(citizens::me, your_data::update_me, your_data::delete_me))
        .routes(routes!(your_data::export))
        .routes(routes!(citizens::ledger))
        .routes(routes!(balls::list_balls))
        .routes(routes!(balls::collect_ball))
        .routes(routes!(balls::collect_all))
        .routes(routes!(checkins::check_in))
        .routes(routes!(challenges::create_challenge, challenges::list_challenges))
        .routes(routes!(challenges::get_challenge))
        .routes(routes!(challenges::join_challenge))
        .routes(routes!(challenges::create_team))
        .routes(routes!(leaderboards::leaderboard))
        .routes(routes!(medals::medals))
        .routes(routes!(pools::create_pool, pools::list_pools))
        .routes(routes!(pools::fund_pool))
        .routes(routes!(projects::create_sponsor, projects::list_sponsors))
        .routes(routes!(projects::create_project, projects::list_projects))
        .routes(routes!(projects::get_project, projects::patch_project))
        .routes(routes!(redemptions::redeem, redemptions::list_redemptions))
        .routes(routes!(redemptions::cancel_redemption))
        .routes(routes!(certificates::get_certificate))
        .routes(routes!(vouchers::redeem_voucher))
        .routes(routes!(figures::figures))
        .routes(routes!(reports::project_report))
        .routes(routes!(reports::campaign_report))
        .routes(routes!(reports::issue_key))
        .routes(routes!(coplantings::open, coplantings::list))
        .routes(routes!(coplantings::get))
        .routes(routes!(coplantings::accept))
        .routes(routes!(coplantings::decline))
        .routes(routes!(campaigns::create_campaign, campaigns::list_campaigns))
        .routes(routes!(campaigns::get_campaign))
        .routes(routes!(campaigns::contribute))
        .routes(routes!(campaigns::record_retirement))
        .routes(routes!(friends::send_request, friends::list_requests))
        .routes(routes!(friends::accept_request))
        .routes(routes!(friends::decline_request))
        .routes(routes!(friends::list_friends))
        .routes(routes!(friends::unfriend))
        .routes(routes!(friends::block, friends::list_blocks))
        .routes(routes!(friends::unblock))
        .routes(routes!(friends::get_privacy, friends::put_privacy))
        .routes(routes!(friends::friend_balls))
        .routes(routes!(friends::collect_from_friend))
        .routes(routes!(friends::water_friend))
        .routes(routes!(citizens::grant_consent, citizens::list_consents))
        .routes(routes!(citizens::revoke_consent))
        .routes(routes!(partners::create_partner, partners::list_partners))
        .routes(routes!(partners::rotate_secret, partners::list_secrets))
        .routes(routes!(partners::retire_secret))
        .routes(routes!(partners::suspend))
        .routes(routes!(partners::create_link))
        .routes(routes!(system::healthz))
        .routes(routes!(system::metrics))
        // Only these two take large bodies; every other route keeps the
        // router's small default (the innermost limit wins).
        .routes(routes!(meters::register))
        .routes(routes!(meters::bill))
        .routes(routes!(energy::create_program, energy::list_programs))
        .routes(routes!(energy::create_event))
        .routes(routes!(energy::get_event))
        .routes(routes!(energy::list_invitations))
        .routes(routes!(energy::answer_invitation))
        .routes(routes!(settlements::settle_event))
        .routes(routes!(settlements::event_report))
        .routes(routes!(settlements::my_settlements))
        .routes(routes!(settlements::my_settlement))
        .routes(routes!(settlements::my_vouchers))
        .routes(routes!(settlements::program_report))
        .routes(routes!(openadr::register_ven, openadr::list_vens))
        .routes(routes!(openadr::token))
        .routes(routes!(vtn::programs))
        .routes(routes!(vtn::get_program))
        .routes(routes!(vtn::events))
        .routes(routes!(vtn::get_event))
        .routes(routes!(vtn::create_report, vtn::reports))
        .routes(routes!(vtn::get_report))
        .routes(routes!(vtn_subscriptions::create, vtn_subscriptions::list))
        .routes(routes!(vtn_subscriptions::get, vtn_subscriptions::update, vtn_subscriptions::delete))
        .merge(
            OpenApiRouter::new()
                .routes(routes!(meters::readings))
                .layer(crate::body::limit(crate::body::BODY_BYTES_MAX)),
        )
        .merge(
            OpenApiRouter::new()
                .routes(routes!(partners::ingest_events))
                .layer(crate::body::limit(crate::body::BODY_BYTES_MAX)),
        )
        .merge(
            OpenApiRouter::new()
                .routes(routes!(vouchers::upload_codes))
                .layer(crate::body::limit(crate::body::VOUCHER_CODES_BODY_BYTES_MAX)),
        )
        .merge(
            OpenApiRouter::new()
                .routes(routes!(methodologies::list, methodologies::publish))
                .layer(crate::body::limit(crate::body::METHODOLOGY_BODY_BYTES_MAX)),
        )
}

/// Makes the document say what the edge does to every request, which the
/// handlers' own annotations leave out: every error is
/// `application/problem+json` with the [`Problem`](crate::error::Problem)
/// schema, and each operation lists the statuses the edge itself can answer
/// (a too-slow client, a body too large or of the wrong media type, a
/// missing credential, a full server).
fn document_errors(openapi: &mut utoipa::openapi::OpenApi) {
    use utoipa::openapi::{ContentBuilder, Ref, RefOr, ResponseBuilder};

    let problem = |description: &str| {
        RefOr::T(
            ResponseBuilder::new()
                .description(description)
                .content(
                    "application/problem+json",
                    ContentBuilder::new().schema(Some(Ref::from_schema_name("Problem"))).build(),
                )
                .build(),
        )
    };
    for (path, item) in openapi.paths.paths.iter_mut() {
        // OpenADR's and OAuth2's own errors are `application/json`, as
        // their specifications say.
        let own_errors = path.starts_with("/openadr3/");
        let operations = [&mut item.get, &mut item.post, &mut item.put, &mut item.delete, &mut item.patch];
        for operation in operations.into_iter().flatten() {
            let has_body = operation.request_body.is_some();
            let has_params = operation.parameters.as_ref().is_some_and(|p| !p.is_empty());
            let secured = operation.security.as_ref().is_some_and(|s| !s.is_empty());
            let responses = &mut operation.responses.responses;
            for (status, response) in responses.iter_mut() {
                if let (true, false, RefOr::T(response)) = (status.as_str() >= "400", own_errors, response) {
                    if let Some(json) = response.content.shift_remove("application/json") {
                        response.content.insert("application/problem+json".to_owned(), json);
                    }
                }
            }
            let mut add = |status: &str, description: &str| {
                responses.entry(status.to_owned()).or_insert_with(|| problem(description));
            };
            if has_body || has_params {
                add("400", "malformed_body, invalid_query or an invalid field");
            }
            if secured {
                add("401", "unauthorized, invalid_token, bad_signature");
            }
            add("408", "request_timeout: the client sent the request too slowly (the connection is closed)");
            if has_body {
                add("413", "body_too_large");
                add("415", "unsupported_media_type");
            }
            add(
                "503",
                "too_many_connections, busy, storage_unavailable, storage_busy, storage_timeout (with Retry-After)",
            );
        }
    }
}

/// Category names of a set.
pub(crate) fn category_names(set: canopy_core::types::CategorySet) -> Vec<String> {
    set.to_vec().into_iter().map(|c| c.as_str().to_owned()).collect()
}
