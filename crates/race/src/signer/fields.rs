//! The fields a signer reads and the signature it writes: a JSON body field, a query
//! parameter, a form field or a header (`form_urlencoded` for the encoded ones).

use crate::extract::json_text;
use crate::scenario::{Field, Place};

use super::header_value;

/// A request expanded but not yet signed: what a signer reads its fields from and writes its
/// signature into.
pub(super) struct Unsigned {
    pub(super) path: String,
    pub(super) body: String,
    pub(super) headers: Vec<(http::HeaderName, http::HeaderValue)>,
}

impl Unsigned {
    fn json(&self) -> Result<serde_json::Map<String, serde_json::Value>, String> {
        serde_json::from_str(&self.body).map_err(|error| {
            format!(
                "a json: field needs a JSON object body ({error}); for query parameters, form fields or headers write `location = \"query\"` (or form, header) or name a field `query:NAME`"
            )
        })
    }

    fn query(&self) -> &str {
        self.path.split_once('?').map_or("", |(_, query)| query)
    }

    /// The value of `field`, decoded as the server will see it.
    pub(super) fn read(&self, field: &Field) -> Result<String, String> {
        let missing = || {
            format!(
                "signed field `{}:{}` is not in the request",
                field.place.name(),
                field.name
            )
        };
        let pair = |encoded: &str| {
            form_urlencoded::parse(encoded.as_bytes())
                .find(|(name, _)| *name == field.name)
                .map(|(_, value)| value.into_owned())
        };
        match field.place {
            Place::Json => Ok(json_text(
                self.json()?.get(&field.name).ok_or_else(missing)?,
            )),
            Place::Query => pair(self.query()).ok_or_else(missing),
            Place::Form => pair(&self.body).ok_or_else(missing),
            Place::Header => self
                .headers
                .iter()
                .find(|(name, _)| name.as_str() == field.name.to_ascii_lowercase())
                .ok_or_else(missing)?
                .1
                .to_str()
                .map(str::to_owned)
                .map_err(|_| format!("header `{}` is not text", field.name)),
        }
    }

    /// Puts `value` into `field`: a JSON body field (set), a query parameter or a form field
    /// (appended, encoded), or a header (added).
    pub(super) fn write(&mut self, field: &Field, value: String) -> Result<(), String> {
        let appended = |encoded: &str| {
            let mut serializer = form_urlencoded::Serializer::new(String::new());
            serializer.append_pair(&field.name, &value);
            let pair = serializer.finish();
            if encoded.is_empty() {
                pair
            } else {
                format!("{encoded}&{pair}")
            }
        };
        match field.place {
            Place::Json => {
                let mut json = self.json()?;
                json.insert(field.name.clone(), serde_json::Value::String(value));
                self.body = serde_json::Value::Object(json).to_string();
            }
            Place::Query => {
                if self.read(field).is_ok() {
                    return Err(format!("`query:{}` is already in the path", field.name));
                }
                let (path, query) = self.path.split_once('?').unwrap_or((&self.path, ""));
                self.path = format!("{path}?{}", appended(query));
            }
            Place::Form => {
                if self.read(field).is_ok() {
                    return Err(format!("`form:{}` is already in the body", field.name));
                }
                self.body = appended(&self.body);
            }
            Place::Header => {
                let name = http::HeaderName::from_bytes(field.name.as_bytes())
                    .map_err(|_| format!("invalid header name `{}`", field.name))?;
                self.headers.push((name, header_value(&value)?));
            }
        }
        Ok(())
    }
}
