//! The server's namespaces: those created with `io.of(..)` and those a
//! dynamic matcher accepts when a client first asks for them (the children
//! of a [`ParentNamespace`]).

use std::collections::HashMap;
use std::sync::{Arc, RwLock, Weak};

use super::adapter::{Room, SocketInfo};
use super::config::SocketIoConfig;
use super::error::EmitError;
use super::operators::BroadcastOperator;
use super::state::{BoxFuture, Handshake, Namespace};
use crate::Value;
use socketeer_engineio::sync::RwLockExt;

type SyncMatcher = dyn Fn(&str, &Handshake) -> bool + Send + Sync;
type AsyncMatcher = dyn Fn(String, Arc<Handshake>) -> BoxFuture<bool> + Send + Sync;
type NamespaceSetup = Box<dyn Fn(&Namespace) + Send + Sync>;

/// What decides whether a dynamic parent accepts a namespace name.
pub(crate) enum NamespaceMatcher {
    /// Answers at once.
    Sync(Box<SyncMatcher>),
    /// Answers when its future completes (a lookup elsewhere, say).
    Async(Box<AsyncMatcher>),
}

/// The namespace a CONNECT asks for, from [`Namespaces::namespace_for`].
pub(crate) enum Lookup {
    /// Known now: the namespace, or `None` when none accepts the name.
    Ready(Option<Namespace>),
    /// An async matcher is deciding.
    Pending(BoxFuture<Option<Namespace>>),
}

pub(crate) struct ParentInner {
    matches: NamespaceMatcher,
    setup: NamespaceSetup,
    children: RwLock<HashMap<String, Namespace>>,
}

/// The namespaces a dynamic matcher accepts (`io.of(regex | fn)` in
/// socket.io): each is made and set up when its first client asks for
/// it. Broadcasts from here reach every child. Cheap to clone.
///
/// ```
/// use std::sync::Arc;
/// use socketeer::server::{Handshake, Socket, SocketIo};
///
/// let io = SocketIo::new(Default::default());
/// // Sync: any `/team-*` namespace, for clients that say who they are.
/// let teams = io.of_dynamic(
///     |name, handshake| name.starts_with("/team-") && handshake.auth.get("user").is_some(),
///     |team| {
///         team.on_connection(|socket: Socket| socket.join(["members"]));
///     },
/// );
/// // Async: the rooms a database knows (here a shared list).
/// let known = Arc::new(tokio::sync::RwLock::new(vec!["/room-1".to_owned()]));
/// let rooms = io.of_dynamic_async(
///     move |name: String, _handshake: Arc<Handshake>| {
///         let known = known.clone();
///         async move { known.read().await.contains(&name) }
///     },
///     |room| {
///         room.on_connection(|socket: Socket| {
///             let _ = socket.emit_serialized("welcome", &(socket.namespace().name(),));
///         });
///     },
/// );
/// // Broadcasts reach every child made so far (none yet).
/// assert_eq!(teams.emit_serialized("news", &("hello",)).unwrap(), 0);
/// assert!(rooms.children().is_empty());
/// ```
#[derive(Clone)]
pub struct ParentNamespace {
    inner: Arc<ParentInner>,
}

impl std::fmt::Debug for ParentNamespace {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ParentNamespace")
            .field("children", &self.inner.children.read_ok().len())
            .finish()
    }
}

impl ParentNamespace {
    /// The child namespaces that exist now.
    pub fn children(&self) -> Vec<Namespace> {
        self.inner.children.read_ok().values().cloned().collect()
    }

    /// Applies `op` (`|ns| ns.to("room")`, say) to every child.
    fn each<R>(&self, op: impl Fn(&Namespace) -> R) -> Vec<R> {
        self.children().iter().map(op).collect()
    }

    /// Emits to every socket of every child; returns how many of this
    /// server's sockets got it.
    pub fn emit(&self, event: &str, args: Vec<Value>) -> Result<usize, EmitError> {
        self.each(|ns| ns.emit(event, args.clone()))
            .into_iter()
            .sum()
    }

    /// Emits typed arguments (a tuple; see
    /// [`Socket::emit_serialized`](super::Socket::emit_serialized)) to
    /// every socket of every child.
    pub fn emit_serialized<T: serde::Serialize + ?Sized>(
        &self,
        event: &str,
        args: &T,
    ) -> Result<usize, EmitError> {
        let args = crate::packet::args_from_serialize(args)?;
        self.emit(event, args)
    }

    /// Targets a room in every child.
    pub fn to(&self, room: impl Into<Room>) -> Vec<BroadcastOperator> {
        let room = room.into();
        self.each(|ns| ns.to(room.clone()))
    }

    /// Every socket of every child, on every server.
    pub async fn fetch_sockets(&self) -> Vec<SocketInfo> {
        let mut all = Vec::new();
        for ns in self.children() {
            all.extend(ns.fetch_sockets().await);
        }
        all
    }

    /// Disconnects every socket of every child.
    pub fn disconnect_sockets(&self) {
        self.each(Namespace::disconnect_sockets);
    }
}

pub(crate) struct Namespaces {
    pub(crate) config: SocketIoConfig,
    map: RwLock<HashMap<String, Namespace>>,
    dynamic: RwLock<Vec<Arc<ParentInner>>>,
}

impl Namespaces {
    pub(crate) fn new(config: SocketIoConfig) -> Self {
        Namespaces {
            config,
            map: RwLock::new(HashMap::new()),
            dynamic: RwLock::new(Vec::new()),
        }
    }

    /// The namespace with this name, created if needed.
    pub(crate) fn of(&self, name: &str) -> Namespace {
        self.map
            .write_ok()
            .entry(name.to_owned())
            .or_insert_with(|| Namespace::new(name, &self.config))
            .clone()
    }

    /// Accepts namespaces whose names `matches` approves.
    pub(crate) fn add_dynamic(
        &self,
        matches: NamespaceMatcher,
        setup: impl Fn(&Namespace) + Send + Sync + 'static,
    ) -> ParentNamespace {
        let inner = Arc::new(ParentInner {
            matches,
            setup: Box::new(setup),
            children: RwLock::new(HashMap::new()),
        });
        self.dynamic.write_ok().push(inner.clone());
        ParentNamespace { inner }
    }

    /// The namespace a client asks for: an existing one, or a new one a
    /// dynamic matcher accepts (set up once, when created). The matchers
    /// are asked in the order they were added; from the first async one
    /// on, the answer is a future.
    pub(crate) fn namespace_for(
        self: &Arc<Self>,
        name: &Arc<str>,
        handshake: &Arc<Handshake>,
    ) -> Lookup {
        if let Some(ns) = self.map.read_ok().get(&**name) {
            return Lookup::Ready(Some(ns.clone()));
        }
        let dynamic = self.dynamic.read_ok().clone();
        for (i, parent) in dynamic.iter().enumerate() {
            match &parent.matches {
                NamespaceMatcher::Sync(matches) => {
                    if matches(name, handshake) {
                        return Lookup::Ready(Some(self.child(parent, name)));
                    }
                }
                NamespaceMatcher::Async(_) => {
                    let (namespaces, name, handshake) =
                        (self.clone(), name.clone(), handshake.clone());
                    let rest = dynamic[i..].to_vec();
                    return Lookup::Pending(Box::pin(async move {
                        for parent in rest {
                            let accepted = match &parent.matches {
                                NamespaceMatcher::Sync(matches) => matches(&name, &handshake),
                                NamespaceMatcher::Async(matches) => {
                                    matches(name.to_string(), handshake.clone()).await
                                }
                            };
                            if accepted {
                                return Some(namespaces.child(&parent, &name));
                            }
                        }
                        None
                    }));
                }
            }
        }
        Lookup::Ready(None)
    }

    /// The child `name` of `parent`, made and set up if it does not exist
    /// (another client may have made it meanwhile).
    fn child(self: &Arc<Self>, parent: &Arc<ParentInner>, name: &str) -> Namespace {
        let (ns, created) = {
            let mut map = self.map.write_ok();
            match map.get(name) {
                Some(ns) => (ns.clone(), false),
                None => {
                    let ns = Namespace::new(name, &self.config);
                    map.insert(name.to_owned(), ns.clone());
                    (ns, true)
                }
            }
        };
        if created {
            parent
                .children
                .write_ok()
                .insert(name.to_owned(), ns.clone());
            if self.config.cleanup_empty_child_namespaces {
                let (namespaces, parent) = (Arc::downgrade(self), Arc::downgrade(parent));
                ns.set_on_empty(Box::new(move |ns: &Namespace| {
                    forget_child(&namespaces, &parent, ns)
                }));
            }
            (parent.setup)(&ns);
        }
        ns
    }
}

/// Removes a child namespace whose last socket left (when
/// `cleanup_empty_child_namespaces` is on): a client asking for it again
/// gets a new one, set up again.
fn forget_child(namespaces: &Weak<Namespaces>, parent: &Weak<ParentInner>, ns: &Namespace) {
    let (Some(namespaces), Some(parent)) = (namespaces.upgrade(), parent.upgrade()) else {
        return;
    };
    let mut map = namespaces.map.write_ok();
    let same = map
        .get(ns.name())
        .is_some_and(|current| current.ptr_eq(ns) && current.socket_count() == 0);
    if same {
        map.remove(ns.name());
        parent.children.write_ok().remove(ns.name());
        tracing::debug!(nsp = ns.name(), "empty child namespace removed");
    }
}
