//! The conformance suite every cloud driver must pass, written once against `&dyn Cloud`.
//! Each case runs against an in-process localcloud (`on_localcloud::*`), and against a
//! real OpenStack (`on_openstack::*`) when `OS_CLOUD` or `OS_AUTH_URL` is set; without
//! one those variants say they are skipped. For a real cloud also set
//! `SHIPYARD_TEST_FLAVOR` and `SHIPYARD_TEST_IMAGE` (names or ids), and optionally
//! `SHIPYARD_TEST_NETWORK` and `SHIPYARD_TEST_HUGE_FLAVOR` (a flavor no host can take).
//!
//! After the suite come driver tests that need a cloud misbehaving on purpose: a TCP stub
//! answering 503s, 400s or 401s, and short-lived tokens.
//!
//! Layout: `target` (the cloud under test), the cases by concern (`compute`, `volumes`,
//! `failures`, `load_balancers`), then the driver tests (`stub`, `driver_*`).

use std::time::Duration;

mod compute;
mod failures;
mod load_balancers;
mod target;
mod volumes;

mod driver_api;
mod driver_auth;
mod driver_retries;
mod stub;

use compute::*;
use failures::*;
use load_balancers::*;
use target::{localcloud_target, openstack_target};
use volumes::*;

/// Each case as two tests: on localcloud (configured by the closure) and on OpenStack.
macro_rules! suite {
    ($($(#[$attr:meta])* $name:ident => $tweak:expr;)*) => {
        mod on_localcloud {
            #[allow(unused_imports)]
            use super::*;
            $(
                $(#[$attr])*
                #[tokio::test]
                async fn $name() {
                    let t = super::localcloud_target($tweak).await;
                    super::$name(&t).await;
                }
            )*
        }
        mod on_openstack {
            #[allow(unused_imports)]
            use super::*;
            $(
                $(#[$attr])*
                #[tokio::test]
                async fn $name() {
                    let Some(t) = super::openstack_target(stringify!($name)).await else {
                        return;
                    };
                    super::$name(&t).await;
                }
            )*
        }
    };
}

suite! {
    catalog_flavors_images_hosts => |_| {};
    server_group_lifecycle => |_| {};
    server_lifecycle => |_| {};
    server_boots_from_a_volume => |_| {};
    volume_lifecycle => |_| {};
    deleting_missing_resources_is_ok => |_| {};
    waits_time_out_retryably => |c| {
        c.server_build_delay = Duration::from_secs(120);
        c.volume_delay = Duration::from_secs(120);
    };
    unplaceable_server_fails_permanently => |_| {};
    bad_requests_are_permanent => |_| {};
    load_balancer_lifecycle => |_| {};
}
