//! Messages between the worker and its Durable Objects.
//!
//! Each command is its own type and names the one reply type the object
//! answers it with, so a caller cannot read an answer as the wrong thing and
//! an object cannot answer a command with something else: both ends are
//! checked by the compiler. The commands one object takes travel in one
//! externally tagged envelope enum (serde decodes it without buffering,
//! which keeps the wasm small).

use serde::de::DeserializeOwned;
use serde::Serialize;

/// A command to a Durable Object.
pub trait Command: Serialize + DeserializeOwned {
    /// The envelope every command to this object travels in.
    type Envelope: From<Self> + Serialize + DeserializeOwned;
    /// What the object answers to this command.
    type Reply: Serialize + DeserializeOwned;
}

/// Declares an object's envelope: one variant per command type, each with
/// its reply type.
///
/// ```ignore
/// object_commands! {
///     /// What the gate object takes.
///     pub enum GateCommand {
///         Admit(AdmissionRequest) => Admission,
///         Complete(Completion) => bool,
///     }
/// }
/// ```
#[macro_export]
macro_rules! object_commands {
    ($(#[$meta:meta])* $vis:vis enum $envelope:ident {
        $( $(#[$doc:meta])* $variant:ident($command:ty) => $reply:ty, )+
    }) => {
        $(#[$meta])*
        #[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
        $vis enum $envelope {
            $( $(#[$doc])* $variant($command), )+
        }

        $(
            impl $crate::object::Command for $command {
                type Envelope = $envelope;
                type Reply = $reply;
            }

            impl From<$command> for $envelope {
                fn from(command: $command) -> Self {
                    $envelope::$variant(command)
                }
            }
        )+
    };
}

#[cfg(test)]
mod tests {
    use super::Command;
    use serde::{Deserialize, Serialize};

    #[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
    struct Ping {
        n: u32,
    }

    #[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
    struct Shout(String);

    crate::object_commands! {
        enum Envelope {
            Ping(Ping) => u32,
            Shout(Shout) => String,
        }
    }

    fn reply_type_of<C: Command>(_: &C, reply: C::Reply) -> C::Reply {
        reply
    }

    #[test]
    fn commands_travel_in_their_envelope_and_fix_their_reply_type() {
        let envelope: Envelope = Ping { n: 7 }.into();
        let json = serde_json::to_string(&envelope).unwrap();
        assert_eq!(json, r#"{"Ping":{"n":7}}"#);
        assert_eq!(serde_json::from_str::<Envelope>(&json).unwrap(), Envelope::Ping(Ping { n: 7 }));
        assert_eq!(reply_type_of(&Ping { n: 1 }, 3u32), 3);
        assert_eq!(reply_type_of(&Shout("a".into()), "b".to_owned()), "b");
    }
}
