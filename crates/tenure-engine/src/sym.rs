//! Interned strings for the low-cardinality attributes every account repeats (plan, industry,
//! region, country, size band, owner): each distinct value is held once for the process and
//! every account points at it.

use std::collections::HashSet;
use std::fmt;
use std::ops::Deref;
use std::sync::{Arc, Mutex, OnceLock};

use serde::{Deserialize, Deserializer, Serialize, Serializer};

#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Sym(Arc<str>);

fn table() -> &'static Mutex<HashSet<Arc<str>>> {
    static TABLE: OnceLock<Mutex<HashSet<Arc<str>>>> = OnceLock::new();
    TABLE.get_or_init(Default::default)
}

impl Sym {
    pub fn new(s: &str) -> Sym {
        // A poisoned lock only means another thread panicked mid-insert; the set is intact.
        let mut t = table().lock().unwrap_or_else(|p| p.into_inner());
        if let Some(x) = t.get(s) {
            return Sym(Arc::clone(x));
        }
        let x: Arc<str> = s.into();
        t.insert(Arc::clone(&x));
        Sym(x)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl Deref for Sym {
    type Target = str;
    fn deref(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Sym {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&*self.0, f)
    }
}

impl Serialize for Sym {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for Sym {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Sym, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        Ok(Sym::new(&s))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn equal_strings_share_one_allocation() {
        let a = Sym::new("enterprise");
        let b = Sym::new("enterprise");
        assert!(Arc::ptr_eq(&a.0, &b.0));
        assert_eq!(&*a, "enterprise");
        let c: Sym = serde_json::from_str("\"enterprise\"").unwrap();
        assert!(Arc::ptr_eq(&a.0, &c.0));
        assert_eq!(serde_json::to_string(&c).unwrap(), "\"enterprise\"");
    }
}
