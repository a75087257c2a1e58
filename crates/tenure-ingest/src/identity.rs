//! Who is who, folded from the event log: anonymous visitors become identified users when a
//! message carries both ids, `alias` merges two identities, and `group` calls (or an event's
//! account property) make a user a member of an account — of several, when that is the case.
//! Identities form a union-find forest: each set's root is its canonical id, an identified
//! user id whenever the set has one.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

use serde::{Deserialize, Serialize};
use tenure_domain::Timestamp;

use crate::logged::LogRecord;
use crate::segment::MessageType;

/// A user's membership of an account.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Membership {
    pub first_seen: Timestamp,
    pub last_seen: Timestamp,
    /// Messages that tied the user to the account.
    pub messages: u64,
}

/// The identity graph.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Identities {
    /// Each merged id and the id it was merged into; roots are absent.
    parent: HashMap<String, String>,
    /// Ids seen as a `userId` (the others are anonymous ids).
    identified: HashSet<String>,
    /// Memberships by the id they were seen with, then by account.
    memberships: HashMap<String, BTreeMap<String, Membership>>,
    /// The last traits an `identify` call gave, by user id.
    traits: HashMap<String, serde_json::Map<String, serde_json::Value>>,
}

/// Counts for a summary.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct IdentitySummary {
    /// Distinct people: sets with at least one identified id.
    pub users: u64,
    /// Sets with only anonymous ids.
    pub anonymous: u64,
    /// Ids merged into another (anonymous → identified, and aliases).
    pub merged: u64,
    /// Accounts with at least one member.
    pub accounts: u64,
    /// Identified users who belong to more than one account.
    pub multi_account_users: u64,
}

impl Identities {
    /// The canonical id of `id`.
    pub fn canonical<'a>(&'a self, mut id: &'a str) -> &'a str {
        while let Some(p) = self.parent.get(id) {
            id = p;
        }
        id
    }

    fn root(&mut self, id: &str) -> String {
        let root = self.canonical(id).to_owned();
        // Path compression keeps lookups short as the graph grows.
        let mut at = id.to_owned();
        while let Some(p) = self.parent.get(&at).cloned() {
            if p != root {
                self.parent.insert(at, root.clone());
            }
            at = p;
        }
        root
    }

    /// Merges the set of `from` into the set of `into`; `into`'s root stays canonical.
    fn merge(&mut self, from: &str, into: &str) {
        let (a, b) = (self.root(from), self.root(into));
        if a != b {
            self.parent.insert(a, b);
        }
    }

    fn member(&mut self, id: &str, account: &str, at: Timestamp) {
        if !self.memberships.contains_key(id) {
            self.memberships.insert(id.to_owned(), BTreeMap::new());
        }
        let Some(accounts) = self.memberships.get_mut(id) else {
            return;
        };
        if !accounts.contains_key(account) {
            accounts.insert(
                account.to_owned(),
                Membership {
                    first_seen: at,
                    last_seen: at,
                    messages: 0,
                },
            );
        }
        let Some(m) = accounts.get_mut(account) else {
            return;
        };
        m.first_seen = m.first_seen.min(at);
        m.last_seen = m.last_seen.max(at);
        m.messages += 1;
    }

    /// Adds what one log record says about identities.
    pub fn add(&mut self, record: &LogRecord) {
        let Some(m) = &record.message else { return };
        if let Some(user) = &m.user_id {
            if !self.identified.contains(user) {
                self.identified.insert(user.clone());
            }
        }
        match (&m.user_id, &m.anonymous_id) {
            (Some(user), Some(anon)) if user != anon => {
                // An anonymous id already tied to another person (a shared device) does not
                // merge two people; only `alias` does that.
                let anon_root = self.root(anon);
                if !self.identified.contains(&anon_root) || anon_root == self.root(user) {
                    self.merge(anon, user);
                }
            }
            _ => {}
        }
        if m.kind == MessageType::Alias {
            if let (Some(previous), Some(user)) = (&m.previous_id, &m.user_id) {
                self.merge(previous, user);
            }
        }
        if m.kind == MessageType::Identify && !m.traits.is_empty() {
            if let Some(user) = &m.user_id {
                let t = self.traits.entry(user.clone()).or_default();
                for (k, v) in &m.traits {
                    t.insert(k.clone(), v.clone());
                }
            }
        }
        let who = m.user_id.as_ref().or(m.anonymous_id.as_ref());
        if let (Some(who), Some(account)) = (who, &m.account_id) {
            self.member(who, account, m.timestamp);
        }
    }

    /// Every id in the same set as `id` (itself included), sorted.
    pub fn ids_of(&self, id: &str) -> BTreeSet<String> {
        let root = self.canonical(id);
        let mut out: BTreeSet<String> = self
            .parent
            .keys()
            .filter(|k| self.canonical(k) == root)
            .cloned()
            .collect();
        out.insert(root.to_owned());
        out.insert(id.to_owned());
        out
    }

    /// The accounts `id`'s person belongs to, merged over all their ids.
    pub fn accounts_of(&self, id: &str) -> BTreeMap<String, Membership> {
        let mut out: BTreeMap<String, Membership> = BTreeMap::new();
        for i in self.ids_of(id) {
            for (account, m) in self.memberships.get(&i).into_iter().flatten() {
                out.entry(account.clone())
                    .and_modify(|e| {
                        e.first_seen = e.first_seen.min(m.first_seen);
                        e.last_seen = e.last_seen.max(m.last_seen);
                        e.messages += m.messages;
                    })
                    .or_insert_with(|| m.clone());
            }
        }
        out
    }

    /// The canonical ids of the people who belong to `account`.
    pub fn members_of(&self, account: &str) -> BTreeSet<String> {
        self.memberships
            .iter()
            .filter(|(_, accounts)| accounts.contains_key(account))
            .map(|(id, _)| self.canonical(id).to_owned())
            .collect()
    }

    /// The traits `identify` gave any of `id`'s ids.
    pub fn traits_of(&self, id: &str) -> serde_json::Map<String, serde_json::Value> {
        let mut out = serde_json::Map::new();
        for i in self.ids_of(id) {
            for (k, v) in self.traits.get(&i).into_iter().flatten() {
                out.insert(k.clone(), v.clone());
            }
        }
        out
    }

    /// Erases `id`'s person: every id in their set, their memberships and traits. Returns the
    /// ids erased.
    pub fn forget_user(&mut self, id: &str) -> BTreeSet<String> {
        let ids = self.ids_of(id);
        for i in &ids {
            self.parent.remove(i);
            self.identified.remove(i);
            self.memberships.remove(i);
            self.traits.remove(i);
        }
        // Ids merged into an erased one become roots of their own.
        self.parent.retain(|_, p| !ids.contains(p));
        ids
    }

    /// Erases every membership of `account`; returns how many there were.
    pub fn forget_account(&mut self, account: &str) -> u64 {
        let mut n = 0;
        for accounts in self.memberships.values_mut() {
            n += u64::from(accounts.remove(account).is_some());
        }
        self.memberships.retain(|_, a| !a.is_empty());
        n
    }

    pub fn summary(&self) -> IdentitySummary {
        let mut roots: HashMap<&str, (bool, BTreeSet<&str>)> = HashMap::new();
        let all = self
            .identified
            .iter()
            .chain(self.parent.keys())
            .chain(self.memberships.keys());
        for id in all {
            let root = self.canonical(id);
            let entry = roots.entry(root).or_default();
            entry.0 |= self.identified.contains(id.as_str());
            for account in self.memberships.get(id).into_iter().flat_map(|m| m.keys()) {
                entry.1.insert(account);
            }
        }
        let accounts: HashSet<&str> = self
            .memberships
            .values()
            .flat_map(|m| m.keys().map(String::as_str))
            .collect();
        IdentitySummary {
            users: roots.values().filter(|(known, _)| *known).count() as u64,
            anonymous: roots.values().filter(|(known, _)| !*known).count() as u64,
            merged: self.parent.len() as u64,
            accounts: accounts.len() as u64,
            multi_account_users: roots
                .values()
                .filter(|(known, a)| *known && a.len() > 1)
                .count() as u64,
        }
    }
}
