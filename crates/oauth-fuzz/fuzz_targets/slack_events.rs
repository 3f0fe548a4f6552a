//! The Events API decoder, on any body: never a panic; what decodes reads back as a context, and
//! a callback's event keeps its type.
#![no_main]

use libfuzzer_sys::fuzz_target;
use oauth_slack::{Event, EventRequest};

fuzz_target!(|data: &[u8]| {
    match EventRequest::decode(data) {
        Ok(EventRequest::EventCallback(callback)) => {
            assert!(!callback.event_id.is_empty());
            let context = callback.context();
            let _ = context.installations();
            let _ = context.bot_candidates();
            let _ = context.user_candidates();
            if let Event::Other(other) = &callback.event {
                assert!(serde_json_is_object(other.raw.get()));
            }
            let _ = format!("{callback:?}");
        }
        Ok(other) => {
            let _ = format!("{other:?}");
        }
        Err(error) => {
            assert!(error.to_string().len() < 512, "errors quote a bounded part");
        }
    }
});

fn serde_json_is_object(raw: &str) -> bool {
    raw.trim_start().starts_with('{')
}
