//! Redis channel names, as the Node adapters and emitter build them.

/// The channels of the classic adapter (`createAdapter`) and of the
/// emitter for one namespace, under one key (default `socket.io`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Channels {
    key: String,
    nsp: String,
}

impl Channels {
    /// The channels for namespace `nsp` (e.g. `/`) under `key`.
    pub fn new(key: impl Into<String>, nsp: impl Into<String>) -> Self {
        Channels {
            key: key.into(),
            nsp: nsp.into(),
        }
    }

    /// The namespace.
    pub fn nsp(&self) -> &str {
        &self.nsp
    }

    /// `{key}#{nsp}#`: broadcasts to no room or several rooms.
    pub fn broadcast(&self) -> String {
        format!("{}#{}#", self.key, self.nsp)
    }

    /// `{key}#{nsp}#{room}#`: broadcasts to exactly one room.
    pub fn room(&self, room: &str) -> String {
        format!("{}#{}#{}#", self.key, self.nsp, room)
    }

    /// The channel a broadcast to `rooms` is published on: the room's own
    /// channel for exactly one room, else [`Channels::broadcast`].
    pub fn for_rooms(&self, rooms: &[String]) -> String {
        match rooms {
            [room] => self.room(room),
            _ => self.broadcast(),
        }
    }

    /// `{key}#{nsp}#*`: the pattern a server subscribes to for broadcasts.
    pub fn pattern(&self) -> String {
        format!("{}#{}#*", self.key, self.nsp)
    }

    /// `{key}-request#{nsp}#`: requests between servers.
    pub fn request(&self) -> String {
        format!("{}-request#{}#", self.key, self.nsp)
    }

    /// `{key}-response#{nsp}#`: responses (the default).
    pub fn response(&self) -> String {
        format!("{}-response#{}#", self.key, self.nsp)
    }

    /// `{key}-response#{nsp}#{uid}#`: responses for the server `uid` (with
    /// `publishOnSpecificResponseChannel`).
    pub fn response_for(&self, uid: &str) -> String {
        format!("{}-response#{}#{}#", self.key, self.nsp, uid)
    }

    /// For a channel matched by [`Channels::pattern`]: `Some(None)` for the
    /// plain broadcast channel, `Some(Some(room))` for a room's channel,
    /// `None` for a channel of another key or namespace.
    pub fn broadcast_room<'a>(&self, channel: &'a str) -> Option<Option<&'a str>> {
        let rest = channel
            .strip_prefix(self.key.as_str())?
            .strip_prefix('#')?
            .strip_prefix(self.nsp.as_str())?
            .strip_prefix('#')?;
        if rest.is_empty() {
            return Some(None);
        }
        rest.strip_suffix('#').map(Some)
    }
}

/// The channels of the sharded adapter (`createShardedAdapter`) for one
/// namespace, under one prefix (default `socket.io`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShardedChannels {
    prefix: String,
    nsp: String,
}

impl ShardedChannels {
    /// The channels for namespace `nsp` under `prefix`.
    pub fn new(prefix: impl Into<String>, nsp: impl Into<String>) -> Self {
        ShardedChannels {
            prefix: prefix.into(),
            nsp: nsp.into(),
        }
    }

    /// The namespace.
    pub fn nsp(&self) -> &str {
        &self.nsp
    }

    /// `{prefix}#{nsp}#`: every message of the namespace.
    pub fn main(&self) -> String {
        format!("{}#{}#", self.prefix, self.nsp)
    }

    /// `{prefix}#{nsp}#{uid}#`: responses for server `uid`.
    pub fn response_for(&self, uid: &str) -> String {
        format!("{}#{}#{}#", self.prefix, self.nsp, uid)
    }

    /// `{prefix}#{nsp}#{room}#`: broadcasts to one room in the `dynamic`
    /// subscription modes.
    pub fn room(&self, room: &str) -> String {
        format!("{}#{}#{}#", self.prefix, self.nsp, room)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        let c = Channels::new("socket.io", "/");
        assert_eq!(c.broadcast(), "socket.io#/#");
        assert_eq!(c.room("r1"), "socket.io#/#r1#");
        assert_eq!(c.pattern(), "socket.io#/#*");
        assert_eq!(c.request(), "socket.io-request#/#");
        assert_eq!(c.response(), "socket.io-response#/#");
        assert_eq!(c.response_for("abc"), "socket.io-response#/#abc#");
        assert_eq!(c.for_rooms(&["a".into()]), "socket.io#/#a#");
        assert_eq!(c.for_rooms(&["a".into(), "b".into()]), "socket.io#/#");
        assert_eq!(c.broadcast_room("socket.io#/#"), Some(None));
        assert_eq!(c.broadcast_room("socket.io#/#r#1#"), Some(Some("r#1")));
        assert_eq!(c.broadcast_room("socket.io#/admin#"), None);
        let s = ShardedChannels::new("socket.io", "/chat");
        assert_eq!(s.main(), "socket.io#/chat#");
        assert_eq!(s.response_for("u"), "socket.io#/chat#u#");
        assert_eq!(s.room("r"), "socket.io#/chat#r#");
        assert_eq!(s.nsp(), "/chat");
    }
}
