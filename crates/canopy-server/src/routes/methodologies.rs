//! Methodologies: listing and publication.

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::Json;

use crate::api::*;
use crate::auth::Operator;
use crate::body::{parse_json, RawBody};
use crate::error::{ApiError, ApiResult, Problem};
use crate::AppState;

/// Every published methodology with its inputs, caps and formula.
#[utoipa::path(get, path = "/v1/methodologies", tag = "methodologies",
    responses((status = 200, body = MethodologyList)))]
pub(crate) async fn list(State(state): State<AppState>) -> ApiResult<Json<MethodologyList>> {
    let registry = state.service.methodologies().await?;
    let methodologies = registry
        .iter()
        .map(|m| {
            let mut view = MethodologyView::from(m.as_ref());
            view.superseded_by = registry.superseded_by(m).map(|s| s.new_version.clone());
            view.valid_until = registry.effective_dates(m).1.map(|d| d.to_string());
            view
        })
        .collect();
    let supersessions = registry
        .supersessions()
        .map(|s| SupersessionView {
            id: s.id.clone(),
            old_version: s.old_version.clone(),
            new_version: s.new_version.clone(),
            from: s.from.to_string(),
        })
        .collect();
    Ok(Json(MethodologyList { methodologies, supersessions }))
}

/// Publishes a methodology: the TOML file as the body, JSON `{toml,
/// source_name}`, or the methodology as a JSON object with the file's keys.
/// Publishing identical content again answers 200; other content under a
/// published id and version is refused.
#[utoipa::path(post, path = "/v1/methodologies", tag = "methodologies", security(("admin" = [])),
    request_body(content = PublishMethodology, description = "JSON `{toml, source_name}`, the methodology as a JSON object with the file's keys, or the TOML file itself as application/toml"),
    responses((status = 201, body = MethodologyView), (status = 200, description = "already published", body = MethodologyView),
              (status = 400, description = "invalid_methodology, invalid_source_name, malformed_body", body = Problem),
              (status = 409, description = "methodology_version_exists, methodology_overlap", body = Problem)))]
pub(crate) async fn publish(
    State(state): State<AppState>,
    _operator: Operator,
    headers: HeaderMap,
    RawBody(body): RawBody,
) -> ApiResult<(StatusCode, Json<MethodologyView>)> {
    // JSON by its exact media type (any case, any parameters); TOML as
    // application/toml, text/plain or with no media type; anything else 415.
    let is_json = match crate::body::media_type(&headers) {
        Some(media_type) if crate::body::is_json(&media_type) => true,
        None => false,
        Some(media_type) if ["application/toml", "text/plain"].contains(&media_type.as_str()) => false,
        Some(media_type) => {
            return Err(crate::body::unsupported(&media_type, "application/json, application/toml or text/plain"))
        }
    };
    let (source_name, text) = if is_json {
        let value: serde_json::Value = parse_json(&body)?;
        // A methodology is a JSON object; `"AAA"`, `1` or `[]` is not one.
        if !value.is_object() {
            return Err(ApiError::bad_request(
                "invalid_methodology",
                "the JSON body must be an object: `{toml, source_name}` or the methodology's keys",
            ));
        }
        if value.get("toml").is_some() {
            let request: PublishMethodology = parse_json(&body)?;
            let source_name = request.source_name.unwrap_or_else(|| "request".to_owned());
            (source_name, request.toml)
        } else {
            // The methodology itself as a JSON object, with the file's keys:
            // it is stored as the equivalent TOML.
            let document = json_to_toml(&value).map_err(|e| {
                ApiError::bad_request("invalid_methodology", format!("the JSON methodology has no TOML form: {e}"))
            })?;
            let text = toml::to_string(&document).map_err(ApiError::internal)?;
            ("request.json".to_owned(), text)
        }
    } else {
        let text = String::from_utf8(body.to_vec())
            .map_err(|_| ApiError::bad_request("malformed_body", "the methodology must be UTF-8 TOML"))?;
        ("request".to_owned(), text)
    };
    let published = state.service.publish_methodology(&source_name, &text).await?;
    let status = if published.is_new { StatusCode::CREATED } else { StatusCode::OK };
    Ok((status, Json(MethodologyView::from(&published.methodology))))
}

/// The TOML form of a JSON methodology. Written out rather than through
/// serde: with serde_json's `arbitrary_precision` (exact event inputs), a
/// JSON number reaches other serialisers as a private struct. A number is
/// an integer when its text is one, else a float (as a TOML file would
/// write it); `null` has no TOML form.
fn json_to_toml(value: &serde_json::Value) -> Result<toml::Value, String> {
    use serde_json::Value as Json;
    Ok(match value {
        Json::Null => return Err("null has no TOML form".to_owned()),
        Json::Bool(b) => toml::Value::Boolean(*b),
        Json::Number(n) => match n.as_i64() {
            Some(i) => toml::Value::Integer(i),
            None => toml::Value::Float(n.as_f64().ok_or_else(|| format!("{n} is not a number TOML can hold"))?),
        },
        Json::String(s) => toml::Value::String(s.clone()),
        Json::Array(items) => toml::Value::Array(items.iter().map(json_to_toml).collect::<Result<_, _>>()?),
        Json::Object(map) => toml::Value::Table(
            map.iter().map(|(k, v)| Ok((k.clone(), json_to_toml(v)?))).collect::<Result<_, String>>()?,
        ),
    })
}
