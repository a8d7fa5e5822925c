//! OpenADR 3.1 subscriptions (`/openadr3/subscriptions`): a VEN asks to be
//! notified, by webhook, when programs or events are created or updated;
//! it sees and changes only its own subscriptions.

use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::Json;
use canopy_service::ServiceError;
use openleadr_wire::subscription::SubscriptionRequest;
use openleadr_wire::ObjectType;
use utoipa::IntoParams;

use crate::auth::Ven;
use crate::body::RawBody;
use crate::error::{ApiError, ApiResult, Problem};
use crate::routes::vtn::{VtnObject, VtnQuery};
use crate::AppState;

/// The subscription filters (`GET /subscriptions`).
// The OpenAPI document's account of the query, which [`VtnQuery`] reads.
#[allow(dead_code)]
#[derive(Debug, IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct SubscriptionQuery {
    /// Objects to skip (default 0).
    skip: Option<usize>,
    /// Objects to answer, at most 50 (default 50).
    limit: Option<usize>,
    /// Only subscriptions to this program (`prg_…`).
    #[param(rename = "programID")]
    program_id: Option<String>,
    /// Only subscriptions whose clientName is this.
    #[param(rename = "clientName")]
    client_name: Option<String>,
    /// Only subscriptions to one of these objects (`PROGRAM`, `EVENT`).
    #[param(style = Form, explode)]
    objects: Option<Vec<String>>,
}

fn request(body: &[u8]) -> Result<SubscriptionRequest, ApiError> {
    serde_json::from_slice(body)
        .map_err(|e| ApiError::bad_request("invalid_subscription", format!("not an OpenADR subscription request: {e}")))
}

fn subscription_id(id: &str) -> Result<i64, ServiceError> {
    id.strip_prefix("sub_").and_then(|n| n.parse::<i64>().ok()).ok_or_else(|| {
        ServiceError::not_found("subscription_not_found", format!("this VEN has no subscription `{id}`"))
    })
}

/// Subscribes (OpenADR 3.1 `POST /subscriptions`): webhooks to an http(s) `callbackUrl` with an optional
/// `bearerToken`, on PROGRAM and EVENT objects' CREATE and UPDATE, for one program (`programID`) or all; a VEN
/// keeps at most 20.
#[utoipa::path(post, path = "/openadr3/subscriptions", tag = "openadr", security(("ven" = [])),
    request_body(content = VtnObject, content_type = "application/json"),
    responses((status = 201, body = VtnObject, content_type = "application/json"),
              (status = 400, description = "invalid_subscription", body = Problem, content_type = "application/problem+json"),
              (status = 401, description = "invalid_token", body = Problem, content_type = "application/problem+json")))]
pub(crate) async fn create(
    State(state): State<AppState>,
    Ven(ven): Ven,
    RawBody(body): RawBody,
) -> ApiResult<(StatusCode, Json<VtnObject>)> {
    let made = state.service.create_subscription(&ven, request(&body)?).await?;
    Ok((StatusCode::CREATED, Json(VtnObject::of(&made))))
}

/// The VEN's subscriptions (OpenADR 3.1 `GET /subscriptions`), oldest first.
#[utoipa::path(get, path = "/openadr3/subscriptions", tag = "openadr", security(("ven" = [])),
    params(SubscriptionQuery),
    responses((status = 200, body = [VtnObject], content_type = "application/json"),
              (status = 400, description = "invalid_query", body = Problem, content_type = "application/problem+json"),
              (status = 401, description = "invalid_token", body = Problem, content_type = "application/problem+json")))]
pub(crate) async fn list(
    State(state): State<AppState>,
    Ven(ven): Ven,
    RawQuery(raw): RawQuery,
) -> ApiResult<Json<Vec<VtnObject>>> {
    let q = VtnQuery::parse(raw.as_deref())?;
    let mut objects = Vec::new();
    for name in &q.objects {
        let object: ObjectType = serde_json::from_value(serde_json::Value::String(name.clone()))
            .map_err(|_| ApiError::bad_request("invalid_query", format!("objects: `{name}` is no OpenADR object")))?;
        objects.push(object);
    }
    let found = state.service.subscriptions(&ven, q.program_id.as_deref(), q.client_name.as_deref(), &objects).await?;
    Ok(Json(q.page(&found)))
}

/// One of the VEN's subscriptions (OpenADR 3.1 `GET /subscriptions/{subscriptionID}`).
#[utoipa::path(get, path = "/openadr3/subscriptions/{id}", tag = "openadr", security(("ven" = [])),
    params(("id" = String, Path, description = "The subscription's id (`sub_…`)")),
    responses((status = 200, body = VtnObject, content_type = "application/json"),
              (status = 401, description = "invalid_token", body = Problem, content_type = "application/problem+json"),
              (status = 404, description = "subscription_not_found", body = Problem, content_type = "application/problem+json")))]
pub(crate) async fn get(
    State(state): State<AppState>,
    Ven(ven): Ven,
    Path(id): Path<String>,
) -> ApiResult<Json<VtnObject>> {
    let found = state.service.subscription(&ven, subscription_id(&id)?).await?;
    Ok(Json(VtnObject::of(&found)))
}

/// Replaces one of the VEN's subscriptions (OpenADR 3.1 `PUT /subscriptions/{subscriptionID}`).
#[utoipa::path(put, path = "/openadr3/subscriptions/{id}", tag = "openadr", security(("ven" = [])),
    params(("id" = String, Path, description = "The subscription's id (`sub_…`)")),
    request_body(content = VtnObject, content_type = "application/json"),
    responses((status = 200, body = VtnObject, content_type = "application/json"),
              (status = 400, description = "invalid_subscription", body = Problem, content_type = "application/problem+json"),
              (status = 401, description = "invalid_token", body = Problem, content_type = "application/problem+json"),
              (status = 404, description = "subscription_not_found", body = Problem, content_type = "application/problem+json")))]
pub(crate) async fn update(
    State(state): State<AppState>,
    Ven(ven): Ven,
    Path(id): Path<String>,
    RawBody(body): RawBody,
) -> ApiResult<Json<VtnObject>> {
    let id = subscription_id(&id)?;
    let updated = state.service.update_subscription(&ven, id, request(&body)?).await?;
    Ok(Json(VtnObject::of(&updated)))
}

/// Deletes one of the VEN's subscriptions, and its undelivered notifications (OpenADR 3.1
/// `DELETE /subscriptions/{subscriptionID}`); answers the subscription as it was.
#[utoipa::path(delete, path = "/openadr3/subscriptions/{id}", tag = "openadr", security(("ven" = [])),
    params(("id" = String, Path, description = "The subscription's id (`sub_…`)")),
    responses((status = 200, body = VtnObject, content_type = "application/json"),
              (status = 401, description = "invalid_token", body = Problem, content_type = "application/problem+json"),
              (status = 404, description = "subscription_not_found", body = Problem, content_type = "application/problem+json")))]
pub(crate) async fn delete(
    State(state): State<AppState>,
    Ven(ven): Ven,
    Path(id): Path<String>,
) -> ApiResult<Json<VtnObject>> {
    let deleted = state.service.delete_subscription(&ven, subscription_id(&id)?).await?;
    Ok(Json(VtnObject::of(&deleted)))
}
