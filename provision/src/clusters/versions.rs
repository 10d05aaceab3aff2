//! The Kubernetes versions on offer: a list admins manage (add, enable, disable). A
//! disabled version takes no new clusters; clusters already on it keep working (their
//! node groups still scale, from the same image).

use super::ClusterSpec;
use crate::accounts::{audit, require_admin};
use crate::domain::{Actor, Outcome};
use crate::{now_ms, Error, Result, Store};
use serde::Serialize;

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct KubeVersion {
    pub version: String,
    /// The image its nodes boot from.
    pub image: String,
    pub enabled: bool,
}

/// `v1.31.12` → (1, 31, 12).
pub fn parse(version: &str) -> Option<(u32, u32, u32)> {
    let mut it = version.strip_prefix('v')?.split('.');
    let v = (
        it.next()?.parse().ok()?,
        it.next()?.parse().ok()?,
        it.next()?.parse().ok()?,
    );
    it.next().is_none().then_some(v)
}

/// Every version (or only the enabled ones), oldest first.
pub async fn list(store: &Store, include_disabled: bool) -> Result<Vec<KubeVersion>> {
    let mut out = store.version_list().await?;
    out.retain(|v| include_disabled || v.enabled);
    out.sort_by_key(|v| parse(&v.version).unwrap_or_default());
    Ok(out)
}

/// The image a version boots from, enabled or not (existing clusters keep theirs).
pub async fn image_of(store: &Store, version: &str) -> Result<String> {
    store.version_image(version).await
}

/// Fills in the newest enabled version when none was asked for, checks the one asked
/// for is on offer, and returns its image.
pub async fn resolve(store: &Store, spec: &mut ClusterSpec) -> Result<String> {
    let on_offer = list(store, false).await?;
    let newest = on_offer.last().ok_or_else(|| {
        Error::Conflict("No Kubernetes version is on offer; ask an administrator.".into())
    })?;
    let wanted = spec
        .kubernetes_version
        .clone()
        .unwrap_or_else(|| newest.version.clone());
    match on_offer.iter().find(|v| v.version == wanted) {
        Some(v) => {
            spec.kubernetes_version = Some(v.version.clone());
            Ok(v.image.clone())
        }
        None => Err(Error::invalid(
            "kubernetes_version",
            format!(
                "Kubernetes {wanted} is not on offer; choose one of {}.",
                on_offer
                    .iter()
                    .map(|v| v.version.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        )),
    }
}

/// Adds a version or changes one (admins only): enabled or not, and its image (which
/// the cloud must have).
pub async fn set(
    store: &Store,
    cloud: &dyn crate::cloud::Cloud,
    actor: &Actor,
    version: &str,
    enabled: bool,
    image: Option<&str>,
) -> Result<KubeVersion> {
    require_admin(actor)?;
    if parse(version).is_none() {
        return Err(Error::invalid("version", "A version looks like v1.31.12."));
    }
    if let Some(i) = image {
        let ok = !i.is_empty() && i.len() <= 255 && i.chars().all(|c| c.is_ascii_graphic());
        if !ok {
            return Err(Error::invalid(
                "image",
                "An image name is 1–255 visible characters.",
            ));
        }
        cloud.image_id(i).await.map_err(|e| {
            if e.retryable() {
                Error::internal(format!("looking up image {i}: {e}"))
            } else {
                Error::invalid("image", format!("The cloud has no image named '{i}'."))
            }
        })?;
    }
    let now = now_ms();
    let exists = list(store, true)
        .await?
        .into_iter()
        .find(|v| v.version == version);
    match (&exists, image) {
        (None, None) => {
            return Err(Error::invalid(
                "image",
                "A new version needs the image its nodes boot from.",
            ))
        }
        (None, Some(i)) => {
            let new = KubeVersion {
                version: version.to_string(),
                image: i.to_string(),
                enabled,
            };
            store.version_insert(&new, now).await?;
        }
        (Some(old), i) => {
            let changed = KubeVersion {
                version: version.to_string(),
                image: i.unwrap_or(&old.image).to_string(),
                enabled,
            };
            store.version_update(&changed, now).await?;
        }
    }
    audit(
        store,
        actor,
        None,
        "version.set",
        version,
        Outcome::Success,
        &format!(
            "enabled={enabled}{}",
            image.map(|i| format!(" image={i}")).unwrap_or_default()
        ),
    )
    .await?;
    list(store, true)
        .await?
        .into_iter()
        .find(|v| v.version == version)
        .ok_or_else(|| Error::internal("version vanished"))
}

#[cfg(test)]
mod tests {
    #[test]
    fn versions_parse_and_order() {
        assert_eq!(super::parse("v1.31.12"), Some((1, 31, 12)));
        assert!(super::parse("1.31.12").is_none());
        assert!(super::parse("v1.31").is_none());
        assert!(super::parse("v1.31.1.2").is_none());
        assert!(super::parse("v1.x.1").is_none());
        assert!(super::parse("v1.9.0") < super::parse("v1.10.0"));
    }
}
