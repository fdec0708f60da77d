//! The server's namespaces: those created with `io.of(..)` and those a
//! dynamic matcher accepts when a client first asks for them.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use super::config::SocketIoConfig;
use super::state::Namespace;
use socketeer_engineio::sync::RwLockExt;

type NamespaceMatcher = Arc<dyn Fn(&str) -> bool + Send + Sync>;
type NamespaceSetup = Arc<dyn Fn(&Namespace) + Send + Sync>;

pub(crate) struct Namespaces {
    pub(crate) config: SocketIoConfig,
    map: RwLock<HashMap<String, Namespace>>,
    dynamic: RwLock<Vec<(NamespaceMatcher, NamespaceSetup)>>,
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
    pub(crate) fn add_dynamic(&self, matches: NamespaceMatcher, setup: NamespaceSetup) {
        self.dynamic.write_ok().push((matches, setup));
    }

    /// The namespace a client asks for: an existing one, or a new one a
    /// dynamic matcher accepts (set up once, when created).
    pub(crate) fn namespace_for(&self, name: &str) -> Option<Namespace> {
        if let Some(ns) = self.map.read_ok().get(name) {
            return Some(ns.clone());
        }
        let dynamic = self.dynamic.read_ok().clone();
        let (_, setup) = dynamic.iter().find(|(matches, _)| matches(name))?;
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
            setup(&ns);
        }
        Some(ns)
    }
}
