//! Rooms and broadcast targeting. The [`Adapter`] trait lets a Redis
//! adapter replace the in-memory one without touching the server.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, RwLock};

/// A room name.
pub type Room = Arc<str>;

/// A Socket.IO socket id.
pub type SocketId = Arc<str>;

/// Who a broadcast reaches.
#[derive(Debug, Clone, Default)]
pub struct BroadcastOptions {
    /// Only sockets in at least one of these rooms (all sockets if empty).
    pub rooms: Vec<Room>,
    /// Not sockets in any of these rooms.
    pub except: Vec<Room>,
    /// Drop the message for sockets that are not ready to send it.
    pub volatile: bool,
    /// Only this server's sockets (no effect with the in-memory adapter).
    pub local: bool,
}

/// Room membership of one namespace.
pub trait Adapter: Send + Sync + 'static {
    /// Adds a socket to rooms.
    fn add_all(&self, id: &SocketId, rooms: &[Room]);
    /// Removes a socket from a room.
    fn del(&self, id: &SocketId, room: &str);
    /// Removes a socket from every room.
    fn del_all(&self, id: &SocketId);
    /// The sockets (of this server) a broadcast reaches.
    fn targets(
        &self,
        opts: &BroadcastOptions,
        all: &mut dyn Iterator<Item = SocketId>,
    ) -> Vec<SocketId>;
    /// The rooms a socket is in.
    fn socket_rooms(&self, id: &SocketId) -> Vec<Room>;
    /// All rooms with at least one socket.
    fn rooms(&self) -> Vec<Room>;
}

#[derive(Debug, Default)]
struct Rooms {
    members: HashMap<Room, HashSet<SocketId>>,
    of_socket: HashMap<SocketId, HashSet<Room>>,
}

/// The default adapter: rooms in this process's memory.
#[derive(Debug, Default)]
pub struct InMemoryAdapter {
    rooms: RwLock<Rooms>,
}

impl InMemoryAdapter {
    /// An empty adapter.
    pub fn new() -> Self {
        Self::default()
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, Rooms> {
        self.rooms.read().unwrap_or_else(|p| p.into_inner())
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, Rooms> {
        self.rooms.write().unwrap_or_else(|p| p.into_inner())
    }
}

impl Adapter for InMemoryAdapter {
    fn add_all(&self, id: &SocketId, rooms: &[Room]) {
        let mut r = self.write();
        for room in rooms {
            r.members
                .entry(room.clone())
                .or_default()
                .insert(id.clone());
            r.of_socket
                .entry(id.clone())
                .or_default()
                .insert(room.clone());
        }
    }

    fn del(&self, id: &SocketId, room: &str) {
        let mut r = self.write();
        if let Some(m) = r.members.get_mut(room) {
            m.remove(id);
            if m.is_empty() {
                r.members.remove(room);
            }
        }
        if let Some(s) = r.of_socket.get_mut(id) {
            s.remove(room);
            if s.is_empty() {
                r.of_socket.remove(id);
            }
        }
    }

    fn del_all(&self, id: &SocketId) {
        let mut r = self.write();
        if let Some(rooms) = r.of_socket.remove(id) {
            for room in rooms {
                if let Some(m) = r.members.get_mut(&room) {
                    m.remove(id);
                    if m.is_empty() {
                        r.members.remove(&room);
                    }
                }
            }
        }
    }

    fn targets(
        &self,
        opts: &BroadcastOptions,
        all: &mut dyn Iterator<Item = SocketId>,
    ) -> Vec<SocketId> {
        let r = self.read();
        let excluded = |id: &SocketId| {
            opts.except
                .iter()
                .any(|room| r.members.get(room).is_some_and(|m| m.contains(id)))
        };
        if opts.rooms.is_empty() {
            return all.filter(|id| !excluded(id)).collect();
        }
        let mut seen = HashSet::new();
        let mut out = Vec::new();
        for room in &opts.rooms {
            if let Some(m) = r.members.get(room) {
                for id in m {
                    if !excluded(id) && seen.insert(id.clone()) {
                        out.push(id.clone());
                    }
                }
            }
        }
        out
    }

    fn socket_rooms(&self, id: &SocketId) -> Vec<Room> {
        self.read()
            .of_socket
            .get(id)
            .map(|s| s.iter().cloned().collect())
            .unwrap_or_default()
    }

    fn rooms(&self) -> Vec<Room> {
        self.read().members.keys().cloned().collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ids(v: &[&str]) -> Vec<SocketId> {
        v.iter().map(|s| SocketId::from(*s)).collect()
    }

    #[test]
    fn rooms_and_targets() {
        let a = InMemoryAdapter::new();
        let (s1, s2, s3): (SocketId, SocketId, SocketId) = ("s1".into(), "s2".into(), "s3".into());
        a.add_all(&s1, &["r1".into(), "s1".into()]);
        a.add_all(&s2, &["r1".into(), "r2".into(), "s2".into()]);
        a.add_all(&s3, &["r2".into(), "s3".into()]);
        let all = ids(&["s1", "s2", "s3"]);
        let mut t = a.targets(
            &BroadcastOptions {
                rooms: vec!["r1".into(), "r2".into()],
                except: vec!["s2".into()],
                ..Default::default()
            },
            &mut all.clone().into_iter(),
        );
        t.sort();
        assert_eq!(t, ids(&["s1", "s3"]));
        let t = a.targets(
            &BroadcastOptions {
                except: vec!["r2".into()],
                ..Default::default()
            },
            &mut all.clone().into_iter(),
        );
        assert_eq!(t, ids(&["s1"]));
        a.del(&s2, "r1");
        assert_eq!(
            a.targets(
                &BroadcastOptions {
                    rooms: vec!["r1".into()],
                    ..Default::default()
                },
                &mut all.clone().into_iter()
            ),
            ids(&["s1"])
        );
        a.del_all(&s1);
        assert!(a.socket_rooms(&s1).is_empty());
        assert!(!a.rooms().iter().any(|r| &**r == "r1"));
    }
}
