//! Turning request templates into requests: placeholders, then the signer (Basic auth,
//! Standard Webhooks, or the seed's HMAC over concatenated fields, read from a JSON body, the
//! query, a form body or headers). Crypto, base64 and URL encoding come from `hmac`, `sha2`,
//! `base64` and `form_urlencoded`; nothing here is hand-rolled.

use std::collections::BTreeMap;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use bytes::Bytes;
use hmac::{KeyInit, Mac};
use sha2::Sha256;

use crate::error::RaceError;
use crate::limits::MAX_BODY_BYTES;
use crate::scenario::{Place, RaceScenario, RequestSpec, SecretEncoding, Signer};
use crate::template::Context;
use crate::wire::Prepared;

mod fields;

use fields::Unsigned;

type HmacSha256 = hmac::Hmac<Sha256>;

/// Secrets resolved for one run (from the file or the environment). Never printed.
pub struct Keys {
    /// credential name -> (user, password)
    pub credentials: BTreeMap<String, (String, String)>,
    /// signer name -> key bytes
    signer_keys: BTreeMap<String, Vec<u8>>,
    /// Every secret string, for masking reports.
    masked: Vec<String>,
}

impl std::fmt::Debug for Keys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Keys(<redacted>)")
    }
}

impl Keys {
    pub fn resolve(scenario: &RaceScenario) -> Result<Self, RaceError> {
        let mut credentials = BTreeMap::new();
        let mut masked = Vec::new();
        for (name, credential) in &scenario.credentials {
            let password = credential.password.resolve()?;
            masked.push(password.clone());
            masked.push(basic_value(&credential.user, &password));
            credentials.insert(name.clone(), (credential.user.clone(), password));
        }
        let mut signer_keys = BTreeMap::new();
        for (name, signer) in &scenario.signers {
            let invalid = |message: &str| RaceError::Prepare {
                actor: format!("signer {name}"),
                message: message.to_owned(),
            };
            let key = match signer {
                Signer::Basic { .. } => continue,
                Signer::StandardWebhooks { secret, .. } => {
                    let secret = secret.resolve()?;
                    masked.push(secret.clone());
                    let encoded = secret.strip_prefix("whsec_").unwrap_or(&secret);
                    STANDARD
                        .decode(encoded)
                        .map_err(|_| invalid("the whsec_ secret is not base64"))?
                }
                Signer::HmacFields {
                    secret, encoding, ..
                } => {
                    let secret = secret.resolve()?;
                    masked.push(secret.clone());
                    match encoding {
                        SecretEncoding::Utf8 => secret.into_bytes(),
                        // A `whsec_` prefix is dropped: raceproof's server keys the seed's
                        // scheme with the bytes of its Standard Webhooks secret.
                        SecretEncoding::Base64 => STANDARD
                            .decode(secret.strip_prefix("whsec_").unwrap_or(&secret))
                            .map_err(|_| invalid("the secret is not base64"))?,
                        SecretEncoding::Hex => {
                            hex::decode(&secret).map_err(|_| invalid("the secret is not hex"))?
                        }
                    }
                }
            };
            if key.is_empty() {
                return Err(RaceError::Prepare {
                    actor: format!("signer {name}"),
                    message: "empty key".to_owned(),
                });
            }
            signer_keys.insert(name.clone(), key);
        }
        // Very short strings would mask unrelated text; they are too weak to be worth hiding.
        masked.retain(|secret| secret.len() >= 3);
        masked.sort_by_key(|secret| std::cmp::Reverse(secret.len()));
        Ok(Keys {
            credentials,
            signer_keys,
            masked,
        })
    }

    /// `text` with every known secret replaced by `***`.
    pub fn mask(&self, text: &str) -> String {
        let mut out = text.to_owned();
        for secret in &self.masked {
            if out.contains(secret.as_str()) {
                out = out.replace(secret.as_str(), "***");
            }
        }
        out
    }
}

/// `Basic base64(user:password)`.
pub fn basic_value(user: &str, password: &str) -> String {
    format!("Basic {}", STANDARD.encode(format!("{user}:{password}")))
}

fn hmac_sha256(key: &[u8], message: &[u8]) -> Result<Vec<u8>, String> {
    let mut mac = HmacSha256::new_from_slice(key).map_err(|_| "invalid HMAC key".to_owned())?;
    mac.update(message);
    Ok(mac.finalize().into_bytes().to_vec())
}

/// The Standard Webhooks signature header value: `v1,<base64 HMAC-SHA256(key, id.ts.body)>`.
pub fn webhook_signature(
    key: &[u8],
    id: &str,
    timestamp: &str,
    body: &[u8],
) -> Result<String, String> {
    let mut message = format!("{id}.{timestamp}.").into_bytes();
    message.extend_from_slice(body);
    Ok(format!(
        "v1,{}",
        STANDARD.encode(hmac_sha256(key, &message)?)
    ))
}

/// The seed's signature: hex HMAC-SHA256 over the concatenation of `parts`.
pub fn concatenation_signature(key: &[u8], parts: &[String]) -> Result<String, String> {
    Ok(hex::encode(hmac_sha256(key, parts.concat().as_bytes())?))
}

/// Expands `spec` and applies its signer.
pub fn prepare(
    spec: &RequestSpec,
    actor: usize,
    cx: &Context<'_>,
    signers: &BTreeMap<String, Signer>,
    keys: &Keys,
) -> Result<Prepared, String> {
    let mut request = Unsigned {
        path: spec.path.expand(cx)?,
        body: spec.body.expand(cx)?,
        headers: Vec::with_capacity(spec.headers.len() + 4),
    };
    for (name, template) in &spec.headers {
        request
            .headers
            .push((name.clone(), header_value(&template.expand(cx)?)?));
    }
    let mut form = false;
    if let Some(name) = &spec.signer {
        let signer = signers
            .get(name)
            .ok_or_else(|| format!("no signer `{name}`"))?;
        let key = || {
            keys.signer_keys
                .get(name)
                .ok_or_else(|| format!("signer `{name}` has no key"))
        };
        match signer {
            Signer::Basic { credential } => {
                let (user, password) = keys
                    .credentials
                    .get(credential)
                    .ok_or_else(|| format!("no credential `{credential}`"))?;
                request.headers.push((
                    http::header::AUTHORIZATION,
                    header_value(&basic_value(user, password))?,
                ));
            }
            Signer::StandardWebhooks { id, timestamp, .. } => {
                let id = id.expand(cx)?;
                let timestamp = timestamp.expand(cx)?;
                let signature =
                    webhook_signature(key()?, &id, &timestamp, request.body.as_bytes())?;
                for (header, value) in [
                    ("webhook-id", id),
                    ("webhook-timestamp", timestamp),
                    ("webhook-signature", signature),
                ] {
                    request
                        .headers
                        .push((http::HeaderName::from_static(header), header_value(&value)?));
                }
            }
            Signer::HmacFields { fields, into, .. } => {
                let mut parts = Vec::with_capacity(fields.len());
                for field in fields {
                    let part = match spec
                        .sign_overrides
                        .iter()
                        .find(|(over, _)| *over == field.name)
                    {
                        Some((_, template)) => template.expand(cx)?,
                        None => request
                            .read(field)
                            .map_err(|why| format!("signer `{name}`: {why}"))?,
                    };
                    parts.push(part);
                }
                let signature = concatenation_signature(key()?, &parts)?;
                request
                    .write(into, signature)
                    .map_err(|why| format!("signer `{name}`: {why}"))?;
                form = fields
                    .iter()
                    .chain(std::iter::once(into))
                    .any(|field| field.place == Place::Form);
            }
        }
    }
    let Unsigned {
        path,
        body,
        mut headers,
    } = request;
    crate::wire::check_path(&path)?;
    if !body.is_empty()
        && !headers
            .iter()
            .any(|(name, _)| name == http::header::CONTENT_TYPE)
    {
        let content_type = if form {
            "application/x-www-form-urlencoded"
        } else {
            "application/json"
        };
        headers.push((
            http::header::CONTENT_TYPE,
            http::HeaderValue::from_static(content_type),
        ));
    }
    if body.len() > MAX_BODY_BYTES {
        return Err(format!(
            "body of {} bytes exceeds {MAX_BODY_BYTES}",
            body.len()
        ));
    }
    Ok(Prepared {
        actor,
        method: spec.method.clone(),
        path,
        headers,
        body: Bytes::from(body),
    })
}

pub(crate) fn header_value(text: &str) -> Result<http::HeaderValue, String> {
    http::HeaderValue::from_str(text)
        .map_err(|_| "a header value contains a character HTTP forbids (CR, LF, NUL...)".to_owned())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn standard_webhooks_reference_vector() {
        // The example from the Standard Webhooks specification.
        let key = STANDARD.decode("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw");
        let signature = key.map_err(|e| e.to_string()).and_then(|key| {
            webhook_signature(
                &key,
                "msg_p5jXN8AQM9LWM0D4loKWxJek",
                "1614265330",
                br#"{"test": 2432232314}"#,
            )
        });
        assert_eq!(
            signature,
            Ok("v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=".to_owned())
        );
    }

    #[test]
    fn concatenation_signature_is_splice_prone() {
        let key = b"k".as_slice();
        let a = concatenation_signature(key, &["ab".to_owned(), "c".to_owned(), "1".to_owned()]);
        let b = concatenation_signature(key, &["a".to_owned(), "bc".to_owned(), "1".to_owned()]);
        assert_eq!(a, b);
        assert_eq!(a.map(|s| s.len()), Ok(64));
    }

    #[test]
    fn basic_value_is_base64_of_user_colon_password() {
        assert_eq!(
            basic_value("Aladdin", "open sesame"),
            "Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ=="
        );
    }

    /// Prepares the single request of a scenario made of `signers` (and credentials) and an
    /// actor signed by `signer`.
    fn try_prepared(signers: &str, signer: &str, request: &str) -> Result<Prepared, String> {
        let source = format!(
            "name = \"t\"\n{signers}\n[[actors]]\nname = \"a\"\nsigner = \"{signer}\"\n{request}\n[[invariant]]\nkind = \"at_most_one_success\"\n"
        );
        let scenario = RaceScenario::parse(&source, "t.toml").map_err(|e| e.to_string())?;
        let keys = Keys::resolve(&scenario).map_err(|e| e.to_string())?;
        let vars = BTreeMap::new();
        let cx = Context {
            request_uuid: "r",
            burst_uuid: "b",
            burst_index: 1,
            now_s: 1614265330,
            credentials: &keys.credentials,
            vars: &vars,
        };
        prepare(
            &scenario.actors[0].request,
            0,
            &cx,
            &scenario.signers,
            &keys,
        )
    }

    fn prepared(signers: &str, signer: &str, request: &str) -> Prepared {
        try_prepared(signers, signer, request).unwrap()
    }

    fn header<'a>(request: &'a Prepared, name: &str) -> &'a str {
        request
            .headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.to_str().unwrap())
            .unwrap()
    }

    #[test]
    fn hmac_fields_signs_the_named_fields_in_order_into_the_body() {
        let request = prepared(
            r#"[signers.seed]
kind = "hmac-fields"
secret = "k3y"
fields = ["resource_id", "action", "timestamp"]
into = "signature""#,
            "seed",
            r#"method = "POST"
path = "/operate"
body = '{"resource_id":"res-{{burst.uuid}}","action":"go","timestamp":"{{now}}"}'"#,
        );
        let body: serde_json::Value = serde_json::from_slice(&request.body).unwrap();
        let mut mac = HmacSha256::new_from_slice(b"k3y").unwrap();
        mac.update(b"res-bgo1614265330");
        assert_eq!(body["signature"], hex::encode(mac.finalize().into_bytes()));
        assert_eq!(body["resource_id"], "res-b");
        assert_eq!(header(&request, "content-type"), "application/json");
    }

    fn mac_hex(message: &[u8]) -> String {
        let mut mac = HmacSha256::new_from_slice(b"k3y").unwrap();
        mac.update(message);
        hex::encode(mac.finalize().into_bytes())
    }

    #[test]
    fn hmac_fields_signs_decoded_query_parameters_and_headers() {
        let request = prepared(
            r#"[signers.seed]
kind = "hmac-fields"
secret = "k3y"
location = "query"
fields = ["resource_id", "action", "header:x-timestamp"]
into = "signature""#,
            "seed",
            r#"method = "POST"
path = "/operate?resource_id=res%20{{burst.uuid}}&action=go+now"
headers = { "x-timestamp" = "{{now}}" }"#,
        );
        // The server verifies what it decodes: "res b", "go now".
        let signature = mac_hex(b"res bgo now1614265330");
        assert_eq!(
            request.path,
            format!("/operate?resource_id=res%20b&action=go+now&signature={signature}")
        );
        assert!(request.body.is_empty());
        assert!(
            !request
                .headers
                .iter()
                .any(|(name, _)| name == "content-type")
        );
    }

    #[test]
    fn hmac_fields_signs_form_fields_into_a_header() {
        let request = prepared(
            r#"[signers.seed]
kind = "hmac-fields"
secret = "k3y"
location = "form"
fields = ["resource_id", "action"]
into = "header:x-signature""#,
            "seed",
            r#"method = "POST"
path = "/operate"
body = "resource_id=a+b&action=%26""#,
        );
        assert_eq!(header(&request, "x-signature"), mac_hex(b"a b&"));
        assert_eq!(
            header(&request, "content-type"),
            "application/x-www-form-urlencoded"
        );
        let appended = prepared(
            r#"[signers.seed]
kind = "hmac-fields"
secret = "k3y"
location = "form"
fields = ["resource_id"]
into = "signature""#,
            "seed",
            r#"method = "POST"
path = "/operate"
body = "resource_id=a""#,
        );
        assert_eq!(
            appended.body,
            format!("resource_id=a&signature={}", mac_hex(b"a"))
        );
    }

    #[test]
    fn a_signed_field_that_is_not_there_is_a_clear_error() {
        let signers = "[signers.seed]\nkind = \"hmac-fields\"\nsecret = \"k3y\"\nfields = [\"resource_id\"]\ninto = \"signature\"";
        let request = "method = \"POST\"\npath = \"/operate?resource_id=1\"";
        let error = try_prepared(signers, "seed", request).unwrap_err();
        assert!(error.contains("location = \"query\""), "{error}");
        let wrong_place = signers.replace("[\"resource_id\"]", "[\"cookie:x\"]");
        let error = try_prepared(&wrong_place, "seed", request).unwrap_err();
        assert!(error.contains("not a place"), "{error}");
    }

    #[test]
    fn standard_webhooks_and_basic_set_their_headers() {
        let request = prepared(
            r#"[signers.hook]
kind = "standard-webhooks"
secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
id = "msg_p5jXN8AQM9LWM0D4loKWxJek""#,
            "hook",
            r#"method = "POST"
path = "/hook"
body = '{"test": 2432232314}'"#,
        );
        assert_eq!(
            header(&request, "webhook-id"),
            "msg_p5jXN8AQM9LWM0D4loKWxJek"
        );
        assert_eq!(header(&request, "webhook-timestamp"), "1614265330");
        assert_eq!(
            header(&request, "webhook-signature"),
            "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
        );
        let basic = prepared(
            r#"credentials.alice = { user = "alice", password = "s3cr3t" }
signers.alice = { kind = "basic", credential = "alice" }"#,
            "alice",
            r#"method = "GET"
path = "/users/{{cred.alice.user}}""#,
        );
        assert_eq!(basic.path, "/users/alice");
        assert_eq!(
            header(&basic, "authorization"),
            basic_value("alice", "s3cr3t")
        );
    }

    #[test]
    fn reports_mask_every_secret() {
        let scenario = RaceScenario::parse(
            "name = \"t\"\ncredentials.alice = { user = \"alice\", password = \"s3cr3t\" }\n[[actors]]\nname = \"a\"\nmethod = \"GET\"\npath = \"/\"\n[[invariant]]\nkind = \"at_most_one_success\"\n",
            "t.toml",
        )
        .unwrap();
        let keys = Keys::resolve(&scenario).unwrap();
        assert_eq!(
            keys.mask("pw s3cr3t, auth Basic YWxpY2U6czNjcjN0"),
            "pw ***, auth ***"
        );
        assert_eq!(format!("{keys:?}"), "Keys(<redacted>)");
    }
}
