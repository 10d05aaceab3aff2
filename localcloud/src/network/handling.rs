//! What every Neutron handler shares: its errors, body parsing and checks, the common
//! update of name, description and tags, and list filtering with marker paging.

use std::collections::BTreeMap;
use std::net::Ipv4Addr;

use axum::body::Bytes;
use axum::http::HeaderMap;
use axum::Json;
use serde::de::DeserializeOwned;
use serde::Deserialize;
use serde_json::{json, Value};

use crate::common::auth::authenticate;
use crate::common::errors::{ApiError, NEUTRON};
use crate::Cloud;

use super::errors::*;
use super::state::*;

/// The caller, as Neutron scopes what they see, or Neutron's 401.
pub(crate) fn who(cloud: &Cloud, headers: &HeaderMap) -> Result<Who, ApiError> {
    authenticate(cloud, headers, NEUTRON).map(|t| Who::of(&t))
}

/// The object under `key` of a JSON body; malformed or non-UTF-8 bodies, a missing
/// object or wrongly typed fields are 400s.
pub(crate) fn parse<T: DeserializeOwned>(body: &Bytes, key: &str) -> Result<T, ApiError> {
    let v: Value = serde_json::from_slice(body).map_err(|e| {
        NEUTRON
            .bad(format!("Invalid request body: {e}"))
            .kind("HTTPBadRequest")
    })?;
    let inner = v.get(key).filter(|x| x.is_object()).ok_or_else(|| {
        NEUTRON.bad(format!(
            "Resource body required: expected an object '{key}'."
        ))
    })?;
    serde_json::from_value(inner.clone())
        .map_err(|e| invalid(format!("Invalid input for {key}: {e}")))
}

pub(crate) fn check_name(what: &str, name: &str) -> Result<(), ApiError> {
    if name.chars().count() > NAME_MAX {
        return Err(invalid(format!(
            "Invalid input for {what}: '{}...' exceeds maximum length of {NAME_MAX}.",
            name.chars().take(20).collect::<String>()
        )));
    }
    Ok(())
}

pub(crate) fn check_tags(tags: &[String]) -> Result<(), ApiError> {
    for t in tags {
        if t.is_empty() || t.chars().count() > TAG_MAX || t.contains(',') {
            return Err(invalid(format!(
                "Invalid input for tags: '{t}' must be 1-{TAG_MAX} characters without commas."
            )));
        }
    }
    Ok(())
}

/// Tags in order, without repeats.
pub(crate) fn dedup(tags: Vec<String>) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for t in tags {
        if !out.contains(&t) {
            out.push(t);
        }
    }
    out
}

// ---- listing ----------------------------------------------------------------------

/// Query pairs in order (a key may repeat), percent-decoded; undecodable pairs are
/// dropped.
pub(crate) fn parse_query(raw: Option<String>) -> Vec<(String, String)> {
    raw.unwrap_or_default()
        .split('&')
        .filter(|p| !p.is_empty())
        .filter_map(|pair| {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            Some((decode(k)?, decode(v)?))
        })
        .collect()
}

pub(crate) fn decode(s: &str) -> Option<String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' => {
                let hex = std::str::from_utf8(bytes.get(i + 1..i + 3)?).ok()?;
                out.push(u8::from_str_radix(hex, 16).ok()?);
                i += 2;
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8(out).ok()
}

/// Whether a body attribute equals a query value (lists: any element does).
pub(crate) fn value_matches(v: &Value, want: &str) -> bool {
    match v {
        Value::String(s) => s == want,
        Value::Bool(b) => want.eq_ignore_ascii_case(if *b { "true" } else { "false" }),
        Value::Number(n) => n.to_string() == want,
        Value::Array(a) => a.iter().any(|x| value_matches(x, want)),
        _ => false,
    }
}

/// Neutron's list filtering on rendered bodies: any attribute by value (repeated keys
/// mean any of them), `tags` (all), `tags-any`, `not-tags`, `not-tags-any` (comma
/// separated), `fixed_ips=ip_address=...`/`subnet_id=...`, then `marker` and `limit`.
/// Attributes an object does not have are ignored, as are `fields` and sorting.
pub(crate) fn filtered(
    mut items: Vec<Value>,
    q: &[(String, String)],
    collection: &str,
) -> Result<Json<Value>, ApiError> {
    let mut keys: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for (k, v) in q {
        keys.entry(k.as_str()).or_default().push(v.as_str());
    }
    let tags_of = |item: &Value| -> Vec<String> {
        item["tags"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|t| t.as_str().map(String::from))
                    .collect()
            })
            .unwrap_or_default()
    };
    let split = |vs: &Vec<&str>| -> Vec<String> {
        vs.iter()
            .flat_map(|v| v.split(','))
            .filter(|t| !t.is_empty())
            .map(String::from)
            .collect()
    };
    for (k, vs) in &keys {
        match *k {
            "fields" | "sort_key" | "sort_dir" | "page_reverse" | "limit" | "marker" => {}
            "tags" | "tags-any" | "not-tags" | "not-tags-any" => {
                let want = split(vs);
                items.retain(|i| {
                    let have = tags_of(i);
                    let all = want.iter().all(|t| have.contains(t));
                    let any = want.iter().any(|t| have.contains(t));
                    match *k {
                        "tags" => all,
                        "tags-any" => any,
                        "not-tags" => !all,
                        _ => !any,
                    }
                });
            }
            "fixed_ips" => items.retain(|i| {
                vs.iter().all(|v| {
                    let (field, want) = v.split_once('=').unwrap_or(("ip_address", v));
                    i["fixed_ips"]
                        .as_array()
                        .is_some_and(|a| a.iter().any(|f| f[field] == *want))
                })
            }),
            _ => items.retain(|i| {
                i.get(*k)
                    .is_none_or(|v| vs.iter().any(|want| value_matches(v, want)))
            }),
        }
    }
    items.sort_by(|a, b| {
        (a["created_at"].as_str(), a["id"].as_str())
            .cmp(&(b["created_at"].as_str(), b["id"].as_str()))
    });
    if let Some(marker) = keys.get("marker").and_then(|m| m.first()) {
        let at = items
            .iter()
            .position(|i| i["id"] == *marker)
            .ok_or_else(|| NEUTRON.bad(format!("Marker {marker} could not be found.")))?;
        items.drain(..=at);
    }
    if let Some(limit) = keys.get("limit").and_then(|l| l.first()) {
        let n: usize = limit
            .parse()
            .map_err(|_| invalid(format!("Invalid limit: '{limit}'.")))?;
        if n > 0 {
            items.truncate(n);
        }
    }
    Ok(Json(json!({ collection: items })))
}

/// Changes to a network, subnet, port or security group: what every one of them has.
#[derive(Deserialize)]
pub(crate) struct Update {
    pub(crate) name: Option<String>,
    pub(crate) description: Option<String>,
    pub(crate) admin_state_up: Option<bool>,
    pub(crate) tags: Option<Vec<String>>,
}

impl Update {
    pub(crate) fn check(&self) -> Result<(), ApiError> {
        check_name("name", self.name.as_deref().unwrap_or(""))?;
        check_name("description", self.description.as_deref().unwrap_or(""))?;
        check_tags(self.tags.as_deref().unwrap_or(&[]))
    }
}

/// Applies `u` to the common fields of an object.
pub(crate) fn apply(
    u: Update,
    name: &mut String,
    description: &mut String,
    tags: &mut Vec<String>,
    revision: &mut u64,
    updated: &mut String,
) {
    if let Some(n) = u.name {
        *name = n;
    }
    if let Some(d) = u.description {
        *description = d;
    }
    if let Some(t) = u.tags {
        *tags = dedup(t);
    }
    *revision += 1;
    *updated = now();
}

pub(crate) fn ipv4(what: &str, s: &str) -> Result<Ipv4Addr, ApiError> {
    s.parse().map_err(|_| {
        invalid(format!(
            "Invalid input for {what}: '{s}' is not a valid IPv4 address."
        ))
    })
}
