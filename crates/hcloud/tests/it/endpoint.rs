//! The token only goes where the endpoint says: redirects are not followed.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use axum::http::{HeaderMap, StatusCode, header};

use crate::common::{TOKEN, client, serve};

#[tokio::test]
async fn redirects_are_not_followed_so_the_token_stays_with_the_endpoint() {
    let hits = Arc::new(AtomicUsize::new(0));
    let seen = hits.clone();
    let elsewhere = serve(axum::Router::new().fallback(move |h: HeaderMap| {
        let seen = seen.clone();
        async move {
            seen.fetch_add(1, Ordering::SeqCst);
            let auth = h.get(header::AUTHORIZATION).cloned();
            (StatusCode::OK, format!("{auth:?}"))
        }
    }))
    .await;
    let target = format!("{elsewhere}/v1/locations");
    let redirector = serve(axum::Router::new().fallback(move || {
        let target = target.clone();
        async move { (StatusCode::TEMPORARY_REDIRECT, [(header::LOCATION, target)]) }
    }))
    .await;

    let c = client(&format!("{redirector}/v1"));
    let err = c.locations().await.unwrap_err();
    assert_eq!(hits.load(Ordering::SeqCst), 0, "the redirect was followed");
    assert!(err.to_string().contains("307"), "{err}");
    assert!(!format!("{err} {err:?}").contains(TOKEN));
}
