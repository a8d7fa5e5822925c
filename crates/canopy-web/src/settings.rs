//! Settings (`/settings`): the profile (display name, region and district, each
//! error next to its field), the language (the footer's choice, posting to
//! `/lang`), privacy (who sees my forest, whether friends may collect) and
//! your data (PIPL): the export as JSON or CSV, downloaded with the session
//! cookie, and deleting the account behind a typed confirmation. Every
//! action calls the same `Service` method as the API.

use axum::body::Bytes;
use axum::extract::{RawQuery, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use canopy_core::game::friends::Forest;
use canopy_service::{Account, ErrorKind, ProfileUpdate, ServiceError};
use maud::{html, Markup};

use crate::forms::{citizen, posted, service_error_page, status_of};
use crate::i18n::Lang;
use crate::layout::{page, see_other, Field};
use crate::session::{Viewer, SESSION_COOKIE};
use crate::Web;

/// The settings page, its forms and the downloads.
pub(crate) fn routes() -> Router<Web> {
    Router::new()
        .route("/settings", get(settings))
        .route("/settings/profile", post(update_profile))
        .route("/settings/privacy", post(update_privacy))
        .route("/settings/export.json", get(export_json))
        .route("/settings/export.csv", get(export_csv))
        .route("/settings/delete", post(delete_account))
}

/// What the last attempt left to show: the values typed and one error, at
/// a field (`display_name`, `region`, `district`, `confirm`) or for the page.
#[derive(Default)]
struct Attempt {
    display_name: Option<String>,
    region: Option<String>,
    district: Option<String>,
    error: Option<(&'static str, String)>,
}

impl Attempt {
    fn at(&self, field: &str) -> Option<String> {
        self.error.as_ref().filter(|(f, _)| *f == field).map(|(_, m)| m.clone())
    }
}

fn notice(v: &Viewer, query: Option<&str>) -> Option<Markup> {
    let id = match query? {
        "saved=profile" => "settings-profile-saved",
        "saved=privacy" => "settings-privacy-saved",
        _ => return None,
    };
    Some(html! { p class="notice" role="status" { (v.t(id)) } })
}

async fn settings_page(
    web: &Web,
    v: &Viewer,
    user_id: i64,
    attempt: Attempt,
    extra: Option<Markup>,
    status: StatusCode,
) -> Response {
    let (account, privacy) = match (web.service.account(user_id).await, web.service.privacy(user_id).await) {
        (Ok(account), Ok(privacy)) => (account, privacy),
        (Err(error), _) | (_, Err(error)) => return service_error_page(v, &error),
    };
    let place = account.district().map(|d| format!("{} · {}", d.name(), d.city().name));
    let Account { user, .. } = account;
    let display_name = attempt.display_name.clone().unwrap_or(user.display_name);
    let region = attempt.region.clone().unwrap_or(user.region);
    let district = attempt.district.clone().unwrap_or(user.district.unwrap_or_default());
    let confirm_error = attempt.at("confirm");
    let body = html! {
        h1 { (v.t("settings-title")) }
        @if let Some(extra) = extra { (extra) }
        section class="card" aria-labelledby="profile-title" {
            h2 id="profile-title" { (v.t("settings-profile")) }
            p { (v.t("settings-username")) " " strong { (user.username) } }
            form class="stacked" method="post" action="/settings/profile" novalidate {
                (v.csrf_field())
                (Field { name: "display_name", kind: "text", label: v.t("signup-display-name"), hint: None,
                         value: &display_name, error: attempt.at("display_name"), autocomplete: "nickname" }.render())
                (Field { name: "region", kind: "text", label: v.t("signup-region"), hint: Some(v.t("signup-region-hint")),
                         value: &region, error: attempt.at("region"), autocomplete: "off" }.render())
                (Field { name: "district", kind: "text", label: v.t("signup-district"),
                         hint: Some(v.t("signup-district-hint")), value: &district, error: attempt.at("district"),
                         autocomplete: "off" }.render_optional())
                @if let Some(place) = place { p id="district-place" { (place) } }
                button type="submit" { (v.t("settings-profile-save")) }
            }
        }
        section class="card" aria-labelledby="language-title" {
            h2 id="language-title" { (v.t("settings-language")) }
            form class="stacked" method="post" action="/lang" {
                (v.csrf_field())
                input type="hidden" name="back" value="/settings";
                div class="field" {
                    label for="settings-lang" { (v.t("lang-switch")) }
                    select id="settings-lang" name="lang" {
                        @for lang in Lang::ALL {
                            option value=(lang.tag()) selected[lang == v.lang] { (v.t(&format!("lang-name-{}", lang.tag()))) }
                        }
                    }
                }
                button type="submit" { (v.t("lang-switch-go")) }
            }
        }
        section class="card" aria-labelledby="privacy-title" {
            h2 id="privacy-title" { (v.t("settings-privacy")) }
            form class="stacked" method="post" action="/settings/privacy" {
                (v.csrf_field())
                fieldset class="field" {
                    legend { (v.t("settings-forest")) }
                    ul class="checks" {
                        @for (forest, id) in [(Forest::Friends, "settings-forest-friends"), (Forest::Nobody, "settings-forest-nobody")] {
                            li {
                                input type="radio" id=(format!("forest-{}", forest.as_str())) name="forest"
                                    value=(forest.as_str()) checked[privacy.forest == forest];
                                label for=(format!("forest-{}", forest.as_str())) { (v.t(id)) }
                            }
                        }
                    }
                }
                div class="field" {
                    ul class="checks" {
                        li {
                            input type="checkbox" id="friends_may_collect" name="friends_may_collect" value="yes"
                                checked[privacy.friends_may_collect] aria-describedby="collect-hint";
                            label for="friends_may_collect" { (v.t("settings-friends-may-collect")) }
                        }
                    }
                    p class="hint" id="collect-hint" { (v.t("settings-friends-may-collect-hint")) }
                }
                button type="submit" { (v.t("settings-privacy-save")) }
            }
        }
        section class="card" aria-labelledby="data-title" {
            h2 id="data-title" { (v.t("settings-data")) }
            p { (v.t("settings-data-body")) }
            div class="actions" {
                a href="/settings/export.json" download { (v.t("settings-download-json")) }
                a href="/settings/export.csv" download { (v.t("settings-download-csv")) }
            }
            h3 id="delete-title" { (v.t("settings-delete")) }
            p { (v.t("settings-delete-body")) }
            form class="stacked" method="post" action="/settings/delete" novalidate {
                (v.csrf_field())
                (Field { name: "confirm", kind: "text", label: v.t("settings-delete-confirm"),
                         hint: Some(v.ta("settings-delete-confirm-hint", &[("username", user.username.as_str().into())])),
                         value: "", error: confirm_error, autocomplete: "off" }.render())
                button type="submit" class="danger" { (v.t("settings-delete-submit")) }
            }
        }
    };
    page(v, status, "/settings", &v.t("settings-title"), body)
}

/// The settings page (`GET /settings`).
pub async fn settings(State(web): State<Web>, v: Viewer, query: RawQuery) -> Response {
    let user_id = match citizen(&v) {
        Ok(user_id) => user_id,
        Err(page) => return page,
    };
    let extra = notice(&v, query.0.as_deref());
    settings_page(&web, &v, user_id, Attempt::default(), extra, StatusCode::OK).await
}

/// The message and field of a refused profile change.
fn profile_error(v: &Viewer, error: &ServiceError) -> Option<(&'static str, String)> {
    match error.code {
        "invalid_display_name" => Some(("display_name", v.t("error-invalid-display-name"))),
        "invalid_region" => Some(("region", v.t("error-invalid-region"))),
        "invalid_district" => Some(("district", v.t("error-invalid-district"))),
        _ => None,
    }
}

/// Changes the profile (`POST /settings/profile`).
pub async fn update_profile(State(web): State<Web>, v: Viewer, body: Bytes) -> Response {
    let (user_id, fields) = match posted(&v, &body) {
        Ok(posted) => posted,
        Err(page) => return page,
    };
    let display_name = fields.get("display_name").cloned().unwrap_or_default();
    let region = fields.get("region").cloned().unwrap_or_default();
    let district = fields.get("district").cloned().unwrap_or_default();
    // The form always shows the district: left empty, it clears it.
    let update = ProfileUpdate {
        display_name: Some(display_name.clone()),
        region: Some(region.clone()),
        district: Some(crate::accounts::optional(&district)),
    };
    match web.service.update_profile(user_id, update).await {
        Ok(_) => see_other("/settings?saved=profile", Vec::new()),
        Err(error) => match profile_error(&v, &error) {
            Some(at) => {
                let attempt = Attempt {
                    display_name: Some(display_name),
                    region: Some(region),
                    district: Some(district),
                    error: Some(at),
                };
                settings_page(&web, &v, user_id, attempt, None, status_of(&error)).await
            }
            None => service_error_page(&v, &error),
        },
    }
}

/// Changes the privacy (`POST /settings/privacy`).
pub async fn update_privacy(State(web): State<Web>, v: Viewer, body: Bytes) -> Response {
    let (user_id, fields) = match posted(&v, &body) {
        Ok(posted) => posted,
        Err(page) => return page,
    };
    let forest = fields.get("forest").cloned().unwrap_or_default();
    let may_collect = fields.get("friends_may_collect").is_some_and(|v| v == "yes");
    match web.service.set_privacy(user_id, &forest, may_collect).await {
        Ok(_) => see_other("/settings?saved=privacy", Vec::new()),
        Err(error) => service_error_page(&v, &error),
    }
}

/// The export as a download, for the session cookie's citizen.
async fn export(web: &Web, v: &Viewer, csv: bool) -> Response {
    let user_id = match citizen(v) {
        Ok(user_id) => user_id,
        Err(page) => return page,
    };
    let export = match web.service.export_data(user_id).await {
        Ok(export) => export,
        Err(error) => return service_error_page(v, &error),
    };
    let (content_type, name, text) = if csv {
        ("text/csv; charset=utf-8", "canopy-export.csv", export.to_csv())
    } else {
        ("application/json", "canopy-export.json", export.to_json().to_string())
    };
    let disposition = format!("attachment; filename=\"{name}\"");
    let mut response =
        ([(header::CONTENT_TYPE, content_type.to_owned()), (header::CONTENT_DISPOSITION, disposition)], text)
            .into_response();
    crate::layout::secure_headers(&mut response);
    response.headers_mut().insert(header::CACHE_CONTROL, header::HeaderValue::from_static("no-store"));
    response
}

/// Everything Canopy holds about the citizen, as JSON (`GET /settings/export.json`).
pub async fn export_json(State(web): State<Web>, v: Viewer) -> Response {
    export(&web, &v, false).await
}

/// Everything Canopy holds about the citizen, as CSV (`GET /settings/export.csv`).
pub async fn export_csv(State(web): State<Web>, v: Viewer) -> Response {
    export(&web, &v, true).await
}

/// Deletes the account once the username is typed (`POST /settings/delete`):
/// the session cookie goes and the welcome page says so.
pub async fn delete_account(State(web): State<Web>, v: Viewer, body: Bytes) -> Response {
    let (user_id, fields) = match posted(&v, &body) {
        Ok(posted) => posted,
        Err(page) => return page,
    };
    let account = match web.service.account(user_id).await {
        Ok(account) => account,
        Err(error) => return service_error_page(&v, &error),
    };
    let typed = fields.get("confirm").map(|c| c.trim()).unwrap_or_default();
    if typed != account.user.username {
        let attempt = Attempt { error: Some(("confirm", v.t("settings-delete-mismatch"))), ..Attempt::default() };
        return settings_page(&web, &v, user_id, attempt, None, StatusCode::BAD_REQUEST).await;
    }
    match web.service.delete_account(user_id).await {
        Ok(()) => see_other("/?deleted=1", vec![v.cookie(SESSION_COOKIE, "", 0)]),
        Err(error) if error.kind == ErrorKind::Unauthorized => see_other("/", vec![v.cookie(SESSION_COOKIE, "", 0)]),
        Err(error) => service_error_page(&v, &error),
    }
}
