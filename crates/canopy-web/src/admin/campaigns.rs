//! Campaigns on the dashboard's catalogue page: each with what was given,
//! what was retired and whether it matches; creating a campaign
//! (`Service::create_campaign`) and recording credits a sponsor retired
//! for one (`Service::record_retirement`). Writes need an admin.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::post;
use axum::Router;
use canopy_core::ids;
use canopy_core::redemption::campaign::Standing;
use canopy_service::{NewCampaign, Retirement, ServiceError};
use canopy_store::{CampaignRow, SponsorRow};
use maud::{html, Markup};

use super::catalogue::{render, sponsor_options};
use super::form::{instant, optional, text, time_hint, whole, Control, FormSpec, Input, Outcome};
use super::{posted_write, Admin};
use crate::Web;

/// The campaign forms.
pub(crate) fn routes() -> Router<Web> {
    Router::new().route("/admin/campaigns", post(create)).route("/admin/campaigns/retirements", post(retire))
}

/// Creating a campaign.
pub(crate) const CREATE: FormSpec = FormSpec {
    id: "campaign-new",
    fields: &[
        "title",
        "beneficiary",
        "goal_grams",
        "per_person_limit_grams",
        "match_ratio",
        "sponsor_id",
        "starts_at",
        "ends_at",
    ],
    places: &[("sponsor_not_found", "sponsor_id")],
};

/// Recording a retirement.
pub(crate) const RETIRE: FormSpec = FormSpec {
    id: "retirement-new",
    fields: &["campaign", "registry", "serial_first", "serial_last", "quantity_t", "retired_at", "beneficiary"],
    places: &[("campaign_not_found", "campaign"), ("serial_range_overlaps", "serial_first")],
};

/// The campaigns section of the catalogue page.
pub(crate) fn section(
    web: &Web,
    a: &Admin,
    campaigns: &[(CampaignRow, Standing)],
    sponsors: &[SponsorRow],
    outcome: &Outcome,
) -> Markup {
    let none = a.t("admin-figures-none");
    let mut choices = vec![(String::new(), a.t("admin-form-choose"))];
    choices
        .extend(campaigns.iter().map(|(c, _)| (ids::campaign(c.id), format!("{} · {}", ids::campaign(c.id), c.title))));
    let times = || Some(time_hint(web, a));
    html! {
        section class="card" aria-labelledby="campaigns-title" {
            h2 id="campaigns-title" { (a.t("admin-catalogue-campaigns")) }
            div class="table-wrap" tabindex="0" { table {
                thead { tr { th scope="col" { "id" } th scope="col" { (a.t("admin-partners-name")) } th scope="col" class="num" { (a.t("admin-catalogue-given")) }
                             th scope="col" class="num" { (a.t("admin-catalogue-retired")) } th scope="col" { (a.t("admin-catalogue-matched")) } } }
                tbody {
                    @for (c, s) in campaigns {
                        tr { td { a href=(format!("/campaigns/{}", ids::campaign(c.id))) { code { (ids::campaign(c.id)) } } } th scope="row" { (c.title) }
                             td class="num" { (c.contributed_grams) } td class="num" { (s.retired_grams) }
                             td { (if s.matched { a.t("admin-catalogue-yes") } else { a.t("admin-catalogue-no") }) } }
                    }
                    @if campaigns.is_empty() { tr { td colspan="5" { (none) } } }
                }
            } }
            form class="stacked" method="post" action="/admin/campaigns" novalidate {
                h3 { (a.t("admin-campaigns-create")) }
                (a.csrf_field())
                (outcome.unplaced(a, &CREATE))
                (Input { form: &CREATE, name: "title", control: Control::Input("text"), label: a.t("admin-projects-title"),
                         hint: None, required: true }.render(a, outcome))
                (Input { form: &CREATE, name: "beneficiary", control: Control::Input("text"), label: a.t("admin-campaigns-beneficiary"),
                         hint: None, required: true }.render(a, outcome))
                (Input { form: &CREATE, name: "goal_grams", control: Control::Input("number"), label: a.t("admin-campaigns-goal"),
                         hint: None, required: true }.render(a, outcome))
                (Input { form: &CREATE, name: "per_person_limit_grams", control: Control::Input("number"),
                         label: a.t("admin-campaigns-per-person"), hint: Some(a.t("admin-campaigns-per-person-hint")), required: true }.render(a, outcome))
                (Input { form: &CREATE, name: "match_ratio", control: Control::Input("text"), label: a.t("admin-campaigns-ratio"),
                         hint: Some(a.t("admin-campaigns-ratio-hint")), required: false }.render(a, outcome))
                (Input { form: &CREATE, name: "sponsor_id", control: Control::Select(sponsor_options(a, sponsors)),
                         label: a.t("admin-catalogue-sponsor"), hint: Some(a.t("admin-projects-sponsor-hint")), required: true }.render(a, outcome))
                (Input { form: &CREATE, name: "starts_at", control: Control::Input("datetime-local"), label: a.t("admin-form-starts"),
                         hint: times(), required: true }.render(a, outcome))
                (Input { form: &CREATE, name: "ends_at", control: Control::Input("datetime-local"), label: a.t("admin-form-ends"),
                         hint: times(), required: true }.render(a, outcome))
                button type="submit" { (a.t("admin-campaigns-create-submit")) }
            }
            form class="stacked" method="post" action="/admin/campaigns/retirements" novalidate {
                h3 { (a.t("admin-campaigns-retire")) }
                (a.csrf_field())
                (outcome.unplaced(a, &RETIRE))
                (Input { form: &RETIRE, name: "campaign", control: Control::Select(choices), label: a.t("admin-campaigns-campaign"),
                         hint: None, required: true }.render(a, outcome))
                (Input { form: &RETIRE, name: "registry", control: Control::Input("text"), label: a.t("admin-campaigns-registry"),
                         hint: Some(a.t("admin-campaigns-registry-hint")), required: true }.render(a, outcome))
                (Input { form: &RETIRE, name: "serial_first", control: Control::Input("text"), label: a.t("admin-campaigns-serial-first"),
                         hint: Some(a.t("admin-campaigns-serial-hint")), required: true }.render(a, outcome))
                (Input { form: &RETIRE, name: "serial_last", control: Control::Input("text"), label: a.t("admin-campaigns-serial-last"),
                         hint: None, required: true }.render(a, outcome))
                (Input { form: &RETIRE, name: "quantity_t", control: Control::Input("number"), label: a.t("admin-campaigns-quantity"),
                         hint: Some(a.t("admin-campaigns-quantity-hint")), required: true }.render(a, outcome))
                (Input { form: &RETIRE, name: "retired_at", control: Control::Input("datetime-local"), label: a.t("admin-campaigns-retired-at"),
                         hint: times(), required: true }.render(a, outcome))
                (Input { form: &RETIRE, name: "beneficiary", control: Control::Input("text"), label: a.t("admin-campaigns-on-behalf"),
                         hint: None, required: true }.render(a, outcome))
                button type="submit" { (a.t("admin-campaigns-retire-submit")) }
            }
        }
    }
}

/// Creates a campaign (`POST /admin/campaigns` {title, beneficiary, goal_grams, per_person_limit_grams,
/// match_ratio, sponsor_id, starts_at, ends_at}).
pub async fn create(State(web): State<Web>, a: Admin, body: Bytes) -> Response {
    let (_, fields) = match posted_write(&web, &a, &body) {
        Ok(ok) => ok,
        Err(refused) => return refused,
    };
    let created = async {
        let typed = text(&fields, "sponsor_id");
        let sponsor_id = ids::parse_sponsor(&typed)
            .ok_or_else(|| ServiceError::not_found("sponsor_not_found", format!("there is no sponsor `{typed}`")))?;
        let new = NewCampaign {
            title: text(&fields, "title"),
            beneficiary: text(&fields, "beneficiary"),
            goal_grams: whole(&fields, "goal_grams", "invalid_campaign")?,
            per_person_limit_grams: whole(&fields, "per_person_limit_grams", "invalid_campaign")?,
            // The API's default when the ratio is left out.
            match_ratio: optional(&fields, "match_ratio").unwrap_or_else(|| "1.0".to_owned()),
            sponsor_id,
            starts_at: instant(&web, &text(&fields, "starts_at")),
            ends_at: instant(&web, &text(&fields, "ends_at")),
        };
        web.service.create_campaign(new).await
    };
    match created.await {
        Ok(view) => {
            let notice = a.ta("admin-campaigns-created", &[("id", ids::campaign(view.row.id).into())]);
            render(&web, &a, Outcome::done(notice), StatusCode::CREATED).await
        }
        Err(error) => render(&web, &a, Outcome::refused(&CREATE, fields, error), StatusCode::OK).await,
    }
}

/// Records credits retired for a campaign (`POST /admin/campaigns/retirements` {campaign, registry,
/// serial_first, serial_last, quantity_t, retired_at, beneficiary}).
pub async fn retire(State(web): State<Web>, a: Admin, body: Bytes) -> Response {
    let (_, fields) = match posted_write(&web, &a, &body) {
        Ok(ok) => ok,
        Err(refused) => return refused,
    };
    let typed = text(&fields, "campaign");
    let recorded = async {
        let campaign = ids::parse_campaign(&typed)
            .ok_or_else(|| ServiceError::not_found("campaign_not_found", format!("there is no campaign `{typed}`")))?;
        let retirement = Retirement {
            registry: text(&fields, "registry"),
            serial_first: text(&fields, "serial_first"),
            serial_last: text(&fields, "serial_last"),
            quantity_t: whole(&fields, "quantity_t", "invalid_campaign")?,
            retired_at: instant(&web, &text(&fields, "retired_at")),
            beneficiary: text(&fields, "beneficiary"),
        };
        web.service.record_retirement(campaign, retirement).await
    };
    match recorded.await {
        Ok(retirement) => {
            let args = [("tonnes", retirement.quantity_t.to_string().into()), ("id", typed.clone().into())];
            render(&web, &a, Outcome::done(a.ta("admin-campaigns-retired", &args)), StatusCode::CREATED).await
        }
        Err(error) => render(&web, &a, Outcome::refused(&RETIRE, fields, error), StatusCode::OK).await,
    }
}
