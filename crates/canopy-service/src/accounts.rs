//! Citizens: registration, sign-in, sessions and the account.

use canopy_core::district::District;
use canopy_core::types::{DisplayName, RegionCode, Username};
use canopy_store::{Balances, NewUser, UserRow};
use chrono::{DateTime, Duration, Utc};

use crate::error::{ServiceError, ServiceResult};
use crate::tokens::{random_token, token_hash};
use crate::Service;

/// A registration as the citizen typed it.
#[derive(Debug, Clone)]
pub struct NewAccount {
    /// Login name.
    pub username: String,
    /// Password, in clear (hashed here, never stored).
    pub password: String,
    /// Name shown to friends.
    pub display_name: String,
    /// ISO 3166-2 home region.
    pub region: String,
    /// GB/T 2260 district in that region (six digits), if the citizen gives one.
    pub district: Option<String>,
}

/// A session token and its expiry.
#[derive(Debug, Clone)]
pub struct Session {
    /// The opaque bearer token (only its hash is stored).
    pub token: String,
    /// When it stops working.
    pub expires_at: DateTime<Utc>,
}

/// A citizen's account and balances.
#[derive(Debug, Clone)]
pub struct Account {
    /// The citizen.
    pub user: UserRow,
    /// Their balances.
    pub balances: Balances,
}

impl Account {
    /// The citizen's district, its name and city, if they gave one (a code
    /// stored before a change of the GB/T 2260 data that no longer names a
    /// district reads as none).
    pub fn district(&self) -> Option<District> {
        self.user.district.as_deref().and_then(|code| District::lookup(code).ok())
    }
}

/// A registration's fields, each parsed into its core type.
fn validate(account: &NewAccount) -> ServiceResult<(Username, DisplayName, RegionCode, Option<District>)> {
    let username =
        Username::parse(&account.username).map_err(|e| ServiceError::invalid("invalid_username", e.to_string()))?;
    let password_chars = account.password.chars().count();
    if !(8..=256).contains(&password_chars) {
        return Err(ServiceError::invalid("weak_password", "password must be 8 to 256 characters"));
    }
    let display_name = parse_display_name(&account.display_name)?;
    let region = parse_region(&account.region)?;
    let district = account.district.as_deref().map(|code| parse_district(code, &region)).transpose()?;
    Ok((username, display_name, region, district))
}

/// A display name as sign-up and the profile accept it (`invalid_display_name`).
pub(crate) fn parse_display_name(display_name: &str) -> ServiceResult<DisplayName> {
    DisplayName::parse(display_name)
        .map_err(|e| ServiceError::invalid("invalid_display_name", format!("display_name {e}")))
}

/// A home region as sign-up and the profile accept it (`invalid_region`).
pub(crate) fn parse_region(region: &str) -> ServiceResult<RegionCode> {
    RegionCode::parse(region).map_err(|e| ServiceError::invalid("invalid_region", e.to_string()))
}

/// A district as sign-up and the profile accept it for a citizen of
/// `region` (`invalid_district`): a GB/T 2260 county-level code of that
/// province.
pub(crate) fn parse_district(code: &str, region: &RegionCode) -> ServiceResult<District> {
    District::parse(code, region).map_err(|e| ServiceError::invalid("invalid_district", e.to_string()))
}

impl Service {
    /// Opens a carbon account.
    pub async fn register(&self, account: NewAccount) -> ServiceResult<UserRow> {
        let (username, display_name, region, district) = validate(&account)?;
        if self.store.user_by_username(&username).await?.is_some() {
            return Err(canopy_store::StoreError::UsernameTaken.into());
        }
        let password_hash = self.password_hashing.hash(account.password).await?;
        let user = NewUser { username, password_hash, display_name, region, district };
        Ok(self.store.create_user(&user, self.now()).await?)
    }

    /// Signs in: a new session for the right username and password.
    /// After [`crate::SIGN_IN_FAILURES_MAX`] failures for a username in
    /// [`crate::SIGN_IN_WINDOW_S`], it is refused with 429 `rate_limited`.
    pub async fn sign_in(&self, username: &str, password: String) -> ServiceResult<Session> {
        self.sign_ins.check(username)?;
        // A name that could never have been registered is not looked up (and a
        // NUL in it would be a database error on PostgreSQL, not a wrong login).
        let user = match Username::parse(username) {
            Ok(username) => self.store.user_by_username(&username).await?,
            Err(_) => None,
        };
        let verified = self.password_hashing.verify(password, user.as_ref().map(|u| u.password_hash.clone())).await?;
        let user = match user {
            Some(user) if verified => user,
            _ => {
                self.sign_ins.failed(username);
                return Err(ServiceError::unauthorized("invalid_credentials", "unknown username or wrong password"));
            }
        };
        self.sign_ins.succeeded(username);
        let token = random_token();
        let now = self.now();
        let expires_at = now + Duration::seconds(self.settings.session_ttl_s);
        self.store.create_session(&token_hash(&token), user.id, now, expires_at).await?;
        Ok(Session { token, expires_at })
    }

    /// The citizen a session token belongs to, if it is valid now.
    pub async fn session_user(&self, token: &str) -> ServiceResult<i64> {
        self.store
            .session_user(&token_hash(token), self.now())
            .await?
            .ok_or_else(|| ServiceError::unauthorized("invalid_token", "the session token is unknown or expired"))
    }

    /// Signs out: the session token stops working.
    pub async fn sign_out(&self, token: &str) -> ServiceResult<()> {
        self.store.delete_session(&token_hash(token)).await?;
        Ok(())
    }

    /// A citizen's account and balances.
    pub async fn account(&self, user_id: i64) -> ServiceResult<Account> {
        let user = self
            .store
            .user_by_id(user_id)
            .await?
            .ok_or_else(|| ServiceError::unauthorized("invalid_token", "the account no longer exists"))?;
        let balances = self.store.balances(user.id).await?;
        Ok(Account { user, balances })
    }
}
