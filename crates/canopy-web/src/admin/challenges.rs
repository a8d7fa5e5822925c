//! Challenges on the dashboard's catalogue page: each with its dates and
//! what it paid, and creating one (`Service::create_challenge`, paid from
//! an energy pool). Writes need an admin.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::post;
use axum::Router;
use canopy_core::ids;
use canopy_core::types::Category;
use canopy_service::{NewChallenge, ServiceError};
use canopy_store::{ChallengeRow, PoolRow};
use maud::{html, Markup};

use super::catalogue::{day, render};
use super::form::{instant_utc, optional, text, time_hint, whole, Control, FormSpec, Input, Outcome};
use super::{posted_write, Admin};
use crate::Web;

/// The challenge form.
pub(crate) fn routes() -> Router<Web> {
    Router::new().route("/admin/challenges", post(create))
}

/// Creating a challenge.
pub(crate) const CREATE: FormSpec = FormSpec {
    id: "challenge-new",
    fields: &[
        "title",
        "metric",
        "category",
        "behavior",
        "goal",
        "starts_at",
        "ends_at",
        "team_size_max",
        "reward_grams",
        "pool",
    ],
    places: &[("pool_not_found", "pool")],
};

/// The challenges section of the catalogue page.
pub(crate) fn section(
    web: &Web,
    a: &Admin,
    challenges: &[ChallengeRow],
    pools: &[PoolRow],
    outcome: &Outcome,
) -> Markup {
    let none = a.t("admin-figures-none");
    let metrics = vec![
        ("reduction_grams".to_owned(), a.t("admin-challenges-metric-grams")),
        ("acts".to_owned(), a.t("admin-challenges-metric-acts")),
    ];
    let mut categories = vec![(String::new(), a.t("admin-challenges-any-category"))];
    categories.extend(
        Category::ALL
            .iter()
            .map(|c| (c.as_str().to_owned(), a.t(&format!("category-{}", c.as_str().replace('_', "-"))))),
    );
    let times = || Some(time_hint(web, a));
    html! {
        section class="card" aria-labelledby="challenges-title" {
            h2 id="challenges-title" { (a.t("admin-catalogue-challenges")) }
            div class="table-wrap" tabindex="0" { table {
                thead { tr { th scope="col" { "id" } th scope="col" { (a.t("admin-partners-name")) } th scope="col" { (a.t("admin-catalogue-dates")) }
                             th scope="col" class="num" { (a.t("admin-catalogue-paid")) } } }
                tbody {
                    @for c in challenges {
                        tr { td { code { (ids::challenge(c.id)) } } th scope="row" { (c.challenge.title) }
                             td { (day(web, c.challenge.starts_at)) " – " (day(web, c.challenge.ends_at)) } td class="num" { (c.paid_grams) } }
                    }
                    @if challenges.is_empty() { tr { td colspan="4" { (none) } } }
                }
            } }
            form class="stacked" method="post" action="/admin/challenges" novalidate {
                h3 { (a.t("admin-challenges-create")) }
                (a.csrf_field())
                (outcome.unplaced(a, &CREATE))
                (Input { form: &CREATE, name: "title", control: Control::Input("text"), label: a.t("admin-projects-title"),
                         hint: None, required: true }.render(a, outcome))
                (Input { form: &CREATE, name: "metric", control: Control::Select(metrics), label: a.t("admin-challenges-metric"),
                         hint: None, required: true }.render(a, outcome))
                (Input { form: &CREATE, name: "category", control: Control::Select(categories), label: a.t("admin-challenges-category"),
                         hint: Some(a.t("admin-challenges-category-hint")), required: false }.render(a, outcome))
                (Input { form: &CREATE, name: "behavior", control: Control::Input("text"), label: a.t("admin-challenges-behavior"),
                         hint: Some(a.t("admin-challenges-behavior-hint")), required: false }.render(a, outcome))
                (Input { form: &CREATE, name: "goal", control: Control::Input("number"), label: a.t("admin-challenges-goal"),
                         hint: Some(a.t("admin-challenges-goal-hint")), required: true }.render(a, outcome))
                (Input { form: &CREATE, name: "starts_at", control: Control::Input("datetime-local"), label: a.t("admin-form-starts"),
                         hint: times(), required: true }.render(a, outcome))
                (Input { form: &CREATE, name: "ends_at", control: Control::Input("datetime-local"), label: a.t("admin-form-ends"),
                         hint: times(), required: true }.render(a, outcome))
                (Input { form: &CREATE, name: "team_size_max", control: Control::Input("number"), label: a.t("admin-challenges-team-size"),
                         hint: None, required: true }.render(a, outcome))
                (Input { form: &CREATE, name: "reward_grams", control: Control::Input("number"), label: a.t("admin-challenges-reward"),
                         hint: Some(a.t("admin-challenges-reward-hint")), required: true }.render(a, outcome))
                (Input { form: &CREATE, name: "pool", control: Control::Select(super::pools::options(a, pools, Some("energy_grams"))),
                         label: a.t("admin-pools-pool"), hint: None, required: true }.render(a, outcome))
                button type="submit" { (a.t("admin-challenges-create-submit")) }
            }
        }
    }
}

/// Creates a challenge (`POST /admin/challenges` {title, metric, category, behavior, goal, starts_at, ends_at,
/// team_size_max, reward_grams, pool}).
pub async fn create(State(web): State<Web>, a: Admin, body: Bytes) -> Response {
    let (_, fields) = match posted_write(&web, &a, &body) {
        Ok(ok) => ok,
        Err(refused) => return refused,
    };
    let created = async {
        let typed = text(&fields, "pool");
        let pool_id = ids::parse_pool(&typed)
            .ok_or_else(|| ServiceError::not_found("pool_not_found", format!("there is no pool `{typed}`")))?;
        let new = NewChallenge {
            title: text(&fields, "title"),
            metric: text(&fields, "metric"),
            category: optional(&fields, "category"),
            behavior: optional(&fields, "behavior"),
            goal: whole(&fields, "goal", "invalid_challenge")?,
            starts_at: instant_utc(&web, &text(&fields, "starts_at"), "starts_at", "invalid_challenge")?,
            ends_at: instant_utc(&web, &text(&fields, "ends_at"), "ends_at", "invalid_challenge")?,
            team_size_max: whole(&fields, "team_size_max", "invalid_challenge")?,
            reward_grams: whole(&fields, "reward_grams", "invalid_challenge")?,
            pool_id,
        };
        web.service.create_challenge(new).await
    };
    match created.await {
        Ok(row) => {
            let notice = a.ta("admin-challenges-created", &[("id", ids::challenge(row.id).into())]);
            render(&web, &a, Outcome::done(notice), StatusCode::CREATED).await
        }
        Err(error) => render(&web, &a, Outcome::refused(&CREATE, fields, error), StatusCode::OK).await,
    }
}
