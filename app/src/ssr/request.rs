//! What one request shares across the walks of its page: its root owner (so a
//! resource's fetch runs with the request's contexts) and a memo of what it read.

use std::sync::Arc;

use leptos::prelude::*;
use leptos::reactive::computed::ScopedFuture;
use provision::domain::User;
use provision::Store;

use crate::error::AppError;

/// The request's root owner (where the integration provides the request's parts,
/// response options, state and memo), known to a resource's fetch so that it runs with
/// them even after the owner that made the resource is gone (see `crate::load`). Held
/// weakly: the resource lives in the root's tree, and a strong reference back would
/// keep a request whose client went away alive for good.
#[derive(Clone)]
pub struct RequestScope {
    root: Option<leptos::reactive::owner::WeakOwner>,
}

impl RequestScope {
    pub fn capture() -> Self {
        let mut root = Owner::current();
        while let Some(parent) = root.as_ref().and_then(Owner::parent) {
            root = Some(parent);
        }
        RequestScope {
            root: root.as_ref().map(Owner::downgrade),
        }
    }

    /// `f` run under the request's root owner (what it makes lives as long as the
    /// request), or under the current owner if the request has gone.
    pub fn with_root<R>(&self, f: impl FnOnce() -> R) -> R {
        match self.root.as_ref().and_then(|root| root.upgrade()) {
            Some(root) => root.with(f),
            None => f(),
        }
    }

    /// `fut`, polled under an owner of its own below the request's root (the future
    /// holds that owner while it runs).
    pub fn run<F: std::future::Future>(&self, fut: F) -> ScopedFuture<F> {
        let owner = self
            .root
            .as_ref()
            .and_then(|root| root.upgrade())
            .map(|root| root.child())
            .unwrap_or_default();
        ScopedFuture {
            owner,
            observer: None,
            fut,
        }
    }
}

/// What one request has already read of the signed-in user, so that the page and each
/// of its server functions (the session, the list, ...) do not read it again. Provided
/// afresh for every request; keyed by user id, so a sign-in within the request misses.
/// The user and their projects come in one query ([`Store::user_with_projects`]).
///
/// It also holds each resource's fetch ([`RequestMemo::fetch_once`]): a `<Suspense>`
/// walks its children again while it waits and each walk makes the page's resources
/// anew, so without it a page's data was fetched once per walk, and the HTML could come
/// from one fetch and the data the browser hydrates with from another (a cluster that
/// moved on in between: a hydration error).
#[derive(Clone, Default)]
pub struct RequestMemo {
    user: Arc<tokio::sync::OnceCell<(String, Option<UserWithProjects>)>>,
    fetches: Arc<std::sync::Mutex<Vec<Fetch>>>,
    resources: Arc<std::sync::Mutex<Vec<Fetch>>>,
}

/// A resource's fetch: where the resource is made, and `(source, shared future)`.
type Fetch = (
    &'static std::panic::Location<'static>,
    Box<dyn std::any::Any + Send + Sync>,
);

/// The value kept in `made` for the place `at` and `source`, or the one `make` makes
/// and keeps. `make` runs without the lock held (it may ask for another); if another
/// walk kept one meanwhile, that one wins.
fn once<S, V>(
    made: &std::sync::Mutex<Vec<Fetch>>,
    at: &'static std::panic::Location<'static>,
    source: S,
    make: impl FnOnce(S) -> V,
) -> V
where
    S: Clone + PartialEq + Send + Sync + 'static,
    V: Clone + Send + Sync + 'static,
{
    let known = |made: &[Fetch]| {
        made.iter().find_map(|(made_at, entry)| {
            (*made_at == at)
                .then(|| entry.downcast_ref::<(S, V)>())
                .flatten()
                .filter(|(s, _)| *s == source)
                .map(|(_, v)| v.clone())
        })
    };
    let lock = || made.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(v) = known(&lock()) {
        return v;
    }
    let v = make(source.clone());
    let mut kept = lock();
    if let Some(first) = known(&kept) {
        return first;
    }
    kept.push((at, Box::new((source, v.clone()))));
    v
}

/// A fetch that every walk of the page awaits together.
pub type SharedFetch<T> = futures::future::Shared<futures::future::BoxFuture<'static, T>>;

use provision::store::UserWithProjects;

impl RequestMemo {
    /// The fetch of the resource made `at` for `source`: started the first time it is
    /// asked for in this request, shared by every later walk that asks again.
    pub fn fetch_once<S, T, Fut>(
        &self,
        at: &'static std::panic::Location<'static>,
        source: S,
        fetch: impl FnOnce(S) -> Fut,
    ) -> SharedFetch<T>
    where
        S: Clone + PartialEq + Send + Sync + 'static,
        T: Clone + Send + Sync + 'static,
        Fut: std::future::Future<Output = T> + Send + 'static,
    {
        use futures::FutureExt;
        // (making a fetch may run code that asks for another)
        once(&self.fetches, at, source, |s| fetch(s).boxed().shared())
    }

    /// The resource made `at` for `source` in this request: made by `make` the first
    /// time, the same one for every later walk. Each resource made on the server sends
    /// its data with the page; one made on every walk sent the page's data up to three
    /// times (the browser hydrates with the first, made in the order it makes its own).
    pub fn resource_once<S, R>(
        &self,
        at: &'static std::panic::Location<'static>,
        source: S,
        make: impl FnOnce() -> R,
    ) -> R
    where
        S: Clone + PartialEq + Send + Sync + 'static,
        R: Clone + Send + Sync + 'static,
    {
        // (making a resource runs its first fetch)
        once(&self.resources, at, source, |_| make())
    }

    async fn read(&self, store: &Store, uid: &str) -> Result<Option<UserWithProjects>, AppError> {
        read_once(&self.user, uid, || store.user_with_projects(uid)).await
    }

    pub(super) async fn user(&self, store: &Store, uid: &str) -> Result<Option<User>, AppError> {
        Ok(self.read(store, uid).await?.map(|(user, _)| user))
    }

    pub(super) async fn projects(
        &self,
        store: &Store,
        uid: &str,
    ) -> Result<Vec<provision::domain::ProjectWithRole>, AppError> {
        Ok(self
            .read(store, uid)
            .await?
            .map(|(_, projects)| projects)
            .unwrap_or_default())
    }
}

/// `read()` for `uid`, at most once per request (a different user reads afresh).
async fn read_once<T, F, Fut>(
    cell: &tokio::sync::OnceCell<(String, T)>,
    uid: &str,
    read: F,
) -> Result<T, AppError>
where
    T: Clone,
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = provision::Result<T>>,
{
    let (id, value) = cell
        .get_or_try_init(|| async { Ok::<_, AppError>((uid.to_string(), read().await?)) })
        .await?;
    if id == uid {
        Ok(value.clone())
    } else {
        Ok(read().await?)
    }
}

/// The request's memo (a fresh one when none was provided).
pub fn memo() -> RequestMemo {
    use_context::<RequestMemo>().unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::RequestScope;
    use leptos::prelude::*;

    #[derive(Clone)]
    struct RequestMarker(u32);

    /// A resource made under an owner that a `Suspense` then disposes (it walks its
    /// children again while it waits) still fetches with the request's contexts.
    #[tokio::test]
    async fn a_fetch_outlives_the_owner_that_made_it() {
        let root = Owner::new_root(None);
        // request root → one pass of a Suspense's children → the page that made the
        // resource (owners hold their parents weakly).
        let (scope, pass, page) = root.with(|| {
            provide_context(RequestMarker(7));
            let pass = Owner::new();
            let page = pass.with(Owner::new);
            let scope = page.with(RequestScope::capture);
            (scope, pass, page)
        });
        let fetch = || async { use_context::<RequestMarker>().map(|m| m.0) };
        let unscoped = page.with(|| super::ScopedFuture::new(fetch()));
        let scoped = scope.run(fetch());
        // The next pass replaces this one.
        pass.cleanup();
        drop(pass);
        // What the fetches saw before: nothing (the server function answered "no
        // session layer"); with the request's scope: the request.
        assert_eq!(unscoped.await, None);
        assert_eq!(scoped.await, Some(7));
    }

    /// A page's walks share the first fetch of each resource (same place, same source);
    /// another source or another place fetches on its own.
    #[tokio::test]
    async fn walks_share_a_resource_fetch() {
        use std::sync::atomic::{AtomicUsize, Ordering};
        let memo = super::RequestMemo::default();
        let fetched = std::sync::Arc::new(AtomicUsize::new(0));
        let fetch = |n: u32| {
            let fetched = fetched.clone();
            async move {
                fetched.fetch_add(1, Ordering::SeqCst);
                tokio::task::yield_now().await;
                n * 2
            }
        };
        let here = std::panic::Location::caller();
        let there = std::panic::Location::caller();
        let first = memo.fetch_once(here, 1u32, fetch);
        let again = memo.fetch_once(here, 1u32, fetch);
        let other_source = memo.fetch_once(here, 2u32, fetch);
        let other_place = memo.fetch_once(there, 1u32, fetch);
        assert_eq!(
            (
                first.await,
                again.await,
                other_source.await,
                other_place.await
            ),
            (2, 2, 4, 2)
        );
        assert_eq!(fetched.load(Ordering::SeqCst), 3);
    }

    /// A page's walks get the resource its first walk made (same place, same source);
    /// another source or another place makes its own.
    #[test]
    fn walks_share_a_resource() {
        let memo = super::RequestMemo::default();
        let made = std::cell::Cell::new(0u32);
        let make = || {
            made.set(made.get() + 1);
            made.get()
        };
        let here = std::panic::Location::caller();
        let there = std::panic::Location::caller();
        let first = memo.resource_once(here, "a".to_string(), make);
        let again = memo.resource_once(here, "a".to_string(), make);
        let other_source = memo.resource_once(here, "b".to_string(), make);
        let other_place = memo.resource_once(there, "a".to_string(), make);
        assert_eq!((first, again, other_source, other_place), (1, 1, 2, 3));
    }
}
