//! Household power saving: a utility partner registers its households'
//! smart meters and sends their 15-minute readings.

use canopy_core::energy::bills::{self, Bill, YearOnYear};
use canopy_core::energy::readings::{self, Effect, ReadingRefusal, BATCH_MAX};
use canopy_core::energy::settlement;
use canopy_core::ingest::reference_ok;
use canopy_core::types::{Category, RegionCode};
use canopy_store::writer::{GameCommand, GameOutcome};
use canopy_store::{BillError, MeterError, MeterRow, PartnerRow, ReadingIn};
use canopy_store::{BillVoucherIssue, BillVoucherRow};

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
    /// The voucher the decrease earned, if a program pays one.
    pub voucher: Option<IssuedVoucher>,
}

/// A year-on-year voucher as issued for a bill.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IssuedVoucher {
    /// The program paying it.
    pub program_id: i64,
    /// What the decrease earned, fen.
    pub earned_fen: i64,
    /// What the pool paid, fen (less than earned when it ran short).
    pub face_value_fen: i64,
    /// The kWh decrease, Wh.
    pub decrease_wh: i64,
    /// The reduction verified, grams.
    pub carbon_grams: i64,
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
        let voucher = match (&year_on_year, recorded.year_ago_wh) {
            (Some(yoy), Some(year_ago_wh)) => self.bill_voucher(recorded.user_id, &bill, yoy, year_ago_wh).await?,
            _ => None,
        };
        Ok(BillView { user_id: recorded.user_id, bill, new: recorded.new, year_on_year, voucher })
    }

    /// Issues the voucher a bill's year-on-year decrease earns under the
    /// oldest program of the household's region that pays them (once per
    /// household and month: a repeated bill finds the one issued), with the
    /// kWh decrease credited as verified reduction.
    async fn bill_voucher(
        &self,
        user_id: i64,
        bill: &Bill,
        yoy: &YearOnYear,
        year_ago_wh: i64,
    ) -> ServiceResult<Option<IssuedVoucher>> {
        let Some(user) = self.store.user_by_id(user_id).await? else { return Ok(None) };
        let in_region = |program: &str| user.region == program || user.region.starts_with(&format!("{program}-"));
        let Some((program, rule)) = self
            .store
            .programs()
            .await?
            .into_iter()
            .filter(|p| in_region(&p.region))
            .find_map(|p| p.bill_vouchers.clone().map(|rule| (p, rule)))
        else {
            return Ok(None);
        };
        let earned_fen = bills::voucher_fen(yoy, &rule.rule);
        if earned_fen == 0 {
            return Ok(None);
        }
        let decrease_wh = (year_ago_wh - bill.wh).max(0);
        let registry = self.store.refresh_registry(&self.registry).await?;
        let methodology = RegionCode::parse(&user.region)
            .ok()
            .and_then(|region| registry.find(settlement::POWER_SAVING, &region, bill.month).cloned());
        let carbon_grams = match &methodology {
            Some(m) if decrease_wh > 0 => settlement::carbon_grams(m, decrease_wh).unwrap_or(0),
            _ => 0,
        };
        let mut random = [0u8; 10];
        rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut random);
        let code = format!("YOY-{}", random.iter().map(|b| format!("{b:02X}")).collect::<String>());
        let issue = BillVoucherIssue {
            user_id,
            program_id: program.id,
            pool_id: rule.pool_id,
            month: bill.month.format("%Y-%m").to_string(),
            code,
            earned_fen,
            decrease_fen: yoy.decrease_fen,
            decrease_wh,
            carbon_grams,
            methodology: methodology.map(|m| m.key()),
            expires_at: self.now() + chrono::Duration::days(rule.rule.valid_days),
        };
        match self.game(GameCommand::IssueBillVoucher(issue)).await? {
            GameOutcome::BillVoucherIssued { face_value_fen, carbon_grams, .. } => Ok(Some(IssuedVoucher {
                program_id: program.id,
                earned_fen,
                face_value_fen,
                decrease_wh,
                carbon_grams,
            })),
            other => Err(ServiceError::internal(format!("issuing a bill voucher answered {other:?}"))),
        }
    }

    /// A citizen's year-on-year bill vouchers, newest month first.
    pub async fn my_bill_vouchers(&self, user_id: i64) -> ServiceResult<Vec<BillVoucherRow>> {
        Ok(self.store.bill_vouchers_of(user_id).await?)
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
