//! `ClientRateLimit`: one Durable Object per client IP (named `public:{ip}`),
//! holding that client's window for the public API
//! (`RATE_LIMIT_PUBLIC_API_PER_MIN`, 90 a minute by default). The arithmetic
//! is `partner_edge::gate::take`, the same fixed window partner keys use.

use partner_edge::gate::{take, ClientWindowCommand, PeekAtWindow, TakeFromWindow, WindowAnswer, WindowRequest};
use worker::{DurableObject, Env, Request, Response, Result, SqlStorage, State};

use crate::durable::{parse_message, read_window, reply_text, rpc_only, sql_int, SchemaOnce};

const SCHEMA: &[&str] = &["CREATE TABLE IF NOT EXISTS rate_window (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    started_at INTEGER NOT NULL,
    admitted INTEGER NOT NULL
)"];

crate::durable::object_over_state! {
    alarm ClientRateLimit => ClientRateLimitState
}

/// What a `ClientRateLimit` holds.
pub struct ClientRateLimitState {
    state: State,
    sql: SqlStorage,
    schema: SchemaOnce,
}

crate::durable::commands_over_rpc!(ClientRateLimit);

impl ClientRateLimit {
    /// Runs one command message and answers with its reply, as JSON (the
    /// body of the object's `command` RPC method).
    async fn run(&self, message: &str) -> Result<String> {
        self.schema.ensure(&self.sql, SCHEMA)?;
        let command: ClientWindowCommand = parse_message("ClientRateLimit", message)?;
        match command {
            ClientWindowCommand::Take(take) => reply_text::<TakeFromWindow>(&self.take(&take.0).await?),
            ClientWindowCommand::Peek(peek) => reply_text::<PeekAtWindow>(&self.peek(&peek.0)?),
        }
    }
}

impl DurableObject for ClientRateLimit {
    fn new(state: State, _env: Env) -> Self {
        let sql = state.storage().sql();
        Self(std::rc::Rc::new(ClientRateLimitState { state, sql, schema: SchemaOnce::default() }))
    }

    /// A client's window is worth nothing once it has ended: the object
    /// deletes its row, so one object per client IP never accumulates.
    async fn alarm(&self) -> Result<Response> {
        self.schema.ensure(&self.sql, SCHEMA)?;
        self.sql.exec("DELETE FROM rate_window", None)?;
        Response::ok("forgotten")
    }

    async fn fetch(&self, _req: Request) -> Result<Response> {
        rpc_only("ClientRateLimit")
    }
}

impl ClientRateLimit {
    async fn take(&self, request: &WindowRequest) -> Result<WindowAnswer> {
        let window = read_window(&self.sql, "SELECT started_at, admitted FROM rate_window WHERE id = 1", vec![])?;
        let (window, rate, allowed) = take(window, request.now, request.limit, request.window_secs);
        if allowed {
            self.sql.exec(
                "INSERT OR REPLACE INTO rate_window (id, started_at, admitted) VALUES (1, ?, ?)",
                vec![sql_int(window.started_at)?, i64::from(window.admitted).into()],
            )?;
            if window.admitted == 1 {
                // The window's first request: forget the client a little after it ends.
                crate::durable::set_alarm_at(&self.state, (rate.reset_at + 5) * 1000).await?;
            }
        }
        Ok(WindowAnswer { allowed, rate })
    }

    /// Whether a take would be allowed, writing nothing.
    fn peek(&self, request: &WindowRequest) -> Result<WindowAnswer> {
        let window = read_window(&self.sql, "SELECT started_at, admitted FROM rate_window WHERE id = 1", vec![])?;
        let (_, rate, allowed) = take(window, request.now, request.limit, request.window_secs);
        Ok(WindowAnswer { allowed, rate })
    }
}
