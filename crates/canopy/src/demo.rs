//! `canopy demo`: a server on a fresh embedded database with the shipped
//! methodologies, a demo partner, two demo citizens with some history, and
//! instructions that work when pasted.

use std::future::Future;

use anyhow::Context;
use canopy_core::ingest::{self, EventIn};
use canopy_core::types::{Category, CategorySet, DisplayName, PartnerName, RegionCode, Username};
use canopy_server::auth::{link_code_hash, random_token};
use canopy_server::{hash_password, ids, new_link_code, App, AppState, Config};
use canopy_store::writer::IngestRequest;
use canopy_store::NewUser;
use chrono::{Duration, Utc};
use serde_json::json;

use crate::cli_config::DEFAULT_DATABASE_URL;

/// Where the demo keeps its database (wiped at every start).
const DEMO_DATABASE: &str = "./canopy-data/demo.db";
/// The demo citizens' password.
const DEMO_PASSWORD: &str = "canopy-demo";

struct Seeded {
    partner_id: String,
    secret: String,
}

/// Runs the demo until `shutdown`.
pub async fn run(mut config: Config, shutdown: impl Future<Output = ()> + Send + 'static) -> anyhow::Result<()> {
    if config.database_url == DEFAULT_DATABASE_URL {
        for suffix in ["", "-wal", "-shm"] {
            let path = format!("{DEMO_DATABASE}{suffix}");
            match std::fs::remove_file(&path) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(e).with_context(|| format!("cannot remove the old demo database {path}")),
            }
        }
        config.database_url = format!("sqlite://{DEMO_DATABASE}");
    } else if canopy_store::Backend::of(&config.database_url) == Some(canopy_store::Backend::Sqlite) {
        // A database named by the operator is never wiped; the demo needs a
        // fresh one, so it refuses one that exists.
        let file = config.database_url.trim_start_matches("sqlite://").trim_start_matches("sqlite:");
        anyhow::ensure!(
            !std::path::Path::new(file).exists(),
            "the demo seeds a fresh database, and {file} exists; remove it or name another"
        );
    }
    let admin_token = config.admin_token.clone().unwrap_or_else(random_token);
    config.admin_token = Some(admin_token.clone());
    let where_ = if config.database_url == format!("sqlite://{DEMO_DATABASE}") {
        format!("the demo database is {DEMO_DATABASE}, wiped at each start")
    } else {
        format!("the database is {}", canopy_store::redact_url(&config.database_url))
    };
    let app = App::build(config).await?;
    // A PostgreSQL database is never wiped either: it must be empty.
    let fresh = app.state().store.partners().await?.is_empty();
    anyhow::ensure!(fresh, "the demo seeds a fresh database, and this one has partners already; name an empty one");
    let seeded = seed(app.state()).await.context("seeding the demo data")?;
    let base = format!("http://{}", app.local_addr());
    print_instructions(&base, &admin_token, &seeded, &where_);
    app.run(shutdown).await
}

async fn seed(state: &AppState) -> anyhow::Result<Seeded> {
    let store = &state.store;
    let now = Utc::now();
    let created = canopy_server::secrets::create_partner(
        store,
        &state.secret_key,
        PartnerName::parse("Demo City Mobility & Life")?,
        CategorySet::from_categories(Category::ALL),
        Vec::new(),
        now,
    )
    .await?;
    let (partner, secret) = (created.partner, created.secret.expose().to_owned());
    let citizens = [
        (
            "alice",
            "Alice Wang",
            "CN-BJ",
            "alice-001",
            vec![
                Category::Transport,
                Category::Food,
                Category::Use,
                Category::DigitalFinance,
                Category::Clothing,
                Category::Housing,
            ],
        ),
        ("bob", "Bob Li", "CN-HB", "bob-001", vec![Category::Transport, Category::Food]),
    ];
    for (username, display_name, region, user_ref, scopes) in citizens {
        let user = store
            .create_user(
                &NewUser {
                    username: Username::parse(username)?,
                    password_hash: hash_password(DEMO_PASSWORD.to_owned())
                        .await
                        .map_err(|e| anyhow::anyhow!(e.detail))?,
                    display_name: DisplayName::parse(display_name)?,
                    region: RegionCode::parse(region)?,
                },
                now,
            )
            .await?;
        let code = new_link_code();
        store
            .grant_consent(
                user.id,
                partner.id,
                CategorySet::from_categories(scopes),
                &link_code_hash(&code),
                now,
                now + Duration::minutes(10),
            )
            .await?;
        store.use_link_code(partner.id, &link_code_hash(&code), user_ref, now).await?;
    }
    let day = |days: i64, hour: i64| (now - Duration::days(days) - Duration::hours(hour)).to_rfc3339();
    let history = [
        ("demo-1", "alice-001", "shared_bike", day(2, 3), json!({"distance_km": 3.2})),
        ("demo-2", "alice-001", "bus_ride", day(2, 1), json!({})),
        ("demo-3", "alice-001", "no_utensils", day(1, 5), json!({})),
        ("demo-4", "alice-001", "e_payment", day(1, 4), json!({"amount_yuan": 28.5})),
        ("demo-5", "alice-001", "secondhand_clothing", day(1, 2), json!({"items": 2})),
        ("demo-6", "alice-001", "utility_bill_online", day(0, 2), json!({})),
        ("demo-7", "bob-001", "shared_bike", day(1, 3), json!({"distance_km": 3.2})),
        ("demo-8", "bob-001", "bus_ride", day(0, 1), json!({})),
    ];
    let registry = state.registry.current();
    let events = history
        .into_iter()
        .map(|(id, user_ref, behavior, occurred_at, inputs)| {
            let event = EventIn {
                id: id.to_owned(),
                user_ref: user_ref.to_owned(),
                behavior: behavior.to_owned(),
                occurred_at,
                region: None,
                inputs: inputs.as_object().cloned().unwrap_or_default(),
                fingerprint: None,
            };
            ingest::precheck(event, partner.categories, &registry, now, state.config.timezone)
        })
        .collect();
    let outcomes = state
        .ingestor
        .submit(IngestRequest {
            partner_id: partner.id,
            partner_regions: partner.regions.clone(),
            signature: None,
            events,
        })
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    for outcome in &outcomes {
        anyhow::ensure!(outcome.code.is_none(), "demo event {} was rejected: {:?}", outcome.id, outcome.message);
    }
    Ok(Seeded { partner_id: ids::partner(partner.id), secret })
}

fn print_instructions(base: &str, admin_token: &str, seeded: &Seeded, where_: &str) {
    let Seeded { partner_id, secret } = seeded;
    println!(
        r#"
Canopy demo is running at {base}   (Ctrl-C to stop; {where_})

  OpenAPI document   {base}/openapi.json
  Health / metrics   {base}/healthz   {base}/metrics
  Methodologies      {base}/v1/methodologies

  Admin token        {admin_token}
  Demo partner       id {partner_id}   secret {secret}
  Demo citizens      alice / {DEMO_PASSWORD} (Beijing, CN-BJ, user_ref alice-001)
                     bob   / {DEMO_PASSWORD} (Wuhan, CN-HB, user_ref bob-001)

Try it (paste into a shell):

  # sign in as alice and read her balances and explained ledger
  TOKEN=$(curl -s -X POST {base}/v1/sessions -H 'content-type: application/json' \
    -d '{{"username":"alice","password":"{DEMO_PASSWORD}"}}' | sed -E 's/.*"token":"([^"]+)".*/\1/')
  curl -s {base}/v1/me -H "Authorization: Bearer $TOKEN"; echo
  curl -s "{base}/v1/me/ledger?limit=4" -H "Authorization: Bearer $TOKEN"; echo

  # report a 3.2 km shared-bike ride for alice, signed as the demo partner (800 g in Beijing)
  SECRET={secret}; TS=$(date +%s)
  BODY='{{"events":[{{"id":"ride-'$TS'","user_ref":"alice-001","behavior":"shared_bike","occurred_at":"'$(date -u +%Y-%m-%dT%H:%M:%SZ)'","inputs":{{"distance_km":3.2}}}}]}}'
  SIG=$(printf '%s' "$TS.POST./v1/partner/events.$(printf '%s' "$BODY" | sha256sum | cut -d' ' -f1)" | openssl dgst -sha256 -hmac "$SECRET" -r | cut -d' ' -f1)
  curl -s -X POST {base}/v1/partner/events -H 'content-type: application/json' \
    -H "Canopy-Partner: {partner_id}" -H "Canopy-Timestamp: $TS" -H "Canopy-Signature: v1=$SIG" -d "$BODY"; echo

  # the operator lists partners
  curl -s {base}/v1/partners -H "Authorization: Bearer {admin_token}"; echo
"#
    );
}
