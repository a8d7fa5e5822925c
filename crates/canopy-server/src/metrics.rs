//! Prometheus metrics, one registry per server (so that tests running
//! several servers in one process do not mix their counts).

use prometheus_client::encoding::text::encode;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

/// Labels of the request counter.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RequestLabels {
    /// HTTP method.
    pub method: String,
    /// The matched route (not the raw path, to bound cardinality).
    pub route: String,
    /// Status code.
    pub status: u16,
}

/// Labels of the event counter.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct OutcomeLabels {
    /// `credited`, `capped`, `duplicate` or `rejected`.
    pub outcome: String,
}

/// The server's metrics.
pub struct Metrics {
    registry: Registry,
    /// HTTP requests by method, route and status.
    pub requests: Family<RequestLabels, Counter>,
    /// Reported events by outcome.
    pub events: Family<OutcomeLabels, Counter>,
    /// Grams of CO2e credited.
    pub grams_credited: Counter,
    /// Events waiting for the writer.
    pub queued_events: Gauge,
}

impl Default for Metrics {
    fn default() -> Self {
        let mut registry = Registry::default();
        let requests = Family::<RequestLabels, Counter>::default();
        let events = Family::<OutcomeLabels, Counter>::default();
        let grams_credited = Counter::default();
        let queued_events = Gauge::default();
        registry.register("canopy_http_requests", "HTTP requests by method, route and status", requests.clone());
        registry.register("canopy_events", "Reported events by outcome", events.clone());
        registry.register("canopy_grams_credited", "Grams of CO2e credited", grams_credited.clone());
        registry.register("canopy_ingest_queued_events", "Events waiting for the writer", queued_events.clone());
        Metrics { registry, requests, events, grams_credited, queued_events }
    }
}

impl Metrics {
    /// The Prometheus text exposition.
    pub fn render(&self) -> String {
        let mut out = String::new();
        encode(&mut out, &self.registry).expect("writing to a String cannot fail");
        out
    }
}
