//! The delivery loop of OpenADR webhook notifications: it claims what the
//! outbox holds due (through the service, which keeps the retry policy),
//! POSTs each notification to its callback with the subscription's bearer
//! token, and sleeps until more is written or a second passes.

use std::time::Duration;

use canopy_service::{NotificationRow, Service};

/// How long one delivery may take, connecting included.
const DELIVERY_TIMEOUT: Duration = Duration::from_secs(10);
/// How long connecting may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// The longest pause between rounds (retries come due while nothing is written).
const IDLE: Duration = Duration::from_secs(1);

/// Delivers notifications until the task is aborted.
pub(crate) async fn deliver(service: Service) {
    let client = match reqwest013::Client::builder()
        .timeout(DELIVERY_TIMEOUT)
        .connect_timeout(CONNECT_TIMEOUT)
        // A callback answers itself: a redirect is not followed (nor
        // the bearer token sent elsewhere).
        .redirect(reqwest013::redirect::Policy::none())
        .user_agent(concat!("canopy-vtn/", env!("CARGO_PKG_VERSION")))
        .build()
    {
        Ok(client) => client,
        Err(error) => {
            tracing::error!(%error, "no HTTP client for OpenADR notifications: none will be delivered");
            return;
        }
    };
    let written = service.notifications_written();
    loop {
        match service.deliver_notifications(|note| send(client.clone(), note)).await {
            // A full batch: more may be due at once.
            Ok(sent) if sent as i64 >= canopy_service::NOTIFY_BATCH_MAX => continue,
            Ok(_) => {}
            Err(error) => tracing::warn!(%error, "delivering OpenADR notifications failed; retrying later"),
        }
        tokio::select! {
            _ = written.notified() => {}
            _ = tokio::time::sleep(IDLE) => {}
        }
    }
}

async fn send(client: reqwest013::Client, note: NotificationRow) -> Result<(), String> {
    let mut request =
        client.post(&note.callback_url).header(reqwest013::header::CONTENT_TYPE, "application/json").body(note.body);
    if let Some(token) = &note.bearer_token {
        request = request.bearer_auth(token);
    }
    match request.send().await {
        Ok(answer) if answer.status().is_success() => Ok(()),
        Ok(answer) => Err(format!("the callback answered {}", answer.status())),
        Err(error) => Err(format!("the callback could not be reached: {error}")),
    }
}
