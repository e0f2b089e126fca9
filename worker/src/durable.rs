//! Helpers shared by the Durable Objects.

use std::cell::Cell;

use partner_edge::object::Command;
use worker::{Request, Response, Result, ScheduledTime, SqlStorage, State, Stub};

/// Creates an object's SQLite schema on first use. `DurableObject::new`
/// cannot fail, so fallible setup waits for the first request.
#[derive(Default)]
pub struct SchemaOnce(Cell<bool>);

impl SchemaOnce {
    pub fn ensure(&self, sql: &SqlStorage, statements: &[&str]) -> Result<()> {
        if !self.0.get() {
            for statement in statements {
                sql.exec(statement, None)?;
            }
            self.0.set(true);
        }
        Ok(())
    }
}

/// Sets the object's single alarm to fire at `at_ms` (Unix milliseconds),
/// replacing any alarm already set.
pub async fn set_alarm_at(state: &State, at_ms: u64) -> Result<()> {
    let when = worker::js_sys::Date::new(&(at_ms as f64).into());
    state.storage().set_alarm(ScheduledTime::new(when)).await
}

/// Runs `query`, which selects one nullable integer column named `at` (a
/// `MIN(...)` over the rows something is due for), and returns it.
pub fn earliest(sql: &SqlStorage, query: &str) -> Result<Option<u64>> {
    #[derive(serde::Deserialize)]
    struct Earliest {
        at: Option<i64>,
    }
    Ok(sql.exec(query, None)?.one::<Earliest>()?.at.map(i64::unsigned_abs))
}

/// Sends a command to an object; the reply is read as the type the command names.
pub async fn send<C: Command>(stub: Stub, command: C) -> Result<C::Reply> {
    send_in::<C, _>(stub, &C::Envelope::from(command)).await
}

/// The stub's own `fetch(url, init)`, without workers-rs's `Request` and
/// `Response` wrappers: each reads the `cf` object, the headers and the URL
/// across the JS boundary on construction, which an object call never needs.
#[worker::wasm_bindgen::prelude::wasm_bindgen]
extern "C" {
    type RawStub;
    #[wasm_bindgen(method, catch, js_name = fetch)]
    fn fetch_with_init(
        this: &RawStub,
        url: &str,
        init: &worker::web_sys::RequestInit,
    ) -> std::result::Result<worker::js_sys::Promise, worker::wasm_bindgen::JsValue>;
}

/// As [`send`], for objects whose envelope travels inside a wrapper that
/// carries what every command needs (the sandbox's clock, the hub's key id).
pub async fn send_in<C: Command, W: serde::Serialize>(stub: Stub, wrapper: &W) -> Result<C::Reply> {
    use worker::wasm_bindgen::JsCast;
    let text = serde_json::to_string(wrapper).map_err(|e| worker::Error::from(e.to_string()))?;
    let init = worker::web_sys::RequestInit::new();
    init.set_method("POST");
    init.set_body(&text.into());
    let promise = stub.into_rpc::<RawStub>().fetch_with_init(CALL_URL, &init)?;
    let response: worker::web_sys::Response =
        worker::wasm_bindgen_futures::JsFuture::from(promise).await?.dyn_into()?;
    let status = response.status();
    // The runtime reads the whole answer in one call; workers-rs's
    // `Response::text` would read its stream chunk by chunk through a
    // reader, crossing into JS for every `read` and `releaseLock`.
    let text = worker::wasm_bindgen_futures::JsFuture::from(response.text()?)
        .await?
        .as_string()
        .ok_or_else(|| worker::Error::from("the object's answer is not text"))?;
    if status != 200 {
        return Err(worker::Error::from(format!("object answered {status}: {text}")));
    }
    serde_json::from_str(&text).map_err(|e| worker::Error::from(e.to_string()))
}

/// Where every object takes its commands.
const CALL_URL: &str = "https://durable-object/call";

/// The skeleton of every object's `fetch`: the one path, the message parsed
/// as `M`, and whatever `run` answers. Anything else is a 404 naming the object.
pub async fn serve<M, F, Fut>(mut req: Request, object: &str, run: F) -> Result<Response>
where
    M: serde::de::DeserializeOwned,
    F: FnOnce(M) -> Fut,
    Fut: std::future::Future<Output = Result<Response>>,
{
    if req.method() != worker::Method::Post || req.path() != "/call" {
        return Response::error(format!("{object} has no {} {}", req.method(), req.path()), 404);
    }
    // serde_json reads the text: the runtime's JSON.parse would turn any
    // integer past 2^53 (a cursor, a timestamp in ms, a counter) into a float.
    let text = req.text().await?;
    let message: M = serde_json::from_str(&text).map_err(|e| worker::Error::from(format!("{object}: {e}")))?;
    run(message).await
}

/// An object's answer to command `C`, of the one type `C` names.
pub fn reply<C: Command>(reply: &C::Reply) -> Result<Response> {
    Response::from_json(reply)
}

/// A unix time or count as a SQLite integer.
pub fn sql_int(value: u64) -> Result<worker::SqlStorageValue> {
    i64::try_from(value).map(Into::into).map_err(|_| worker::Error::from("value out of SQLite's range"))
}

/// Reads a rate window: `query` selects `started_at` and `admitted`.
pub fn read_window(
    sql: &SqlStorage,
    query: &str,
    bindings: Vec<worker::SqlStorageValue>,
) -> Result<Option<partner_edge::gate::RateWindow>> {
    #[derive(serde::Deserialize)]
    struct WindowRow {
        started_at: i64,
        admitted: i64,
    }
    Ok(sql.exec(query, bindings)?.to_array::<WindowRow>()?.into_iter().next().map(|row| {
        partner_edge::gate::RateWindow {
            started_at: row.started_at.unsigned_abs(),
            admitted: u32::try_from(row.admitted).unwrap_or(u32::MAX),
        }
    }))
}

/// A row with one text column named `doc` (select it `AS doc`).
#[derive(serde::Deserialize)]
pub struct Doc {
    pub doc: String,
}

/// The `doc` column of the first row, if any.
pub fn first_doc(sql: &SqlStorage, query: &str, bindings: Vec<worker::SqlStorageValue>) -> Result<Option<String>> {
    Ok(sql.exec(query, bindings)?.to_array::<Doc>()?.into_iter().next().map(|row| row.doc))
}

/// A value as stored in a JSON text column.
pub fn to_json<T: serde::Serialize>(value: &T) -> Result<String> {
    serde_json::to_string(value).map_err(|e| worker::Error::from(e.to_string()))
}

/// A JSON text column read back; a row that does not parse is a storage failure.
pub fn from_json<T: serde::de::DeserializeOwned>(text: &str) -> Result<T> {
    serde_json::from_str(text).map_err(|e| worker::Error::from(format!("stored row unreadable: {e}")))
}
