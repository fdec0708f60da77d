//! `socket.data`: whatever the application attaches to a socket, typed on
//! the way in and out, and serializable for `fetch_sockets` (which carries
//! it across servers as JSON, as socket.io does).

use std::any::Any;

use serde::Serialize;

use crate::Value;

/// A socket's data, its type erased, with the way to serialize it.
pub(crate) struct DataSlot {
    value: Box<dyn Any + Send + Sync>,
    to_value: fn(&(dyn Any + Send + Sync)) -> Value,
}

impl std::fmt::Debug for DataSlot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DataSlot").finish_non_exhaustive()
    }
}

fn serialize_as<T: Serialize + 'static>(value: &(dyn Any + Send + Sync)) -> Value {
    match value.downcast_ref::<T>().map(Value::from_serialize) {
        Some(Ok(v)) => v,
        Some(Err(e)) => {
            tracing::warn!(error = %e, "socket data does not serialize; sent as null");
            Value::Null
        }
        None => Value::Null,
    }
}

impl DataSlot {
    pub(crate) fn new<T: Serialize + Send + Sync + 'static>(value: T) -> Self {
        DataSlot {
            value: Box::new(value),
            to_value: serialize_as::<T>,
        }
    }

    /// The data, if it is a `T`.
    pub(crate) fn get<T: 'static>(&self) -> Option<&T> {
        self.value.downcast_ref()
    }

    /// The data, if it is a `T`, to change in place.
    pub(crate) fn get_mut<T: 'static>(&mut self) -> Option<&mut T> {
        self.value.downcast_mut()
    }

    /// The data as JSON.
    pub(crate) fn to_value(&self) -> Value {
        (self.to_value)(self.value.as_ref())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Serialize, Debug, PartialEq)]
    struct User {
        name: String,
        id: u32,
    }

    #[test]
    fn typed_in_and_out_and_serialized() {
        let mut slot = DataSlot::new(User {
            name: "ada".into(),
            id: 7,
        });
        assert_eq!(slot.get::<User>().map(|u| u.id), Some(7));
        assert!(slot.get::<String>().is_none());
        slot.get_mut::<User>().unwrap().id = 8;
        assert_eq!(
            slot.to_value(),
            Value::from(serde_json::json!({"name": "ada", "id": 8}))
        );
    }
}
