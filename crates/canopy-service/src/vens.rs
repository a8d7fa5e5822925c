//! OpenADR VENs: the operator registers them (a client id and a secret,
//! shown once), and a VEN trades its credentials for a bearer token
//! (OAuth2 client credentials, RFC 6749 §4.4) to call the VTN interface.

use canopy_store::{VenReportRow, VenRow};

/// The reports read to filter by client name.
const VEN_REPORTS_SCANNED: i64 = 1000;

use crate::error::{ErrorKind, ServiceError, ServiceResult};
use crate::tokens::{constant_time_eq, random_token, token_hash};
use crate::Service;

/// How long a VEN's bearer token lasts, seconds (an hour).
pub const VEN_TOKEN_TTL_S: i64 = 3600;
/// The longest VEN name.
pub const VEN_NAME_MAX: usize = 128;

/// A VEN just registered, with its secret (shown once).
#[derive(Debug, Clone)]
pub struct NewVen {
    /// The VEN.
    pub ven: VenRow,
    /// Its client secret.
    pub client_secret: String,
}

/// Why a token was refused, in OAuth2's terms (RFC 6749 §5.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenRefusal {
    /// Unknown client or wrong secret.
    InvalidClient,
    /// A grant other than `client_credentials`.
    UnsupportedGrantType,
    /// The request lacks what it needs.
    InvalidRequest,
}

impl TokenRefusal {
    /// OAuth2's `error` code.
    pub fn code(self) -> &'static str {
        match self {
            TokenRefusal::InvalidClient => "invalid_client",
            TokenRefusal::UnsupportedGrantType => "unsupported_grant_type",
            TokenRefusal::InvalidRequest => "invalid_request",
        }
    }
}

impl Service {
    /// Registers a VEN named `name`, reporting for utility `partner_id`'s meters if given.
    pub async fn register_ven(&self, name: &str, partner_id: Option<i64>) -> ServiceResult<NewVen> {
        let name = name.trim();
        if name.is_empty() || name.chars().count() > VEN_NAME_MAX || name.chars().any(char::is_control) {
            return Err(ServiceError::invalid("invalid_ven", format!("name must be 1 to {VEN_NAME_MAX} characters")));
        }
        if let Some(partner_id) = partner_id {
            let partner = self.store.partner(partner_id).await?.ok_or_else(|| {
                ServiceError::not_found("partner_not_found", format!("there is no partner ptn_{partner_id}"))
            })?;
            if !partner.categories.contains(canopy_core::types::Category::Housing) {
                return Err(ServiceError::invalid(
                    "invalid_ven",
                    "a VEN reports for a partner of the `housing` category",
                ));
            }
        }
        let client_id = format!("ven-{}", &random_token()[..24]);
        let client_secret = random_token();
        let ven = self
            .store
            .create_ven(name, &client_id, &token_hash(&client_secret), partner_id, self.now())
            .await?
            .ok_or_else(|| {
            ServiceError::new(ErrorKind::Conflict, "ven_exists", "a VEN of this name is registered")
        })?;
        Ok(NewVen { ven, client_secret })
    }

    /// Every VEN.
    pub async fn vens(&self) -> ServiceResult<Vec<VenRow>> {
        Ok(self.store.vens().await?)
    }

    /// A bearer token for a VEN's credentials: (token, lifetime in seconds).
    pub async fn ven_token(
        &self,
        grant_type: Option<&str>,
        client_id: Option<&str>,
        client_secret: Option<&str>,
    ) -> ServiceResult<Result<(String, i64), TokenRefusal>> {
        match grant_type {
            Some("client_credentials") => {}
            Some(_) => return Ok(Err(TokenRefusal::UnsupportedGrantType)),
            None => return Ok(Err(TokenRefusal::InvalidRequest)),
        }
        let (Some(client_id), Some(secret)) = (client_id, client_secret) else {
            return Ok(Err(TokenRefusal::InvalidClient));
        };
        let Some(ven) = self.store.ven_by_client_id(client_id).await? else {
            return Ok(Err(TokenRefusal::InvalidClient));
        };
        if !constant_time_eq(token_hash(secret).as_bytes(), ven.secret_hash.as_bytes()) {
            return Ok(Err(TokenRefusal::InvalidClient));
        }
        let token = random_token();
        let now = self.now();
        let expires_at = now + chrono::Duration::seconds(VEN_TOKEN_TTL_S);
        self.store.create_ven_token(ven.id, &token_hash(&token), expires_at, now).await?;
        Ok(Ok((token, VEN_TOKEN_TTL_S)))
    }

    /// The VEN a bearer token stands for.
    pub async fn ven_for_token(&self, token: &str) -> ServiceResult<VenRow> {
        self.store.ven_for_token(&token_hash(token), self.now()).await?.ok_or_else(|| {
            ServiceError::new(ErrorKind::Unauthorized, "invalid_token", "the bearer token is unknown or expired")
        })
    }

    /// A VEN's OpenADR report on event `event_id`: its USAGE intervals
    /// become readings of its utility's meters (one result a reading), and
    /// the report is kept; its id.
    pub async fn ven_report(
        &self,
        ven: &VenRow,
        event_id: i64,
        body: &str,
        readings: Vec<crate::ReadingWire>,
    ) -> ServiceResult<(i64, Vec<crate::ReadingResult>)> {
        let partner_id = ven.partner_id.ok_or_else(|| {
            ServiceError::new(ErrorKind::Forbidden, "ven_without_utility", "this VEN reports for no utility's meters")
        })?;
        let partner =
            self.store.partner(partner_id).await?.ok_or_else(|| ServiceError::internal("a VEN's partner is gone"))?;
        if self.store.energy_event(event_id).await?.is_none() {
            return Err(ServiceError::not_found("event_not_found", "there is no such event"));
        }
        let results = self.ingest_readings(&partner, readings).await?;
        let id = self.store.create_ven_report(ven.id, event_id, body, self.now()).await?;
        Ok((id, results))
    }

    /// `ven`'s reports, oldest first, `skip`ped and at most `limit`: only on
    /// `program`'s events, on `event`, or named `client_name`, when given.
    pub async fn ven_reports(
        &self,
        ven: &VenRow,
        program: Option<i64>,
        event: Option<i64>,
        client_name: Option<&str>,
        skip: usize,
        limit: usize,
    ) -> ServiceResult<Vec<VenReportRow>> {
        let count = |n: usize| i64::try_from(n).unwrap_or(i64::MAX);
        let Some(name) = client_name else {
            return Ok(self.store.ven_reports(ven.id, program, event, count(skip), count(limit)).await?);
        };
        // The client name is inside each report: the first 1,000 matching the rest are read and filtered.
        let all = self.store.ven_reports(ven.id, program, event, 0, VEN_REPORTS_SCANNED).await?;
        Ok(all
            .into_iter()
            .filter(|r| {
                serde_json::from_str::<serde_json::Value>(&r.body)
                    .ok()
                    .is_some_and(|b| b.get("clientName").and_then(|n| n.as_str()) == Some(name))
            })
            .skip(skip)
            .take(limit)
            .collect())
    }

    /// One of `ven`'s reports.
    pub async fn ven_report_of(&self, ven: &VenRow, id: i64) -> ServiceResult<Option<VenReportRow>> {
        Ok(self.store.ven_report(ven.id, id).await?)
    }
}
