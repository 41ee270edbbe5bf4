//! Reading a value out of a response: `json:/pointer`, `header:name` or `status`.

use crate::wire::Response;

/// Where a value is read from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Extract {
    Json(String),
    Header(http::HeaderName),
    Status,
}

impl Extract {
    pub fn parse(source: &str) -> Result<Self, String> {
        if let Some(pointer) = source.strip_prefix("json:") {
            if !(pointer.is_empty() || pointer.starts_with('/')) {
                return Err(format!("`{source}`: a JSON pointer starts with `/`"));
            }
            Ok(Extract::Json(pointer.to_owned()))
        } else if let Some(name) = source.strip_prefix("header:") {
            http::HeaderName::from_bytes(name.as_bytes())
                .map(Extract::Header)
                .map_err(|_| format!("`{source}`: invalid header name"))
        } else if source == "status" {
            Ok(Extract::Status)
        } else {
            Err(format!(
                "`{source}`: expected json:/pointer, header:NAME or status"
            ))
        }
    }

    /// The value as text (a JSON string without its quotes, any other JSON value as written).
    pub fn apply(&self, response: &Response) -> Option<String> {
        match self {
            Extract::Json(pointer) => {
                let json: serde_json::Value = serde_json::from_slice(&response.body).ok()?;
                Some(json_text(json.pointer(pointer)?))
            }
            Extract::Header(name) => response.header(name.as_str()).map(str::to_owned),
            Extract::Status => Some(response.status.to_string()),
        }
    }
}

/// A JSON value as text: strings unquoted, everything else serialized.
pub fn json_text(value: &serde_json::Value) -> String {
    match value {
        serde_json::Value::String(text) => text.clone(),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn extracts_from_json_headers_and_status() {
        let response = Response {
            status: 200,
            headers: vec![("etag".to_owned(), "\"4\"".to_owned())],
            body: bytes::Bytes::from_static(br#"{"version":4,"email":"a@b"}"#),
        };
        let get = |source: &str| Extract::parse(source).ok().and_then(|e| e.apply(&response));
        assert_eq!(get("json:/version"), Some("4".to_owned()));
        assert_eq!(get("json:/email"), Some("a@b".to_owned()));
        assert_eq!(get("json:/missing"), None);
        assert_eq!(get("header:ETag"), Some("\"4\"".to_owned()));
        assert_eq!(get("status"), Some("200".to_owned()));
        assert!(Extract::parse("body").is_err());
    }
}
