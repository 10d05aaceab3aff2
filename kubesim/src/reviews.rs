//! What callers may ask about themselves (`kubectl auth can-i`, `can-i --list`,
//! `whoami`): `SelfSubjectAccessReview` and `SelfSubjectRulesReview`
//! (authorization.k8s.io/v1), `SelfSubjectReview` (authentication.k8s.io/v1). Created
//! only, never stored; each answers for the caller [`crate::authz`] authenticated, from
//! [`crate::rbac`]. Bodies come as JSON or, from kubectl ≥ 1.32, as protobuf (read into
//! JSON by then, [`crate::protobuf`]); answers are JSON, which kubectl takes.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use k8s_openapi::api::authentication::v1::{SelfSubjectReview, SelfSubjectReviewStatus, UserInfo};
use k8s_openapi::api::authorization::v1::{
    NonResourceRule, ResourceRule, SelfSubjectAccessReview, SelfSubjectRulesReview,
    SubjectAccessReviewStatus, SubjectRulesReviewStatus,
};
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::rbac::{self, Attributes};
use crate::state::Shared;
use crate::status::ApiError;
use crate::tls::Identity;

/// The body as a `T` (JSON: [`crate::authz::layer`] has read a protobuf one into it).
fn read<T: DeserializeOwned + k8s_openapi::Resource>(body: &[u8]) -> Result<T, ApiError> {
    let mut object = serde_json::from_slice::<Value>(body)
        .map_err(|e| ApiError::bad_request(format!("the body is not JSON: {e}")))?;
    if !object.is_object() {
        return Err(ApiError::bad_request(format!(
            "the body is not a {}",
            T::KIND
        )));
    }
    for (field, value) in [("apiVersion", T::API_VERSION), ("kind", T::KIND)] {
        if object[field].is_null() {
            object[field] = Value::String(value.to_string());
        }
    }
    serde_json::from_value(object).map_err(|e| {
        ApiError::bad_request(format!(
            "{} in version \"v1\" cannot be handled as a {}: {e}",
            T::KIND,
            T::KIND
        ))
    })
}

fn created(object: impl serde::Serialize) -> Response {
    (StatusCode::CREATED, Json(object)).into_response()
}

/// `POST /apis/authorization.k8s.io/v1/selfsubjectaccessreviews`: may I do this?
pub async fn access(
    State(shared): State<Shared>,
    Extension(user): Extension<Identity>,
    body: axum::body::Bytes,
) -> Response {
    let mut review: SelfSubjectAccessReview = match read(&body) {
        Ok(r) => r,
        Err(refused) => return refused.into_response(),
    };
    let spec = &review.spec;
    let a = match (&spec.resource_attributes, &spec.non_resource_attributes) {
        (Some(r), None) => Attributes {
            verb: r.verb.clone().unwrap_or_default(),
            resource_request: true,
            api_group: r.group.clone().unwrap_or_default(),
            api_version: r.version.clone().unwrap_or_default(),
            resource: r.resource.clone().unwrap_or_default(),
            subresource: r.subresource.clone().unwrap_or_default(),
            namespace: r.namespace.clone().unwrap_or_default(),
            name: r.name.clone().unwrap_or_default(),
            path: String::new(),
        },
        (None, Some(n)) => Attributes {
            verb: n.verb.clone().unwrap_or_default(),
            path: n.path.clone().unwrap_or_default(),
            ..Default::default()
        },
        (both, _) => {
            let (field, value) = if both.is_some() {
                ("spec.nonResourceAttributes", "\"(set)\"")
            } else {
                ("spec.resourceAttributes", "\"null\"")
            };
            return ApiError {
                code: StatusCode::UNPROCESSABLE_ENTITY,
                reason: "Invalid",
                details: None,
                message: format!(
                    "SelfSubjectAccessReview.authorization.k8s.io \"\" is invalid: {field}: \
                     Invalid value: {value}: exactly one of nonResourceAttributes or \
                     resourceAttributes must be specified"
                ),
            }
            .into_response();
        }
    };
    let decision = rbac::authorize(&shared.store, &user, &a);
    review.status = Some(SubjectAccessReviewStatus {
        allowed: decision.allowed,
        reason: Some(decision.reason).filter(|r| !r.is_empty()),
        ..Default::default()
    });
    created(review)
}

/// `POST /apis/authorization.k8s.io/v1/selfsubjectrulesreviews`: what may I do in this
/// namespace?
pub async fn rules(
    State(shared): State<Shared>,
    Extension(user): Extension<Identity>,
    body: axum::body::Bytes,
) -> Response {
    let mut review: SelfSubjectRulesReview = match read(&body) {
        Ok(r) => r,
        Err(refused) => return refused.into_response(),
    };
    let namespace = review.spec.namespace.clone().unwrap_or_default();
    let (rules, errors) = rbac::rules_for(&shared.store, &user, &namespace);
    let mut status = SubjectRulesReviewStatus {
        incomplete: false,
        evaluation_error: (!errors.is_empty()).then(|| rbac::aggregate(&errors)),
        ..Default::default()
    };
    for rule in rules {
        if rule.resources.as_ref().is_some_and(|r| !r.is_empty()) {
            status.resource_rules.push(ResourceRule {
                verbs: rule.verbs.clone(),
                api_groups: rule.api_groups.clone(),
                resources: rule.resources.clone(),
                resource_names: rule.resource_names.clone(),
            });
        }
        if rule
            .non_resource_urls
            .as_ref()
            .is_some_and(|u| !u.is_empty())
        {
            status.non_resource_rules.push(NonResourceRule {
                verbs: rule.verbs,
                non_resource_urls: rule.non_resource_urls,
            });
        }
    }
    review.status = Some(status);
    created(review)
}

/// `POST /apis/authentication.k8s.io/v1/selfsubjectreviews`: who am I?
pub async fn whoami(Extension(user): Extension<Identity>, body: axum::body::Bytes) -> Response {
    let mut review: SelfSubjectReview = match read(&body) {
        Ok(r) => r,
        Err(refused) => return refused.into_response(),
    };
    review.status = Some(SelfSubjectReviewStatus {
        user_info: Some(UserInfo {
            username: Some(user.user),
            groups: Some(user.groups),
            ..Default::default()
        }),
    });
    created(review)
}
