//! The partner key in this tab, and signing with it. The secret is held in
//! memory; it is written to `sessionStorage` only when the developer opts in,
//! never to `localStorage`, and it leaves the tab only as a signature.
//! Signing is `partner_edge::signing`, the code the edge verifies with.

use leptos::prelude::*;
use partner_edge::gate::{
    needs_idempotency_key, HEADER_IDEMPOTENCY_KEY, HEADER_KEY, HEADER_NONCE, HEADER_SIGNATURE, HEADER_TIMESTAMP,
};
use partner_edge::signing::{canonical_v1, sign_v1, SignedParts};

const SESSION_KEY: &str = "partner-edge.key";

#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Credentials {
    pub key_id: String,
    pub secret: String,
}

/// The key the portal signs with, shared by every page.
#[derive(Clone, Copy)]
pub struct KeyContext {
    pub key: RwSignal<Option<Credentials>>,
    /// Whether the developer chose to keep the key for this tab's session.
    pub remember: RwSignal<bool>,
}

fn session() -> Option<web_sys::Storage> {
    web_sys::window()?.session_storage().ok().flatten()
}

impl KeyContext {
    /// Restores a key the developer chose to remember in this tab.
    pub fn restore() -> Self {
        let stored = session()
            .and_then(|s| s.get_item(SESSION_KEY).ok().flatten())
            .and_then(|text| serde_json::from_str::<Credentials>(&text).ok());
        let context = KeyContext { remember: RwSignal::new(stored.is_some()), key: RwSignal::new(stored) };
        Effect::new(move |_| {
            let Some(storage) = session() else { return };
            match (context.remember.get(), context.key.get()) {
                (true, Some(key)) => {
                    if let Ok(text) = serde_json::to_string(&key) {
                        let _ = storage.set_item(SESSION_KEY, &text);
                    }
                }
                _ => {
                    let _ = storage.remove_item(SESSION_KEY);
                }
            }
        });
        context
    }
}

pub fn use_key() -> KeyContext {
    expect_context::<KeyContext>()
}

/// 16 random bytes from the browser's CSPRNG, as 32 hex digits.
pub fn random_token() -> String {
    let mut bytes = [0u8; 16];
    if let Some(crypto) = web_sys::window().and_then(|w| w.crypto().ok()) {
        let _ = crypto.get_random_values_with_u8_array(&mut bytes);
    }
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

pub fn unix_now() -> u64 {
    (js_sys::Date::now() / 1000.0) as u64
}

/// A request signed for sending: what was signed and the headers that carry it.
#[derive(Clone, Debug, PartialEq)]
pub struct Signed {
    pub canonical: String,
    pub headers: Vec<(String, String)>,
}

/// Signs `method path_and_query body` with `key` at `timestamp` with `nonce`.
/// Mutations get `idempotency_key`.
pub fn sign(
    key: &Credentials,
    method: &str,
    path_and_query: &str,
    body: &str,
    timestamp: u64,
    nonce: &str,
    idempotency_key: Option<&str>,
) -> Signed {
    let timestamp = timestamp.to_string();
    let parts = SignedParts { timestamp: &timestamp, method, path_and_query, nonce, body: body.as_bytes() };
    let mut headers = vec![
        (HEADER_KEY.to_owned(), key.key_id.clone()),
        (HEADER_TIMESTAMP.to_owned(), timestamp.clone()),
        (HEADER_NONCE.to_owned(), nonce.to_owned()),
        (HEADER_SIGNATURE.to_owned(), sign_v1(&key.secret, &parts)),
    ];
    if needs_idempotency_key(method) {
        if let Some(idempotency_key) = idempotency_key {
            headers.push((HEADER_IDEMPOTENCY_KEY.to_owned(), idempotency_key.to_owned()));
        }
    }
    if !body.is_empty() {
        headers.push(("Content-Type".to_owned(), "application/json".to_owned()));
    }
    Signed { canonical: canonical_v1(&parts), headers }
}

/// The page's origin, for commands that are pasted elsewhere.
pub fn origin() -> String {
    web_sys::window().and_then(|w| w.location().origin().ok()).unwrap_or_default()
}
