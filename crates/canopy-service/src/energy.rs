//! Household power saving: a utility partner registers its households'
//! smart meters and sends their 15-minute readings.

use canopy_core::energy::bills::{self, Bill, YearOnYear};
use canopy_core::energy::readings::{self, Effect, ReadingRefusal, BATCH_MAX};
use canopy_core::ingest::reference_ok;
use canopy_core::types::{Category, RegionCode};
use canopy_store::{BillError, MeterError, MeterRow, PartnerRow, ReadingIn};

use crate::error::{ErrorKind, ServiceError, ServiceResult};
use crate::Service;

/// A reading as the partner sent it.
#[derive(Debug, Clone)]
pub struct ReadingWire {
    /// The partner's meter id.
    pub meter_id: String,
    /// The interval's start (RFC 3339, on a 15-minute boundary).
    pub start: String,
    /// kWh drawn in the interval, the number as written.
    pub kwh: String,
    /// `actual` or `estimated`.
    pub quality: String,
}

/// What became of one reading.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReadingResult {
    /// `stored`, `duplicate`, `superseded` or `rejected`.
    pub outcome: &'static str,
    /// Why it was rejected.
    pub code: Option<&'static str>,
    /// What the code means.
    pub message: Option<String>,
}

/// A household that is not the utility's: its link, consent or scope.
fn household_error(error: MeterError) -> ServiceError {
    let unprocessable = |code, detail| ServiceError::new(ErrorKind::Unprocessable, code, detail);
    match error {
        MeterError::ConsentMissing => {
            unprocessable("consent_missing", "user_ref is not linked to a consenting citizen")
        }
        MeterError::ConsentRevoked => unprocessable("consent_revoked", "the citizen revoked this partner's consent"),
        MeterError::ScopeNotGranted => {
            unprocessable("scope_not_granted", "the citizen did not grant the `housing` scope")
        }
        MeterError::RegisteredElsewhere => ServiceError::internal("a meter error where none was expected"),
        MeterError::Store(e) => e.into(),
    }
}

/// A bill as recorded, and how it compares with a year before.
#[derive(Debug, Clone)]
pub struct BillView {
    /// The household.
    pub user_id: i64,
    /// The bill.
    pub bill: Bill,
    /// Whether it was new (not a repeat).
    pub new: bool,
    /// The comparison with the same month a year earlier, if billed.
    pub year_on_year: Option<YearOnYear>,
}

fn housing_partner(partner: &PartnerRow) -> ServiceResult<()> {
    if partner.categories.contains(Category::Housing) {
        Ok(())
    } else {
        Err(ServiceError::new(
            ErrorKind::Forbidden,
            "category_not_allowed",
            "meters are registered by partners of the `housing` category",
        ))
    }
}

impl Service {
    /// Registers a household's meter; `true` when it is new.
    pub async fn register_meter(
        &self,
        partner: &PartnerRow,
        user_ref: &str,
        meter_id: &str,
        region: &str,
    ) -> ServiceResult<(MeterRow, bool)> {
        housing_partner(partner)?;
        if !reference_ok(user_ref) {
            return Err(ServiceError::invalid("invalid_user_ref", "user_ref must be 1 to 128 bytes of text"));
        }
        if !reference_ok(meter_id) {
            return Err(ServiceError::invalid("invalid_meter_id", "meter_id must be 1 to 128 bytes of text"));
        }
        let region = RegionCode::parse(region).map_err(|e| ServiceError::invalid("invalid_region", e.to_string()))?;
        self.store.register_meter(partner.id, user_ref, meter_id, region.as_str(), self.now()).await.map_err(
            |e| match e {
                MeterError::RegisteredElsewhere => {
                    ServiceError::conflict("meter_registered", "this meter is registered to another household")
                }
                other => household_error(other),
            },
        )
    }

    /// Records a household's monthly bill (the same bill again is a repeat;
    /// other figures for a billed month are `bill_conflict`).
    pub async fn record_bill(
        &self,
        partner: &PartnerRow,
        user_ref: &str,
        month: &str,
        kwh: &str,
        amount_fen: i64,
    ) -> ServiceResult<BillView> {
        housing_partner(partner)?;
        let bill = bills::check(month, kwh, amount_fen, self.now())
            .map_err(|e| ServiceError::invalid("invalid_bill", e.to_string()))?;
        let recorded = self.store.record_bill(partner.id, user_ref, &bill, self.now()).await.map_err(|e| match e {
            BillError::Conflict { wh, amount_fen } => ServiceError::conflict(
                "bill_conflict",
                format!("this month was billed already with other figures: {wh} Wh, {amount_fen} fen"),
            ),
            BillError::Household(e) => household_error(e),
        })?;
        let year_on_year = recorded.year_ago_fen.map(|fen| bills::compare(&bill, fen));
        Ok(BillView { user_id: recorded.user_id, bill, new: recorded.new, year_on_year })
    }

    /// Stores a batch of readings (at most 50,000); one result a reading, in order.
    pub async fn ingest_readings(
        &self,
        partner: &PartnerRow,
        batch: Vec<ReadingWire>,
    ) -> ServiceResult<Vec<ReadingResult>> {
        housing_partner(partner)?;
        if batch.len() > BATCH_MAX {
            return Err(ServiceError::new(
                ErrorKind::TooLarge,
                "batch_too_large",
                format!("a batch carries at most {BATCH_MAX} readings"),
            ));
        }
        if batch.is_empty() {
            return Ok(Vec::new());
        }
        let now = self.now();
        let checked: Vec<ReadingIn> = batch
            .into_iter()
            .map(|r| {
                let checked = if reference_ok(&r.meter_id) {
                    readings::check(&r.start, &r.kwh, &r.quality, now)
                } else {
                    Err(ReadingRefusal::MeterUnknown(r.meter_id.chars().take(128).collect()))
                };
                ReadingIn { meter_id: r.meter_id, checked }
            })
            .collect();
        let outcomes = self.store.ingest_readings(partner.id, &checked, now).await?;
        Ok(outcomes
            .into_iter()
            .map(|outcome| match outcome {
                Ok(effect) => ReadingResult { outcome: effect_name(effect), code: None, message: None },
                Err(refusal) => ReadingResult {
                    outcome: "rejected",
                    code: Some(refusal.code()),
                    message: Some(refusal.to_string()),
                },
            })
            .collect())
    }
}

fn effect_name(effect: Effect) -> &'static str {
    effect.as_str()
}
