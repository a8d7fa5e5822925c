//! The city's figures for the operator (`GET /v1/admin/figures`, JSON or
//! `?format=csv`): the same service call the dashboard's `/admin` reads.

use axum::extract::{Query, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::Json;
use canopy_service::{Figures, PlaceTally, Tally};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::auth::Operator;
use crate::error::{ApiError, ApiResult, Problem};
use crate::AppState;

/// The window and the format.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct FiguresQuery {
    /// First local day (YYYY-MM-DD).
    from: String,
    /// Last local day, included (YYYY-MM-DD); at most 366 days after `from`'s start.
    to: String,
    /// `json` (default) or `csv`.
    format: Option<String>,
}

/// Acts and grams of one group.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct TallyOut {
    /// The category, region (ISO 3166-2), local day (YYYY-MM-DD) or behavior.
    key: String,
    /// Accepted acts.
    acts: i64,
    /// Grams of CO2e reduced.
    grams: i64,
}

/// Acts and grams of one city or district.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct PlaceTallyOut {
    /// The GB/T 2260 code (six digits), or `unknown` for the citizens who gave no district.
    key: String,
    /// Its name in Chinese as GB/T 2260 gives it (`海淀区`, `北京市`); null for `unknown`.
    name: Option<String>,
    /// Accepted acts.
    acts: i64,
    /// Grams of CO2e reduced.
    grams: i64,
}

/// Redemptions of one project kind.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct FigureRedemptionsOut {
    /// `tree`, `land`, `voucher` or `donation`.
    kind: String,
    /// Redemptions not cancelled.
    count: i64,
    /// Units redeemed.
    quantity: i64,
    /// Energy spent, in grams.
    energy_grams: i64,
}

/// One energy program's settlements in the window.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct FigureProgramOut {
    /// The program (`prg_…`).
    id: String,
    /// Its name.
    name: String,
    /// Meters settled.
    settlements: i64,
    /// Energy saved, in Wh.
    saving_wh: i64,
    /// Paid, in fen.
    paid_fen: i64,
}

/// The city's figures over the window.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct FiguresOut {
    /// First day.
    from: String,
    /// Last day (included).
    to: String,
    /// Citizens with at least one act in the window.
    active_citizens: i64,
    /// Acts in the window.
    acts: i64,
    /// Grams reduced in the window.
    grams: i64,
    /// By category.
    by_category: Vec<TallyOut>,
    /// By region (the ISO 3166-2 code events carry: province level).
    by_region: Vec<TallyOut>,
    /// By city (GB/T 2260 prefecture; a municipality is one city) of the citizen's *current* district: a
    /// citizen who moves takes their history along; citizens without a district are `unknown` (last).
    by_city: Vec<PlaceTallyOut>,
    /// By the citizen's *current* district (GB/T 2260 county-level code), in code order, `unknown` last.
    by_district: Vec<PlaceTallyOut>,
    /// By local day, every day of the window.
    by_day: Vec<TallyOut>,
    /// The behaviors with the most grams (at most 10).
    top_behaviors: Vec<TallyOut>,
    /// Redemptions by project kind.
    redemptions: Vec<FigureRedemptionsOut>,
    /// Energy programs' savings and payments.
    energy_programs: Vec<FigureProgramOut>,
}

fn tallies(tallies: &[Tally]) -> Vec<TallyOut> {
    tallies.iter().map(|t| TallyOut { key: t.key.clone(), acts: t.acts, grams: t.grams }).collect()
}

fn places(tallies: &[PlaceTally]) -> Vec<PlaceTallyOut> {
    tallies
        .iter()
        .map(|t| PlaceTallyOut { key: t.key.clone(), name: t.name.clone(), acts: t.acts, grams: t.grams })
        .collect()
}

fn json(f: &Figures) -> FiguresOut {
    FiguresOut {
        from: f.from.to_string(),
        to: f.to.to_string(),
        active_citizens: f.active_citizens,
        acts: f.acts,
        grams: f.grams,
        by_category: tallies(&f.by_category),
        by_region: tallies(&f.by_region),
        by_city: places(&f.by_city),
        by_district: places(&f.by_district),
        by_day: tallies(&f.by_day),
        top_behaviors: tallies(&f.top_behaviors),
        redemptions: f
            .redemptions
            .iter()
            .map(|r| FigureRedemptionsOut {
                kind: r.kind.clone(),
                count: r.count,
                quantity: r.quantity,
                energy_grams: r.energy_grams,
            })
            .collect(),
        energy_programs: f
            .energy_programs
            .iter()
            .map(|p| FigureProgramOut {
                id: crate::ids::program(p.program_id),
                name: p.name.clone(),
                settlements: p.settlements,
                saving_wh: p.saving_wh,
                paid_fen: p.paid_fen,
            })
            .collect(),
    }
}

/// The city's figures over a window of local days: active citizens, acts and reductions by category, region
/// (province; city and district of the citizen's current district) and day, top behaviors, redemptions, energy
/// programs (JSON, or CSV with `format=csv`).
#[utoipa::path(get, path = "/v1/admin/figures", tag = "admin", security(("admin" = [])),
    params(FiguresQuery),
    responses((status = 200, body = FiguresOut, description = "The figures (text/csv with format=csv)"),
              (status = 400, description = "invalid_window, invalid_query", body = Problem),
              (status = 401, body = Problem)))]
pub(crate) async fn figures(
    State(state): State<AppState>,
    _operator: Operator,
    q: Result<Query<FiguresQuery>, axum::extract::rejection::QueryRejection>,
) -> ApiResult<Response> {
    let Query(q) = q.map_err(|e| ApiError::bad_request("invalid_query", e.body_text()))?;
    let format = q.format.as_deref();
    if !matches!(format, None | Some("json") | Some("csv")) {
        return Err(ApiError::bad_request("invalid_query", "format is json or csv"));
    }
    let figures = state.service.city_figures(&q.from, &q.to).await?;
    Ok(match format {
        Some("csv") => ([(header::CONTENT_TYPE, "text/csv; charset=utf-8")], figures.to_csv()).into_response(),
        _ => Json(json(&figures)).into_response(),
    })
}
