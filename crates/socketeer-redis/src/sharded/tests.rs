//! The sharded adapter's pure pieces: channel choice, channel ownership,
//! the `PUBSUB SHARDNUMSUB` reply, the standalone subscriber's connection
//! watch.

use super::connection::ConnectionWatch;
use super::shared::{numsub, owns};
use super::{channel_for, looks_like_a_socket_id, SubscriptionMode};
use crate::wire::{BroadcastOptions, ClusterBody, Packet, ShardedChannels};

fn broadcast(rooms: &[&str], request_id: Option<&str>) -> ClusterBody {
    ClusterBody::Broadcast {
        packet: Packet::event("/", "e", vec![]),
        request_id: request_id.map(str::to_owned),
        opts: BroadcastOptions {
            rooms: rooms.iter().map(|r| r.to_string()).collect(),
            except: vec![],
            flags: None,
        },
    }
}

#[test]
fn socket_ids_are_20_utf16_units() {
    assert!(looks_like_a_socket_id("AAAAAAAAAAAAAAAAAAA-"));
    assert!(!looks_like_a_socket_id("AAAAAAAAAAAAAAAAAAA"));
    assert!(!looks_like_a_socket_id("AAAAAAAAAAAAAAAAAAAAA"));
    // 20 UTF-16 code units, 40 bytes: what JavaScript's `length` counts.
    assert!(looks_like_a_socket_id(&"é".repeat(20)));
    // One astral character is two UTF-16 code units.
    assert!(looks_like_a_socket_id(&"😀".repeat(10)));
}

#[test]
fn the_channel_of_each_message() {
    use SubscriptionMode::*;
    let c = ShardedChannels::new("p", "/n");
    let sid = "abcdefghijklmnopqrst";
    let cases = [
        // (mode, message, channel)
        (Dynamic, broadcast(&["red"], None), "p#/n#red#"),
        (DynamicPrivate, broadcast(&["red"], None), "p#/n#red#"),
        (Static, broadcast(&["red"], None), "p#/n#"),
        (Dynamic, broadcast(&[sid], None), "p#/n#"),
        (
            DynamicPrivate,
            broadcast(&[sid], None),
            "p#/n#abcdefghijklmnopqrst#",
        ),
        (Dynamic, broadcast(&[], None), "p#/n#"),
        (Dynamic, broadcast(&["a", "b"], None), "p#/n#"),
        // With acknowledgements: always the namespace's channel.
        (Dynamic, broadcast(&["red"], Some("1")), "p#/n#"),
        (DynamicPrivate, broadcast(&["red"], Some("1")), "p#/n#"),
        (
            Dynamic,
            ClusterBody::SocketsJoin {
                opts: BroadcastOptions {
                    rooms: vec!["red".into()],
                    except: vec![],
                    flags: None,
                },
                rooms: vec!["blue".into()],
            },
            "p#/n#",
        ),
        (Dynamic, ClusterBody::Heartbeat, "p#/n#"),
    ];
    for (mode, body, want) in cases {
        assert_eq!(channel_for(mode, &c, &body), want, "{mode:?} {body:?}");
    }
}

#[test]
fn channels_of_a_namespace() {
    let main = "socket.io#/#";
    assert!(owns(main, "socket.io#/#"));
    assert!(owns(main, "socket.io#/#0123456789abcdef#"));
    assert!(owns(main, "socket.io#/#red#"));
    assert!(owns(main, "socket.io#/##"));
    assert!(!owns(main, "socket.io#/#red"));
    assert!(!owns(main, "socket.io#/chat#"));
    assert!(!owns(main, "other#/#"));
}

#[test]
fn shardnumsub_replies() {
    use redis::Value as V;
    let ch = "socket.io#/#";
    let key = || V::BulkString(ch.as_bytes().to_vec());
    assert_eq!(numsub(&V::Map(vec![(key(), V::Int(3))]), ch), Some(3));
    assert_eq!(numsub(&V::Array(vec![key(), V::Int(2)]), ch), Some(2));
    let other = V::BulkString(b"x".to_vec());
    assert_eq!(numsub(&V::Array(vec![other, V::Int(2)]), ch), None);
    assert_eq!(numsub(&V::Map(vec![]), ch), None);
    assert_eq!(numsub(&V::Int(1), ch), None);
}

#[test]
fn a_new_client_id_means_a_replaced_connection() {
    let mut watch = ConnectionWatch::new(Some(7));
    assert!(!watch.saw(7));
    assert!(watch.saw(9), "replaced");
    assert!(!watch.saw(9), "reported once");
    assert!(watch.saw(7), "any other id");
    // Without a first id, the first one seen is the reference.
    let mut watch = ConnectionWatch::new(None);
    assert!(!watch.saw(3));
    assert!(watch.saw(4));
}
