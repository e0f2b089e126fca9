//! Helpers shared by the Durable Objects.

use std::cell::Cell;

use partner_edge::object::Command;
use worker::{Response, Result, ScheduledTime, SqlStorage, State, Stub};

/// Creates an object's SQLite schema on first use. `DurableObject::new`
/// cannot fail, so fallible setup waits for the first request.
#[derive(Default)]
pub struct SchemaOnce(Cell<bool>);

impl SchemaOnce {
    pub fn ensure(&self, sql: &SqlStorage, statements: &[&str]) -> Result<()> {
        self.ensure_all(sql, &[statements])
    }

    /// As [`SchemaOnce::ensure`], for an object whose tables come in parts.
    pub fn ensure_all(&self, sql: &SqlStorage, parts: &[&[&str]]) -> Result<()> {
        if !self.0.get() {
            for statement in parts.iter().copied().flatten() {
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

/// An object's single alarm as this instance last set or read it, so that
/// "fire no later than" reads storage only when the cached time does not
/// already answer it.
#[derive(Default)]
pub struct AlarmSlot(Cell<Option<u64>>);

impl AlarmSlot {
    /// The alarm has fired, or may have: the next question reads storage.
    pub fn forget(&self) {
        self.0.set(None);
    }

    /// Sets the alarm for `at_ms` (Unix milliseconds) unless one is already due sooner.
    pub async fn ensure_by(&self, state: &State, at_ms: u64) -> Result<()> {
        if self.0.get().is_some_and(|current| current <= at_ms) {
            return Ok(());
        }
        let current = state.storage().get_alarm().await?;
        if current.is_none_or(|current| current.unsigned_abs() > at_ms) {
            set_alarm_at(state, at_ms).await?;
            self.0.set(Some(at_ms));
        } else {
            self.0.set(current.map(i64::unsigned_abs));
        }
        Ok(())
    }

    /// Sets the alarm for `next`, replacing any, when something is due.
    pub async fn replace(&self, state: &State, next: Option<u64>) -> Result<()> {
        if let Some(at) = next {
            set_alarm_at(state, at).await?;
        }
        self.0.set(next);
        Ok(())
    }
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

/// The stub's `command` RPC method ([`commands_over_rpc`]).
#[worker::wasm_bindgen::prelude::wasm_bindgen]
extern "C" {
    type RpcStub;
    #[wasm_bindgen(method, catch, js_name = command)]
    fn command(
        this: &RpcStub,
        message: &str,
    ) -> std::result::Result<worker::js_sys::Promise, worker::wasm_bindgen::JsValue>;
}

/// As [`send`], for objects whose envelope travels inside a wrapper that
/// carries what every command needs (the sandbox's clock, the hub's key id).
/// The message goes over the object's `command` RPC method: no HTTP request
/// and response are built around it on either side (a signed `GET /me`,
/// one object call, went from 1220–1325 to 1008–1022 µs of workerd CPU).
pub async fn send_in<C: Command, W: serde::Serialize>(stub: Stub, wrapper: &W) -> Result<C::Reply> {
    let text = serde_json::to_string(wrapper).map_err(|e| worker::Error::from(e.to_string()))?;
    let promise = stub.into_rpc::<RpcStub>().command(&text)?;
    let answer = worker::wasm_bindgen_futures::JsFuture::from(promise).await?;
    let text = answer.as_string().ok_or_else(|| worker::Error::from("the object's answer is not text"))?;
    serde_json::from_str(&text).map_err(|e| worker::Error::from(e.to_string()))
}

/// Every object's `fetch`: objects take their commands over RPC only
/// ([`send`], [`commands_over_rpc`]), so an HTTP request is answered 404.
pub fn rpc_only(object: &str) -> Result<Response> {
    Response::error(format!("{object} takes its commands over RPC"), 404)
}

/// A command message, as the object's message type. serde_json reads the
/// text: the runtime's JSON.parse would turn any integer past 2^53 (a
/// cursor, a timestamp in ms, a counter) into a float.
pub fn parse_message<M: serde::de::DeserializeOwned>(object: &str, message: &str) -> Result<M> {
    serde_json::from_str(message).map_err(|e| worker::Error::from(format!("{object}: {e}")))
}

/// Gives an object its `command` RPC method, which the worker calls with a
/// command message and which answers with the reply as JSON text, through
/// the object's `run`. (`worker/entry.mjs` makes the class RPC-capable.)
///
/// The object is a cheap handle on its state ([`object_over_state`]): a
/// command is polled once on the spot and, when it needs no I/O, answered
/// as plain text with no promise, task or microtask on the object's side;
/// otherwise it becomes a promise through the one executor instance every
/// future shares ([`crate::http::now_or_later`]).
#[rustfmt::skip] // rustfmt re-indents the attribute inside on every run
macro_rules! commands_over_rpc {
    ($object:ident) => {
        #[worker::wasm_bindgen::prelude::wasm_bindgen(wasm_bindgen = worker::wasm_bindgen)]
        impl $object {
            pub fn command(&self, message: String)
                -> std::result::Result<worker::wasm_bindgen::JsValue, worker::wasm_bindgen::JsValue> {
                let this = self.clone();
                crate::http::now_or_later(async move { this.run(&message).await })
            }
        }
    };
}
pub(crate) use commands_over_rpc;

/// Declares an object that is a cheap handle on its state: the struct
/// holds an `Rc` of `$state` and derefs to it, so methods read the state's
/// fields as their own, and a clone can outlive the call that made it
/// (what [`commands_over_rpc`] needs).
///
/// `$handlers` is `fetch` or `alarm`: which runtime handlers workers-rs
/// exports for it. No object here takes WebSockets or TCP connections, so
/// those handlers, each its own async export in the wasm, are left out.
macro_rules! object_over_state {
    ($(#[$meta:meta])* $handlers:ident $object:ident => $state:ident) => {
        $(#[$meta])*
        #[doc = concat!("The `", stringify!($object), "` object: a handle on its [`", stringify!($state), "`].")]
        #[worker::durable_object($handlers)]
        #[derive(Clone)]
        pub struct $object(std::rc::Rc<$state>);

        impl std::ops::Deref for $object {
            type Target = $state;

            fn deref(&self) -> &$state {
                &self.0
            }
        }
    };
}
pub(crate) use object_over_state;

/// An object's answer to command `C`, of the one type `C` names, as JSON text.
pub fn reply_text<C: Command>(reply: &C::Reply) -> Result<String> {
    serde_json::to_string(reply).map_err(|e| worker::Error::from(e.to_string()))
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
