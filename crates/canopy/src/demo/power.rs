//! The demo's household power saving: alice's smart meter with 45 days of
//! readings at the evening peak, a Beijing peak-saving program paid from a
//! pool of industrial peak premiums, yesterday's event (recorded after the
//! fact and settled: her red packet) and tomorrow's (she is invited).
//! Everything goes through the service, as the utility and the operator
//! would over HTTP.

use canopy_core::ids;
use canopy_service::{NewEvent, NewPool, NewProgram, ReadingWire, Service};
use canopy_store::{PartnerRow, Target};
use chrono::{DateTime, Datelike, Duration, NaiveTime, TimeZone, Utc, Weekday};

/// What the demo's power saving made.
pub struct Power {
    /// Tomorrow's event (`dre_…`).
    pub upcoming: String,
    /// Yesterday's event, settled (`dre_…`).
    pub settled: String,
}

/// The evening peak: 18:00 local, four quarter hours.
fn peak(day: chrono::NaiveDate, timezone: chrono::FixedOffset) -> DateTime<Utc> {
    timezone
        .from_local_datetime(&day.and_time(NaiveTime::from_hms_opt(18, 0, 0).expect("18:00")))
        .single()
        .expect("a fixed offset has one 18:00")
        .with_timezone(&Utc)
}

pub async fn seed(service: &Service, partner: &PartnerRow, timezone: chrono::FixedOffset) -> anyhow::Result<Power> {
    let now = service.now();
    let today = now.with_timezone(&timezone).date_naive();
    let yesterday = today - Duration::days(1);
    service.register_meter(partner, "alice-001", "BJ-DEMO-0001", "CN-BJ").await?;
    // 45 days before yesterday at the evening peak: 0.5 kWh a quarter hour
    // on working days, 0.9 at weekends; yesterday she cut back.
    let mut readings = Vec::new();
    let mut quarter = |start: DateTime<Utc>, kwh: &str| {
        readings.push(ReadingWire {
            meter_id: "BJ-DEMO-0001".to_owned(),
            start: start.to_rfc3339(),
            kwh: kwh.to_owned(),
            quality: "actual".to_owned(),
        })
    };
    for back in 1..=45 {
        let day = yesterday - Duration::days(back);
        let weekend = matches!(day.weekday(), Weekday::Sat | Weekday::Sun);
        for q in 0..4 {
            quarter(peak(day, timezone) + Duration::minutes(15 * q), if weekend { "0.9" } else { "0.5" });
        }
    }
    let usual = if matches!(yesterday.weekday(), Weekday::Sat | Weekday::Sun) { 0.9 } else { 0.5 };
    for (q, cut) in [0.3, 0.2, 0.0, -0.1].into_iter().enumerate() {
        let kwh = format!("{:.1}", usual - cut);
        quarter(peak(yesterday, timezone) + Duration::minutes(15 * q as i64), &kwh);
    }
    let results = service.ingest_readings(partner, readings).await?;
    anyhow::ensure!(results.iter().all(|r| r.code.is_none()), "a demo reading was refused: {results:?}");

    let pool = service
        .create_pool(NewPool {
            name: "Industrial peak premiums".to_owned(),
            sponsor: "Beijing industrial users".to_owned(),
            unit: Some("fen".to_owned()),
            purpose: None,
        })
        .await?;
    service.fund_pool(pool.id, 100_000).await?;
    let program = service
        .create_program(NewProgram {
            name: "Beijing evening peak saving".to_owned(),
            region: "CN-BJ".to_owned(),
            reward_fen_per_kwh: 200,
            baseline_method: "mean_10_of_10".to_owned(),
            day_of_adjustment: false,
            emission_factor_source: None,
            pool_id: pool.id,
            opt_in: "default_in".to_owned(),
            bill_vouchers: None,
        })
        .await?;
    let event = |start: DateTime<Utc>, invitations: bool| NewEvent {
        program_id: program.id,
        start: start.to_rfc3339(),
        duration_minutes: 60,
        invitations_at: invitations.then(|| now.to_rfc3339()),
        respond_by: invitations.then(|| (start - Duration::hours(1)).to_rfc3339()),
        cutoff: None,
        target: Target::Region("CN-BJ".to_owned()),
    };
    let past = service.create_energy_event(event(peak(yesterday, timezone), false)).await?;
    service.settle_energy_event(past.id).await?;
    let upcoming = service.create_energy_event(event(peak(today + Duration::days(1), timezone), true)).await?;
    Ok(Power { upcoming: ids::energy_event(upcoming.id), settled: ids::energy_event(past.id) })
}
