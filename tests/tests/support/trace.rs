//! A `tracing` subscriber for the tests that read what orchestra logs
//! ([`Recorder`]): each span (its name and fields) and each event (its
//! level, message, fields and the span it was emitted in).
//!
//! Set it as the thread's default (`tracing::subscriber::set_default`) in
//! a test binary of its own: `tracing` caches whether a call site is
//! enabled process-wide, so another test hitting the same call site on
//! another thread at the same moment could cache "disabled" and hide the
//! event.

use std::sync::{Arc, Mutex};

use tracing::Level;
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};

/// Records every span and event it is given.
#[derive(Clone, Default)]
pub struct Recorder(Arc<Mutex<Recorded>>);

/// One event, as recorded.
#[derive(Clone, Debug)]
pub struct Event {
    pub level: Level,
    /// Its `message` field.
    pub message: String,
    /// Every field, as ` name=value` pairs.
    pub fields: String,
    /// The span it was emitted in (the thread's innermost entered span), as
    /// its name and ` name=value` pairs; empty outside any span.
    pub span: String,
}

#[derive(Default)]
struct Recorded {
    /// Each span, by its id less one.
    spans: Vec<(String, &'static tracing::Metadata<'static>)>,
    entered: Vec<u64>,
    events: Vec<Event>,
}

impl Recorder {
    /// The events recorded so far.
    pub fn events(&self) -> Vec<Event> {
        self.0.lock().unwrap().events.clone()
    }

    /// The span of the first event whose message is `message`.
    pub fn span_of(&self, message: &str) -> String {
        let recorded = self.0.lock().unwrap();
        recorded
            .events
            .iter()
            .find(|event| event.message == message)
            .map(|event| event.span.clone())
            .unwrap_or_else(|| panic!("no event `{message}` in {:?}", recorded.events))
    }
}

/// The fields of a span or an event, as ` name=value` pairs, and its
/// message.
#[derive(Default)]
struct Fields {
    pairs: String,
    message: String,
}

impl Visit for Fields {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        let value = format!("{value:?}");
        self.pairs.push_str(&format!(" {}={value}", field.name()));
        if field.name() == "message" {
            self.message = value;
        }
    }
}

impl Recorded {
    fn span(&self, id: u64) -> &(String, &'static tracing::Metadata<'static>) {
        &self.spans[usize::try_from(id).unwrap() - 1]
    }
}

impl tracing::Subscriber for Recorder {
    fn enabled(&self, _: &tracing::Metadata<'_>) -> bool {
        true
    }
    fn new_span(&self, span: &Attributes<'_>) -> Id {
        let mut fields = Fields::default();
        span.record(&mut fields);
        let mut recorded = self.0.lock().unwrap();
        let name = span.metadata().name();
        recorded
            .spans
            .push((format!("{name}{}", fields.pairs), span.metadata()));
        Id::from_u64(recorded.spans.len() as u64)
    }
    fn record(&self, _: &Id, _: &Record<'_>) {}
    fn record_follows_from(&self, _: &Id, _: &Id) {}
    fn event(&self, event: &tracing::Event<'_>) {
        let mut fields = Fields::default();
        event.record(&mut fields);
        let mut recorded = self.0.lock().unwrap();
        let span = recorded
            .entered
            .last()
            .map(|id| recorded.span(*id).0.clone())
            .unwrap_or_default();
        recorded.events.push(Event {
            level: *event.metadata().level(),
            message: fields.message,
            fields: fields.pairs,
            span,
        });
    }
    fn current_span(&self) -> tracing_core::span::Current {
        let recorded = self.0.lock().unwrap();
        match recorded.entered.last() {
            Some(id) => tracing_core::span::Current::new(Id::from_u64(*id), recorded.span(*id).1),
            None => tracing_core::span::Current::none(),
        }
    }
    fn enter(&self, span: &Id) {
        self.0.lock().unwrap().entered.push(span.into_u64());
    }
    fn exit(&self, span: &Id) {
        let mut recorded = self.0.lock().unwrap();
        if let Some(at) = recorded
            .entered
            .iter()
            .rposition(|id| *id == span.into_u64())
        {
            recorded.entered.remove(at);
        }
    }
}
