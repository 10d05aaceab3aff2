//! A watch of one collection as the API streams it: one JSON event per line
//! (`{"type": "ADDED", "object": {...}}`), until the server ends it.

use std::time::Duration;

use serde::de::DeserializeOwned;
use serde::Deserialize;

use super::KubeError;

/// How long the server keeps one watch open before the client starts the next.
pub const SERVER_TIMEOUT: Duration = Duration::from_secs(300);

/// One change of a watched collection.
#[derive(Debug)]
pub enum Event<T> {
    /// Added or modified: the object as it is now.
    Applied(T),
    Deleted(T),
    /// Nothing changed up to this resourceVersion.
    Bookmark(String),
}

#[derive(Deserialize)]
struct Raw {
    #[serde(rename = "type")]
    kind: String,
    object: serde_json::Value,
}

/// An open watch.
pub struct Watch {
    response: reqwest::Response,
    buffer: Vec<u8>,
}

impl Watch {
    pub(super) fn new(response: reqwest::Response) -> Watch {
        Watch {
            response,
            buffer: Vec::new(),
        }
    }

    /// The next event; `None` when the server ended the watch. An `ERROR` event (the
    /// version is too old, say) is an error: list again and watch from there.
    pub async fn next<T: DeserializeOwned>(
        &mut self,
    ) -> Option<std::result::Result<Event<T>, KubeError>> {
        loop {
            if let Some(end) = self.buffer.iter().position(|b| *b == b'\n') {
                let line: Vec<u8> = self.buffer.drain(..=end).collect();
                if line.iter().all(u8::is_ascii_whitespace) {
                    continue;
                }
                return Some(parse(&line));
            }
            match self.response.chunk().await {
                Ok(Some(bytes)) => self.buffer.extend_from_slice(&bytes),
                Ok(None) => return None,
                Err(e) => return Some(Err(KubeError::Unreachable(e.to_string()))),
            }
        }
    }
}

fn parse<T: DeserializeOwned>(line: &[u8]) -> std::result::Result<Event<T>, KubeError> {
    let raw: Raw = serde_json::from_slice(line)
        .map_err(|e| KubeError::Unreachable(format!("an unreadable watch event: {e}")))?;
    let object = |v| {
        serde_json::from_value::<T>(v)
            .map_err(|e| KubeError::Unreachable(format!("an unreadable watched object: {e}")))
    };
    match raw.kind.as_str() {
        "ADDED" | "MODIFIED" => Ok(Event::Applied(object(raw.object)?)),
        "DELETED" => Ok(Event::Deleted(object(raw.object)?)),
        "BOOKMARK" => Ok(Event::Bookmark(
            raw.object["metadata"]["resourceVersion"]
                .as_str()
                .unwrap_or_default()
                .to_string(),
        )),
        _ => {
            let code = raw.object["code"].as_u64().unwrap_or(500) as u16;
            let message = raw.object["message"].as_str().unwrap_or("").to_string();
            Err(KubeError::Status(code, message))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_read_as_the_api_streams_them() {
        let added: Event<serde_json::Value> =
            parse(br#"{"type":"ADDED","object":{"metadata":{"name":"a"}}}"#).unwrap();
        assert!(matches!(added, Event::Applied(v) if v["metadata"]["name"] == "a"));
        let gone: Event<serde_json::Value> =
            parse(br#"{"type":"DELETED","object":{"metadata":{"name":"a"}}}"#).unwrap();
        assert!(matches!(gone, Event::Deleted(_)));
        let mark: Event<serde_json::Value> =
            parse(br#"{"type":"BOOKMARK","object":{"metadata":{"resourceVersion":"42"}}}"#)
                .unwrap();
        assert!(matches!(mark, Event::Bookmark(v) if v == "42"));
        let old = parse::<serde_json::Value>(
            br#"{"type":"ERROR","object":{"kind":"Status","code":410,"message":"too old"}}"#,
        );
        assert!(matches!(old, Err(KubeError::Status(410, _))));
    }
}
