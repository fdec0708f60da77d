//! The chat application on the Socket.IO server: nicknames, rooms with
//! member counts and a short history, messages acknowledged by the server,
//! typing indicators and presence.
//!
//! Protocol (namespace `/`; every client event takes one object argument
//! and, when the client asks for one, is answered through its ack with
//! `{"ok": true, ...}` or `{"ok": false, "error": "..."}`):
//!
//! | client → server | payload | ack on success |
//! |---|---|---|
//! | `hello` | `{nickname}` | `{nickname}` |
//! | `join` | `{room}` | `{room, members, history}` |
//! | `leave` | `{room}` | `{room}` |
//! | `rooms` | `{}` | `{rooms: [{name, count}]}` |
//! | `message` | `{room, text, id?}` | `{id, ts}` |
//! | `typing` | `{room, typing}` | (none: volatile) |
//!
//! Server → client: `message` `{id, room, nickname, text, ts}` to the
//! room's other members; `notice` `{room, text}` (joins and leaves);
//! `typing` `{room, nickname, typing}` (volatile); `rooms` `[{name,
//! count}]` and `presence` `[{nickname, rooms}]` to everyone, coalesced.
//!
//! Every limit is enforced here, whatever the page does: the state is
//! [`State`], pure and unit-tested; [`super::chat_server`] wires it to a
//! server, and with `--redis` [`super::chat_cluster`] makes lists, members
//! and history span every server sharing the Redis.

use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};

use serde::{Deserialize, Serialize};

/// The application's limits.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Longest nickname, in characters (Unicode scalar values).
    pub nickname: usize,
    /// Longest room name, in characters.
    pub room: usize,
    /// Longest message, in characters.
    pub message: usize,
    /// Most rooms one connection is in at once.
    pub rooms_per_socket: usize,
    /// Messages kept per room for members who join later.
    pub history: usize,
    /// Message ids remembered per room to drop a resent duplicate.
    pub recent_ids: usize,
    /// Most rooms and users in the lists sent to everyone (the biggest
    /// rooms, the first users by nickname).
    pub listed: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            nickname: 32,
            room: 64,
            message: 2000,
            rooms_per_socket: 10,
            history: 50,
            recent_ids: 256,
            listed: 100,
        }
    }
}

/// Why a request was refused; the text goes back in the ack.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ChatError {
    /// The payload is not an object with the expected fields.
    #[error("bad request: {0}")]
    BadRequest(&'static str),
    /// Empty, too long or with control characters.
    #[error("nickname must be 1 to {0} characters, without control characters")]
    Nickname(usize),
    /// Empty, too long or with control characters.
    #[error("room name must be 1 to {0} characters, without control characters")]
    Room(usize),
    /// Empty, too long or with control characters other than newline and tab.
    #[error("message must be 1 to {0} characters")]
    Message(usize),
    /// `join` before `hello`.
    #[error("choose a nickname first")]
    NoNickname,
    /// Sending to or leaving a room the socket is not in.
    #[error("join the room first")]
    NotInRoom,
    /// Too many rooms at once.
    #[error("too many rooms (at most {0} at once)")]
    TooManyRooms(usize),
}

/// A chat message as stored and broadcast.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChatMessage {
    /// Unique id (chosen by the client, or by the server).
    pub id: String,
    /// The room.
    pub room: String,
    /// The sender's nickname.
    pub nickname: String,
    /// The text, as sent.
    pub text: String,
    /// Milliseconds since the Unix epoch, when the server accepted it.
    pub ts: u64,
}

/// A room in the room list.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RoomInfo {
    /// Its name.
    pub name: String,
    /// How many connections are in it.
    pub count: usize,
}

/// An online user in the presence list.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct UserInfo {
    /// The nickname.
    pub nickname: String,
    /// The rooms this user is in (over all their connections).
    pub rooms: Vec<String>,
}

#[derive(Debug, Default)]
struct Member {
    nickname: Option<String>,
    rooms: BTreeSet<String>,
}

#[derive(Debug, Default)]
struct RoomState {
    members: BTreeSet<String>,
    history: VecDeque<ChatMessage>,
    recent_ids: VecDeque<String>,
}

/// What [`State::send`] decided.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Sent {
    /// A new message: broadcast it.
    New(ChatMessage),
    /// The same id was accepted before (a resend after a reconnection):
    /// acknowledge it again, do not broadcast it twice.
    Duplicate(String),
}

/// The chat's state: members, rooms, histories. No I/O, no clock (the
/// time is passed in).
#[derive(Debug, Default)]
pub struct State {
    limits: Limits,
    members: HashMap<String, Member>,
    rooms: BTreeMap<String, RoomState>,
}

/// Trims `s` and checks it has 1 to `max` characters and no control
/// characters (`allow` lists the ones accepted anyway).
fn clean(s: &str, max: usize, allow: &[char]) -> Option<String> {
    let t = s.trim();
    let n = t.chars().count();
    let bad = t.chars().any(|c| c.is_control() && !allow.contains(&c));
    (n >= 1 && n <= max && !bad).then(|| t.to_owned())
}

/// A client-chosen message id: 1 to 64 of `[A-Za-z0-9_-]`.
fn valid_id(id: &str) -> bool {
    (1..=64).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

impl State {
    /// An empty chat with these limits.
    pub fn new(limits: Limits) -> Self {
        State {
            limits,
            ..Default::default()
        }
    }

    /// A new connection.
    pub fn connect(&mut self, sid: &str) {
        self.members.entry(sid.to_owned()).or_default();
    }

    /// Adds a connection as it is, without checks: how a cluster-wide
    /// snapshot is built from every server's sockets (each server checked
    /// its own).
    pub fn add_member<'a>(
        &mut self,
        sid: &str,
        nickname: Option<String>,
        rooms: impl IntoIterator<Item = &'a str>,
    ) {
        let member = self.members.entry(sid.to_owned()).or_default();
        member.nickname = nickname;
        for room in rooms {
            member.rooms.insert(room.to_owned());
            self.rooms
                .entry(room.to_owned())
                .or_default()
                .members
                .insert(sid.to_owned());
        }
    }

    /// Sets the nickname of `sid`.
    pub fn hello(&mut self, sid: &str, nickname: &str) -> Result<String, ChatError> {
        let nick = clean(nickname, self.limits.nickname, &[])
            .ok_or(ChatError::Nickname(self.limits.nickname))?;
        self.members.entry(sid.to_owned()).or_default().nickname = Some(nick.clone());
        Ok(nick)
    }

    /// The nickname of `sid`, if set.
    pub fn nickname(&self, sid: &str) -> Option<&str> {
        self.members.get(sid)?.nickname.as_deref()
    }

    /// Checks a room name (trimmed) against the limits.
    pub fn room_name(&self, room: &str) -> Result<String, ChatError> {
        clean(room, self.limits.room, &[]).ok_or(ChatError::Room(self.limits.room))
    }

    /// `sid` joins `room`; returns the room's name as stored and whether
    /// `sid` was not in it yet.
    pub fn join(&mut self, sid: &str, room: &str) -> Result<(String, bool), ChatError> {
        let room = self.room_name(room)?;
        let max = self.limits.rooms_per_socket;
        let member = self.members.entry(sid.to_owned()).or_default();
        if member.nickname.is_none() {
            return Err(ChatError::NoNickname);
        }
        if member.rooms.contains(&room) {
            return Ok((room, false));
        }
        if member.rooms.len() >= max {
            return Err(ChatError::TooManyRooms(max));
        }
        member.rooms.insert(room.clone());
        self.rooms
            .entry(room.clone())
            .or_default()
            .members
            .insert(sid.to_owned());
        Ok((room, true))
    }

    /// `sid` leaves `room`; returns the room's name as stored.
    pub fn leave(&mut self, sid: &str, room: &str) -> Result<String, ChatError> {
        let room = self.room_name(room)?;
        let member = self.members.get_mut(sid).ok_or(ChatError::NotInRoom)?;
        if !member.rooms.remove(&room) {
            return Err(ChatError::NotInRoom);
        }
        self.drop_member_from(sid, &room);
        Ok(room)
    }

    fn drop_member_from(&mut self, sid: &str, room: &str) {
        if let Some(r) = self.rooms.get_mut(room) {
            r.members.remove(sid);
            if r.members.is_empty() {
                self.rooms.remove(room);
            }
        }
    }

    /// A connection closed: returns its nickname and the rooms it was in.
    pub fn disconnect(&mut self, sid: &str) -> (Option<String>, Vec<String>) {
        let Some(member) = self.members.remove(sid) else {
            return (None, Vec::new());
        };
        for room in &member.rooms {
            self.drop_member_from(sid, room);
        }
        (member.nickname, member.rooms.into_iter().collect())
    }

    /// A message from `sid` to `room` at `ts` (ms since the epoch).
    pub fn send(
        &mut self,
        sid: &str,
        room: &str,
        text: &str,
        id: Option<&str>,
        ts: u64,
        fresh_id: impl FnOnce() -> String,
    ) -> Result<Sent, ChatError> {
        let limits = self.limits;
        let room = self.room_name(room)?;
        let text =
            clean(text, limits.message, &['\n', '\t']).ok_or(ChatError::Message(limits.message))?;
        let id = match id {
            Some(id) if valid_id(id) => id.to_owned(),
            Some(_) => return Err(ChatError::BadRequest("id must be 1 to 64 of [A-Za-z0-9_-]")),
            None => fresh_id(),
        };
        let member = self.members.get(sid).ok_or(ChatError::NotInRoom)?;
        let nickname = member.nickname.clone().ok_or(ChatError::NoNickname)?;
        if !member.rooms.contains(&room) {
            return Err(ChatError::NotInRoom);
        }
        let state = self.rooms.get_mut(&room).ok_or(ChatError::NotInRoom)?;
        if state.recent_ids.contains(&id) {
            return Ok(Sent::Duplicate(id));
        }
        if state.recent_ids.len() >= limits.recent_ids {
            state.recent_ids.pop_front();
        }
        state.recent_ids.push_back(id.clone());
        let msg = ChatMessage {
            id,
            room,
            nickname,
            text,
            ts,
        };
        if limits.history > 0 {
            if state.history.len() >= limits.history {
                state.history.pop_front();
            }
            state.history.push_back(msg.clone());
        }
        Ok(Sent::New(msg))
    }

    /// The last messages of a room, oldest first.
    pub fn history(&self, room: &str) -> Vec<ChatMessage> {
        self.rooms
            .get(room)
            .map(|r| r.history.iter().cloned().collect())
            .unwrap_or_default()
    }

    /// The nicknames of a room's members, sorted, each once.
    pub fn room_members(&self, room: &str) -> Vec<String> {
        let Some(r) = self.rooms.get(room) else {
            return Vec::new();
        };
        let names: BTreeSet<&str> = r
            .members
            .iter()
            .filter_map(|sid| self.nickname(sid))
            .collect();
        names.into_iter().map(str::to_owned).collect()
    }

    /// Whether `sid` is in `room`.
    pub fn is_in(&self, sid: &str, room: &str) -> bool {
        self.members
            .get(sid)
            .is_some_and(|m| m.rooms.contains(room))
    }

    /// Every room with its member count, by name.
    pub fn rooms(&self) -> Vec<RoomInfo> {
        self.rooms
            .iter()
            .map(|(name, r)| RoomInfo {
                name: name.clone(),
                count: r.members.len(),
            })
            .collect()
    }

    /// Every user with a nickname, by nickname (connections of the same
    /// nickname count once).
    pub fn presence(&self) -> Vec<UserInfo> {
        let mut users: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
        for m in self.members.values() {
            if let Some(n) = &m.nickname {
                users
                    .entry(n)
                    .or_default()
                    .extend(m.rooms.iter().map(String::as_str));
            }
        }
        users
            .into_iter()
            .map(|(nickname, rooms)| UserInfo {
                nickname: nickname.to_owned(),
                rooms: rooms.into_iter().map(str::to_owned).collect(),
            })
            .collect()
    }

    /// The rooms sent to clients: the `listed` biggest, by name.
    pub fn listed_rooms(&self) -> Vec<RoomInfo> {
        let mut rooms = self.rooms();
        if rooms.len() > self.limits.listed {
            rooms.sort_by(|a, b| b.count.cmp(&a.count).then_with(|| a.name.cmp(&b.name)));
            rooms.truncate(self.limits.listed);
            rooms.sort_by(|a, b| a.name.cmp(&b.name));
        }
        rooms
    }

    /// The users sent to clients: the first `listed` by nickname, each
    /// with at most `rooms_per_socket` rooms.
    pub fn listed_presence(&self) -> Vec<UserInfo> {
        let mut users = self.presence();
        users.truncate(self.limits.listed);
        for u in &mut users {
            u.rooms.truncate(self.limits.rooms_per_socket);
        }
        users
    }

    /// Number of rooms with members.
    pub fn room_count(&self) -> usize {
        self.rooms.len()
    }

    /// Number of open connections.
    pub fn connections(&self) -> usize {
        self.members.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id() -> String {
        "fresh".into()
    }

    #[test]
    fn nickname_and_room_limits() {
        let mut s = State::new(Limits::default());
        s.connect("a");
        assert_eq!(s.hello("a", "  alice "), Ok("alice".into()));
        assert_eq!(s.hello("a", ""), Err(ChatError::Nickname(32)));
        assert_eq!(s.hello("a", "   "), Err(ChatError::Nickname(32)));
        assert_eq!(s.hello("a", &"x".repeat(33)), Err(ChatError::Nickname(32)));
        assert!(
            s.hello("a", &"é".repeat(32)).is_ok(),
            "characters, not bytes"
        );
        assert_eq!(s.hello("a", "a\u{0}b"), Err(ChatError::Nickname(32)));
        assert_eq!(s.join("a", &"r".repeat(65)), Err(ChatError::Room(64)));
        assert_eq!(s.join("a", "a\nb"), Err(ChatError::Room(64)));
        // Odd characters are fine: they are only ever displayed as text.
        let odd = "<img src=x onerror=alert(1)> ../ 💬";
        assert_eq!(s.join("a", odd), Ok((odd.into(), true)));
        assert_eq!(s.join("a", odd), Ok((odd.into(), false)));
        assert_eq!(
            s.rooms(),
            [RoomInfo {
                name: odd.into(),
                count: 1
            }]
        );
    }

    #[test]
    fn join_needs_a_nickname_and_rooms_are_bounded() {
        let mut s = State::new(Limits {
            rooms_per_socket: 2,
            ..Default::default()
        });
        s.connect("a");
        assert_eq!(s.join("a", "r1"), Err(ChatError::NoNickname));
        s.hello("a", "alice").unwrap();
        s.join("a", "r1").unwrap();
        s.join("a", "r2").unwrap();
        assert_eq!(s.join("a", "r3"), Err(ChatError::TooManyRooms(2)));
        assert_eq!(s.leave("a", "r3"), Err(ChatError::NotInRoom));
        assert_eq!(s.leave("a", "r2"), Ok("r2".into()));
        s.join("a", "r3").unwrap();
    }

    #[test]
    fn member_counts_presence_and_disconnect() {
        let mut s = State::new(Limits::default());
        for (sid, nick) in [("a", "alice"), ("b", "bob"), ("c", "alice")] {
            s.connect(sid);
            s.hello(sid, nick).unwrap();
        }
        s.connect("anon");
        s.join("a", "lobby").unwrap();
        s.join("b", "lobby").unwrap();
        s.join("c", "dev").unwrap();
        assert_eq!(
            s.rooms(),
            [
                RoomInfo {
                    name: "dev".into(),
                    count: 1
                },
                RoomInfo {
                    name: "lobby".into(),
                    count: 2
                }
            ]
        );
        assert_eq!(s.room_members("lobby"), ["alice", "bob"]);
        let p = s.presence();
        assert_eq!(p.len(), 2, "anonymous connections are not listed");
        assert_eq!(p[0].nickname, "alice");
        assert_eq!(p[0].rooms, ["dev", "lobby"]);
        assert_eq!(s.connections(), 4);
        assert_eq!(
            s.disconnect("c"),
            (Some("alice".into()), vec!["dev".into()])
        );
        assert_eq!(
            s.rooms(),
            [RoomInfo {
                name: "lobby".into(),
                count: 2
            }]
        );
        s.disconnect("a");
        s.disconnect("b");
        assert!(s.rooms().is_empty(), "empty rooms are dropped");
        assert_eq!(s.disconnect("gone"), (None, vec![]));
    }

    #[test]
    fn lists_sent_to_everyone_are_bounded() {
        let mut s = State::new(Limits {
            listed: 2,
            rooms_per_socket: 3,
            ..Default::default()
        });
        for (sid, nick, rooms) in [
            ("a", "ann", &["x", "y", "z"][..]),
            ("b", "ben", &["y", "z"][..]),
            ("c", "cat", &["z"][..]),
            ("d", "ann", &["w"][..]),
        ] {
            s.connect(sid);
            s.hello(sid, nick).unwrap();
            for r in rooms {
                s.join(sid, r).unwrap();
            }
        }
        let names: Vec<String> = s.listed_rooms().into_iter().map(|r| r.name).collect();
        assert_eq!(names, ["y", "z"], "the two biggest rooms, by name");
        let p = s.listed_presence();
        assert_eq!(p.len(), 2);
        assert_eq!(p[0].nickname, "ann");
        assert_eq!(
            p[0].rooms,
            ["w", "x", "y"],
            "ann's two connections, bounded"
        );
        assert_eq!(s.presence().len(), 3);
    }

    #[test]
    fn messages_limits_history_and_duplicates() {
        let mut s = State::new(Limits {
            history: 3,
            recent_ids: 4,
            ..Default::default()
        });
        s.connect("a");
        s.hello("a", "alice").unwrap();
        assert_eq!(
            s.send("a", "lobby", "hi", None, 1, id),
            Err(ChatError::NotInRoom)
        );
        s.join("a", "lobby").unwrap();
        assert_eq!(
            s.send("a", "lobby", &"x".repeat(2001), None, 1, id),
            Err(ChatError::Message(2000))
        );
        assert_eq!(
            s.send("a", "lobby", " \n ", None, 1, id),
            Err(ChatError::Message(2000))
        );
        assert_eq!(
            s.send("a", "lobby", "a\u{7}", None, 1, id),
            Err(ChatError::Message(2000))
        );
        assert!(matches!(
            s.send("a", "lobby", "hi", Some("bad id!"), 1, id),
            Err(ChatError::BadRequest(_))
        ));
        let Ok(Sent::New(m)) = s.send("a", "lobby", "<b>line\n2</b>", None, 7, id) else {
            panic!("not sent")
        };
        assert_eq!(
            (m.id.as_str(), m.text.as_str(), m.nickname.as_str(), m.ts),
            ("fresh", "<b>line\n2</b>", "alice", 7)
        );
        assert_eq!(
            s.send("a", "lobby", "again", Some("fresh"), 8, id),
            Ok(Sent::Duplicate("fresh".into()))
        );
        for i in 0..5 {
            let mid = format!("m{i}");
            assert!(matches!(
                s.send("a", "lobby", &mid, Some(&mid), 9, id),
                Ok(Sent::New(_))
            ));
        }
        let h: Vec<String> = s.history("lobby").into_iter().map(|m| m.text).collect();
        assert_eq!(h, ["m2", "m3", "m4"]);
        // Only the last `recent_ids` ids are remembered.
        assert!(matches!(
            s.send("a", "lobby", "old", Some("fresh"), 9, id),
            Ok(Sent::New(_))
        ));
    }
}
