//! Response helpers shared by the handlers: Hetzner error bodies, list
//! pagination and sorting, query parsing, input checks.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use hcloud::ErrorCode;
use hcloud::labels::Selector;
use hcloud::models::Labels;
use serde::Serialize;
use serde_json::{Value, json};

/// A Hetzner-style error answer.
#[derive(Debug)]
pub struct ApiErr {
    /// HTTP status.
    pub status: StatusCode,
    /// `error.code`.
    pub code: ErrorCode,
    /// `error.message`.
    pub message: String,
    /// `error.details`.
    pub details: Value,
}

/// Handler result.
pub type Res = Result<Response, ApiErr>;

impl ApiErr {
    /// An error with no details. Codes the client does not know (scripted
    /// faults, rare Hetzner codes) travel as `ErrorCode::Unknown`.
    pub fn new(status: u16, code: ErrorCode, message: impl Into<String>) -> ApiErr {
        ApiErr {
            status: StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
            code,
            message: message.into(),
            details: Value::Null,
        }
    }
    /// `invalid_input` naming `field`.
    pub fn field(field: &str, message: impl Into<String>) -> ApiErr {
        let message = message.into();
        ApiErr {
            status: StatusCode::UNPROCESSABLE_ENTITY,
            code: ErrorCode::InvalidInput,
            details: json!({ "fields": [{ "name": field, "messages": [message.clone()] }] }),
            message: format!("invalid input in field '{field}': {message}"),
        }
    }
    /// `not_found`.
    pub fn not_found(what: &str) -> ApiErr {
        ApiErr::new(404, ErrorCode::NotFound, format!("{what} not found"))
    }
    /// `uniqueness_error` on `field`.
    pub fn unique(field: &str) -> ApiErr {
        ApiErr {
            status: StatusCode::CONFLICT,
            code: ErrorCode::UniquenessError,
            message: format!("{field} is already used"),
            details: json!({ "fields": [{ "name": field }] }),
        }
    }
    /// `locked`.
    pub fn locked(what: &str) -> ApiErr {
        ApiErr::new(
            423,
            ErrorCode::Locked,
            format!("{what} is locked: an action is running"),
        )
    }
}

impl IntoResponse for ApiErr {
    fn into_response(self) -> Response {
        let err = if self.details.is_null() {
            json!({ "code": self.code, "message": self.message })
        } else {
            json!({ "code": self.code, "message": self.message, "details": self.details })
        };
        (self.status, Json(json!({ "error": err }))).into_response()
    }
}

/// 200 with a JSON body.
pub fn ok(v: Value) -> Res {
    Ok((StatusCode::OK, Json(v)).into_response())
}

/// 201 with a JSON body.
pub fn created(v: Value) -> Res {
    Ok((StatusCode::CREATED, Json(v)).into_response())
}

/// 204 without a body.
pub fn no_content() -> Res {
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// Parsed query string (keys may repeat).
#[derive(Debug, Default)]
pub struct Query(pub Vec<(String, String)>);

impl Query {
    /// Parses a raw query string.
    pub fn parse(raw: Option<&str>) -> Result<Query, ApiErr> {
        let pairs: Vec<(String, String)> =
            serde_urlencoded::from_str(raw.unwrap_or("")).map_err(|e| {
                ApiErr::new(
                    400,
                    ErrorCode::InvalidInput,
                    format!("bad query string: {e}"),
                )
            })?;
        Ok(Query(pairs))
    }
    /// First value of `k`.
    pub fn get(&self, k: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(key, _)| key == k)
            .map(|(_, v)| v.as_str())
    }
    /// All values of `k`.
    pub fn all(&self, k: &str) -> Vec<&str> {
        self.0
            .iter()
            .filter(|(key, _)| key == k)
            .map(|(_, v)| v.as_str())
            .collect()
    }
    /// The label selector, if any.
    pub fn selector(&self) -> Result<Option<Selector>, ApiErr> {
        self.get("label_selector")
            .map(|s| Selector::parse(s).map_err(|e| ApiErr::field("label_selector", e)))
            .transpose()
    }
}

/// Filters by `name` and `label_selector`, sorts by `sort`, and returns one
/// page under `key` with `meta.pagination`.
pub fn list<T: Serialize>(
    key: &str,
    items: Vec<T>,
    q: &Query,
    name_of: impl Fn(&T) -> &str,
    labels_of: impl Fn(&T) -> Option<&Labels>,
) -> Res {
    let selector = q.selector()?;
    let mut items: Vec<T> = items
        .into_iter()
        .filter(|i| q.get("name").is_none_or(|n| name_of(i) == n))
        .filter(|i| {
            selector
                .as_ref()
                .is_none_or(|s| labels_of(i).is_some_and(|l| s.matches(l)))
        })
        .collect();
    for sort in q.all("sort").into_iter().rev() {
        let (field, desc) = match sort.split_once(':') {
            Some((f, "desc")) => (f, true),
            Some((f, "asc")) => (f, false),
            Some(_) => return Err(ApiErr::field("sort", format!("invalid sort {sort:?}"))),
            None => (sort, false),
        };
        let key_of = |v: &Value| v.get(field).cloned().unwrap_or(Value::Null);
        let mut keyed: Vec<(Value, T)> = items
            .into_iter()
            .map(|i| (key_of(&serde_json::to_value(&i).unwrap_or(Value::Null)), i))
            .collect();
        keyed.sort_by(|(a, _), (b, _)| {
            let ord = match (a, b) {
                (Value::Number(x), Value::Number(y)) => x
                    .as_f64()
                    .partial_cmp(&y.as_f64())
                    .unwrap_or(std::cmp::Ordering::Equal),
                _ => a.to_string().cmp(&b.to_string()),
            };
            if desc { ord.reverse() } else { ord }
        });
        items = keyed.into_iter().map(|(_, i)| i).collect();
    }
    let num = |k: &str, default: i64| -> Result<i64, ApiErr> {
        q.get(k).map_or(Ok(default), |v| {
            v.parse::<i64>()
                .map_err(|_| ApiErr::field(k, "must be a whole number"))
        })
    };
    let page = num("page", 1)?.max(1);
    let per_page = num("per_page", 25)?;
    if !(1..=50).contains(&per_page) {
        return Err(ApiErr::field("per_page", "must be between 1 and 50"));
    }
    let total = items.len() as i64;
    let last = ((total + per_page - 1) / per_page).max(1);
    let start = ((page - 1) * per_page) as usize;
    let slice: Vec<T> = items
        .into_iter()
        .skip(start)
        .take(per_page as usize)
        .collect();
    ok(json!({
        key: slice,
        "meta": { "pagination": {
            "page": page,
            "per_page": per_page,
            "previous_page": if page > 1 { Some(page - 1) } else { None },
            "next_page": if page < last { Some(page + 1) } else { None },
            "last_page": last,
            "total_entries": total,
        }},
    }))
}

/// Parses a JSON body, turning syntax errors into `json_error`.
pub fn body(bytes: &[u8]) -> Result<Value, ApiErr> {
    if bytes.is_empty() {
        return Ok(json!({}));
    }
    let v: Value = serde_json::from_slice(bytes)
        .map_err(|e| ApiErr::new(400, ErrorCode::JsonError, format!("invalid JSON: {e}")))?;
    if !v.is_object() {
        return Err(ApiErr::new(
            400,
            ErrorCode::JsonError,
            "the body must be a JSON object",
        ));
    }
    Ok(v)
}

/// Rejects keys other than `allowed` (the spec forbids extra properties).
pub fn only_keys(v: &Value, allowed: &[&str]) -> Result<(), ApiErr> {
    if let Some(extra) = v
        .as_object()
        .and_then(|o| o.keys().find(|k| !allowed.contains(&k.as_str())))
    {
        return Err(ApiErr::field(
            extra,
            "is not a valid field for this request",
        ));
    }
    Ok(())
}

/// A required string field.
pub fn req_str<'a>(v: &'a Value, field: &str) -> Result<&'a str, ApiErr> {
    v.get(field)
        .and_then(Value::as_str)
        .ok_or_else(|| ApiErr::field(field, "is required and must be a string"))
}

/// An id-or-name field (the spec types it as a string, clients send both).
pub fn id_or_name(v: &Value, field: &str) -> Option<String> {
    match v.get(field)? {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// Optional labels, validated.
pub fn labels(v: &Value) -> Result<Option<Labels>, ApiErr> {
    let Some(l) = v.get("labels") else {
        return Ok(None);
    };
    if l.is_null() {
        return Ok(None);
    }
    let labels: Labels = serde_json::from_value(l.clone())
        .map_err(|_| ApiErr::field("labels", "must map strings to strings"))?;
    hcloud::labels::validate(&labels).map_err(|e| ApiErr::field("labels", e))?;
    Ok(Some(labels))
}

/// The `name` and `labels` of an update, validated.
#[derive(Debug)]
pub struct Rename {
    name: Option<String>,
    labels: Option<Labels>,
}

/// Reads `name`/`labels` from an update body; `taken` says whether another
/// resource of the kind already has a name.
pub fn rename(v: &Value, taken: impl Fn(&str) -> bool) -> Result<Rename, ApiErr> {
    let name = match v.get("name") {
        None | Some(Value::Null) => None,
        Some(_) => {
            let n = check_name(v)?;
            if taken(&n) {
                return Err(ApiErr::unique("name"));
            }
            Some(n)
        }
    };
    Ok(Rename {
        name,
        labels: labels(v)?,
    })
}

impl Rename {
    /// Writes the new values into a resource.
    pub fn apply(self, name: &mut String, labels: &mut Labels) {
        if let Some(n) = self.name {
            *name = n;
        }
        if let Some(l) = self.labels {
            *labels = l;
        }
    }
}

/// RFC 1123 host name check for server names.
pub fn valid_hostname(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 253
        && name.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
                && !label.starts_with('-')
                && !label.ends_with('-')
        })
}

/// Resource names: 1–128 characters, no control characters.
pub fn check_name(v: &Value) -> Result<String, ApiErr> {
    let name = req_str(v, "name")?;
    if name.is_empty() || name.chars().count() > 128 || name.chars().any(char::is_control) {
        return Err(ApiErr::field(
            "name",
            "must be 1 to 128 printable characters",
        ));
    }
    Ok(name.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hostnames_follow_rfc1123() {
        assert!(valid_hostname("k3s-trading-dev-kafka-0"));
        assert!(!valid_hostname("Bad_Name"));
        assert!(!valid_hostname("-x"));
        assert!(!valid_hostname(""));
    }

    #[test]
    fn queries_keep_repeated_keys() {
        let q = Query::parse(Some("id=1&id=2&label_selector=a%3Db")).unwrap();
        assert_eq!(q.all("id"), ["1", "2"]);
        assert!(q.selector().unwrap().is_some());
    }
}
