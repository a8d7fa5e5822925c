//! What the dashboard's write forms share: the outcome of the last form
//! sent on a page (which form, what was typed, the service's refusal or a
//! success notice), placing a refusal at the field it concerns, the fields'
//! markup (inputs, selects, text areas, each error tied to its field), and
//! turning typed text into the values the service takes.
//!
//! The service checks every value; the forms only translate text into its
//! inputs, as the API's routes translate JSON. Where text cannot become
//! the input's type at all (a number that is no number, details that are
//! no JSON), the form says so with the code the service's own refusal of
//! the same input would carry, placed at the field like any refusal.

use std::collections::HashMap;

use canopy_service::ServiceError;
use chrono::{DateTime, NaiveDateTime, TimeZone, Utc};
use maud::{html, Markup};

use super::Admin;
use crate::Web;

/// A form on a dashboard page: its id (the `form` the outcome names), the
/// fields it has, and where a refusal goes that does not name one of them
/// by itself: `(code or field the service names, field of this form)`.
pub(crate) struct FormSpec {
    /// The form's id, unique on its page.
    pub id: &'static str,
    /// Its fields' names.
    pub fields: &'static [&'static str],
    /// Codes and named fields placed at one of this form's fields.
    pub places: &'static [(&'static str, &'static str)],
}

impl FormSpec {
    /// The field of this form a refusal's line is about, if any: by its
    /// code, else by the field its detail names first (`details.species:
    /// …` is about `details`, `baseline.method must …` about
    /// `baseline_method`).
    fn field_of(&self, code: &str, line: &str) -> Option<&'static str> {
        if let Some((_, field)) = self.places.iter().find(|(key, _)| *key == code) {
            return Some(*field);
        }
        let named: String = line
            .chars()
            .take_while(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '_' || *c == '.')
            .collect();
        let candidates = [named.replace('.', "_"), named.split('.').next().unwrap_or_default().to_owned()];
        for candidate in candidates {
            if let Some((_, field)) = self.places.iter().find(|(key, _)| *key == candidate) {
                return Some(*field);
            }
            if let Some(field) = self.fields.iter().find(|f| **f == candidate) {
                return Some(*field);
            }
        }
        None
    }
}

/// What became of the last form sent on a page.
#[derive(Debug, Default)]
pub(crate) struct Outcome {
    /// The form that was refused (empty: none).
    form: &'static str,
    /// What was typed in it, shown again.
    typed: HashMap<String, String>,
    /// The service's refusal.
    error: Option<ServiceError>,
    /// A success notice (already in the viewer's language).
    notice: Option<String>,
}

impl Outcome {
    /// Nothing was sent.
    pub fn none() -> Outcome {
        Outcome::default()
    }

    /// A form did what it asked: `notice` says so.
    pub fn done(notice: String) -> Outcome {
        Outcome { notice: Some(notice), ..Outcome::default() }
    }

    /// Form `spec` was refused: what was typed is shown again with the error.
    pub fn refused(spec: &FormSpec, typed: HashMap<String, String>, error: ServiceError) -> Outcome {
        Outcome { form: spec.id, typed, error: Some(error), notice: None }
    }

    /// The HTTP status of a refused form, or `ok`.
    pub fn status(&self, ok: axum::http::StatusCode) -> axum::http::StatusCode {
        self.error.as_ref().map_or(ok, crate::forms::status_of)
    }

    /// What was typed in field `name` of form `spec` (empty unless that form was refused).
    pub fn typed(&self, spec: &FormSpec, name: &str) -> &str {
        if self.form != spec.id {
            return "";
        }
        self.typed.get(name).map_or("", String::as_str)
    }

    fn lines(&self) -> Vec<String> {
        self.error.as_ref().map_or_else(Vec::new, |e| e.errors.clone().unwrap_or_else(|| vec![e.detail.clone()]))
    }

    fn message(a: &Admin, error: &ServiceError, line: &str) -> Markup {
        let id = format!("error-{}", error.code.replace('_', "-"));
        if crate::i18n::has_message(&id) {
            html! { (a.t(&id)) }
        } else {
            // The service's own sentence says which rule the value broke.
            html! { (a.t("admin-form-refused")) " " span lang="en" { (line) } }
        }
    }

    /// The refusal of form `spec` at its field `field`, if it is there.
    pub fn error_at(&self, a: &Admin, spec: &FormSpec, field: &str) -> Option<Markup> {
        let error = self.error.as_ref().filter(|_| self.form == spec.id)?;
        let here: Vec<Markup> = self
            .lines()
            .iter()
            .filter(|line| spec.field_of(error.code, line) == Some(field))
            .map(|line| Self::message(a, error, line))
            .collect();
        (!here.is_empty()).then(|| html! { @for (i, m) in here.iter().enumerate() { @if i > 0 { " " } (m) } })
    }

    /// The refusal of form `spec` that concerns none of its fields, as an alert in the form.
    pub fn unplaced(&self, a: &Admin, spec: &FormSpec) -> Markup {
        let Some(error) = self.error.as_ref().filter(|_| self.form == spec.id) else {
            return html! {};
        };
        let lines: Vec<String> =
            self.lines().into_iter().filter(|line| spec.field_of(error.code, line).is_none()).collect();
        html! {
            @for line in &lines {
                p class="alert" role="alert" { (Self::message(a, error, line)) }
            }
        }
    }

    /// The success notice, if a form succeeded.
    pub fn notice(&self) -> Markup {
        html! {
            @if let Some(notice) = &self.notice {
                p class="card notice" role="status" id="notice" { (notice) }
            }
        }
    }
}

/// How a field is typed.
pub(crate) enum Control<'a> {
    /// An `input` of this type.
    Input(&'a str),
    /// A `select` of (value, label) options.
    Select(Vec<(String, String)>),
    /// A `textarea` of so many rows.
    Text(u32),
    /// A checkbox (checked when its value is not empty).
    Check,
}

/// A field of a dashboard form: its label, hint and error, the error tied
/// to it for screen readers. Its id is the form's id and its name, so two
/// forms on a page may share field names.
pub(crate) struct Input<'a> {
    /// The form it belongs to.
    pub form: &'a FormSpec,
    /// Its name.
    pub name: &'a str,
    /// How it is typed.
    pub control: Control<'a>,
    /// Its label.
    pub label: String,
    /// What to type, if said.
    pub hint: Option<String>,
    /// Whether it must be given.
    pub required: bool,
}

impl Input<'_> {
    /// The field's markup, showing `outcome`'s typed value and error.
    pub fn render(&self, a: &Admin, outcome: &Outcome) -> Markup {
        let id = format!("{}-{}", self.form.id, self.name);
        let hint_id = format!("{id}-hint");
        let error_id = format!("{id}-error");
        let error = outcome.error_at(a, self.form, self.name);
        let value = outcome.typed(self.form, self.name);
        let described = [self.hint.as_ref().map(|_| hint_id.as_str()), error.as_ref().map(|_| error_id.as_str())]
            .into_iter()
            .flatten()
            .collect::<Vec<_>>()
            .join(" ");
        let described = (!described.is_empty()).then_some(described.as_str());
        let invalid = error.as_ref().map(|_| "true");
        html! {
            div class=(if error.is_some() { "field invalid" } else { "field" }) {
                @if let Control::Check = self.control {
                    label class="check" for=(id) {
                        input id=(id) name=(self.name) type="checkbox" value="on" checked[!value.is_empty()]
                            aria-invalid=[invalid] aria-describedby=[described];
                        " " (self.label)
                    }
                } @else {
                    label for=(id) { (self.label) }
                }
                @if let Some(hint) = &self.hint { p class="hint" id=(hint_id) { (hint) } }
                @if let Some(error) = &error { p class="error" id=(error_id) { (error) } }
                @match &self.control {
                    Control::Input(kind) => {
                        input id=(id) name=(self.name) type=(kind) value=(value) required[self.required]
                            autocomplete="off" aria-invalid=[invalid] aria-describedby=[described];
                    }
                    Control::Select(options) => {
                        select id=(id) name=(self.name) required[self.required] aria-invalid=[invalid]
                            aria-describedby=[described] {
                            @for (option, label) in options {
                                option value=(option) selected[option == value] { (label) }
                            }
                        }
                    }
                    Control::Text(rows) => {
                        textarea id=(id) name=(self.name) rows=(rows) required[self.required]
                            aria-invalid=[invalid] aria-describedby=[described] { (value) }
                    }
                    Control::Check => {}
                }
            }
        }
    }
}

/// Field `name` as typed, trimmed.
pub(crate) fn text(fields: &HashMap<String, String>, name: &str) -> String {
    fields.get(name).map(|v| v.trim().to_owned()).unwrap_or_default()
}

/// Field `name` as typed, trimmed, or none when left empty.
pub(crate) fn optional(fields: &HashMap<String, String>, name: &str) -> Option<String> {
    Some(text(fields, name)).filter(|v| !v.is_empty())
}

/// Field `name` as a whole number, refused with `code` (at that field) when it is none.
pub(crate) fn whole(fields: &HashMap<String, String>, name: &str, code: &'static str) -> Result<i64, ServiceError> {
    let typed = text(fields, name);
    typed.parse().map_err(|_| ServiceError::invalid(code, format!("{name}: `{typed}` is not a whole number")))
}

/// Field `name` as a whole number, or none when left empty.
pub(crate) fn optional_whole(
    fields: &HashMap<String, String>,
    name: &str,
    code: &'static str,
) -> Result<Option<i64>, ServiceError> {
    if text(fields, name).is_empty() {
        return Ok(None);
    }
    whole(fields, name, code).map(Some)
}

/// Regions typed separated by commas or spaces, as the partners form reads them.
pub(crate) fn regions(fields: &HashMap<String, String>, name: &str) -> Vec<String> {
    text(fields, name).split([',', ' ']).map(|r| r.trim().to_ascii_uppercase()).filter(|r| !r.is_empty()).collect()
}

/// A time typed in a `datetime-local` field (`2026-07-22T18:00`), read in
/// the platform's time zone, as RFC 3339 for the service; anything else
/// (RFC 3339 pasted, or text that is no time) goes to the service as typed,
/// which accepts the one and refuses the other.
pub(crate) fn instant(web: &Web, typed: &str) -> String {
    let typed = typed.trim();
    let local = NaiveDateTime::parse_from_str(typed, "%Y-%m-%dT%H:%M")
        .or_else(|_| NaiveDateTime::parse_from_str(typed, "%Y-%m-%dT%H:%M:%S"));
    match local.ok().and_then(|naive| web.service.settings().timezone.from_local_datetime(&naive).single()) {
        Some(at) => at.to_rfc3339(),
        None => typed.to_owned(),
    }
}

/// A time for a service input that takes one (not text): as [`instant`]
/// reads it, refused with `code` at field `name` when it is no time.
pub(crate) fn instant_utc(
    web: &Web,
    typed: &str,
    name: &str,
    code: &'static str,
) -> Result<DateTime<Utc>, ServiceError> {
    DateTime::parse_from_rfc3339(&instant(web, typed))
        .map(|at| at.with_timezone(&Utc))
        .map_err(|_| ServiceError::invalid(code, format!("{name}: `{typed}` is not a time")))
}

/// What a time field's hint says: the platform's time zone the typed time
/// is read in, or RFC 3339.
pub(crate) fn time_hint(web: &Web, a: &Admin) -> String {
    a.ta("admin-form-time-hint", &[("offset", web.service.settings().timezone.to_string().into())])
}

#[cfg(test)]
mod tests {
    use super::*;

    const SPEC: FormSpec = FormSpec {
        id: "project",
        fields: &["title", "details", "baseline_method", "sponsor_id"],
        places: &[("sponsor_not_found", "sponsor_id"), ("targets", "title")],
    };

    #[test]
    fn a_refusal_is_placed_at_the_field_its_code_or_detail_names() {
        assert_eq!(SPEC.field_of("sponsor_not_found", "there is no such sponsor"), Some("sponsor_id"));
        assert_eq!(SPEC.field_of("invalid_project", "title: must be 1 to 200 characters"), Some("title"));
        assert_eq!(SPEC.field_of("invalid_project", "details.species: must be given"), Some("details"));
        assert_eq!(SPEC.field_of("invalid_program", "baseline.method must be mean_10_of_10"), Some("baseline_method"));
        assert_eq!(SPEC.field_of("invalid_event", "targets: give `region` or `user_ids`"), Some("title"));
        assert_eq!(SPEC.field_of("invalid_project", "stock: must be 0 to 10 units"), None);
        assert_eq!(SPEC.field_of("sponsor_budget_exceeded", "the budget is 3 units"), None);
    }
}
