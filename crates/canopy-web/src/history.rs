//! History (`/history`): every ledger entry of the citizen, newest first,
//! with the act, the partner, the methodology and its arithmetic in words,
//! narrowed by category and month; and a chart of the reductions of the
//! last twelve months by category.

use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::get;
use axum::Router;
use canopy_core::types::Category;
use canopy_service::{HistoryQuery, LedgerEntry};
use chrono::{DateTime, Months, Utc};
use fluent_bundle::FluentValue;
use maud::{html, Markup};
use serde::Deserialize;

use crate::charts::{stacked_bars, Series};
use crate::forms::{citizen, service_error_page};
use crate::layout::page;
use crate::session::Viewer;
use crate::Web;

/// Months the chart shows.
const CHART_MONTHS: u32 = 12;
/// Entries a history page shows.
const PAGE: u32 = 30;

/// The history page.
pub(crate) fn routes() -> Router<Web> {
    Router::new().route("/history", get(history))
}

/// The filters in the page's address.
#[derive(Debug, Default, Deserialize)]
pub struct HistoryParams {
    category: Option<String>,
    month: Option<String>,
    cursor: Option<String>,
}

fn local(web: &Web, at: DateTime<Utc>, format: &str) -> String {
    at.with_timezone(&web.service.settings().timezone).format(format).to_string()
}

/// The message id naming a category.
pub(crate) fn category_name(v: &Viewer, category: Category) -> String {
    v.t(&format!("category-{}", category.as_str().replace('_', "-")))
}

fn filters(web: &Web, v: &Viewer, params: &HistoryParams) -> Markup {
    let tz = web.service.settings().timezone;
    let this_month = web.service.now().with_timezone(&tz).date_naive();
    let months: Vec<String> = (0..24)
        .filter_map(|i| this_month.checked_sub_months(Months::new(i)))
        .map(|d| d.format("%Y-%m").to_string())
        .collect();
    let chosen_category = params.category.as_deref().unwrap_or_default();
    let chosen_month = params.month.as_deref().unwrap_or_default();
    html! {
        form method="get" action="/history" class="filters card" {
            div class="field" {
                label for="category" { (v.t("history-category")) }
                select id="category" name="category" {
                    option value="" selected[chosen_category.is_empty()] { (v.t("history-all-categories")) }
                    @for c in Category::ALL {
                        option value=(c.as_str()) selected[chosen_category == c.as_str()] { (category_name(v, c)) }
                    }
                }
            }
            div class="field" {
                label for="month" { (v.t("history-month")) }
                select id="month" name="month" {
                    option value="" selected[chosen_month.is_empty()] { (v.t("history-all-months")) }
                    @for m in &months {
                        option value=(m) selected[chosen_month == m.as_str()] { (m) }
                    }
                }
            }
            button type="submit" { (v.t("history-show")) }
        }
    }
}

fn entry(web: &Web, v: &Viewer, e: &LedgerEntry) -> Markup {
    let row = &e.row;
    let amount = FluentValue::from(row.grams.abs());
    let unit = v.t(&format!("unit-{}", row.unit.replace('_', "-")));
    let sign = if row.grams >= 0 { "+" } else { "−" };
    let what = match (&row.event, &e.known) {
        (Some(_), Some(m)) => m.title.clone(),
        (Some(event), None) => event.behavior.clone(),
        (None, _) => v.t(&format!("ledger-kind-{}", row.kind.replace('_', "-"))),
    };
    html! {
        li class="entry card" {
            div class="entry-head" {
                span class="entry-what" { (what) }
                span class=(if row.grams >= 0 { "amount in" } else { "amount out" }) {
                    (sign) (v.ta("history-amount", &[("grams", amount), ("unit", FluentValue::from(unit))]))
                }
            }
            p class="entry-meta" {
                time datetime=(canopy_store::format_time(row.at)) { (local(web, row.at, "%Y-%m-%d %H:%M")) }
                " · " (v.t(&format!("ledger-kind-{}", row.kind.replace('_', "-"))))
                " · " (v.t(&format!("account-{}", row.account.replace('_', "-"))))
            }
            @if let Some(event) = &row.event {
                p class="entry-meta" {
                    (v.ta("history-reported-by", &[("partner", FluentValue::from(event.partner_name.clone().unwrap_or_default())),
                                                   ("when", FluentValue::from(local(web, event.occurred_at, "%Y-%m-%d %H:%M")))]))
                    @if let Some((id, version)) = &e.methodology {
                        " · " (v.ta("history-methodology", &[("id", FluentValue::from(id.as_str())),
                                                             ("version", FluentValue::from(version.as_str()))]))
                    }
                }
                @if let Some(worked) = e.worked_text() {
                    p class="worked" { (worked) }
                }
            }
        }
    }
}

/// The history (`GET /history?category=&month=&cursor=`).
pub async fn history(
    State(web): State<Web>,
    v: Viewer,
    params: Result<Query<HistoryParams>, axum::extract::rejection::QueryRejection>,
) -> Response {
    let user_id = match citizen(&v) {
        Ok(user_id) => user_id,
        Err(page) => return page,
    };
    let Query(params) = params.unwrap_or_default();
    let query = HistoryQuery {
        category: params.category.clone(),
        month: params.month.clone(),
        cursor: params.cursor.clone(),
        limit: Some(PAGE),
    };
    let page_of = match web.service.history(user_id, &query).await {
        Ok(page_of) => page_of,
        Err(error) => return service_error_page(&v, &error),
    };
    let chart = match web.service.monthly_reductions(user_id, CHART_MONTHS).await {
        Ok(chart) => chart,
        Err(error) => return service_error_page(&v, &error),
    };
    let series: Vec<Series> = chart
        .by_category
        .iter()
        .map(|(c, values)| Series { label: category_name(&v, *c), values: values.clone() })
        .collect();
    let older = page_of.next_cursor.as_ref().map(|cursor| {
        let mut url = form_urlencoded::Serializer::new(String::new());
        if let Some(c) = params.category.as_deref().filter(|c| !c.is_empty()) {
            url.append_pair("category", c);
        }
        if let Some(m) = params.month.as_deref().filter(|m| !m.is_empty()) {
            url.append_pair("month", m);
        }
        url.append_pair("cursor", cursor);
        format!("/history?{}", url.finish())
    });
    let body = html! {
        h1 { (v.t("history-title")) }
        section class="card" aria-labelledby="chart-title" {
            h2 id="chart-title" { (v.t("history-chart-title")) }
            @if series.is_empty() {
                p { (v.t("history-chart-empty")) }
            } @else {
                (stacked_bars("reductions", &v.t("history-chart-title"), &chart.months, &series, "g",
                              &v.t("history-chart-table")))
            }
            @if chart.truncated { p class="hint" { (v.t("history-chart-truncated")) } }
        }
        (filters(&web, &v, &params))
        @if page_of.entries.is_empty() {
            p class="card" { (v.t("history-empty")) }
        } @else {
            ol class="entries" {
                @for e in &page_of.entries { (entry(&web, &v, e)) }
            }
        }
        @if let Some(older) = older {
            p { a href=(older) rel="next" { (v.t("history-older")) } }
        }
    };
    page(&v, StatusCode::OK, "/history", &v.t("history-title"), body)
}
