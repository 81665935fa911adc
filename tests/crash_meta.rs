//! Crash test of a metadata store: SIGKILL the real server in the middle of a
//! namespace workload, restart it on the same data, and check that every
//! acknowledged change is there and the tree is consistent.
//!
//! Each round starts the server, runs [`WORKERS`] clients concurrently (so the
//! store group-commits), each in its own subtree with its own model of what the
//! server acknowledged, kills the server after a seeded random delay, runs the
//! store's offline check (LMDB: `fsck`), restarts, and then:
//! * each subtree equals its model, or its model plus the one operation that
//!   was in flight when the server died (it may or may not have committed);
//! * walking the whole export with READDIRPLUS, every entry's handle answers
//!   GETATTR, each file's nlink equals the entries naming it, each directory's
//!   nlink is 2 + its subdirectories;
//! * handles issued in round 0 still name the same directories.
//!
//! The harness takes the store as a config function, so other stores add a
//! test calling [`crash_rounds`] with their own config. PostgreSQL: the
//! database server keeps running while dittofs is killed; its offline check is
//! the SQL `fsck` of `dittofs::meta::postgres`.
//! Seed: `DITTOFS_CRASH_SEED` (printed on failure); rounds: `DITTOFS_CRASH_ROUNDS`.

mod common;
#[path = "common/pg.rs"]
mod pg;

use std::collections::{BTreeMap, HashMap};
use std::io;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use common::nfs_client::NfsClient;
use common::{lmdb_config, Server, TempDir};
use dittofs::nfs::handle::WireHandle;
use dittofs::nfs::wire::Ftype3;

const WORKERS: usize = 4;
const ROUNDS_DEFAULT: usize = 20;
/// Operations one worker issues in one round at most (the kill comes first).
const OPS_PER_ROUND_MAX: usize = 20_000;
const NAMES: usize = 10;
const DEPTH_MAX: usize = 3;

/// A store under test: its config, and an optional check run on the data
/// directory while the server is down (returns problems and a commit counter).
pub struct StoreUnderTest {
    pub config: fn(u16, &Path) -> String,
    pub offline_check: Option<OfflineCheck>,
}

/// Checks the data directory of a stopped server: (problems, commit counter).
pub type OfflineCheck = fn(&Path) -> (Vec<String>, u64);

/// Seeded xorshift64*.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Node {
    Dir,
    /// A regular file; the id groups hard links.
    File(u64),
    Symlink(String),
}

/// Path (relative to the worker's directory, `/`-separated) → node.
type Model = BTreeMap<String, Node>;

#[derive(Debug, Clone)]
enum Op {
    Create(String, String),
    Mkdir(String, String),
    Symlink(String, String, String),
    Link(String, String, String),
    Rename(String, String, String),
    Remove(String),
    Rmdir(String),
}

fn join(dir: &str, name: &str) -> String {
    if dir.is_empty() {
        name.to_owned()
    } else {
        format!("{dir}/{name}")
    }
}

fn split(path: &str) -> (&str, &str) {
    path.rsplit_once('/').unwrap_or(("", path))
}

fn is_under(path: &str, dir: &str) -> bool {
    path.starts_with(&format!("{dir}/"))
}

/// The model after `op` (which the generator made valid for `m`).
fn apply(m: &Model, op: &Op, next_id: &mut u64) -> Model {
    let mut m = m.clone();
    match op {
        Op::Create(d, n) => {
            *next_id += 1;
            m.insert(join(d, n), Node::File(*next_id));
        }
        Op::Mkdir(d, n) => {
            m.insert(join(d, n), Node::Dir);
        }
        Op::Symlink(d, n, t) => {
            m.insert(join(d, n), Node::Symlink(t.clone()));
        }
        Op::Link(src, d, n) => {
            let node = m[src].clone();
            m.insert(join(d, n), node);
        }
        Op::Rename(src, d, n) => {
            let dst = join(d, n);
            let moved: Vec<String> = m
                .keys()
                .filter(|p| *p == src || is_under(p, src))
                .cloned()
                .collect();
            for p in moved {
                let node = m.remove(&p).unwrap();
                m.insert(format!("{dst}{}", &p[src.len()..]), node);
            }
        }
        Op::Remove(p) | Op::Rmdir(p) => {
            m.remove(p);
        }
    }
    m
}

fn depth(path: &str) -> usize {
    if path.is_empty() {
        0
    } else {
        path.matches('/').count() + 1
    }
}

/// A random operation that is valid on `m`.
fn generate(m: &Model, rng: &mut Rng) -> Op {
    let dirs: Vec<String> = std::iter::once(String::new())
        .chain(
            m.iter()
                .filter(|(_, n)| **n == Node::Dir)
                .map(|(p, _)| p.clone()),
        )
        .collect();
    let files: Vec<&String> = m
        .iter()
        .filter(|(_, n)| matches!(n, Node::File(_)))
        .map(|(p, _)| p)
        .collect();
    let non_dirs: Vec<&String> = m
        .iter()
        .filter(|(_, n)| **n != Node::Dir)
        .map(|(p, _)| p)
        .collect();
    let empty_dirs: Vec<&String> = dirs
        .iter()
        .filter(|d| !d.is_empty() && !m.keys().any(|p| is_under(p, d)))
        .collect();
    loop {
        let dir = dirs[rng.below(dirs.len())].clone();
        let name = format!("n{}", rng.below(NAMES));
        let free = !m.contains_key(&join(&dir, &name));
        match rng.below(10) {
            0 | 1 if free => return Op::Create(dir, name),
            2 if free && depth(&dir) < DEPTH_MAX => return Op::Mkdir(dir, name),
            3 if free => return Op::Symlink(dir, name, format!("t{}", rng.below(1000))),
            4 if free && !files.is_empty() => {
                return Op::Link(files[rng.below(files.len())].clone(), dir, name)
            }
            5 | 6 if free && !m.is_empty() => {
                let keys: Vec<&String> = m.keys().collect();
                let src = keys[rng.below(keys.len())].clone();
                if m[&src] == Node::Dir && (dir == src || is_under(&dir, &src)) {
                    continue;
                }
                return Op::Rename(src, dir, name);
            }
            7 | 8 if !non_dirs.is_empty() => {
                return Op::Remove(non_dirs[rng.below(non_dirs.len())].clone())
            }
            9 if !empty_dirs.is_empty() => {
                return Op::Rmdir(empty_dirs[rng.below(empty_dirs.len())].clone())
            }
            _ => {}
        }
    }
}

/// What a worker knows at the end of a round.
struct WorkerEnd {
    model: Model,
    next_id: u64,
    /// The mutation sent but not answered when the connection died.
    uncertain: Option<Op>,
    acked: usize,
}

/// Resolves `path` below `base` by LOOKUPs.
fn resolve(c: &mut NfsClient, base: WireHandle, path: &str) -> io::Result<WireHandle> {
    let mut fh = base;
    for part in path.split('/').filter(|p| !p.is_empty()) {
        fh = c
            .lookup(fh, part)?
            .map_err(|s| io::Error::other(format!("LOOKUP {path}: {s:?}")))?
            .object;
    }
    Ok(fh)
}

/// Sends `op`; `Ok(Err(..))` is a refusal by the server, which the model says
/// cannot happen.
fn send(
    c: &mut NfsClient,
    base: WireHandle,
    op: &Op,
    in_flight: &mut bool,
) -> io::Result<Result<(), String>> {
    let status =
        |r: Result<(), dittofs::nfs::status::Nfsstat3>| r.map_err(|s| format!("{op:?}: {s:?}"));
    Ok(match op {
        Op::Create(d, n) | Op::Mkdir(d, n) | Op::Symlink(d, n, _) => {
            let dir = resolve(c, base, d)?;
            *in_flight = true;
            let r = match op {
                Op::Create(..) => c.create(dir, n)?,
                Op::Mkdir(..) => c.mkdir(dir, n)?,
                Op::Symlink(_, _, t) => c.symlink(dir, n, t)?,
                _ => unreachable!(),
            };
            status(r.map(|_| ()))
        }
        Op::Link(src, d, n) => {
            let file = resolve(c, base, src)?;
            let dir = resolve(c, base, d)?;
            *in_flight = true;
            status(c.link(file, dir, n)?)
        }
        Op::Rename(src, d, n) => {
            let (sd, sn) = split(src);
            let from = resolve(c, base, sd)?;
            let to = resolve(c, base, d)?;
            *in_flight = true;
            status(c.rename(from, sn, to, n)?)
        }
        Op::Remove(p) | Op::Rmdir(p) => {
            let (d, n) = split(p);
            let dir = resolve(c, base, d)?;
            *in_flight = true;
            status(match op {
                Op::Remove(_) => c.remove(dir, n)?,
                _ => c.rmdir(dir, n)?,
            })
        }
    })
}

fn worker(
    port: u16,
    base: WireHandle,
    mut model: Model,
    mut next_id: u64,
    seed: u64,
    stop: Arc<AtomicBool>,
) -> Result<WorkerEnd, String> {
    let mut rng = Rng(seed | 1);
    let end = |model, next_id, uncertain, acked| {
        Ok(WorkerEnd {
            model,
            next_id,
            uncertain,
            acked,
        })
    };
    let Ok(mut c) = NfsClient::connect(port) else {
        return end(model, next_id, None, 0);
    };
    let mut acked = 0;
    for _ in 0..OPS_PER_ROUND_MAX {
        if stop.load(Ordering::Relaxed) {
            break;
        }
        let op = generate(&model, &mut rng);
        let mut in_flight = false;
        match send(&mut c, base, &op, &mut in_flight) {
            Ok(Ok(())) => {
                model = apply(&model, &op, &mut next_id);
                acked += 1;
            }
            Ok(Err(refused)) => return Err(format!("server refused a valid operation: {refused}")),
            Err(_) => return end(model, next_id, in_flight.then_some(op), acked),
        }
    }
    end(model, next_id, None, acked)
}

/// One entry of the served tree.
#[derive(Debug, Clone)]
struct Seen {
    ftype: Ftype3,
    fileid: u64,
    nlink: u32,
    handle: WireHandle,
    target: Option<String>,
}

/// Walks the tree below `dir` (READDIRPLUS), checking every handle answers.
fn walk(c: &mut NfsClient, dir: WireHandle, prefix: &str, out: &mut BTreeMap<String, Seen>) {
    let entries = c
        .readdirplus_all(dir)
        .expect("readdirplus")
        .unwrap_or_else(|s| panic!("READDIRPLUS {prefix:?}: {s:?}"));
    for e in entries {
        let name = String::from_utf8(e.name).expect("utf-8 name");
        let path = join(prefix, &name);
        let handle = e.name_handle.unwrap_or_else(|| panic!("{path}: no handle"));
        let attr = c
            .getattr(handle)
            .expect("getattr")
            .unwrap_or_else(|s| panic!("{path}: handle does not resolve: {s:?}"));
        assert_eq!(attr.fileid, e.fileid, "{path}: fileid differs from GETATTR");
        let target = (attr.ftype == Ftype3::Lnk).then(|| {
            let t = c.readlink(handle).expect("readlink").expect("READLINK");
            String::from_utf8(t).expect("utf-8 target")
        });
        out.insert(
            path.clone(),
            Seen {
                ftype: attr.ftype,
                fileid: attr.fileid,
                nlink: attr.nlink,
                handle,
                target,
            },
        );
        if attr.ftype == Ftype3::Dir {
            walk(c, handle, &path, out);
        }
    }
}

/// Link counts of the whole tree (`root` is the export root).
fn check_link_counts(tree: &BTreeMap<String, Seen>, root_nlink: u32) {
    let mut names_per_file: HashMap<u64, u32> = HashMap::new();
    let mut subdirs: HashMap<String, u32> = HashMap::new();
    for (path, s) in tree {
        if s.ftype == Ftype3::Dir {
            *subdirs.entry(split(path).0.to_owned()).or_default() += 1;
        } else {
            *names_per_file.entry(s.fileid).or_default() += 1;
        }
    }
    assert_eq!(
        root_nlink,
        2 + subdirs.get("").copied().unwrap_or(0),
        "root nlink"
    );
    for (path, s) in tree {
        if s.ftype == Ftype3::Dir {
            let want = 2 + subdirs.get(path).copied().unwrap_or(0);
            assert_eq!(s.nlink, want, "{path}: directory nlink");
        } else {
            assert_eq!(s.nlink, names_per_file[&s.fileid], "{path}: nlink vs names");
        }
    }
}

/// A model or a served subtree in comparable form: path → kind, with hard
/// links named by the first path of their group.
fn canonical<I: Clone + Eq + std::hash::Hash>(
    entries: impl Iterator<Item = (String, Option<I>, String)>,
) -> BTreeMap<String, String> {
    let entries: Vec<_> = entries.collect();
    let mut first: HashMap<I, String> = HashMap::new();
    for (path, id, _) in &entries {
        if let Some(id) = id {
            first.entry(id.clone()).or_insert_with(|| path.clone());
        }
    }
    entries
        .into_iter()
        .map(|(path, id, kind)| {
            let kind = match id {
                Some(id) => format!("file:{}", first[&id]),
                None => kind,
            };
            (path, kind)
        })
        .collect()
}

fn canonical_model(m: &Model) -> BTreeMap<String, String> {
    canonical(m.iter().map(|(p, n)| match n {
        Node::Dir => (p.clone(), None, "dir".to_owned()),
        Node::File(id) => (p.clone(), Some(*id), String::new()),
        Node::Symlink(t) => (p.clone(), None, format!("symlink:{t}")),
    }))
}

fn canonical_seen(tree: &BTreeMap<String, Seen>, below: &str) -> BTreeMap<String, String> {
    canonical(
        tree.iter()
            .filter(|(p, _)| is_under(p, below))
            .map(|(p, s)| {
                let rel = p[below.len() + 1..].to_owned();
                match s.ftype {
                    Ftype3::Dir => (rel, None, "dir".to_owned()),
                    Ftype3::Lnk => (
                        rel,
                        None,
                        format!("symlink:{}", s.target.clone().unwrap_or_default()),
                    ),
                    _ => (rel, Some(s.fileid), String::new()),
                }
            }),
    )
}

/// Runs `rounds` crash rounds of `store`; panics on the first violation.
pub fn crash_rounds(store: &StoreUnderTest, rounds: usize, seed: u64) {
    let data = TempDir::new("crash-data");
    let mut rng = Rng(seed | 1);
    let mut models: Vec<(Model, u64)> = vec![(Model::new(), 0); WORKERS];
    let mut worker_handles: Vec<WireHandle> = Vec::new();
    // Mutations acknowledged, and those of rounds whose commits were counted
    // (the offline check reads the commit counter after every round from round 0 on).
    let (mut acked_total, mut acked_counted, mut commits_total) = (0usize, 0usize, 0u64);
    let mut last_commits = None;
    for round in 0..rounds {
        let ctx = format!("seed {seed} round {round}");
        let mut server = Server::start_on_data(data.path(), store.config);
        let mut c = NfsClient::connect(server.port).expect("connect");
        // Verify the state left by the previous crash.
        if round > 0 {
            let mut tree = BTreeMap::new();
            let root = c.root;
            walk(&mut c, root, "", &mut tree);
            let root_nlink = c.getattr(c.root).unwrap().expect("root").nlink;
            check_link_counts(&tree, root_nlink);
            for (i, (model, _)) in models.iter().enumerate() {
                let w = format!("w{i}");
                assert_eq!(
                    tree[&w].handle, worker_handles[i],
                    "{ctx}: handle of {w} changed"
                );
                let seen = canonical_seen(&tree, &w);
                assert_eq!(
                    seen,
                    canonical_model(model),
                    "{ctx}: {w} differs from the model"
                );
            }
        } else {
            for i in 0..WORKERS {
                let root = c.root;
                worker_handles.push(c.mkdir(root, &format!("w{i}")).unwrap().expect("mkdir w"));
            }
        }
        drop(c);
        // Run the workers and kill the server under them.
        let stop = Arc::new(AtomicBool::new(false));
        let threads: Vec<_> = (0..WORKERS)
            .map(|i| {
                let (model, next_id) = models[i].clone();
                let (port, base, stop) = (server.port, worker_handles[i], Arc::clone(&stop));
                let wseed = rng.next();
                std::thread::spawn(move || worker(port, base, model, next_id, wseed, stop))
            })
            .collect();
        std::thread::sleep(Duration::from_millis(20 + rng.below(400) as u64));
        server.kill();
        stop.store(true, Ordering::Relaxed);
        let mut uncertain = Vec::new();
        let acked_before = acked_total;
        for (i, t) in threads.into_iter().enumerate() {
            let end = t
                .join()
                .expect("worker panicked")
                .unwrap_or_else(|e| panic!("{ctx}: w{i}: {e}"));
            acked_total += end.acked;
            models[i] = (end.model, end.next_id);
            uncertain.push(end.uncertain);
        }
        if let Some(check) = store.offline_check {
            let (problems, commits) = check(data.path());
            assert!(problems.is_empty(), "{ctx}: offline check: {problems:#?}");
            if let Some(last) = last_commits {
                commits_total += commits.saturating_sub(last);
                acked_counted += acked_total - acked_before;
            }
            last_commits = Some(commits);
        }
        // Resolve the in-flight operations: each either committed or not.
        let mut server = Server::start_on_data(data.path(), store.config);
        let mut c = NfsClient::connect(server.port).expect("connect");
        let mut tree = BTreeMap::new();
        let root = c.root;
        walk(&mut c, root, "", &mut tree);
        for (i, op) in uncertain.into_iter().enumerate() {
            let w = format!("w{i}");
            let seen = canonical_seen(&tree, &w);
            let (model, next_id) = &mut models[i];
            if seen == canonical_model(model) {
                continue;
            }
            let applied = op.as_ref().map(|op| apply(model, op, next_id));
            match applied {
                Some(m) if seen == canonical_model(&m) => *model = m,
                _ => panic!(
                    "{ctx}: {w} lost an acknowledged change (in flight: {op:?})\nserved: {seen:#?}\nmodel: {:#?}",
                    canonical_model(model)
                ),
            }
        }
        drop(c);
        server.kill();
    }
    eprintln!(
        "crash test: {rounds} rounds, {acked_total} acknowledged mutations; rounds 1..: \
         {acked_counted} mutations in {commits_total} commits (seed {seed})"
    );
    assert!(
        acked_total > 0,
        "no operation was acknowledged in {rounds} rounds"
    );
}

fn lmdb_offline_check(data: &Path) -> (Vec<String>, u64) {
    use dittofs::meta::lmdb::{LmdbOptions, LmdbStore};
    let store = LmdbStore::open(data.join("meta"), LmdbOptions::default()).expect("open LMDB");
    let report = store.fsck().expect("fsck");
    (report.problems, store.last_txn_id())
}

fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

#[test]
fn lmdb_keeps_acknowledged_changes_across_sigkill() {
    let store = StoreUnderTest {
        config: lmdb_config,
        offline_check: Some(lmdb_offline_check),
    };
    let seed = env_or("DITTOFS_CRASH_SEED", 0x5EED_0001_u64);
    let rounds = env_or("DITTOFS_CRASH_ROUNDS", ROUNDS_DEFAULT);
    crash_rounds(&store, rounds, seed);
}

/// The database of the PostgreSQL crash test (config functions are plain `fn`s).
static PG_URL: OnceLock<String> = OnceLock::new();

fn pg_url() -> &'static str {
    PG_URL.get().expect("PG_URL set before the rounds")
}

fn postgres_config(port: u16, data_dir: &Path) -> String {
    let url = pg_url();
    lmdb_config(port, data_dir).replace(
        "[metadata_stores.default]\ntype = \"lmdb\"",
        &format!(
            "[metadata_stores.default]\ntype = \"postgres\"\nurl = \"{url}\"\npool_size = 4\n\
             connect_timeout_ms = 2000"
        ),
    )
}

fn postgres_offline_check(_data: &Path) -> (Vec<String>, u64) {
    use dittofs::meta::postgres::{fsck, PgOptions};
    let opts = PgOptions {
        url: pg_url().to_owned(),
        pool_size: 1,
        connect_timeout_ms: 5000,
        statement_timeout_ms: 60_000,
    };
    let report = fsck(&opts).expect("postgres fsck");
    (report.problems, report.xid_horizon)
}

#[test]
fn postgres_keeps_acknowledged_changes_across_sigkill() {
    let server = pg::Pg::start();
    PG_URL.get_or_init(|| server.fresh_db());
    let store = StoreUnderTest {
        config: postgres_config,
        offline_check: Some(postgres_offline_check),
    };
    let seed = env_or("DITTOFS_CRASH_SEED", 0x5EED_0002_u64);
    let rounds = env_or("DITTOFS_CRASH_ROUNDS", ROUNDS_DEFAULT);
    crash_rounds(&store, rounds, seed);
}
