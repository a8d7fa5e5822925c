//! Pools on the dashboard's catalogue page: the list with balances,
//! creating a pool (`Service::create_pool`) and funding one
//! (`Service::fund_pool`). Writes need an admin (the service refuses an
//! analyst).

use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::post;
use axum::Router;
use canopy_core::ids;
use canopy_service::{NewPool, ServiceError};
use canopy_store::PoolRow;
use maud::{html, Markup};

use super::catalogue::render;
use super::form::{optional, text, whole, Control, FormSpec, Input, Outcome};
use super::{posted_write, Admin};
use crate::Web;

/// The pool forms.
pub(crate) fn routes() -> Router<Web> {
    Router::new().route("/admin/pools", post(create)).route("/admin/pools/fund", post(fund))
}

/// Creating a pool.
pub(crate) const CREATE: FormSpec =
    FormSpec { id: "pool-new", fields: &["name", "sponsor", "unit", "purpose"], places: &[("invalid_unit", "unit")] };

/// Funding a pool.
pub(crate) const FUND: FormSpec = FormSpec {
    id: "pool-fund",
    fields: &["pool", "amount"],
    places: &[("pool_not_found", "pool"), ("invalid_amount", "amount")],
};

/// The pools as (id, "name (unit)") options of a select, those of `unit` only when given.
pub(crate) fn options(a: &Admin, pools: &[PoolRow], unit: Option<&str>) -> Vec<(String, String)> {
    let mut options = vec![(String::new(), a.t("admin-form-choose"))];
    options.extend(
        pools
            .iter()
            .filter(|p| unit.is_none_or(|u| p.unit.as_str() == u))
            .map(|p| (ids::pool(p.id), format!("{} · {} ({})", ids::pool(p.id), p.name, p.unit.as_str()))),
    );
    options
}

/// The pools section of the catalogue page.
pub(crate) fn section(a: &Admin, pools: &[PoolRow], outcome: &Outcome) -> Markup {
    let none = a.t("admin-figures-none");
    let units = vec![
        ("energy_grams".to_owned(), a.t("admin-pools-unit-energy")),
        ("fen".to_owned(), a.t("admin-pools-unit-fen")),
    ];
    let purposes = vec![
        (String::new(), a.t("admin-pools-purpose-none")),
        ("checkins".to_owned(), a.t("admin-pools-purpose-checkins")),
    ];
    html! {
        section class="card" aria-labelledby="pools-title" {
            h2 id="pools-title" { (a.t("admin-catalogue-pools")) }
            div class="table-wrap" tabindex="0" { table {
                thead { tr { th scope="col" { "id" } th scope="col" { (a.t("admin-partners-name")) } th scope="col" { (a.t("admin-catalogue-sponsor")) }
                             th scope="col" { (a.t("admin-catalogue-unit")) } th scope="col" class="num" { (a.t("admin-catalogue-balance")) } } }
                tbody {
                    @for p in pools {
                        tr { td { code { (ids::pool(p.id)) } } th scope="row" { (p.name) } td { (p.sponsor) } td { (p.unit.as_str()) } td class="num" { (p.balance) } }
                    }
                    @if pools.is_empty() { tr { td colspan="5" { (none) } } }
                }
            } }
            form class="stacked" method="post" action="/admin/pools" novalidate {
                h3 { (a.t("admin-pools-create")) }
                (a.csrf_field())
                (outcome.unplaced(a, &CREATE))
                (Input { form: &CREATE, name: "name", control: Control::Input("text"), label: a.t("admin-partners-name"),
                         hint: None, required: true }.render(a, outcome))
                (Input { form: &CREATE, name: "sponsor", control: Control::Input("text"), label: a.t("admin-catalogue-sponsor"),
                         hint: Some(a.t("admin-pools-sponsor-hint")), required: true }.render(a, outcome))
                (Input { form: &CREATE, name: "unit", control: Control::Select(units), label: a.t("admin-catalogue-unit"),
                         hint: None, required: true }.render(a, outcome))
                (Input { form: &CREATE, name: "purpose", control: Control::Select(purposes), label: a.t("admin-pools-purpose"),
                         hint: None, required: false }.render(a, outcome))
                button type="submit" { (a.t("admin-pools-create-submit")) }
            }
            form class="stacked" method="post" action="/admin/pools/fund" novalidate {
                h3 { (a.t("admin-pools-fund")) }
                (a.csrf_field())
                (outcome.unplaced(a, &FUND))
                (Input { form: &FUND, name: "pool", control: Control::Select(options(a, pools, None)),
                         label: a.t("admin-pools-pool"), hint: None, required: true }.render(a, outcome))
                (Input { form: &FUND, name: "amount", control: Control::Input("number"), label: a.t("admin-pools-amount"),
                         hint: Some(a.t("admin-pools-amount-hint")), required: true }.render(a, outcome))
                button type="submit" { (a.t("admin-pools-fund-submit")) }
            }
        }
    }
}

/// Creates a pool (`POST /admin/pools` {name, sponsor, unit, purpose}).
pub async fn create(State(web): State<Web>, a: Admin, body: Bytes) -> Response {
    let (_, fields) = match posted_write(&web, &a, &body) {
        Ok(ok) => ok,
        Err(refused) => return refused,
    };
    let new = NewPool {
        name: text(&fields, "name"),
        sponsor: text(&fields, "sponsor"),
        unit: optional(&fields, "unit"),
        purpose: optional(&fields, "purpose"),
    };
    match web.service.create_pool(new).await {
        Ok(pool) => {
            let notice = a.ta("admin-pools-created", &[("id", ids::pool(pool.id).into())]);
            render(&web, &a, Outcome::done(notice), StatusCode::CREATED).await
        }
        Err(error) => render(&web, &a, Outcome::refused(&CREATE, fields, error), StatusCode::OK).await,
    }
}

/// Funds a pool (`POST /admin/pools/fund` {pool, amount}).
pub async fn fund(State(web): State<Web>, a: Admin, body: Bytes) -> Response {
    let (_, fields) = match posted_write(&web, &a, &body) {
        Ok(ok) => ok,
        Err(refused) => return refused,
    };
    let funded = async {
        let typed = text(&fields, "pool");
        let pool = ids::parse_pool(&typed)
            .ok_or_else(|| ServiceError::not_found("pool_not_found", format!("there is no pool `{typed}`")))?;
        web.service.fund_pool(pool, whole(&fields, "amount", "invalid_amount")?).await
    };
    match funded.await {
        Ok(pool) => {
            let args = [("id", ids::pool(pool.id).into()), ("balance", pool.balance.to_string().into())];
            render(&web, &a, Outcome::done(a.ta("admin-pools-funded", &args)), StatusCode::OK).await
        }
        Err(error) => render(&web, &a, Outcome::refused(&FUND, fields, error), StatusCode::OK).await,
    }
}
