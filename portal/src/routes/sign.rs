//! The request-signing helper: every input of a v1 signature in a field,
//! and the canonical string, body hash, signature and headers it gives,
//! computed by the same code the edge verifies with.

use leptos::prelude::*;
use partner_edge::signing::body_sha256_hex;

use crate::components::CodeBlock;
use crate::key::{self, Credentials};

const METHODS: [&str; 5] = ["GET", "POST", "PUT", "PATCH", "DELETE"];

#[component]
pub fn SigningHelper() -> impl IntoView {
    let stored = crate::key::use_key().key.get_untracked();
    let key_id = RwSignal::new(stored.as_ref().map(|k| k.key_id.clone()).unwrap_or_default());
    let secret = RwSignal::new(stored.map(|k| k.secret).unwrap_or_default());
    let method = RwSignal::new("GET".to_owned());
    let path = RwSignal::new("/api/partner/me".to_owned());
    let timestamp = RwSignal::new(key::unix_now().to_string());
    let nonce = RwSignal::new(key::random_token());
    let body = RwSignal::new(String::new());
    let idempotency = RwSignal::new(format!("helper-{}", key::random_token()));

    let signed = Memo::new(move |_| {
        let ts = timestamp.get().trim().parse::<u64>().ok()?;
        let key = Credentials { key_id: key_id.get(), secret: secret.get() };
        Some(key::sign(&key, &method.get(), &path.get(), &body.get(), ts, &nonce.get(), Some(&idempotency.get())))
    });
    let field = |id: &'static str, label: &'static str, value: RwSignal<String>, kind: &'static str| {
        view! {
            <label for=id>{label}</label>
            <input id=id type=kind autocomplete="off" spellcheck="false"
                prop:value=move || value.get() on:input=move |ev| value.set(event_target_value(&ev)) />
        }
    };
    view! {
        <section class="intro">
            <h1>"Signing helper"</h1>
            <p>"Fill in a request and read what signature v1 makes of it. Nothing here is sent anywhere."</p>
        </section>
        <section class="card" aria-labelledby="inputs-heading">
            <h2 id="inputs-heading">"Inputs"</h2>
            <div class="form-grid">
                {field("sign-key-id", "Key id", key_id, "text")}
                {field("sign-secret", "Secret", secret, "password")}
                <label for="sign-method">"Method"</label>
                <select id="sign-method" on:change=move |ev| method.set(event_target_value(&ev)) prop:value=move || method.get()>
                    {METHODS.iter().map(|m| view! { <option value=*m>{*m}</option> }).collect::<Vec<_>>()}
                </select>
                {field("sign-path", "Path and query", path, "text")}
                {field("sign-timestamp", "Timestamp", timestamp, "text")}
                {field("sign-nonce", "Nonce", nonce, "text")}
                <label for="sign-body">"Body"</label>
                <textarea id="sign-body" rows="4" spellcheck="false"
                    prop:value=move || body.get() on:input=move |ev| body.set(event_target_value(&ev))></textarea>
            </div>
        </section>
        <section class="card" aria-labelledby="outputs-heading" aria-live="polite">
            <h2 id="outputs-heading">"Signature"</h2>
            {move || match signed.get() {
                None => view! { <p class="notice error" role="alert">"The timestamp must be unix seconds."</p> }.into_any(),
                Some(signed) => {
                    let signature = signed.headers.iter().find(|(n, _)| n == "X-Partner-Signature").map(|(_, v)| v.clone()).unwrap_or_default();
                    let headers = signed.headers.iter().map(|(n, v)| format!("{n}: {v}")).collect::<Vec<_>>().join("\n");
                    view! {
                        <h3>"Canonical string"</h3>
                        <pre tabindex="0" data-testid="canonical-string">{signed.canonical.clone()}</pre>
                        <p>"Body SHA-256: " <code data-testid="body-hash">{body_sha256_hex(body.get().as_bytes())}</code></p>
                        <p>"Signature: " <code data-testid="signature">{signature}</code></p>
                        <h3>"Headers"</h3>
                        <CodeBlock code=headers label="signed headers" />
                    }.into_any()
                }
            }}
        </section>
    }
}
