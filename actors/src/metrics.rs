//! Prometheus metrics: the counters and histograms the event and command paths increment as
//! they go, in one registry with the process collector (RSS, CPU, open fds). Values that are
//! state rather than events — clients connected, destinations' buffers — are read from the
//! actors at scrape time and added by the `/metrics` endpoint through [`Scrape`].
//!
//! Names and labels follow Prometheus conventions: `botgate_` prefix, `_total` counters,
//! `_seconds` histograms, label values from a bounded set (bot numbers, adapter names,
//! command names botgate knows — never a string a client chose).

use std::collections::HashMap;
use std::sync::LazyLock;

use prometheus::{
    Encoder, HistogramOpts, HistogramTimer, HistogramVec, IntCounter, IntCounterVec, IntGaugeVec,
    Opts, Registry, TextEncoder,
};

/// Every metric botgate keeps while it runs.
struct Metrics {
    registry: Registry,
    events_received: IntCounterVec,
    frames_delivered: IntCounterVec,
    reconnects: IntCounterVec,
    commands: HistogramVec,
    post_retries: IntCounterVec,
}

fn counter(registry: &Registry, name: &str, help: &str, labels: &[&str]) -> IntCounterVec {
    let c = IntCounterVec::new(Opts::new(name, help), labels)
        .unwrap_or_else(|e| panic!("metric {name} is malformed: {e}"));
    if let Err(e) = registry.register(Box::new(c.clone())) {
        log::warn!("metric {name} not registered: {e}");
    }
    c
}

static METRICS: LazyLock<Metrics> = LazyLock::new(|| {
    let registry = Registry::new();
    #[cfg(target_os = "linux")]
    if let Err(e) =
        registry.register(Box::new(prometheus::process_collector::ProcessCollector::for_self()))
    {
        log::warn!("process metrics not registered: {e}");
    }
    let commands = HistogramVec::new(
        HistogramOpts::new(
            "botgate_command_duration_seconds",
            "Time from a command's decoding to its answer, by protocol and command.",
        )
        .buckets(vec![0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.1, 0.5, 2.0]),
        &["protocol", "command"],
    )
    .unwrap_or_else(|e| panic!("metric botgate_command_duration_seconds is malformed: {e}"));
    if let Err(e) = registry.register(Box::new(commands.clone())) {
        log::warn!("metric botgate_command_duration_seconds not registered: {e}");
    }
    Metrics {
        events_received: counter(
            &registry,
            "botgate_events_received_total",
            "Events a bot received from its source, by bot and source.",
            &["bot", "source"],
        ),
        frames_delivered: counter(
            &registry,
            "botgate_frames_delivered_total",
            "Event frames written to clients and destinations, by adapter.",
            &["adapter"],
        ),
        reconnects: counter(
            &registry,
            "botgate_reconnects_total",
            "Outbound links that dropped and are being redialled, by link kind.",
            &["link"],
        ),
        post_retries: counter(
            &registry,
            "botgate_http_post_retries_total",
            "HTTP POSTs of an event that failed and will be retried, by destination.",
            &["destination"],
        ),
        commands,
        registry,
    }
});

/// The counter of events bot `bot` receives from its source, to keep and increment (a label
/// lookup per event would cost more than the increment).
pub fn events_received(bot: i64, source: &str) -> IntCounter {
    METRICS.events_received.with_label_values(&[&bot.to_string(), source])
}

/// The counter of event frames written for `adapter`, to keep and increment.
pub fn frames_counter(adapter: &str) -> IntCounter {
    METRICS.frames_delivered.with_label_values(&[adapter])
}

/// `n` event frames were written for `adapter` (where no counter is kept).
pub fn frames_delivered(adapter: &str, n: u64) {
    if n > 0 {
        frames_counter(adapter).inc_by(n);
    }
}

/// An outbound link of kind `link` dropped; botgate redials it.
pub fn reconnect(link: &str) {
    METRICS.reconnects.with_label_values(&[link]).inc();
}

/// A POST to `destination` failed and will be retried.
pub fn post_retry(destination: &str) {
    METRICS.post_retries.with_label_values(&[destination]).inc();
}

/// Makes the series of what the gateway runs exist from the start, at zero, so a scrape shows
/// them before anything happened: bots' events, adapters' frames, links' reconnects and POST
/// destinations' retries.
pub fn announce(bots: &[(i64, &str)], adapters: &[&str], links: &[&str], posts: &[&str]) {
    for (bot, source) in bots {
        events_received(*bot, source);
    }
    for adapter in adapters {
        frames_counter(adapter);
    }
    for link in links {
        METRICS.reconnects.with_label_values(&[link]);
    }
    for post in posts {
        METRICS.post_retries.with_label_values(&[post]);
    }
}

/// Times a command of `protocol`; the time is recorded when the timer is dropped (or
/// observed).
pub fn command_timer(protocol: &str, command: &str) -> HistogramTimer {
    METRICS.commands.with_label_values(&[protocol, command]).start_timer()
}

/// Values read at scrape time, added to what the registry holds.
#[derive(Default)]
pub struct Scrape {
    registry: Registry,
    gauges: HashMap<String, IntGaugeVec>,
    counters: HashMap<String, IntCounterVec>,
}

impl Scrape {
    /// Sets gauge `name` (labelled `labels`) to `value`.
    pub fn gauge(&mut self, name: &str, help: &str, labels: &[(&str, &str)], value: i64) {
        let (names, values) = split(labels);
        let registry = &self.registry;
        let vec = series(&mut self.gauges, registry, name, || {
            IntGaugeVec::new(Opts::new(name, help), &names)
        });
        if let Some(g) = vec.and_then(|v| v.get_metric_with_label_values(&values).ok()) {
            g.set(value);
        }
    }

    /// Sets counter `name` (labelled `labels`) to the running total `value`.
    pub fn counter(&mut self, name: &str, help: &str, labels: &[(&str, &str)], value: u64) {
        let (names, values) = split(labels);
        let registry = &self.registry;
        let vec = series(&mut self.counters, registry, name, || {
            IntCounterVec::new(Opts::new(name, help), &names)
        });
        if let Some(c) = vec.and_then(|v| v.get_metric_with_label_values(&values).ok()) {
            c.inc_by(value.saturating_sub(c.get()));
        }
    }

    /// Everything in Prometheus' text format: the running metrics, then this scrape's.
    pub fn render(self) -> String {
        let mut families = METRICS.registry.gather();
        families.extend(self.registry.gather());
        let mut out = Vec::new();
        if let Err(e) = TextEncoder::new().encode(&families, &mut out) {
            log::warn!("/metrics: encoding failed: {e}");
        }
        String::from_utf8(out).unwrap_or_default()
    }
}

/// The metric vector `name` of a scrape, made and registered by `make` the first time.
fn series<'m, V>(
    made: &'m mut HashMap<String, V>,
    registry: &Registry,
    name: &str,
    make: impl FnOnce() -> prometheus::Result<V>,
) -> Option<&'m V>
where
    V: prometheus::core::Collector + Clone + 'static,
{
    if !made.contains_key(name) {
        let vec = make().map_err(|e| log::warn!("metric {name} is malformed: {e}")).ok()?;
        if let Err(e) = registry.register(Box::new(vec.clone())) {
            log::warn!("metric {name} not registered: {e}");
            return None;
        }
        made.insert(name.to_owned(), vec);
    }
    made.get(name)
}

fn split<'a>(labels: &[(&'a str, &'a str)]) -> (Vec<&'a str>, Vec<&'a str>) {
    labels.iter().copied().unzip()
}
