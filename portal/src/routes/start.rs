//! The integration wizard: choose a key, watch the request being signed,
//! send `GET /api/partner/me` and read each check, make an idempotent
//! credit twice, and copy working code.

use leptos::prelude::*;
use partner_edge::partner::{DEMO_KEY_ID, DEMO_KEY_SECRET};
use partner_edge::signing::{body_sha256_hex, canonical_differences};

use crate::api::{self, Exchange};
use crate::components::{load, loaded, CodeBlock, ExchangeView};
use crate::key::{self, use_key, Credentials};
use crate::samples::{self, Auth, Sample};

const ME: &str = "/api/partner/me";
const CREDIT: &str = "/api/salutes/credit";
const CREDIT_BODY: &str = r#"{"user_id":"4","amount":1,"reason":"event_participation","source":"partner_portal"}"#;

#[component]
pub fn Start() -> impl IntoView {
    let keys = use_key();
    let (demo, _) = load(api::demo_key_offered);
    let key_id = RwSignal::new(keys.key.get_untracked().map(|k| k.key_id).unwrap_or_default());
    let secret = RwSignal::new(keys.key.get_untracked().map(|k| k.secret).unwrap_or_default());
    // Every edit takes effect at once: the signature below follows it.
    Effect::new(move |_| {
        let (id, secret) = (key_id.get(), secret.get());
        keys.key.set((!id.is_empty() && !secret.is_empty()).then_some(Credentials { key_id: id, secret }));
    });
    let use_demo = move |_| {
        key_id.set(DEMO_KEY_ID.to_owned());
        secret.set(DEMO_KEY_SECRET.to_owned());
    };

    let timestamp = RwSignal::new(key::unix_now());
    let nonce = RwSignal::new(key::random_token());
    let signed = Memo::new(move |_| {
        keys.key.get().map(|key| key::sign(&key, "GET", ME, "", timestamp.get(), &nonce.get(), None))
    });

    let me = RwSignal::new(None::<Result<(Exchange, String), String>>);
    let send_me = move |_| {
        let Some(key) = keys.key.get_untracked() else { return };
        let sent = key::sign(&key, "GET", ME, "", timestamp.get_untracked(), &nonce.get_untracked(), None);
        leptos::task::spawn_local(async move {
            let outcome = api::exchange("GET", ME, &sent.headers, None).await.map_err(|e| e.to_string());
            me.set(Some(outcome.map(|exchange| (exchange, sent.canonical))));
            // A nonce is spent once sent: the next request gets new values.
            timestamp.set(key::unix_now());
            nonce.set(key::random_token());
        });
    };

    let idempotency_key = RwSignal::new(format!("portal-{}", key::random_token()));
    let credits = RwSignal::new(Vec::<Result<Exchange, String>>::new());
    let send_credit = move |again: bool| {
        let Some(key) = keys.key.get_untracked() else { return };
        if !again {
            idempotency_key.set(format!("portal-{}", key::random_token()));
            credits.set(Vec::new());
        }
        let idem = idempotency_key.get_untracked();
        let sent = key::sign(&key, "POST", CREDIT, CREDIT_BODY, key::unix_now(), &key::random_token(), Some(&idem));
        leptos::task::spawn_local(async move {
            let outcome = api::exchange("POST", CREDIT, &sent.headers, Some(CREDIT_BODY.to_owned()))
                .await
                .map_err(|e| e.to_string());
            credits.update(|list| list.push(outcome));
        });
    };

    let has_key = move || keys.key.get().is_some();
    view! {
        <section class="intro">
            <h1>"Integration wizard"</h1>
            <p>"From nothing to a signed call in a minute. The secret stays in this tab: it is sent only as a signature."</p>
        </section>

        <section class="card" aria-labelledby="step-key">
            <h2 id="step-key">"1. Choose a key"</h2>
            {loaded(demo, "Asking the edge whether it offers a demo key…", move |offered| if offered {
                view! {
                    <p>"This edge offers a local demo key with every scope."</p>
                    <button type="button" on:click=use_demo>"Use the demo key"</button>
                }.into_any()
            } else {
                view! { <p class="muted">"This edge offers no demo key: paste your own."</p> }.into_any()
            })}
            <div class="form-grid">
                <label for="key-id">"Key id"</label>
                <input id="key-id" type="text" autocomplete="off" spellcheck="false"
                    prop:value=move || key_id.get() on:input=move |ev| key_id.set(event_target_value(&ev)) />
                <label for="key-secret">"Secret"</label>
                <input id="key-secret" type="password" autocomplete="off"
                    prop:value=move || secret.get() on:input=move |ev| secret.set(event_target_value(&ev)) />
            </div>
            <label class="check">
                <input type="checkbox" prop:checked=move || keys.remember.get()
                    on:change=move |ev| keys.remember.set(event_target_checked(&ev)) />
                " Keep the key for this tab's session (sessionStorage; never localStorage)"
            </label>
        </section>

        <section class="card" aria-labelledby="step-sign">
            <h2 id="step-sign">"2. Watch the signature being built"</h2>
            {move || match signed.get() {
                None => view! { <p class="muted">"Enter a key id and a secret to see the signature."</p> }.into_any(),
                Some(signed) => {
                    let labels = ["version", "timestamp", "method", "path and query", "nonce", "body hash (SHA-256 of the empty body)"];
                    let lines: Vec<String> = signed.canonical.split('\n').map(str::to_owned).collect();
                    let signature = signed.headers.iter().find(|(n, _)| n == "X-Partner-Signature").map(|(_, v)| v.clone()).unwrap_or_default();
                    view! {
                        <table class="data" data-testid="canonical">
                            <caption>"The canonical string: one part per line"</caption>
                            <tbody>
                                {labels.iter().zip(lines).map(|(label, line)| view! {
                                    <tr><th scope="row">{*label}</th><td><code>{line}</code></td></tr>
                                }).collect::<Vec<_>>()}
                                <tr><th scope="row">"signature"</th><td><code data-testid="signature">{signature}</code></td></tr>
                            </tbody>
                        </table>
                        <button type="button" on:click=move |_| { timestamp.set(key::unix_now()); nonce.set(key::random_token()); }>
                            "New timestamp and nonce"
                        </button>
                    }.into_any()
                }
            }}
        </section>

        <section class="card" aria-labelledby="step-send">
            <h2 id="step-send">"3. Send GET /api/partner/me"</h2>
            <button type="button" on:click=send_me disabled=move || !has_key()>"Send the signed request"</button>
            <div aria-live="polite">
                {move || me.get().map(|outcome| match outcome {
                    Ok((exchange, canonical)) => view! { <Checks exchange=exchange.clone() canonical /> <ExchangeView exchange /> }.into_any(),
                    Err(message) => view! { <div class="notice error" role="alert">{message}</div> }.into_any(),
                })}
            </div>
        </section>

        <section class="card" aria-labelledby="step-credit">
            <h2 id="step-credit">"4. A first idempotent credit"</h2>
            <p>"Credits 1 salute to sandbox user 4 with a fresh " <code>"Idempotency-Key"</code>
               ". Send it again: the edge answers with the stored result and " <code>"Idempotent-Replayed: true"</code> "."</p>
            <p><code>"POST " {CREDIT} " " {CREDIT_BODY}</code></p>
            <div class="button-row">
                <button type="button" on:click=move |_| send_credit(false) disabled=move || !has_key()>"Credit"</button>
                <button type="button" on:click=move |_| send_credit(true)
                    disabled=move || !has_key() || credits.with(Vec::is_empty)>"Send it again"</button>
            </div>
            <div aria-live="polite">
                {move || credits.get().into_iter().enumerate().map(|(n, outcome)| match outcome {
                    Ok(exchange) => {
                        let replayed = exchange.header("idempotent-replayed") == Some("true");
                        view! {
                            <h3>{if n == 0 { "First answer".to_owned() } else { format!("Answer {}", n + 1) }}</h3>
                            {replayed.then(|| view! { <p class="badge ok" data-testid="replayed">"Idempotent-Replayed: true"</p> })}
                            <ExchangeView exchange />
                        }.into_any()
                    }
                    Err(message) => view! { <div class="notice error" role="alert">{message}</div> }.into_any(),
                }).collect::<Vec<_>>()}
            </div>
        </section>

        <section class="card" aria-labelledby="step-code">
            <h2 id="step-code">"5. Copy working code"</h2>
            {move || {
                let id = key_id.get();
                let origin = key::origin();
                let sample = Sample { origin: &origin, method: "GET", path_and_query: ME, body: "", key_id: &id, auth: Auth::Partner };
                view! {
                    <p class="muted">"Each sample reads the secret from " <code>"PARTNER_SECRET"</code> "."</p>
                    <h3>"CLI"</h3>
                    <CodeBlock code=samples::cli(&sample) label="CLI" />
                    <h3>"Python"</h3>
                    <CodeBlock code=samples::python(&sample) label="Python" />
                    <h3>"JavaScript (Node 18+)"</h3>
                    <CodeBlock code=samples::javascript(&sample) label="JavaScript" />
                    <h3>"Rust"</h3>
                    <CodeBlock code=samples::rust(&sample) label="Rust" />
                }
            }}
        </section>
    }
}

/// Each gate check explained from the answer.
#[component]
fn Checks(exchange: Exchange, canonical: String) -> impl IntoView {
    let body = exchange.json().unwrap_or_default();
    let code = body["error"].as_str().unwrap_or_default().to_owned();
    let ok = exchange.status == 200;
    let item = |name: &'static str, passed: bool, text: String| {
        let badge = if passed { "badge ok" } else { "badge bad" };
        view! { <li><span class=badge>{if passed { "passed" } else { "failed" }}</span> " " <strong>{name}</strong> ": " {text}</li> }
    };
    let signature_text = match body["signature_diagnostics"]["canonical_request"].as_str() {
        Some(theirs) => {
            let differs = canonical_differences(&canonical, theirs);
            if differs.is_empty() {
                "the edge signed the same string: the secret is not this key's".to_owned()
            } else {
                format!("the edge saw a different {}", differs.join(", "))
            }
        }
        None if ok => "HMAC-SHA256 over the canonical string matched, compared in constant time".to_owned(),
        None => format!("not reached ({code})"),
    };
    let headroom = match (exchange.header("x-ratelimit-remaining"), exchange.header("x-ratelimit-limit")) {
        (Some(remaining), Some(limit)) => format!("{remaining} of {limit} left in this window"),
        _ => "no rate headers".to_owned(),
    };
    view! {
        <ul class="checks-list" data-testid="checks">
            {item("timestamp window", code != "stale_timestamp", "signed within the edge's tolerance of its clock".to_owned())}
            {item("nonce", code != "replay_detected", "fresh: each nonce is accepted once".to_owned())}
            {item("signature", ok || !code.starts_with("signature"), signature_text)}
            {item("scope", code != "forbidden", "GET /api/partner/me needs no scope beyond a valid key".to_owned())}
            {item("rate headroom", code != "rate_limited", headroom)}
        </ul>
        <p class="muted">"Body hash of the empty body: " <code>{body_sha256_hex(b"")}</code></p>
    }
}
