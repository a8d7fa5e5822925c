//! What the demo's energy buys: sponsors, a few projects of each kind
//! (trees, protected land, a voucher with its codes, donations) and a
//! campaign, made through the same service calls the operator's HTTP API
//! makes.

use canopy_service::{NewCampaign, NewProject, NewSponsor, Service};
use chrono::{DateTime, Duration, Utc};
use serde_json::json;

/// The ids the demo's instructions name.
pub struct Catalog {
    /// The Haloxylon tree project.
    pub haloxylon: String,
    /// The campaign.
    pub campaign: String,
}

fn sponsor(name: &str, kind: &str) -> NewSponsor {
    NewSponsor { name: name.to_owned(), kind: kind.to_owned(), budget_units: None, budget_fen: None }
}

/// Makes the catalogue, open from a day ago for a year; `merchant` is the
/// partner that honours the voucher.
pub async fn seed(service: &Service, merchant: &str, now: DateTime<Utc>) -> anyhow::Result<Catalog> {
    let (starts_at, ends_at) = ((now - Duration::days(1)).to_rfc3339(), (now + Duration::days(365)).to_rfc3339());
    let foundation = service.create_sponsor(sponsor("Green Desert Foundation", "foundation")).await?;
    let store = service
        .create_sponsor(NewSponsor { budget_fen: Some(1_000_000), ..sponsor("Low-carbon Store", "company") })
        .await?;
    let city = service.create_sponsor(sponsor("Beijing Ecology Bureau", "government")).await?;
    let project = |kind: &str,
                   title: &str,
                   sponsor_id: i64,
                   price: Option<i64>,
                   stock: Option<i64>,
                   regions: &[&str],
                   details| NewProject {
        kind: kind.to_owned(),
        title: title.to_owned(),
        sponsor_id,
        price_grams: price,
        stock,
        regions: regions.iter().map(|r| (*r).to_owned()).collect(),
        starts_at: starts_at.clone(),
        ends_at: ends_at.clone(),
        details,
    };
    let projects = [
        project(
            "tree",
            "A Haloxylon (saxaul) in the Alxa desert",
            foundation.id,
            None,
            Some(10_000),
            &["CN"],
            json!({ "species": "Haloxylon ammodendron", "site": "Alxa League, Inner Mongolia", "region": "CN-NM", "sequestration_kg": 17.9 }),
        ),
        project(
            "tree",
            "A sand willow on the Kubuqi dunes",
            foundation.id,
            None,
            Some(10_000),
            &["CN"],
            json!({ "species": "Salix psammophila", "site": "Kubuqi Desert, Inner Mongolia", "region": "CN-NM", "sequestration_kg": 12.4 }),
        ),
        project(
            "land",
            "Giant panda habitat in Pingwu",
            foundation.id,
            Some(400),
            Some(50_000),
            &["*"],
            json!({ "site": "Guanba, Pingwu County, Sichuan", "region": "CN-SC", "area_m2": 50_000 }),
        ),
        project(
            "land",
            "Wetland along the Yongding River",
            city.id,
            Some(250),
            None,
            &["CN-BJ"],
            json!({ "site": "Yongding River, Beijing", "region": "CN-BJ", "area_m2": 20_000 }),
        ),
        project(
            "voucher",
            "5 yuan off at the Low-carbon Store",
            store.id,
            Some(2_000),
            None,
            &["CN-BJ", "CN-HB"],
            json!({ "merchant_id": merchant, "face_value_fen": 500, "expires_at": ends_at, "terms": "One voucher per order of 30 yuan or more." }),
        ),
        project(
            "donation",
            "A school lunch in Gansu",
            foundation.id,
            Some(1_000),
            Some(5_000),
            &["*"],
            json!({ "beneficiary": "Hope Primary School, Dingxi", "unit_buys": "one school lunch" }),
        ),
        project(
            "donation",
            "A bicycle lane sign in Wuhan",
            city.id,
            Some(3_000),
            Some(500),
            &["CN-HB"],
            json!({ "beneficiary": "Wuhan Cycling Association", "unit_buys": "one lane sign" }),
        ),
    ];
    let mut made = Vec::new();
    for project in projects {
        made.push(service.create_project(project).await?);
    }
    let voucher =
        made.iter().find(|p| p.state.kind == canopy_core::redemption::ProjectKind::Voucher).expect("a voucher");
    let codes = (1..=50).map(|n| format!("LCS-DEMO-{n:04}")).collect();
    service.upload_voucher_codes(voucher.state.id, codes).await?;
    let campaign = service
        .create_campaign(NewCampaign {
            title: "1 kg per person for the Asian Games".to_owned(),
            beneficiary: "Hangzhou Asian Games".to_owned(),
            goal_grams: 1_000_000,
            per_person_limit_grams: 1_000,
            match_ratio: "1.0".to_owned(),
            sponsor_id: city.id,
            starts_at,
            ends_at,
        })
        .await?;
    Ok(Catalog {
        haloxylon: canopy_core::ids::project(made[0].state.id),
        campaign: canopy_core::ids::campaign(campaign.row.id),
    })
}
