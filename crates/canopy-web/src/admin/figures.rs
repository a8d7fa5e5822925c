//! The dashboard's front page (`/admin`): the city's figures over a window of
//! days as charts and tables, and the same figures as CSV
//! (`/admin/figures.csv`), both from the service's `city_figures`, the call
//! the API's `/v1/admin/figures` makes.

use axum::extract::{Query, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use canopy_core::types::Category;
use canopy_service::{Figures, PlaceTally, Tally, UNKNOWN_PLACE};
use maud::{html, Markup};
use serde::Deserialize;

use super::{page, service_error_page, signed, Admin};
use crate::charts::{stacked_bars, Series};
use crate::Web;

/// The figures and their CSV.
pub(crate) fn routes() -> Router<Web> {
    Router::new().route("/admin", get(dashboard)).route("/admin/figures.csv", get(csv))
}

/// The window asked for (both empty: the last 30 days).
#[derive(Debug, Default, Deserialize)]
pub struct Window {
    from: Option<String>,
    to: Option<String>,
}

fn window(web: &Web, w: &Window) -> (String, String) {
    let today = web.service.now().with_timezone(&web.service.settings().timezone).date_naive();
    let to = w.to.clone().filter(|t| !t.is_empty()).unwrap_or_else(|| today.to_string());
    let from = w.from.clone().filter(|f| !f.is_empty()).unwrap_or_else(|| (today - chrono::Days::new(29)).to_string());
    (from, to)
}

fn category_label(a: &Admin, key: &str) -> String {
    Category::ALL
        .into_iter()
        .find(|c| c.as_str() == key)
        .map_or_else(|| key.to_owned(), |c| a.t(&format!("category-{}", c.as_str().replace('_', "-"))))
}

fn tally_table(a: &Admin, caption: &str, tallies: &[Tally], label: impl Fn(&str) -> String) -> Markup {
    html! {
        div class="table-wrap" tabindex="0" {
            table {
                caption { (caption) }
                thead { tr {
                    th scope="col" { (a.t("admin-figures-group")) }
                    th scope="col" { (a.t("admin-figures-acts")) }
                    th scope="col" { (a.t("admin-figures-grams")) }
                } }
                tbody {
                    @for t in tallies {
                        tr { th scope="row" { (label(&t.key)) } td { (t.acts) } td { (t.grams) } }
                    }
                    @if tallies.is_empty() { tr { td colspan="3" { (a.t("admin-figures-none")) } } }
                }
            }
        }
    }
}

/// A city or district's name as the tables and charts show it.
fn place_label(a: &Admin, t: &PlaceTally) -> String {
    match &t.name {
        Some(name) => name.clone(),
        None if t.key == UNKNOWN_PLACE => a.t("admin-figures-unknown"),
        None => t.key.clone(),
    }
}

/// Cities or districts: the name, the GB/T 2260 code (the API's and the
/// CSV's key), acts and grams.
fn place_table(a: &Admin, caption: &str, tallies: &[PlaceTally]) -> Markup {
    html! {
        div class="table-wrap" tabindex="0" {
            table {
                caption { (caption) }
                thead { tr {
                    th scope="col" { (a.t("admin-figures-group")) }
                    th scope="col" { (a.t("admin-figures-code")) }
                    th scope="col" { (a.t("admin-figures-acts")) }
                    th scope="col" { (a.t("admin-figures-grams")) }
                } }
                tbody {
                    @for t in tallies {
                        tr { th scope="row" { (place_label(a, t)) } td { (t.key) } td { (t.acts) } td { (t.grams) } }
                    }
                    @if tallies.is_empty() { tr { td colspan="4" { (a.t("admin-figures-none")) } } }
                }
            }
        }
    }
}

fn figures_markup(a: &Admin, f: &Figures) -> Markup {
    let days: Vec<String> = f.by_day.iter().map(|d| d.key.clone()).collect();
    let categories: Vec<String> = f.by_category.iter().map(|c| category_label(a, &c.key)).collect();
    let by_day = [Series { label: a.t("admin-figures-grams"), values: f.by_day.iter().map(|d| d.grams).collect() }];
    let by_category =
        [Series { label: a.t("admin-figures-grams"), values: f.by_category.iter().map(|c| c.grams).collect() }];
    let cities: Vec<String> = f.by_city.iter().map(|c| place_label(a, c)).collect();
    let by_city = [Series { label: a.t("admin-figures-grams"), values: f.by_city.iter().map(|c| c.grams).collect() }];
    html! {
        section class="card" aria-labelledby="totals" {
            h2 id="totals" { (a.t("admin-figures-totals")) }
            dl class="figures" {
                dt { (a.t("admin-figures-active")) } dd id="active-citizens" { (f.active_citizens) }
                dt { (a.t("admin-figures-acts")) } dd id="total-acts" { (f.acts) }
                dt { (a.t("admin-figures-grams")) } dd id="total-grams" { (f.grams) }
            }
        }
        section class="card" {
            h2 { (a.t("admin-figures-by-day")) }
            (stacked_bars("by-day", &a.t("admin-figures-by-day"), &days, &by_day, "g", &a.t("admin-figures-table")))
            (tally_table(a, &a.t("admin-figures-by-day"), &f.by_day, str::to_owned))
        }
        section class="card" {
            h2 { (a.t("admin-figures-by-category")) }
            (stacked_bars("by-category", &a.t("admin-figures-by-category"), &categories, &by_category, "g",
                          &a.t("admin-figures-table")))
            (tally_table(a, &a.t("admin-figures-by-category"), &f.by_category, |k| category_label(a, k)))
        }
        section class="card" {
            h2 { (a.t("admin-figures-by-region")) }
            p class="hint" { (a.t("admin-figures-region-note")) }
            (tally_table(a, &a.t("admin-figures-by-region"), &f.by_region, str::to_owned))
        }
        section class="card" {
            h2 { (a.t("admin-figures-by-city")) }
            p class="hint" { (a.t("admin-figures-place-note")) }
            (stacked_bars("by-city", &a.t("admin-figures-by-city"), &cities, &by_city, "g", &a.t("admin-figures-table")))
            (place_table(a, &a.t("admin-figures-by-city"), &f.by_city))
        }
        section class="card" {
            h2 { (a.t("admin-figures-by-district")) }
            (place_table(a, &a.t("admin-figures-by-district"), &f.by_district))
        }
        section class="card" {
            h2 { (a.t("admin-figures-top")) }
            (tally_table(a, &a.t("admin-figures-top"), &f.top_behaviors, str::to_owned))
        }
        section class="card" {
            h2 { (a.t("admin-figures-redemptions")) }
            div class="table-wrap" tabindex="0" { table {
                thead { tr {
                    th scope="col" { (a.t("admin-figures-kind")) }
                    th scope="col" { (a.t("admin-figures-count")) }
                    th scope="col" { (a.t("admin-figures-quantity")) }
                    th scope="col" { (a.t("admin-figures-energy")) }
                } }
                tbody {
                    @for r in &f.redemptions {
                        tr { th scope="row" { (r.kind) } td { (r.count) } td { (r.quantity) } td { (r.energy_grams) } }
                    }
                    @if f.redemptions.is_empty() { tr { td colspan="4" { (a.t("admin-figures-none")) } } }
                }
            } }
        }
        section class="card" {
            h2 { (a.t("admin-figures-energy-programs")) }
            div class="table-wrap" tabindex="0" { table {
                thead { tr {
                    th scope="col" { (a.t("admin-figures-program")) }
                    th scope="col" { (a.t("admin-figures-settlements")) }
                    th scope="col" { (a.t("admin-figures-kwh")) }
                    th scope="col" { (a.t("admin-figures-yuan")) }
                } }
                tbody {
                    @for p in &f.energy_programs {
                        tr {
                            th scope="row" { (p.name) }
                            td { (p.settlements) }
                            td { (format!("{}.{:03}", p.saving_wh / 1000, p.saving_wh % 1000)) }
                            td { (format!("{}.{:02}", p.paid_fen / 100, p.paid_fen % 100)) }
                        }
                    }
                    @if f.energy_programs.is_empty() { tr { td colspan="4" { (a.t("admin-figures-none")) } } }
                }
            } }
        }
    }
}

/// The dashboard (`GET /admin?from=YYYY-MM-DD&to=YYYY-MM-DD`).
pub async fn dashboard(State(web): State<Web>, a: Admin, Query(w): Query<Window>) -> Response {
    if let Err(to_login) = signed(&a) {
        return to_login;
    }
    let (from, to) = window(&web, &w);
    let figures = web.service.city_figures(&from, &to).await;
    let csv_href = format!(
        "/admin/figures.csv?{}",
        form_urlencoded::Serializer::new(String::new()).append_pair("from", &from).append_pair("to", &to).finish()
    );
    let (status, shown) = match &figures {
        Ok(f) => (StatusCode::OK, figures_markup(&a, f)),
        Err(e) => (
            crate::forms::status_of(e),
            html! { p class="alert" role="alert" id="window-error" { (a.t(&format!("error-{}", e.code.replace('_', "-")))) } },
        ),
    };
    let body = html! {
        h1 { (a.t("admin-figures-title")) }
        form class="card window" method="get" action="/admin" {
            div class="field" {
                label for="from" { (a.t("admin-figures-from")) }
                input id="from" name="from" type="date" value=(from);
            }
            div class="field" {
                label for="to" { (a.t("admin-figures-to")) }
                input id="to" name="to" type="date" value=(to);
            }
            button type="submit" { (a.t("admin-figures-show")) }
        }
        @if figures.is_ok() { p { a href=(csv_href) download { (a.t("admin-figures-csv")) } } }
        (shown)
    };
    page(&a, status, "/admin", &a.t("admin-figures-title"), body)
}

/// The figures as CSV (`GET /admin/figures.csv?from=…&to=…`), the API's CSV.
pub async fn csv(State(web): State<Web>, a: Admin, Query(w): Query<Window>) -> Response {
    if let Err(to_login) = signed(&a) {
        return to_login;
    }
    let (from, to) = window(&web, &w);
    match web.service.city_figures(&from, &to).await {
        Ok(f) => (
            [
                (header::CONTENT_TYPE, "text/csv; charset=utf-8".to_owned()),
                (header::CONTENT_DISPOSITION, format!("attachment; filename=\"canopy-figures-{from}-{to}.csv\"")),
                (header::CACHE_CONTROL, "no-store".to_owned()),
            ],
            f.to_csv(),
        )
            .into_response(),
        Err(e) => service_error_page(&a, &e),
    }
}
