//! The cluster operations as sagas over the [`Cloud`] driver, registered by name. Each
//! saga is a file of its own: [`super::create`], [`super::delete`],
//! [`super::node_group_sagas`], [`super::repair`], [`super::rotate`], and the services
//! and volumes of [`super::workloads`]; the steps that make one resource of a cluster are
//! [`super::cluster_steps`]; what they share is [`super::saga_shared`] (re-exported
//! here, where callers have always found it).

use std::sync::Arc;

use super::create::CreateCluster;
use super::delete::DeleteCluster;
use super::node_group_sagas::{DeleteNodeGroup, ScaleMode, ScaleNodeGroup};
pub use super::saga_shared::*;
use crate::cloud::*;
use crate::ops::SagaKind;
use crate::Store;

/// Registers every cluster operation (clusters, node groups, services, volumes) with
/// an engine builder.
pub fn register(
    builder: crate::ops::EngineBuilder,
    store: &Store,
    cloud: Arc<dyn Cloud>,
    settings: Settings,
) -> crate::ops::EngineBuilder {
    kinds(store, cloud, settings)
        .into_iter()
        .fold(builder, |b, (name, kind)| b.kind(name, kind))
}

/// Every cluster operation kind by name (tests wrap them to inject faults).
pub fn kinds(
    store: &Store,
    cloud: Arc<dyn Cloud>,
    settings: Settings,
) -> Vec<(&'static str, Arc<dyn SagaKind>)> {
    let settings = Arc::new(settings);
    let scale = |mode: ScaleMode| -> Arc<dyn SagaKind> {
        Arc::new(ScaleNodeGroup {
            store: store.clone(),
            cloud: cloud.clone(),
            settings: settings.clone(),
            mode,
        })
    };
    let mut kinds: Vec<(&'static str, Arc<dyn SagaKind>)> = vec![
        (
            CREATE,
            Arc::new(CreateCluster {
                store: store.clone(),
                cloud: cloud.clone(),
                settings: settings.clone(),
            }),
        ),
        (
            DELETE,
            Arc::new(DeleteCluster {
                store: store.clone(),
                cloud: cloud.clone(),
            }),
        ),
        (SCALE, scale(ScaleMode::Grow)),
        (SHRINK, scale(ScaleMode::Shrink)),
        (NODE_GROUP_CREATE, scale(ScaleMode::Create)),
        (
            NODE_GROUP_DELETE,
            Arc::new(DeleteNodeGroup {
                store: store.clone(),
                cloud: cloud.clone(),
            }),
        ),
    ];
    kinds.push((
        super::rotate::ROTATE_CA,
        Arc::new(super::rotate::RotateCa {
            store: store.clone(),
            cloud: cloud.clone(),
            settings: settings.clone(),
        }),
    ));
    kinds.push((
        super::repair::NODE_REPAIR,
        Arc::new(super::repair::RepairNode {
            store: store.clone(),
            cloud: cloud.clone(),
            settings: settings.clone(),
        }),
    ));
    kinds.push((
        super::repair_master::MASTER_REPAIR,
        Arc::new(super::repair_master::RepairMaster {
            store: store.clone(),
            cloud: cloud.clone(),
            settings: settings.clone(),
        }),
    ));
    kinds.extend(super::workloads::service_lb::kinds(
        store,
        cloud.clone(),
        settings.clone(),
    ));
    kinds.extend(super::workloads::claim_volume::kinds(
        store, cloud, settings,
    ));
    kinds
}
