//! OpenADR 3.1 subscriptions and their webhook notifications.
//!
//! A VEN subscribes to the creation and update of programs and events
//! (all, or one program's) with a callback URL. When the operator creates
//! a program or an event, or an event settles, one notification per
//! matching subscription is written to an outbox; the delivery loop (the
//! server's, through [`Service::deliver_notifications`]) POSTs each to its
//! callback with the subscription's bearer token, and retries failures
//! with backoff: 5 s, 10 s, 20 s, … up to [`NOTIFY_ATTEMPTS_MAX`] attempts.
//! A notification's id names the operation (the object, the operation,
//! the object's modification time), so a VEN that hears of it twice, by
//! two subscriptions or a retry, can tell.

use std::future::Future;

use canopy_store::{Delivery, NewNotification, NotificationRow, SubscriptionRow, VenRow};
use openleadr_wire::subscription::{AnyObject, NotificationMechanism, Operation, Subscription, SubscriptionRequest};
use openleadr_wire::ObjectType;

use crate::error::{ServiceError, ServiceResult};
use crate::Service;

/// The most subscriptions one VEN keeps.
pub const SUBSCRIPTIONS_PER_VEN_MAX: i64 = 20;
/// The longest callback URL.
pub const CALLBACK_URL_MAX: usize = 2048;
/// The longest bearer token a callback expects.
pub const CALLBACK_TOKEN_MAX: usize = 1024;
/// Delivery attempts before a notification is given up.
pub const NOTIFY_ATTEMPTS_MAX: i64 = 8;
/// The first retry's delay, seconds (doubling after each failure).
pub const NOTIFY_BACKOFF_S: i64 = 5;
/// The longest delay between attempts, seconds.
pub const NOTIFY_BACKOFF_MAX_S: i64 = 3600;
/// How long a server holds a claimed notification, seconds, before
/// another may send it (longer than a delivery's timeout).
pub const NOTIFY_LEASE_S: i64 = 60;
/// Notifications claimed at once.
pub const NOTIFY_BATCH_MAX: i64 = 32;

/// The objects Canopy notifies of.
const NOTIFIED: [ObjectType; 2] = [ObjectType::Program, ObjectType::Event];

fn invalid(detail: impl Into<String>) -> ServiceError {
    ServiceError::invalid("invalid_subscription", detail)
}

fn not_found() -> ServiceError {
    ServiceError::not_found("subscription_not_found", "this VEN has no such subscription")
}

/// The delay before attempt `attempts + 1`, after `attempts` failed.
pub fn backoff_s(attempts: i64) -> i64 {
    let doublings = u32::try_from((attempts - 1).clamp(0, 20)).expect("clamped");
    (NOTIFY_BACKOFF_S << doublings).min(NOTIFY_BACKOFF_MAX_S)
}

/// A stored subscription as OpenADR's Subscription.
pub fn subscription_object(row: &SubscriptionRow) -> Subscription {
    let content: SubscriptionRequest =
        serde_json::from_str(&row.request).expect("stored subscription requests were accepted as such");
    Subscription {
        id: format!("sub_{}", row.id).parse().expect("subscription ids are OpenADR identifiers"),
        created_date_time: row.created_at,
        modification_date_time: row.modified_at,
        client_id: row.client_id.parse().expect("VEN client ids are OpenADR identifiers"),
        content,
    }
}

fn operation_name(operation: Operation) -> &'static str {
    match operation {
        Operation::Create => "create",
        Operation::Update => "update",
        Operation::Delete => "delete",
    }
}

impl Service {
    /// Checks a subscription request: webhooks to http(s) callbacks, on
    /// the objects Canopy notifies of, for an existing program if one is
    /// named. The program's id.
    async fn checked_subscription(&self, request: &SubscriptionRequest) -> ServiceResult<Option<i64>> {
        let name = request.client_name.trim();
        if name.is_empty() || name.chars().count() > 128 || name.chars().any(char::is_control) {
            return Err(invalid("clientName must be 1 to 128 characters"));
        }
        if request.object_operations.is_empty() || request.object_operations.len() > 15 {
            return Err(invalid("objectOperations must hold 1 to 15 entries"));
        }
        for (i, op) in request.object_operations.iter().enumerate() {
            if op.objects.is_empty() || op.operations.is_empty() {
                return Err(invalid(format!("objectOperations[{i}]: name at least one object and one operation")));
            }
            if let Some(other) = op.objects.iter().find(|o| !NOTIFIED.contains(o)) {
                return Err(invalid(format!(
                    "objectOperations[{i}]: Canopy notifies of PROGRAM and EVENT objects, not {}",
                    other.as_str()
                )));
            }
            if op.mechanism != NotificationMechanism::Webhook {
                return Err(invalid(format!("objectOperations[{i}]: the mechanism Canopy offers is WEBHOOK")));
            }
            let url = op.callback_url.as_deref().unwrap_or_default();
            let scheme_ok = url.starts_with("https://") || url.starts_with("http://");
            if !scheme_ok || url.len() > CALLBACK_URL_MAX || url.chars().any(|c| c.is_control() || c == ' ') {
                return Err(invalid(format!(
                    "objectOperations[{i}]: callbackUrl must be an http or https URL of at most {CALLBACK_URL_MAX} characters"
                )));
            }
            if op
                .bearer_token
                .as_deref()
                .is_some_and(|t| t.len() > CALLBACK_TOKEN_MAX || t.chars().any(char::is_control))
            {
                return Err(invalid(format!(
                    "objectOperations[{i}]: bearerToken must be at most {CALLBACK_TOKEN_MAX} characters"
                )));
            }
        }
        let Some(program) = &request.program_id else { return Ok(None) };
        let id = program
            .as_str()
            .strip_prefix("prg_")
            .and_then(|n| n.parse::<i64>().ok())
            .ok_or_else(|| invalid(format!("programID `{program}` names no program")))?;
        if self.store.program(id).await?.is_none() {
            return Err(invalid(format!("programID `{program}` names no program")));
        }
        Ok(Some(id))
    }

    /// Makes a subscription for `ven`.
    pub async fn create_subscription(&self, ven: &VenRow, request: SubscriptionRequest) -> ServiceResult<Subscription> {
        let program = self.checked_subscription(&request).await?;
        let text = serde_json::to_string(&request).expect("subscription requests serialise");
        let row = self
            .store
            .create_subscription(ven.id, program, &text, SUBSCRIPTIONS_PER_VEN_MAX, self.now())
            .await?
            .ok_or_else(|| {
                invalid(format!("a VEN keeps at most {SUBSCRIPTIONS_PER_VEN_MAX} subscriptions: delete one first"))
            })?;
        Ok(subscription_object(&row))
    }

    /// `ven`'s subscriptions, oldest first: only `program`'s (if given), only
    /// those named `client_name` (if given), only those on one of `objects` (if any).
    pub async fn subscriptions(
        &self,
        ven: &VenRow,
        program: Option<&str>,
        client_name: Option<&str>,
        objects: &[ObjectType],
    ) -> ServiceResult<Vec<Subscription>> {
        let rows = self.store.subscriptions_of(ven.id, SUBSCRIPTIONS_PER_VEN_MAX).await?;
        Ok(rows
            .iter()
            .map(subscription_object)
            .filter(|s| program.is_none_or(|p| s.content.program_id.as_ref().map(|id| id.as_str()) == Some(p)))
            .filter(|s| client_name.is_none_or(|n| s.content.client_name == n))
            .filter(|s| {
                objects.is_empty()
                    || s.content.object_operations.iter().any(|op| op.objects.iter().any(|o| objects.contains(o)))
            })
            .collect())
    }

    /// One of `ven`'s subscriptions.
    pub async fn subscription(&self, ven: &VenRow, id: i64) -> ServiceResult<Subscription> {
        let row = self.store.subscription(id).await?.filter(|s| s.ven_id == ven.id).ok_or_else(not_found)?;
        Ok(subscription_object(&row))
    }

    /// Replaces one of `ven`'s subscriptions.
    pub async fn update_subscription(
        &self,
        ven: &VenRow,
        id: i64,
        request: SubscriptionRequest,
    ) -> ServiceResult<Subscription> {
        self.store.subscription(id).await?.filter(|s| s.ven_id == ven.id).ok_or_else(not_found)?;
        let program = self.checked_subscription(&request).await?;
        let text = serde_json::to_string(&request).expect("subscription requests serialise");
        let row =
            self.store.update_subscription(id, ven.id, program, &text, self.now()).await?.ok_or_else(not_found)?;
        Ok(subscription_object(&row))
    }

    /// Deletes one of `ven`'s subscriptions (and its undelivered
    /// notifications); the subscription as it was.
    pub async fn delete_subscription(&self, ven: &VenRow, id: i64) -> ServiceResult<Subscription> {
        let row = self.store.delete_subscription(id, ven.id).await?.ok_or_else(not_found)?;
        Ok(subscription_object(&row))
    }

    /// Writes the notifications of `operation` on `object` (of program
    /// `program_id`) for every subscription that asked for them, and wakes
    /// the delivery loop. A failure is logged, not returned: the operation
    /// itself has happened.
    pub(crate) async fn notify_vens(&self, program_id: i64, object: AnyObject, operation: Operation) {
        if let Err(error) = self.try_notify_vens(program_id, object, operation).await {
            tracing::warn!(%error, program_id, "writing OpenADR notifications failed");
        }
    }

    async fn try_notify_vens(&self, program_id: i64, object: AnyObject, operation: Operation) -> ServiceResult<()> {
        let subscriptions = self.store.subscriptions_for_program(program_id).await?;
        if subscriptions.is_empty() {
            return Ok(());
        }
        let kind = object.kind();
        let modified = match &object {
            AnyObject::Program(p) => p.modification_date_time,
            AnyObject::Event(e) => e.modification_date_time,
            _ => self.now(),
        };
        let id = format!("{}-{}-{}", object.id(), operation_name(operation), modified.timestamp_millis());
        let notification = openleadr_wire::subscription::Notification {
            id: id.parse().map_err(|_| ServiceError::internal("a notification id is not an OpenADR identifier"))?,
            operation,
            object,
        };
        let body = serde_json::to_string(&notification).expect("notifications serialise");
        let mut notes: Vec<NewNotification> = Vec::new();
        for row in &subscriptions {
            let subscription = subscription_object(row);
            for op in &subscription.content.object_operations {
                let wanted = op.objects.contains(&kind) && op.operations.contains(&operation);
                let Some(url) = op.callback_url.as_ref().filter(|_| wanted) else { continue };
                // One notification a callback, however many entries ask for it.
                if notes.iter().any(|n| n.subscription_id == row.id && &n.callback_url == url) {
                    continue;
                }
                notes.push(NewNotification {
                    subscription_id: row.id,
                    callback_url: url.clone(),
                    bearer_token: op.bearer_token.clone(),
                    body: body.clone(),
                });
            }
        }
        self.store.enqueue_notifications(&notes, self.now()).await?;
        if !notes.is_empty() {
            self.webhooks.notify_one();
        }
        Ok(())
    }

    /// Wakes when notifications were written (the delivery loop waits on it
    /// between its rounds).
    pub fn notifications_written(&self) -> std::sync::Arc<tokio::sync::Notify> {
        self.webhooks.clone()
    }

    /// One delivery round: claims the notifications due, sends each with
    /// `send` (Ok for a 2xx answer, else what went wrong), and records the
    /// outcome — delivered, retried later, or given up. The notifications
    /// sent.
    pub async fn deliver_notifications<F, Fut>(&self, send: F) -> ServiceResult<usize>
    where
        F: Fn(NotificationRow) -> Fut,
        Fut: Future<Output = Result<(), String>> + Send + 'static,
    {
        let claimed = self.store.claim_notifications(self.now(), NOTIFY_LEASE_S, NOTIFY_BATCH_MAX).await?;
        let sent = claimed.len();
        // Sent side by side (each send bounds its own time).
        let mut sending = tokio::task::JoinSet::new();
        for note in claimed {
            let (id, attempts) = (note.id, note.attempts);
            let delivery = send(note);
            sending.spawn(async move { (id, attempts, delivery.await) });
        }
        while let Some(done) = sending.join_next().await {
            let (id, attempts, result) = done.map_err(|e| ServiceError::internal(format!("a delivery task: {e}")))?;
            let outcome = match result {
                Ok(()) => Delivery::Delivered,
                Err(error) if attempts >= NOTIFY_ATTEMPTS_MAX => Delivery::GaveUp { error },
                Err(error) => {
                    Delivery::Retry { at: self.now() + chrono::Duration::seconds(backoff_s(attempts)), error }
                }
            };
            if !matches!(outcome, Delivery::Delivered) {
                tracing::info!(notification = id, attempts, ?outcome, "an OpenADR notification was not delivered");
            }
            self.store.finish_notification(id, &outcome, self.now()).await?;
        }
        Ok(sent)
    }
}
