//! Methodologies on the dashboard (`/admin/methodologies`): the list (with
//! what supersedes what), one methodology, and publishing a new version from
//! an uploaded file or pasted TOML. The service validates; each of its
//! errors is shown next to its line in a numbered listing of the text (the
//! line a TOML syntax error names, or the line of the field it names).
//! Superseding is publishing a version whose file says `supersedes =
//! "<version>"`: a methodology's page offers a draft of it (the published
//! text with the version moved on and `valid_from` tomorrow) to edit.

use std::collections::HashMap;

use axum::extract::{FromRequest, Multipart, Path, Query, Request, State};
use axum::http::{header, StatusCode};
use axum::response::Response;
use axum::routing::get;
use axum::Router;
use canopy_service::ServiceError;
use maud::{html, Markup};

use super::{page, service_error_page, signed, writable, Admin};
use crate::layout::{see_other, Field};
use crate::Web;

/// The longest methodology text accepted from the form, in bytes.
const TEXT_MAX: usize = 64 * 1024;

/// The methodology pages.
pub(crate) fn routes() -> Router<Web> {
    Router::new()
        .route("/admin/methodologies", get(list).post(publish))
        .route("/admin/methodologies/{id}/{version}", get(view))
}

/// The 1-based line of `text` an error is about: the line a TOML syntax
/// error gives, else the line of the field it names (`a.b.key`: the line
/// `key = …` under the table `[a.b]`, or at the top for a top-level key).
pub fn line_of(text: &str, error: &str) -> Option<usize> {
    let rest = error.split_once(": ").map_or(error, |(_, rest)| rest);
    if let Some(after) = rest.strip_prefix("line ") {
        return after.split(',').next().and_then(|n| n.trim().parse().ok());
    }
    let field = rest.split(": ").next()?;
    if field.contains(' ') || field.is_empty() {
        return None;
    }
    let (table, key) = match field.rsplit_once('.') {
        Some((table, key)) => (Some(table), key),
        None => (None, field),
    };
    let mut in_table = table.is_none();
    let mut table_line = None;
    for (i, line) in text.lines().enumerate() {
        let trimmed = line.trim();
        if trimmed.starts_with('[') {
            let name = trimmed.trim_matches(|c| c == '[' || c == ']').trim();
            in_table = table == Some(name);
            if in_table {
                table_line = Some(i + 1);
            }
            continue;
        }
        let named = trimmed.split('=').next().map(str::trim);
        if in_table && named == Some(key) && trimmed.contains('=') {
            return Some(i + 1);
        }
    }
    table_line
}

fn listing(a: &Admin, text: &str, errors: &[String]) -> Markup {
    let located: Vec<(Option<usize>, &String)> = errors.iter().map(|e| (line_of(text, e), e)).collect();
    html! {
        @let unplaced: Vec<&String> = located.iter().filter(|(l, _)| l.is_none()).map(|(_, e)| *e).collect();
        @if !unplaced.is_empty() {
            ul class="alert" role="alert" { @for e in unplaced { li { (e) } } }
        }
        ol class="listing" aria-label=(a.t("admin-methodologies-listing")) {
            @for (i, line) in text.lines().enumerate() {
                @let here: Vec<&String> = located.iter().filter(|(l, _)| *l == Some(i + 1)).map(|(_, e)| *e).collect();
                @if here.is_empty() {
                    li { code { (line) } }
                } @else {
                    li class="error-line" id=(format!("line-{}", i + 1)) {
                        code { (line) }
                        @for e in here { p class="error" { (a.ta("admin-methodologies-error-at", &[("line", (i + 1).into())])) " " (e) } }
                    }
                }
            }
        }
    }
}

async fn methodologies_page(
    web: &Web,
    a: &Admin,
    name: &str,
    text: &str,
    failure: Option<&ServiceError>,
    status: StatusCode,
) -> Response {
    let registry = match web.service.methodologies().await {
        Ok(registry) => registry,
        Err(e) => return service_error_page(a, &e),
    };
    let mut all: Vec<_> = registry.iter().cloned().collect();
    all.sort_by(|x, y| (x.id.as_str(), x.version.as_str()).cmp(&(y.id.as_str(), y.version.as_str())));
    let body = html! {
        h1 { (a.t("admin-methodologies-title")) }
        @if let Some(e) = failure {
            section class="card" aria-labelledby="publish-errors" {
                h2 id="publish-errors" class="error" { (a.t("admin-methodologies-refused")) }
                @let errors = e.errors.clone().unwrap_or_else(|| vec![e.detail.clone()]);
                (listing(a, text, &errors))
            }
        }
        form class="stacked card" id="publish" method="post" action="/admin/methodologies" enctype="multipart/form-data" novalidate {
            h2 { (a.t("admin-methodologies-publish")) }
            (a.csrf_field())
            div class="field" {
                label for="file" { (a.t("admin-methodologies-file")) }
                p class="hint" id="file-hint" { (a.t("admin-methodologies-file-hint")) }
                input type="file" id="file" name="file" accept=".toml,text/plain" aria-describedby="file-hint";
            }
            (Field { name: "source_name", kind: "text", label: a.t("admin-methodologies-source-name"),
                     hint: Some(a.t("admin-methodologies-source-name-hint")), value: name, error: None, autocomplete: "off" }.render())
            div class="field" {
                label for="text" { (a.t("admin-methodologies-text")) }
                p class="hint" id="text-hint" { (a.t("admin-methodologies-text-hint")) }
                textarea id="text" name="text" rows="16" aria-describedby="text-hint" { (text) }
            }
            button type="submit" { (a.t("admin-methodologies-publish-submit")) }
        }
        div class="table-wrap" tabindex="0" { table {
            caption { (a.t("admin-methodologies-list")) }
            thead { tr {
                th scope="col" { (a.t("admin-methodologies-id")) }
                th scope="col" { (a.t("admin-methodologies-behavior")) }
                th scope="col" { (a.t("admin-methodologies-valid")) }
                th scope="col" { (a.t("admin-methodologies-superseded-by")) }
            } }
            tbody {
                @for m in &all {
                    @let (from, to) = registry.effective_dates(m);
                    tr {
                        td { a href=(format!("/admin/methodologies/{}/{}", m.id, m.version)) { (m.id) "@" (m.version) } }
                        td { (m.behavior) }
                        td { (from) " – " (to.map(|d| d.to_string()).unwrap_or_default()) }
                        td { (registry.superseded_by(m).map(|s| s.new_version.clone()).unwrap_or_default()) }
                    }
                }
            }
        } }
    };
    page(a, status, "/admin/methodologies", &a.t("admin-methodologies-title"), body)
}

/// The methodologies and the publish form (`GET /admin/methodologies`);
/// with `?supersede=<id>@<version>`, the form holds a draft of the version
/// that supersedes it.
pub async fn list(State(web): State<Web>, a: Admin, Query(q): Query<HashMap<String, String>>) -> Response {
    if let Err(to_login) = signed(&a) {
        return to_login;
    }
    let Some((id, version)) = q.get("supersede").and_then(|s| s.split_once('@')) else {
        return methodologies_page(&web, &a, "", "", None, StatusCode::OK).await;
    };
    let published = match web.service.methodology_source(id, version).await {
        Ok(published) => published,
        Err(e) => return service_error_page(&a, &e),
    };
    let tomorrow =
        web.service.now().with_timezone(&web.service.settings().timezone).date_naive() + chrono::Days::new(1);
    let draft = canopy_core::methodology::superseding_draft(&published.source_text, version, tomorrow);
    let name = format!("{id}-{}.toml", canopy_core::methodology::next_version(version));
    methodologies_page(&web, &a, &name, &draft, None, StatusCode::OK).await
}

/// A publish form's fields, posted as `multipart/form-data` (with the file
/// `file`, whose text and name stand in for `text` and `source_name` when
/// those are empty) or urlencoded. `Err` is the answer to a form that
/// cannot be read.
async fn publish_form(a: &Admin, request: Request) -> Result<HashMap<String, String>, Response> {
    let multipart = request
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.to_ascii_lowercase().starts_with("multipart/form-data"));
    let unreadable = || super::error_page(a, StatusCode::BAD_REQUEST, "error-refused");
    if !multipart {
        let body = axum::body::to_bytes(request.into_body(), 2 * TEXT_MAX).await.map_err(|_| too_large(a))?;
        return Ok(crate::forms::form(&body));
    }
    let mut form = Multipart::from_request(request, &()).await.map_err(|_| unreadable())?;
    let mut fields = HashMap::new();
    let mut file: Option<(String, String)> = None;
    while let Some(field) = form.next_field().await.map_err(|_| unreadable())? {
        let name = field.name().unwrap_or_default().to_owned();
        let file_name = field.file_name().map(str::to_owned);
        let bytes = field.bytes().await.map_err(|_| too_large(a))?;
        if bytes.len() > TEXT_MAX {
            return Err(too_large(a));
        }
        let text = String::from_utf8(bytes.to_vec()).map_err(|_| unreadable())?;
        if name == "file" {
            file = Some((file_name.unwrap_or_default(), text));
        } else {
            fields.insert(name, text);
        }
    }
    if let Some((file_name, text)) = file.filter(|(_, text)| !text.is_empty()) {
        if fields.get("text").is_none_or(|t| t.trim().is_empty()) {
            fields.insert("text".to_owned(), text);
        }
        if fields.get("source_name").is_none_or(|n| n.trim().is_empty()) {
            fields.insert("source_name".to_owned(), file_name);
        }
    }
    Ok(fields)
}

fn too_large(a: &Admin) -> Response {
    super::error_page(a, StatusCode::PAYLOAD_TOO_LARGE, "admin-methodologies-too-large")
}

/// Publishes a new version (`POST /admin/methodologies` {file | source_name,
/// text}, multipart or urlencoded).
pub async fn publish(State(web): State<Web>, a: Admin, request: Request) -> Response {
    let fields = match publish_form(&a, request).await {
        Ok(fields) => fields,
        Err(refused) => return refused,
    };
    let (_, fields) = match writable(&web, &a, fields) {
        Ok(ok) => ok,
        Err(refused) => return refused,
    };
    let name = fields.get("source_name").cloned().unwrap_or_default();
    let text = fields.get("text").cloned().unwrap_or_default().replace("\r\n", "\n");
    if text.len() > TEXT_MAX {
        let error =
            ServiceError::new(canopy_service::ErrorKind::TooLarge, "too_large", format!("at most {TEXT_MAX} bytes"));
        return methodologies_page(&web, &a, &name, "", Some(&error), StatusCode::PAYLOAD_TOO_LARGE).await;
    }
    match web.service.publish_methodology(&name, &text).await {
        Ok(published) => see_other(
            &format!("/admin/methodologies/{}/{}", published.methodology.id, published.methodology.version),
            Vec::new(),
        ),
        Err(error) => {
            let status = crate::forms::status_of(&error);
            methodologies_page(&web, &a, &name, &text, Some(&error), status).await
        }
    }
}

/// One methodology (`GET /admin/methodologies/{id}/{version}`).
pub async fn view(State(web): State<Web>, a: Admin, Path((id, version)): Path<(String, String)>) -> Response {
    if let Err(to_login) = signed(&a) {
        return to_login;
    }
    let registry = match web.service.methodologies().await {
        Ok(registry) => registry,
        Err(e) => return service_error_page(&a, &e),
    };
    let Some(m) = registry.get(&id, &version) else {
        return super::error_page(&a, StatusCode::NOT_FOUND, "error-not-found");
    };
    let (from, to) = registry.effective_dates(m);
    let body = html! {
        h1 { (m.title) }
        dl class="card" {
            dt { (a.t("admin-methodologies-id")) } dd { (m.id) "@" (m.version) }
            dt { (a.t("admin-methodologies-behavior")) } dd { (m.behavior) " (" (m.category.as_str()) ")" }
            dt { (a.t("admin-methodologies-issuer")) } dd { (m.issuer) " — " (m.source) }
            dt { (a.t("admin-methodologies-regions")) } dd { (m.regions.iter().map(|r| r.to_string()).collect::<Vec<_>>().join(", ")) }
            dt { (a.t("admin-methodologies-valid")) } dd { (from) " – " (to.map(|d| d.to_string()).unwrap_or_default()) }
            dt { (a.t("admin-methodologies-superseded-by")) } dd { (registry.superseded_by(m).map(|s| s.new_version.clone()).unwrap_or_default()) }
        }
        @if registry.superseded_by(m).is_none() {
            form method="get" action="/admin/methodologies" class="card" {
                input type="hidden" name="supersede" value=(format!("{}@{}", m.id, m.version));
                p class="hint" { (a.t("admin-methodologies-supersede-hint")) }
                button type="submit" { (a.t("admin-methodologies-supersede")) }
            }
        }
        p { a href="/admin/methodologies" { (a.t("admin-methodologies-back")) } }
    };
    page(&a, StatusCode::OK, "/admin/methodologies", &m.title, body)
}

#[cfg(test)]
mod tests {
    use super::line_of;

    const TEXT: &str = "id = \"x\"\nversion = \"1\"\n\n[inputs.distance_km]\nunit = \"km\"\nmaximum = \"fifty\"\n\n[formula]\nbaseline = \"1\"\n";

    #[test]
    fn errors_are_placed_at_their_line() {
        assert_eq!(line_of(TEXT, "x.toml: line 3, column 2: expected `=`"), Some(3));
        assert_eq!(line_of(TEXT, "x.toml: inputs.distance_km.maximum: must be a number"), Some(6));
        assert_eq!(line_of(TEXT, "x.toml: version: must be text"), Some(2));
        assert_eq!(line_of(TEXT, "x.toml: formula.project: is required"), Some(8), "a missing key: its table");
        assert_eq!(line_of(TEXT, "x.toml: the baseline may be below the project"), None);
    }
}
