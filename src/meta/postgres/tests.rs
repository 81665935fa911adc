//! The conformance suite and store-level behaviour against a real PostgreSQL
//! (`$DATABASE_URL` or a throwaway cluster; see `tests/common/pg.rs`).

use std::sync::Arc;

use super::{PgOptions, PostgresStore};
use crate::meta::{conformance, MetadataStore};

#[path = "../../../tests/common/pg.rs"]
mod pg;

pub fn options(url: String) -> PgOptions {
    PgOptions {
        url,
        pool_size: 2,
        connect_timeout_ms: 5000,
        statement_timeout_ms: 30_000,
    }
}

#[test]
fn conformance_suite() {
    let server = pg::Pg::start();
    futures_lite::future::block_on(conformance::run_all(|| {
        let store = PostgresStore::open(&options(server.fresh_db())).expect("open store");
        Arc::new(store) as Arc<dyn MetadataStore>
    }));
}

#[test]
fn migrations_are_idempotent_and_versioned() {
    let server = pg::Pg::start();
    let url = server.fresh_db();
    let applied = super::migrate(&options(url.clone())).expect("first migrate");
    assert_eq!(applied, vec![1]);
    assert!(super::migrate(&options(url.clone()))
        .expect("second migrate")
        .is_empty());
    let mut c = postgres::Client::connect(&url, postgres::NoTls).expect("connect");
    let v: i32 = c
        .query_one("SELECT max(version) FROM schema_migrations", &[])
        .expect("version")
        .get(0);
    assert_eq!(v, super::schema::latest_version());
}
