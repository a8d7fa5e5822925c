//! `canopy demo`: a server on a fresh embedded database with the shipped
//! methodologies, a demo partner, two demo citizens with some history, and
//! instructions that work when pasted.

use std::future::Future;

use anyhow::Context;
use canopy_core::ids;
use canopy_core::ingest::EventIn;
use canopy_core::types::Category;
use canopy_server::{App, AppState, Config};
use canopy_service::tokens::random_token;
use canopy_service::{NewAccount, NewPartner};
use chrono::Duration;
use serde_json::json;

use crate::cli_config::DEFAULT_DATABASE_URL;

mod catalog;
mod power;

/// Where the demo keeps its database (wiped at every start).
const DEMO_DATABASE: &str = "./canopy-data/demo.db";
/// The demo citizens' password.
const DEMO_PASSWORD: &str = "canopy-demo";

struct Seeded {
    partner_id: String,
    secret: String,
    catalog: catalog::Catalog,
    power: power::Power,
}

/// Runs the demo until `shutdown`; without `database_named`, on its own
/// database (`./canopy-data/demo.db`), which it wipes at each start.
///
/// A second demo started by mistake must leave the first alone, so the
/// order matters: the address is bound first (a taken port ends the second
/// demo before any file is touched), then the demo database's lock file is
/// taken (a demo on another port finds it held and stops), and only then is
/// the old database removed.
pub async fn run(
    mut config: Config,
    database_named: bool,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let listener = tokio::net::TcpListener::bind(&config.listen).await.with_context(|| {
        format!(
            "cannot listen on {}; is another canopy demo or server running there? Stop it, or pick another address \
             with --listen (the database was not touched)",
            config.listen
        )
    })?;
    // Held until the demo stops (see sqlite_lock).
    let lock;
    // The demo's own database is used when none was named (a configuration
    // file naming the default counts as none).
    if !database_named && config.database_url == DEFAULT_DATABASE_URL {
        let exclusive = crate::sqlite_lock::exclusive(DEMO_DATABASE)?;
        for suffix in ["", "-wal", "-shm"] {
            let path = format!("{DEMO_DATABASE}{suffix}");
            match std::fs::remove_file(&path) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(e).with_context(|| format!("cannot remove the old demo database {path}")),
            }
        }
        config.database_url = format!("sqlite://{DEMO_DATABASE}");
        // The old files are gone: from now on the CLI may open the new
        // database beside the demo, as the instructions say.
        crate::sqlite_lock::downgrade(&exclusive)?;
        lock = Some(exclusive);
    } else {
        if let Some(file) = crate::sqlite_file(&config.database_url) {
            // A database named by the operator is never wiped; the demo needs a
            // fresh one, so it refuses one that exists.
            anyhow::ensure!(
                !std::path::Path::new(file).exists(),
                "the demo seeds a fresh database, and {file} exists; remove it or name another"
            );
        }
        lock = crate::sqlite_lock::share(&config.database_url)?;
    }
    let admin_token = config.admin_token.clone().unwrap_or_else(random_token);
    config.admin_token = Some(admin_token.clone());
    let where_ = if config.database_url == format!("sqlite://{DEMO_DATABASE}") {
        format!("the demo database is {DEMO_DATABASE}, wiped at each start")
    } else {
        format!("the database is {}", canopy_store::redact_url(&config.database_url))
    };
    let database_url = config.database_url.clone();
    let app = App::build_on(config, listener).await?;
    crate::announce_database(&database_url);
    // A PostgreSQL database is never wiped either: it must be empty.
    let fresh = app.state().service.partners().await?.is_empty();
    anyhow::ensure!(fresh, "the demo seeds a fresh database, and this one has partners already; name an empty one");
    let seeded = seed(app.state()).await.context("seeding the demo data")?;
    let base = format!("http://{}", app.local_addr());
    print_instructions(&base, &admin_token, &seeded, &where_, &database_url)?;
    let served = app.run(shutdown).await;
    drop(lock);
    served
}

async fn seed(state: &AppState) -> anyhow::Result<Seeded> {
    // Everything goes through the use cases, as a partner and citizens
    // would over HTTP: the demo data obeys every rule the API does.
    let service = &state.service;
    let now = service.now();
    let all = Category::ALL.iter().map(|c| c.as_str().to_owned()).collect();
    let created = service
        .create_partner(NewPartner {
            name: "Demo City Mobility & Life".to_owned(),
            categories: all,
            regions: Vec::new(),
        })
        .await?;
    let (partner, secret) = (created.partner, created.secret.expose().to_owned());
    let partner_id = ids::partner(partner.id);
    let citizens = [
        (
            "alice",
            "Alice Wang",
            "CN-BJ",
            Some("110108"),
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
        ("bob", "Bob Li", "CN-HB", None, "bob-001", vec![Category::Transport, Category::Food]),
    ];
    for (username, display_name, region, district, user_ref, scopes) in citizens {
        let user = service
            .register(NewAccount {
                username: username.to_owned(),
                password: DEMO_PASSWORD.to_owned(),
                display_name: display_name.to_owned(),
                region: region.to_owned(),
                district: district.map(str::to_owned),
            })
            .await?;
        let scopes: Vec<String> = scopes.iter().map(|c| c.as_str().to_owned()).collect();
        let grant = service.grant_consent(user.id, &partner_id, &scopes).await?;
        service.link(partner.id, None, &grant.link_code, user_ref).await?;
    }
    let day = |days: i64, hour: i64| (now - Duration::days(days) - Duration::hours(hour)).to_rfc3339();
    let history = [
        ("demo-1", "alice-001", "shared_bike", day(2, 3), json!({"distance_km": 3.2})),
        ("demo-2", "alice-001", "bus_ride", day(2, 1), json!({})),
        ("demo-3", "alice-001", "no_utensils", day(1, 5), json!({})),
        ("demo-4", "alice-001", "e_payment", day(1, 4), json!({"amount_yuan": 28.5})),
        ("demo-5", "alice-001", "secondhand_clothing", day(1, 2), json!({"items": 2})),
        ("demo-6", "alice-001", "utility_bill_online", day(0, 2), json!({})),
        ("demo-9", "alice-001", "secondhand_computer", day(0, 1), json!({"items": 1})),
        ("demo-7", "bob-001", "shared_bike", day(1, 3), json!({"distance_km": 3.2})),
        ("demo-8", "bob-001", "bus_ride", day(0, 1), json!({})),
    ];
    let events = history
        .into_iter()
        .map(|(id, user_ref, behavior, occurred_at, inputs)| EventIn {
            id: id.to_owned(),
            user_ref: user_ref.to_owned(),
            behavior: behavior.to_owned(),
            occurred_at,
            region: None,
            inputs: inputs.as_object().cloned().unwrap_or_default(),
            fingerprint: None,
        })
        .collect();
    let outcomes = service.ingest(&partner, None, events).await?;
    for outcome in &outcomes {
        anyhow::ensure!(outcome.code.is_none(), "demo event {} was rejected: {:?}", outcome.id, outcome.message);
    }
    let catalog = catalog::seed(service, &partner_id, now).await?;
    let power = power::seed(service, &partner, service.settings().timezone).await?;
    Ok(Seeded { partner_id, secret, catalog, power })
}

fn print_instructions(
    base: &str,
    admin_token: &str,
    seeded: &Seeded,
    where_: &str,
    database_url: &str,
) -> anyhow::Result<()> {
    let Seeded { partner_id, secret, catalog, power } = seeded;
    let (settled, upcoming) = (&power.settled, &power.upcoming);
    let (tree, campaign) = (&catalog.haloxylon, &catalog.campaign);
    let database = canopy_store::redact_url(database_url);
    crate::out!(
        r#"
Canopy demo is running at {base}   (Ctrl-C to stop; {where_})

  Web app            {base}/   (sign in as alice or bob below)
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

  # alice collects her energy and plants a Haloxylon (17.9 kg) in the Alxa desert; its certificate is public
  curl -s -X POST {base}/v1/me/balls/collect -H "Authorization: Bearer $TOKEN"; echo
  curl -s "{base}/v1/projects?kind=tree" -H "Authorization: Bearer $TOKEN"; echo
  curl -s -X POST {base}/v1/me/redemptions -H "Authorization: Bearer $TOKEN" -H 'Idempotency-Key: plant-1' \
    -H 'content-type: application/json' -d '{{"project_id":"{tree}","quantity":1}}'; echo
  #   then open {base}/v1/certificates/<certificate_number>.svg in a browser

  # give 1 kg to the Asian Games campaign, matched by carbon credits the sponsor retires
  curl -s -X POST {base}/v1/campaigns/{campaign}/contributions -H "Authorization: Bearer $TOKEN" \
    -H 'content-type: application/json' -d '{{"grams":1000}}'; echo
  #   its public page: {base}/campaigns/{campaign}

  # power saving: yesterday's evening peak paid alice a red packet; she is invited to tomorrow's
  curl -s {base}/v1/me/energy/settlements -H "Authorization: Bearer $TOKEN"; echo
  curl -s {base}/v1/me/energy/invitations -H "Authorization: Bearer $TOKEN"; echo
  curl -s {base}/v1/energy/events/{settled}/report -H "Authorization: Bearer {admin_token}"; echo
  #   tomorrow's event is {upcoming}; answer with POST /v1/me/energy/invitations/<id> {{"answer":"in"}}

  # the operator lists partners
  curl -s {base}/v1/partners -H "Authorization: Bearer {admin_token}"; echo

  # the CLI on this demo's database (while it runs, or after it stops)
  canopy ledger verify --database {database}
"#
    );
    Ok(())
}
