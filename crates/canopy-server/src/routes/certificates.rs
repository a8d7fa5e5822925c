//! Public certificates: `GET /v1/certificates/{number}` as JSON, and
//! `GET /v1/certificates/{number}.svg` as an image worth sharing.

use axum::extract::{Path, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::Json;
use canopy_core::redemption::ProjectDetails;
use canopy_store::{format_time, CertificateRow};
use serde::Serialize;
use serde_json::Value;
use utoipa::ToSchema;

use crate::error::{ApiResult, Problem};
use crate::ids;
use crate::AppState;

/// A certificate, as anyone may see it.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct CertificateOut {
    /// Its number.
    number: String,
    /// The owner's display name, if they show it (else null).
    owner: Option<String>,
    /// `tree`, `land` or `donation`.
    kind: String,
    /// The project (`prj_…`).
    project_id: String,
    /// The project's title.
    title: String,
    /// A tree's species.
    species: Option<String>,
    /// Where the tree grows or the land lies.
    site: Option<String>,
    /// The site's ISO 3166-2 region.
    region: Option<String>,
    /// A donation's beneficiary.
    beneficiary: Option<String>,
    /// Units: trees, square metres or donation units.
    quantity: i64,
    /// What one unit is (`tree`, `m²`, or what a donation unit buys).
    unit: String,
    /// Energy spent, in grams.
    energy_grams: i64,
    /// The sponsor who plants, protects or gives.
    sponsor: String,
    /// The date of the redemption (UTC, YYYY-MM-DD).
    date: String,
    /// When it was issued (RFC 3339).
    issued_at: String,
    /// The project's details.
    #[schema(value_type = Object)]
    details: Value,
    /// The friends who planted it together, with their shares (empty for one planter).
    co_planters: Vec<CoPlanterOut>,
}

/// A friend who planted a tree with others.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct CoPlanterOut {
    /// Their display name.
    display_name: String,
    /// The energy they gave, in grams.
    grams: i64,
}

fn certificate_out(number: String, c: CertificateRow, planters: Vec<(String, i64)>) -> CertificateOut {
    let (species, site, region, beneficiary, unit) = match &c.project.details {
        ProjectDetails::Tree(t) => {
            (Some(t.species.clone()), Some(t.site.clone()), Some(t.region.clone()), None, "tree".to_owned())
        }
        ProjectDetails::Land(l) => (None, Some(l.site.clone()), l.region.clone(), None, "m²".to_owned()),
        ProjectDetails::Donation(d) => (None, None, None, Some(d.beneficiary.clone()), d.unit_buys.clone()),
        ProjectDetails::Voucher(_) => (None, None, None, None, "voucher".to_owned()),
    };
    CertificateOut {
        number,
        owner: c.owner,
        kind: c.project.state.kind.as_str().to_owned(),
        project_id: ids::project(c.project.state.id),
        title: c.project.title,
        species,
        site,
        region,
        beneficiary,
        quantity: c.redemption.quantity,
        unit,
        energy_grams: c.redemption.energy_grams,
        sponsor: c.project.sponsor_name,
        date: c.redemption.created_at.format("%Y-%m-%d").to_string(),
        issued_at: format_time(c.redemption.created_at),
        details: serde_json::to_value(&c.project.details).unwrap_or(Value::Null),
        co_planters: planters.into_iter().map(|(display_name, grams)| CoPlanterOut { display_name, grams }).collect(),
    }
}

/// A certificate, public: as JSON, or as an SVG image when the number ends in `.svg`.
#[utoipa::path(get, path = "/v1/certificates/{number}", tag = "redemption",
    params(("number" = String, Path, description = "The certificate's number (`CNP-…`); add `.svg` for the image")),
    responses((status = 200, body = CertificateOut, description = "The certificate (image/svg+xml for `{number}.svg`)"),
              (status = 404, description = "certificate_not_found", body = Problem),
              (status = 410, description = "certificate_void (the redemption was cancelled)", body = Problem)))]
pub(crate) async fn get_certificate(State(state): State<AppState>, Path(number): Path<String>) -> ApiResult<Response> {
    let (number, svg) = match number.strip_suffix(".svg") {
        Some(number) => (number.to_owned(), true),
        None => (number, false),
    };
    let (found, planters) = state.service.certificate(&number).await?;
    let out = certificate_out(number, found, planters);
    if svg {
        Ok(([(header::CONTENT_TYPE, "image/svg+xml; charset=utf-8")], render_svg(&out)).into_response())
    } else {
        Ok(Json(out).into_response())
    }
}

/// Escapes text for SVG (XML) content and attributes.
fn xml(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            c => out.push(c),
        }
    }
    out
}

/// Grams as kilograms with up to three decimals (`17.9 kg`).
fn kilograms(grams: i64) -> String {
    let whole = grams / 1000;
    let rest = grams % 1000;
    if rest == 0 {
        format!("{whole} kg")
    } else {
        format!("{whole}.{}", format!("{rest:03}").trim_end_matches('0')) + " kg"
    }
}

/// The certificate as an 800×560 SVG image.
fn render_svg(c: &CertificateOut) -> String {
    let heading = match c.kind.as_str() {
        "tree" => "Certificate of tree planting",
        "land" => "Certificate of land protection",
        _ => "Certificate of donation",
    };
    let planters: Vec<String> =
        c.co_planters.iter().map(|p| format!("{} ({})", p.display_name, kilograms(p.grams))).collect();
    let who = if planters.is_empty() {
        c.owner.clone().unwrap_or_else(|| "A Canopy citizen".to_owned())
    } else {
        planters.join(" · ")
    };
    let what = match c.kind.as_str() {
        "tree" => format!(
            "{} × {} planted at {}",
            c.quantity,
            c.species.as_deref().unwrap_or("tree"),
            c.site.as_deref().unwrap_or_default()
        ),
        "land" => format!("{} m² protected at {}", c.quantity, c.site.as_deref().unwrap_or_default()),
        _ => format!("{} × {} for {}", c.quantity, c.unit, c.beneficiary.as_deref().unwrap_or_default()),
    };
    let lines = [
        (150, 34, "bold", xml(heading)),
        (215, if c.co_planters.is_empty() { 30 } else { 18 }, "normal", xml(&who)),
        (265, 22, "normal", xml(&what)),
        (305, 20, "normal", xml(&c.title)),
        (355, 20, "normal", xml(&format!("{} of green energy · {}", kilograms(c.energy_grams), c.date))),
        (395, 18, "normal", xml(&format!("Sponsored by {}", c.sponsor))),
    ];
    let mut svg = String::with_capacity(2048);
    svg.push_str(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"800\" height=\"560\" viewBox=\"0 0 800 560\" role=\"img\">\n",
    );
    svg.push_str(&format!("<title>{} — {}</title>\n", xml(heading), xml(&c.number)));
    svg.push_str("<rect width=\"800\" height=\"560\" fill=\"#f3f8ef\"/>\n");
    svg.push_str(
        "<rect x=\"20\" y=\"20\" width=\"760\" height=\"520\" fill=\"none\" stroke=\"#2e7d32\" stroke-width=\"6\"/>\n",
    );
    svg.push_str("<circle cx=\"400\" cy=\"85\" r=\"34\" fill=\"#2e7d32\"/>\n");
    svg.push_str("<path d=\"M400 62 L420 100 L380 100 Z\" fill=\"#a5d6a7\"/>\n");
    for (y, size, weight, text) in lines {
        svg.push_str(&format!(
            "<text x=\"400\" y=\"{y}\" font-family=\"sans-serif\" font-size=\"{size}\" font-weight=\"{weight}\" \
             fill=\"#1b3d1f\" text-anchor=\"middle\">{text}</text>\n"
        ));
    }
    svg.push_str(&format!(
        "<text x=\"400\" y=\"500\" font-family=\"monospace\" font-size=\"18\" fill=\"#2e7d32\" \
         text-anchor=\"middle\">No. {}</text>\n</svg>\n",
        xml(&c.number)
    ));
    svg
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kilograms_read_naturally() {
        assert_eq!(kilograms(17_900), "17.9 kg");
        assert_eq!(kilograms(1_000), "1 kg");
        assert_eq!(kilograms(35_805), "35.805 kg");
        assert_eq!(kilograms(50), "0.05 kg");
    }

    #[test]
    fn text_is_escaped() {
        assert_eq!(xml("<a & 'b'>\""), "&lt;a &amp; &apos;b&apos;&gt;&quot;");
    }
}
