//! JSON lines for log shippers. tracing-subscriber's own JSON layer can only
//! write a list as one string (`"to":"a@x, b@y"`), and a shipper then has to
//! split what an attacker may have written commas into. Fields named in
//! [`LIST_FIELDS`] are logged through [`list`], which renders them as JSON
//! text, and here they become real arrays.

use serde_json::{Map, Value};
use std::fmt::{self, Write as _};
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;
use tracing::field::{Field, Visit};
use tracing::{Event, Subscriber};
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields};
use tracing_subscriber::registry::LookupSpan;

/// Fields that always hold a list, logged with `name = %logging::list(&v)`.
pub const LIST_FIELDS: [&str; 4] = ["recipients", "flags", "budgets", "changes"];

/// A list for a log field: JSON array text, so the human format shows
/// `recipients=["a@x","b@y"]` and the JSON format an array.
pub fn list<T: AsRef<str>>(items: &[T]) -> ListField {
    ListField(Value::Array(
        items
            .iter()
            .map(|s| Value::String(s.as_ref().to_string()))
            .collect(),
    ))
}

pub struct ListField(Value);

impl fmt::Display for ListField {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

pub struct JsonLines;

impl<S, N> FormatEvent<S, N> for JsonLines
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        _ctx: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        let meta = event.metadata();
        let mut fields = Map::new();
        let timestamp = OffsetDateTime::now_utc()
            .format(&Rfc3339)
            .unwrap_or_default();
        fields.insert("timestamp".into(), Value::String(timestamp));
        fields.insert("level".into(), Value::String(meta.level().to_string()));
        event.record(&mut Fields(&mut fields));
        fields.insert("target".into(), Value::String(meta.target().to_string()));
        let mut line = Value::Object(fields).to_string();
        line.push('\n');
        writer.write_str(&line)
    }
}

struct Fields<'a>(&'a mut Map<String, Value>);

impl Fields<'_> {
    fn put(&mut self, field: &Field, value: Value) {
        self.0.insert(field.name().to_string(), value);
    }
}

impl Visit for Fields<'_> {
    fn record_str(&mut self, field: &Field, value: &str) {
        self.put(field, Value::String(value.to_string()));
    }

    fn record_bool(&mut self, field: &Field, value: bool) {
        self.put(field, Value::Bool(value));
    }

    fn record_i64(&mut self, field: &Field, value: i64) {
        self.put(field, value.into());
    }

    fn record_u64(&mut self, field: &Field, value: u64) {
        self.put(field, value.into());
    }

    fn record_f64(&mut self, field: &Field, value: f64) {
        self.put(field, value.into());
    }

    fn record_error(&mut self, field: &Field, value: &(dyn std::error::Error + 'static)) {
        self.put(field, Value::String(value.to_string()));
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        let mut text = String::new();
        let _ = write!(text, "{value:?}");
        // Only a listed field is read back as JSON, and only an array is
        // taken: its items were strings escaped by serde, so nothing from a
        // mail can add structure here.
        if LIST_FIELDS.contains(&field.name()) {
            if let Ok(array @ Value::Array(_)) = serde_json::from_str::<Value>(&text) {
                self.put(field, array);
                return;
            }
        }
        self.put(field, Value::String(text));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};

    #[derive(Clone, Default)]
    struct Captured(Arc<Mutex<Vec<u8>>>);

    impl std::io::Write for Captured {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0
                .lock()
                .map_err(|_| std::io::ErrorKind::Other)?
                .extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    fn lines_of(log: impl FnOnce()) -> Vec<Value> {
        let captured = Captured::default();
        let sink = captured.clone();
        let subscriber = tracing_subscriber::fmt()
            .event_format(JsonLines)
            .with_writer(move || sink.clone())
            .finish();
        tracing::subscriber::with_default(subscriber, log);
        let bytes = captured.0.lock().map(|b| b.clone()).unwrap_or_default();
        String::from_utf8_lossy(&bytes)
            .lines()
            .map(|l| serde_json::from_str(l).expect("each line is JSON"))
            .collect()
    }

    #[test]
    fn list_fields_are_arrays_and_the_rest_keep_their_types() {
        let to = vec![
            "a@bank.example".to_string(),
            "b\"],\"x\":[\"@evil".to_string(),
        ];
        let lines = lines_of(|| {
            tracing::info!(id = 7u64, ok = true, recipients = %list(&to), "delivered");
        });
        let line = &lines[0];
        assert_eq!(line["message"], "delivered");
        assert_eq!(line["level"], "INFO");
        assert_eq!(line["id"], 7);
        assert_eq!(line["ok"], true);
        assert_eq!(line["recipients"], serde_json::json!(to));
        assert!(line.get("x").is_none());
    }

    #[test]
    fn an_unlisted_field_holding_array_text_stays_a_string() {
        let lines = lines_of(|| {
            tracing::info!(subject = %"[\"forged\"]", flags = %"not json", "x");
        });
        assert_eq!(lines[0]["subject"], "[\"forged\"]");
        assert_eq!(lines[0]["flags"], "not json");
    }
}
