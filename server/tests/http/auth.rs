//! Sign-up, sign-in, sign-out, sessions, password changes, API tokens and their throttles.

use reqwest::header::{LOCATION, SET_COOKIE};
use reqwest::StatusCode;

use crate::common::App;

async fn sign_up_sign_in_and_cycled_sessions(app: &App) {
    let mut c = app.signed_up("Alice@Example.com").await;
    assert_eq!(c.email().await.as_deref(), Some("alice@example.com"));
    let projects = c.session().await["projects"].clone();
    assert_eq!(projects[0]["role"], "owner");
    let first = c.cookie.clone().expect("session cookie");

    // Signing in again issues a new session id; the old id is dead.
    let r = c
        .call(
            "sign_in",
            &[
                ("email", "alice@example.com"),
                ("password", "a long password!"),
            ],
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.headers.get(LOCATION).unwrap(), "/clusters");
    let second = c.cookie.clone().expect("new cookie");
    assert_ne!(first, second, "session id not cycled at sign-in");
    let mut old = app.client();
    old.cookie = Some(first);
    assert_eq!(old.email().await, None);
    assert_eq!(c.email().await.as_deref(), Some("alice@example.com"));

    // Cookie attributes.
    let mut fresh = app.client();
    let r = fresh
        .call(
            "sign_in",
            &[
                ("email", "alice@example.com"),
                ("password", "a long password!"),
            ],
        )
        .await;
    let set = r
        .headers
        .get(SET_COOKIE)
        .unwrap()
        .to_str()
        .unwrap()
        .to_string();
    assert!(set.contains("HttpOnly"), "{set}");
    assert!(set.contains("SameSite=Lax"), "{set}");
    assert!(!set.contains("Secure"), "{set}");
}
both!(sign_up_sign_in_and_cycled_sessions);

async fn sign_up_validation_messages(app: &App) {
    let mut c = app.client();
    for (email, password, expect) in [
        ("", "a long password!", "Enter your email"),
        ("not-an-email", "a long password!", "malformed"),
        (
            &format!("{}@example.com", "x".repeat(300)) as &str,
            "a long password!",
            "too long",
        ),
        ("bob@example.com", "", "Enter a password"),
        ("bob@example.com", "eleven char", "at least 12"),
        ("bob@example.com", &"p".repeat(200), "too long"),
    ] {
        let r = c
            .call("sign_up", &[("email", email), ("password", password)])
            .await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{email:?}: {}", r.body);
        assert!(
            r.body.contains(expect),
            "{email:?}/{password:?}: {}",
            r.body
        );
    }
    assert_eq!(
        app.store.user_count().await.unwrap(),
        1,
        "only the admin exists"
    );
}
both!(sign_up_validation_messages);

async fn wrong_password_then_throttled(app: &App) {
    app.signed_up("bob@example.com").await;
    let mut c = app.client();
    for _ in 0..10 {
        let r = c
            .call(
                "sign_in",
                &[
                    ("email", "bob@example.com"),
                    ("password", "not the password"),
                ],
            )
            .await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{}", r.body);
        assert!(r.body.contains("Wrong email or password"), "{}", r.body);
    }
    let r = c
        .call(
            "sign_in",
            &[
                ("email", "bob@example.com"),
                ("password", "a long password!"),
            ],
        )
        .await;
    assert_eq!(r.status, StatusCode::TOO_MANY_REQUESTS, "{}", r.body);
    let retry: u64 = r
        .headers
        .get("retry-after")
        .unwrap()
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=300).contains(&retry));
    assert!(
        r.body.contains("Too many failed sign-in attempts"),
        "{}",
        r.body
    );
    assert!(c.cookie.is_none(), "no session for a throttled sign-in");

    // The same refusal as a plain form post: a redirect back with the message.
    let r = c
        .send(
            reqwest::Method::POST,
            "/api/sign_in",
            Some(b"email=bob%40example.com&password=whatever+password".to_vec()),
            &[
                ("content-type", "application/x-www-form-urlencoded"),
                ("accept", "text/html"),
                ("referer", &format!("{}/signin", app.url)),
            ],
        )
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    let location = r.headers.get(LOCATION).unwrap().to_str().unwrap();
    assert!(
        location.starts_with(&format!("{}/signin?", app.url)) && location.contains("__err="),
        "{location}"
    );
    let page = c
        .send(
            reqwest::Method::GET,
            location.trim_start_matches(&app.url),
            None,
            &[],
        )
        .await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(
        page.body.contains("Too many failed sign-in attempts"),
        "message not in the page"
    );
}
both!(wrong_password_then_throttled);

async fn sign_out_ends_the_session(app: &App) {
    let mut c = app.signed_up("carol@example.com").await;
    let cookie = c.cookie.clone();
    // A GET never mutates: the sign-out function refuses GET.
    let r = c
        .send(reqwest::Method::GET, "/api/sign_out", None, &[])
        .await;
    assert!(r.status.is_client_error(), "{}", r.status);
    assert_eq!(c.email().await.as_deref(), Some("carol@example.com"));

    let r = c.call("sign_out", &[]).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(c.email().await, None);
    let mut replay = app.client();
    replay.cookie = cookie;
    assert_eq!(replay.email().await, None, "old cookie still signed in");
    let page = replay
        .send(
            reqwest::Method::GET,
            "/clusters",
            None,
            &[("accept", "text/html")],
        )
        .await;
    assert_eq!(page.status, StatusCode::FOUND);
    assert_eq!(page.headers.get(LOCATION).unwrap(), "/signin");
}
both!(sign_out_ends_the_session);

// A password change ends every other session of the user and cycles the current one;
// asked to, it revokes every API token too. Tokens expire, may be read-only, and
// cannot mint tokens. A one-time password allows nothing but the change itself.
async fn sessions_and_tokens_end_when_they_should(app: &App) {
    use reqwest::Method;
    const PW: &str = "a long password!";
    let email = "rotate@example.com";
    let mut a = app.signed_up(email).await;
    let mut b = app.client();
    let r = b
        .call("sign_in", &[("email", email), ("password", PW)])
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(b.email().await.as_deref(), Some(email));

    // Tokens: read and write by default for 90 days; read-only on request.
    let rw = a.token("rw").await;
    let r = a
        .api(
            Method::POST,
            "/api/v1/tokens",
            None,
            Some(serde_json::json!({"name": "ro", "read_only": true, "expires_in_days": 7})),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    let ro = r.json()["token"]["secret"].as_str().unwrap().to_string();
    let r = a.api(Method::GET, "/api/v1/tokens", Some(&ro), None).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let now = provision::now_ms();
    for t in r.json()["tokens"].as_array().unwrap() {
        let days = if t["name"] == "ro" { 7 } else { 90 };
        let left = t["expires_at"].as_i64().unwrap() - now;
        assert!((left - days * 86_400_000).abs() < 600_000, "{t}");
        assert_eq!(t["read_only"], t["name"] == "ro", "{t}");
    }
    let r = a
        .api(
            Method::POST,
            "/api/v1/tokens",
            None,
            Some(serde_json::json!({"name": "x", "expires_in_days": 0})),
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.body);
    // A read-only token reads and nothing else; no token mints another.
    let r = a
        .api(Method::GET, "/api/v1/clusters", Some(&ro), None)
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let r = a
        .api(
            Method::POST,
            "/api/v1/clusters",
            Some(&ro),
            Some(serde_json::json!({"name": "nope"})),
        )
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.body);
    assert!(r.body.contains("read-only"), "{}", r.body);
    for t in [&ro, &rw] {
        let r = a
            .api(
                Method::POST,
                "/api/v1/tokens",
                Some(t),
                Some(serde_json::json!({"name": "minted"})),
            )
            .await;
        assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.body);
    }
    let listed = a.api(Method::GET, "/api/v1/tokens", Some(&rw), None).await;
    assert_eq!(listed.json()["tokens"].as_array().unwrap().len(), 2);

    // The change: the other session ends, this one goes on under a new cookie (the old
    // one is dead too), the tokens stay unless asked.
    let before = a.cookie.clone();
    let r = a
        .call(
            "change_password",
            &[("current", PW), ("new", "a second long password")],
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_ne!(a.cookie, before, "the session id is cycled");
    assert_eq!(a.email().await.as_deref(), Some(email));
    assert_eq!(b.email().await, None, "the other session is over");
    let mut replay = app.client();
    replay.cookie = before;
    assert_eq!(replay.email().await, None, "the old cookie is over");
    let r = b.api(Method::GET, "/api/v1/clusters", None, None).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{}", r.body);
    let r = a
        .api(Method::GET, "/api/v1/clusters", Some(&rw), None)
        .await;
    assert_eq!(
        r.status,
        StatusCode::OK,
        "tokens stay unless asked: {}",
        r.body
    );
    let r = a
        .call(
            "change_password",
            &[
                ("current", "a second long password"),
                ("new", "a third long password"),
                ("revoke_tokens", "on"),
            ],
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(a.email().await.as_deref(), Some(email));
    for t in [&ro, &rw] {
        let r = a.api(Method::GET, "/api/v1/clusters", Some(t), None).await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{}", r.body);
    }

    // An expired token stops working.
    let late = a.token("late").await;
    let r = a
        .api(Method::GET, "/api/v1/clusters", Some(&late), None)
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    sqlx::query("UPDATE api_tokens SET expires_at = $1 WHERE name = 'late'")
        .bind(provision::now_ms() - 1)
        .execute(app.store.pool())
        .await
        .unwrap();
    let r = a
        .api(Method::GET, "/api/v1/clusters", Some(&late), None)
        .await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{}", r.body);

    // A one-time password (as an admin's reset gives): only the change is allowed.
    let keep = a.token("keep").await;
    let user = app.store.user_by_email(email).await.unwrap().unwrap();
    let hash = provision::accounts::hash_password("one time password")
        .await
        .unwrap();
    app.store
        .user_set_password(&user.id, &hash, true)
        .await
        .unwrap();
    assert_eq!(a.email().await, None, "a reset ends the sessions too");
    let mut c = app.client();
    let r = c
        .call(
            "sign_in",
            &[("email", email), ("password", "one time password")],
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(c.session().await["user"]["must_change_password"], true);
    for (what, r) in [
        ("tokens", c.call("tokens", &[("shown", "")]).await),
        (
            "token_create",
            c.call("token_create", &[("name", "t")]).await,
        ),
        (
            "rest",
            c.api(Method::GET, "/api/v1/clusters", None, None).await,
        ),
        (
            "old token",
            c.api(Method::GET, "/api/v1/clusters", Some(&keep), None)
                .await,
        ),
    ] {
        assert_eq!(r.status, StatusCode::FORBIDDEN, "{what}: {}", r.body);
    }
    let page = c
        .send(Method::GET, "/clusters", None, &[("accept", "text/html")])
        .await;
    assert_eq!(page.status, StatusCode::FOUND);
    assert_eq!(page.headers.get(LOCATION).unwrap(), "/account");
    let r = c
        .call(
            "change_password",
            &[
                ("current", "one time password"),
                ("new", "my own password now"),
            ],
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let r = c.call("tokens", &[("shown", "")]).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let r = c
        .api(Method::GET, "/api/v1/clusters", Some(&keep), None)
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
}
both!(sessions_and_tokens_end_when_they_should);

// Sign-ups are throttled per client address (each costs an argon2 hash and makes a
// project), counted before the hash, so a parallel burst cannot slip past.
async fn sign_ups_are_throttled_per_address(app: &App) {
    let limit = provision::accounts::SIGNUP_MAX_PER_ADDRESS as usize;
    let tries = (0..limit + 5).map(|i| async move {
        let mut c = app.client();
        let email = format!("burst{i}@example.com");
        c.call(
            "sign_up",
            &[("email", email.as_str()), ("password", "a long password!")],
        )
        .await
    });
    let answers = futures_util::future::join_all(tries).await;
    let made = answers
        .iter()
        .filter(|a| a.status == StatusCode::OK)
        .count();
    let throttled: Vec<_> = answers
        .iter()
        .filter(|a| a.status == StatusCode::TOO_MANY_REQUESTS)
        .collect();
    assert_eq!(
        (made, throttled.len()),
        (limit, 5),
        "{:?}",
        answers
            .iter()
            .map(|a| (a.status, a.body.as_str()))
            .collect::<Vec<_>>()
    );
    assert!(throttled[0].headers.contains_key("retry-after"));
    assert!(
        throttled[0].body.contains("Too many sign-ups"),
        "{}",
        throttled[0].body
    );
    // A client's own X-Forwarded-For claim (no proxy is trusted here) changes nothing.
    let form = |who: &str| format!("email={who}%40example.com&password=a+long+password%21");
    let headers = [
        ("content-type", "application/x-www-form-urlencoded"),
        ("accept", "application/json"),
        ("x-forwarded-for", "203.0.113.9"),
    ];
    let mut c = app.client();
    let r = c
        .send(
            reqwest::Method::POST,
            "/api/sign_up",
            Some(form("claims").into_bytes()),
            &headers,
        )
        .await;
    assert_eq!(r.status, StatusCode::TOO_MANY_REQUESTS, "{}", r.body);
    // Another address is not held back.
    let mut c = app.client();
    c.http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .local_address(Some("127.0.0.2".parse().unwrap()))
        .build()
        .unwrap();
    let r = c
        .send(
            reqwest::Method::POST,
            "/api/sign_up",
            Some(form("elsewhere").into_bytes()),
            &headers[..2],
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
}
both!(sign_ups_are_throttled_per_address);
