//! Driver behaviour: tokens renewed on 401 and before they expire, wrong passwords.

use std::sync::atomic::Ordering;
use std::time::Duration;

use provision::cloud::*;

use crate::stub;
use crate::target::*;

#[tokio::test]
async fn renews_the_token_once_on_401() {
    let stub = stub::start(stub::Mode::RejectFirstToken).await;
    let cloud = stub::driver(&stub).await;
    cloud.flavor_list().await.expect("works with a new token");
    assert_eq!(stub.auths.load(Ordering::SeqCst), 2);
    assert_eq!(cloud.tokens_issued(), 2);
    assert_eq!(stub.calls.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn renews_a_token_before_it_expires() {
    let (_local, admin) = start_localcloud(|c| c.token_ttl = Duration::from_secs(2)).await;
    let mut config = OpenStackConfig::new(
        admin.auth_url,
        admin.username,
        admin.password,
        admin.project,
    );
    config.retry = quick_retries();
    let cloud = OpenStack::connect(config).await.expect("connects");
    cloud.flavor_list().await.expect("first token");
    assert_eq!(cloud.tokens_issued(), 1);
    // Past half the token's life (the refresh point for short tokens) and past its end.
    tokio::time::sleep(Duration::from_millis(2200)).await;
    cloud.flavor_list().await.expect("renewed token");
    assert_eq!(cloud.tokens_issued(), 2);
}

#[tokio::test]
async fn wrong_password_is_permanent_with_keystones_message() {
    let (_local, admin) = start_localcloud(|_| {}).await;
    let mut config = OpenStackConfig::new(admin.auth_url, "admin", "wrong", "admin");
    config.retry = quick_retries();
    let e = OpenStack::connect(config).await.expect_err("refused");
    assert_eq!((e.kind, e.status), (ErrorKind::Permanent, Some(401)), "{e}");
    assert!(e.message.contains("requires authentication"), "{e}");
}
