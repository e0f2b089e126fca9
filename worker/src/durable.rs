//! Helpers shared by the Durable Objects.

use std::cell::Cell;

use worker::{Request, RequestInit, Response, Result, SqlStorage, Stub};

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

/// POSTs `body` as JSON to `path` on an object and reads its JSON answer.
pub async fn call<In: serde::Serialize, Out: serde::de::DeserializeOwned>(
    stub: &Stub,
    path: &str,
    body: &In,
) -> Result<Out> {
    let text = serde_json::to_string(body).map_err(|e| worker::Error::from(e.to_string()))?;
    let mut init = RequestInit::new();
    init.with_method(worker::Method::Post).with_body(Some(text.into()));
    let request = Request::new_with_init(&format!("https://durable-object{path}"), &init)?;
    let mut response: Response = stub.fetch_with_request(request).await?;
    if response.status_code() != 200 {
        let text = response.text().await.unwrap_or_default();
        return Err(worker::Error::from(format!("{path} answered {}: {text}", response.status_code())));
    }
    response.json().await
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
