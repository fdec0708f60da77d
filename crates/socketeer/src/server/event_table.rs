//! A socket's listeners by event name: a vector sorted by name, searched
//! by bisection. A socket registers a handful of events, so one small
//! allocation beats a hash map (48 bytes inline and a table of its own per
//! socket), and names of up to 22 bytes live inline, without an allocation
//! per name per socket.

/// The longest name kept inline.
const INLINE: usize = 22;

/// An event name; only compared, never shown, so its bytes are enough.
enum Name {
    Inline { len: u8, bytes: [u8; INLINE] },
    Heap(Box<[u8]>),
}

impl Name {
    fn new(name: &str) -> Self {
        let b = name.as_bytes();
        if b.len() <= INLINE {
            let mut bytes = [0; INLINE];
            bytes[..b.len()].copy_from_slice(b);
            Name::Inline {
                len: b.len() as u8,
                bytes,
            }
        } else {
            Name::Heap(b.into())
        }
    }

    fn as_bytes(&self) -> &[u8] {
        match self {
            Name::Inline { len, bytes } => &bytes[..usize::from(*len)],
            Name::Heap(b) => b,
        }
    }
}

/// Values by event name, in name order.
pub(crate) struct EventTable<V>(Vec<(Name, V)>);

impl<V> Default for EventTable<V> {
    fn default() -> Self {
        EventTable(Vec::new())
    }
}

impl<V> EventTable<V> {
    fn find(&self, name: &str) -> Result<usize, usize> {
        self.0
            .binary_search_by(|(n, _)| n.as_bytes().cmp(name.as_bytes()))
    }

    /// The value of an event.
    pub(crate) fn get(&self, name: &str) -> Option<&V> {
        self.find(name).ok().map(|i| &self.0[i].1)
    }

    /// The value of an event, to change it.
    pub(crate) fn get_mut(&mut self, name: &str) -> Option<&mut V> {
        self.find(name).ok().map(|i| &mut self.0[i].1)
    }

    /// The value of an event, made with `V::default()` if it had none.
    pub(crate) fn get_or_default(&mut self, name: &str) -> &mut V
    where
        V: Default,
    {
        let i = match self.find(name) {
            Ok(i) => i,
            Err(i) => {
                // Exact growth while small: most sockets stop at a few
                // events, and doubling would leave room for as many again.
                if self.0.len() == self.0.capacity() && self.0.len() < 8 {
                    self.0.reserve_exact(1);
                }
                self.0.insert(i, (Name::new(name), V::default()));
                i
            }
        };
        &mut self.0[i].1
    }

    /// Removes an event and gives its value back.
    pub(crate) fn remove(&mut self, name: &str) -> Option<V> {
        self.find(name).ok().map(|i| self.0.remove(i).1)
    }

    /// Keeps the events whose value `keep` says to keep (it may change
    /// them first).
    pub(crate) fn retain(&mut self, mut keep: impl FnMut(&mut V) -> bool) {
        self.0.retain_mut(|(_, v)| keep(v));
    }

    /// The number of events.
    #[cfg(test)]
    fn len(&self) -> usize {
        self.0.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LONG: &str = "an-event-name-longer-than-twenty-two-bytes";

    #[test]
    fn finds_what_was_put_in_whatever_the_order_and_length() {
        let mut t = EventTable::<Vec<u32>>::default();
        let names = ["message", "", "a", "ab", LONG, "b", "é", "aa"];
        for (i, n) in names.iter().enumerate() {
            t.get_or_default(n).push(i as u32);
        }
        assert_eq!(t.len(), names.len());
        for (i, n) in names.iter().enumerate() {
            assert_eq!(t.get(n), Some(&vec![i as u32]), "{n:?}");
        }
        assert_eq!(t.get("abc"), None);
        assert_eq!(t.get(&LONG[..LONG.len() - 1]), None);
        // A second registration goes to the same entry.
        t.get_or_default(LONG).push(99);
        assert_eq!(t.get(LONG), Some(&vec![4, 99]));
        assert_eq!(t.len(), names.len());
    }

    #[test]
    fn keeps_its_entries_sorted_by_name() {
        let mut t = EventTable::<()>::default();
        for n in ["z", LONG, "m", "", "mm", "a"] {
            t.get_or_default(n);
        }
        let order: Vec<&[u8]> = t.0.iter().map(|(n, _)| n.as_bytes()).collect();
        let mut sorted = order.clone();
        sorted.sort();
        assert_eq!(order, sorted);
    }

    #[test]
    fn removes_and_retains() {
        let mut t = EventTable::<u32>::default();
        for (i, n) in ["a", "b", "c", LONG].iter().enumerate() {
            *t.get_or_default(n) = i as u32;
        }
        assert_eq!(t.remove("b"), Some(1));
        assert_eq!(t.remove("b"), None);
        assert_eq!(t.get("c"), Some(&2));
        *t.get_mut("a").unwrap() += 10;
        t.retain(|v| *v != 2);
        assert_eq!(
            (t.get("a"), t.get("c"), t.get(LONG)),
            (Some(&10), None, Some(&3))
        );
        assert_eq!(t.len(), 2);
    }

    #[test]
    fn grows_one_entry_at_a_time_while_small() {
        let mut t = EventTable::<u8>::default();
        for n in ["a", "b", "c"] {
            t.get_or_default(n);
        }
        assert_eq!(t.0.capacity(), 3);
    }
}
