//! Operators of the web dashboard: accounts with a role (created by
//! `canopy operators add`), their sign-in (by password, or with the admin
//! token the HTTP edge holds), their sessions, and the role check every
//! dashboard write goes through.

use canopy_core::types::Username;
use chrono::Duration;

use crate::accounts::Session;
use crate::error::{ErrorKind, ServiceError, ServiceResult};
use crate::tokens::{constant_time_eq, random_token, token_hash};
use crate::Service;

/// What an operator may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// Everything.
    Admin,
    /// Reads figures and reports only.
    Analyst,
}

impl Role {
    /// Its stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::Analyst => "analyst",
        }
    }

    /// The role a name stands for.
    pub fn parse(name: &str) -> ServiceResult<Role> {
        match name {
            "admin" => Ok(Role::Admin),
            "analyst" => Ok(Role::Analyst),
            _ => Err(ServiceError::invalid("invalid_role", "the role must be admin or analyst")),
        }
    }
}

/// A signed-in operator.
#[derive(Debug, Clone)]
pub struct Operator {
    /// The account, or none when signed in with the admin token.
    pub id: Option<i64>,
    /// Its username (none for the admin token).
    pub username: Option<String>,
    /// What it may do.
    pub role: Role,
}

impl Service {
    /// Creates an operator account (`canopy operators add`).
    pub async fn add_operator(&self, username: &str, password: String, role: Role) -> ServiceResult<i64> {
        let username =
            Username::parse(username).map_err(|e| ServiceError::invalid("invalid_username", e.to_string()))?;
        if !(8..=256).contains(&password.chars().count()) {
            return Err(ServiceError::invalid("weak_password", "password must be 8 to 256 characters"));
        }
        let password_hash = self.password_hashing.hash(password).await?;
        let row = self.store.create_operator(username.as_str(), &password_hash, role.as_str(), self.now()).await?;
        Ok(row.id)
    }

    /// Signs an operator in by username and password: a new operator
    /// session. Bounded like a citizen's sign-in (the same argon2 turns).
    pub async fn operator_sign_in(&self, username: &str, password: String) -> ServiceResult<Session> {
        let operator = match Username::parse(username) {
            Ok(username) => self.store.operator_by_username(username.as_str()).await?,
            Err(_) => None,
        };
        let verified =
            self.password_hashing.verify(password, operator.as_ref().map(|o| o.password_hash.clone())).await?;
        let operator = match operator {
            Some(operator) if verified => operator,
            _ => return Err(ServiceError::unauthorized("invalid_credentials", "unknown operator or wrong password")),
        };
        let role = Role::parse(&operator.role)?;
        self.open_operator_session(Some(operator.id), role).await
    }

    /// Signs in with the admin token (`expected` is the one the server was
    /// configured with; none means no token sign-in): an admin session whose
    /// cookie holds a token of its own, never the admin token.
    pub async fn operator_token_sign_in(&self, given: &str, expected: Option<&str>) -> ServiceResult<Session> {
        match expected {
            Some(expected) if !given.is_empty() && constant_time_eq(given.as_bytes(), expected.as_bytes()) => {
                self.open_operator_session(None, Role::Admin).await
            }
            _ => Err(ServiceError::unauthorized("invalid_credentials", "the admin token is wrong or not configured")),
        }
    }

    async fn open_operator_session(&self, operator_id: Option<i64>, role: Role) -> ServiceResult<Session> {
        let token = random_token();
        let now = self.now();
        let expires_at = now + Duration::seconds(self.settings.session_ttl_s);
        self.store.create_operator_session(&token_hash(&token), operator_id, role.as_str(), now, expires_at).await?;
        Ok(Session { token, expires_at })
    }

    /// The operator an operator session token belongs to, if valid now.
    pub async fn operator_session(&self, token: &str) -> ServiceResult<Operator> {
        let row =
            self.store.operator_session(&token_hash(token), self.now()).await?.ok_or_else(|| {
                ServiceError::unauthorized("invalid_token", "the operator session is unknown or expired")
            })?;
        Ok(Operator { id: row.operator_id, username: row.username, role: Role::parse(&row.role)? })
    }

    /// Signs an operator out: the session token stops working.
    pub async fn operator_sign_out(&self, token: &str) -> ServiceResult<()> {
        self.store.delete_operator_session(&token_hash(token)).await?;
        Ok(())
    }

    /// Whether `operator` may write (create, rotate, suspend, publish,
    /// supersede): an admin may, an analyst is refused `operator_read_only`.
    pub fn operator_may_write(&self, operator: &Operator) -> ServiceResult<()> {
        match operator.role {
            Role::Admin => Ok(()),
            Role::Analyst => Err(ServiceError::new(
                ErrorKind::Forbidden,
                "operator_read_only",
                "an analyst reads figures and reports only; this needs an admin",
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_parse_from_their_names_only() {
        assert_eq!(Role::parse("admin").unwrap(), Role::Admin);
        assert_eq!(Role::parse("analyst").unwrap(), Role::Analyst);
        assert_eq!(Role::parse("root").unwrap_err().code, "invalid_role");
    }
}
