//! build-farm: a synthetic source tree (fixed seed), a parallel compile-like phase
//! (read source, write object to a temporary name, RENAME into place), a stat storm
//! and a recursive delete; each phase is reported on its own.
//!
//! Each thread works on its own subtree `bf-t<thread>` with its share of the
//! directories and files. The tree's size is `--bf-files`/`--bf-dirs`; the phases
//! run to completion (neither `--duration` nor `--ops` cuts them short).

use std::cell::RefCell;
use std::rc::Rc;
use std::time::Instant;

use bytes::Bytes;
use dittofs::fs::Stability;
use dittofs::nfs::handle::WireHandle;

use super::prep_err;
use crate::nfs::{Nfs, OpError};
use crate::pattern;
use crate::runner::{par_for, Ctx, RunError};
use crate::stats::{PhaseStats, Recorder};

/// One source file of the tree.
#[derive(Debug, Clone)]
pub struct SrcFile {
    pub dir: usize,
    pub name: String,
    pub size: u64,
}

/// A tree: `parents[i]` is `None` for a top-level directory, else its parent's index
/// (always a top-level directory, so two levels).
#[derive(Debug, Clone)]
pub struct Tree {
    pub parents: Vec<Option<usize>>,
    pub files: Vec<SrcFile>,
}

/// File size distribution: 70 % 1–16 KiB, 25 % 16–100 KiB, 5 % 100–512 KiB.
fn file_size(rng: &mut fastrand::Rng) -> u64 {
    match rng.u32(0..100) {
        0..=69 => rng.u64(1024..=16 << 10),
        70..=94 => rng.u64((16 << 10) + 1..=100 << 10),
        _ => rng.u64((100 << 10) + 1..=512 << 10),
    }
}

/// The deterministic tree for `seed`.
pub fn make_tree(seed: u64, dirs: usize, files: usize) -> Tree {
    let dirs = dirs.max(1);
    let mut rng = fastrand::Rng::with_seed(seed);
    let tops = (dirs / 20).max(1);
    let parents = (0..dirs)
        .map(|i| if i < tops { None } else { Some(i % tops) })
        .collect();
    let files = (0..files)
        .map(|i| SrcFile {
            dir: rng.usize(0..dirs),
            name: format!("src{i:05}.c"),
            size: file_size(&mut rng),
        })
        .collect();
    Tree { parents, files }
}

fn obj_name(src: &str) -> String {
    format!("{}.o", src.trim_end_matches(".c"))
}

async fn write_all(
    nfs: &Nfs,
    fh: WireHandle,
    seed: u64,
    size: u64,
    io: u32,
) -> Result<(), OpError> {
    let mut off = 0;
    while off < size {
        let len = (size - off).min(u64::from(io));
        let data = Bytes::from(pattern::make(seed, off, len as usize));
        nfs.write(fh, off, data, Stability::Unstable).await?;
        off += len;
    }
    Ok(())
}

type Handles = Rc<RefCell<Vec<Option<WireHandle>>>>;

fn handle(h: &Handles, i: usize) -> Result<WireHandle, OpError> {
    h.borrow()
        .get(i)
        .copied()
        .flatten()
        .ok_or(OpError::NoHandle)
}

pub async fn run(ctx: Rc<Ctx>) -> Result<Vec<PhaseStats>, RunError> {
    let threads = ctx.threads.max(1);
    let tree = Rc::new(make_tree(
        ctx.cfg.seed ^ ctx.thread as u64,
        ctx.cfg.bf_dirs.div_ceil(threads),
        ctx.cfg.bf_files.div_ceil(threads),
    ));
    let root = ctx
        .conn(0)
        .mkdir(ctx.dir, &format!("bf-t{}", ctx.thread))
        .await
        .map_err(prep_err(&ctx))?;
    let dirs: Handles = Rc::new(RefCell::new(vec![None; tree.parents.len()]));
    let srcs: Handles = Rc::new(RefCell::new(vec![None; tree.files.len()]));
    let workers = ctx.streams();
    let io = ctx.seq_io_bytes;
    let verify = ctx.cfg.verify;
    let mut out = Vec::new();

    // Phase 1: populate the tree.
    let (c, t, d, s) = (ctx.clone(), tree.clone(), dirs.clone(), srcs.clone());
    out.push(
        ctx.phase("bf-populate", false, move |rec, _| async move {
            for level in [false, true] {
                let (c, t, d, rec) = (c.clone(), t.clone(), d.clone(), rec.clone());
                let _ = par_for(t.parents.len(), workers, move |i| {
                    let (c, t, d, rec) = (c.clone(), t.clone(), d.clone(), rec.clone());
                    async move {
                        if t.parents[i].is_some() != level {
                            return Ok(());
                        }
                        let parent = match t.parents[i] {
                            None => root,
                            Some(p) => match handle(&d, p) {
                                Ok(h) => h,
                                Err(e) => {
                                    rec.error(&e);
                                    return Ok(());
                                }
                            },
                        };
                        let start = Instant::now();
                        if let Some(h) =
                            rec.op(start, c.conn(i).mkdir(parent, &format!("d{i:04}")).await)
                        {
                            d.borrow_mut()[i] = Some(h);
                        }
                        Ok(())
                    }
                })
                .await;
            }
            let _ = par_for(t.files.len(), workers, move |i| {
                let (c, t, d, s, rec) = (c.clone(), t.clone(), d.clone(), s.clone(), rec.clone());
                async move {
                    let f = &t.files[i];
                    let nfs = c.conn(i);
                    let start = Instant::now();
                    let r = async {
                        let dir = handle(&d, f.dir)?;
                        let fh = nfs.create(dir, &f.name).await?;
                        write_all(nfs, fh, pattern::seed_of(&f.name), f.size, io).await?;
                        nfs.commit(fh).await?;
                        Ok::<_, OpError>(fh)
                    }
                    .await;
                    if let Some(fh) = rec.op(start, r) {
                        s.borrow_mut()[i] = Some(fh);
                        rec.add_bytes(f.size);
                        rec.add_items(1);
                    }
                    Ok(())
                }
            })
            .await;
        })
        .await?,
    );

    // Phase 2: compile: read the source, write the object to a temp name, rename it.
    let (c, t, d, s) = (ctx.clone(), tree.clone(), dirs.clone(), srcs.clone());
    out.push(
        ctx.phase("bf-compile", false, move |rec, _| async move {
            let _ = par_for(t.files.len(), workers, move |i| {
                let (c, t, d, s, rec) = (c.clone(), t.clone(), d.clone(), s.clone(), rec.clone());
                async move {
                    let f = &t.files[i];
                    let nfs = c.conn(i);
                    let start = Instant::now();
                    let r = compile(nfs, &d, &s, f, i, io, verify).await;
                    if let Some(bytes) = rec.op(start, r) {
                        rec.add_bytes(bytes);
                        rec.add_items(1);
                    }
                    Ok(())
                }
            })
            .await;
        })
        .await?,
    );

    // Phase 3: stat storm: LOOKUP + GETATTR of every source and object.
    let (c, t, d) = (ctx.clone(), tree.clone(), dirs.clone());
    out.push(
        ctx.phase("bf-stat", false, move |rec, _| async move {
            let _ = par_for(t.files.len(), workers, move |i| {
                let (c, t, d, rec) = (c.clone(), t.clone(), d.clone(), rec.clone());
                async move {
                    let f = &t.files[i];
                    let nfs = c.conn(i);
                    let Ok(dir) = handle(&d, f.dir) else {
                        rec.error(&OpError::NoHandle);
                        return Ok(());
                    };
                    for name in [f.name.clone(), obj_name(&f.name)] {
                        let start = Instant::now();
                        if let Some(h) = rec.op(start, nfs.lookup(dir, &name).await) {
                            let start = Instant::now();
                            rec.op(start, nfs.getattr(h).await);
                        }
                    }
                    Ok(())
                }
            })
            .await;
        })
        .await?,
    );

    // Phase 4: recursive delete, deepest directories first.
    let (c, t, d) = (ctx.clone(), tree.clone(), dirs.clone());
    out.push(
        ctx.phase("bf-delete", false, move |rec, _| async move {
            for level in [true, false] {
                let (c, t, d, rec) = (c.clone(), t.clone(), d.clone(), rec.clone());
                let _ = par_for(t.parents.len(), workers, move |i| {
                    let (c, t, d, rec) = (c.clone(), t.clone(), d.clone(), rec.clone());
                    async move {
                        if t.parents[i].is_some() != level {
                            return Ok(());
                        }
                        let parent = match t.parents[i] {
                            None => Ok(root),
                            Some(p) => handle(&d, p),
                        };
                        let r = async { Ok::<_, OpError>((handle(&d, i)?, parent?)) }.await;
                        match r {
                            Ok((dir, parent)) => delete_dir(c.conn(i), &rec, dir, parent, i).await,
                            Err(e) => rec.error(&e),
                        }
                        Ok(())
                    }
                })
                .await;
            }
            let start = Instant::now();
            rec.op(
                start,
                c.conn(0).rmdir(c.dir, &format!("bf-t{}", c.thread)).await,
            );
        })
        .await?,
    );
    Ok(out)
}

async fn compile(
    nfs: &Nfs,
    dirs: &Handles,
    srcs: &Handles,
    f: &SrcFile,
    i: usize,
    io: u32,
    verify: bool,
) -> Result<u64, OpError> {
    let dir = handle(dirs, f.dir)?;
    let src = handle(srcs, i)?;
    let seed = pattern::seed_of(&f.name);
    let mut off = 0u64;
    while off < f.size {
        let want = (f.size - off).min(u64::from(io)) as u32;
        let ok = nfs.read(src, off, want).await?;
        if ok.data.len() as u32 != want {
            return Err(OpError::ShortRead {
                asked: want,
                got: ok.data.len() as u32,
            });
        }
        if verify && !pattern::check(seed, off, &ok.data) {
            return Err(OpError::DataMismatch);
        }
        off += u64::from(want);
    }
    let obj = obj_name(&f.name);
    let tmp = format!(".{obj}.tmp");
    let obj_size = f.size / 2 + 512;
    let fh = nfs.create(dir, &tmp).await?;
    write_all(nfs, fh, pattern::seed_of(&obj), obj_size, io).await?;
    nfs.commit(fh).await?;
    nfs.rename(dir, &tmp, dir, &obj).await?;
    Ok(f.size + obj_size)
}

/// Lists `dir`, removes every entry, then removes `dir` from `parent`.
async fn delete_dir(nfs: &Nfs, rec: &Recorder, dir: WireHandle, parent: WireHandle, i: usize) {
    let start = Instant::now();
    let Some((names, _calls)) = rec.op(start, nfs.list_dir(dir).await) else {
        return;
    };
    for n in &names {
        let start = Instant::now();
        rec.op(start, nfs.remove(dir, n).await);
    }
    let start = Instant::now();
    rec.op(start, nfs.rmdir(parent, &format!("d{i:04}")).await);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tree_is_deterministic_and_realistic() {
        let a = make_tree(42, 200, 4000);
        let b = make_tree(42, 200, 4000);
        assert_eq!(a.files.len(), 4000);
        assert!(a
            .files
            .iter()
            .zip(&b.files)
            .all(|(x, y)| x.size == y.size && x.dir == y.dir));
        let small = a.files.iter().filter(|f| f.size <= 16 << 10).count();
        let big = a.files.iter().filter(|f| f.size > 100 << 10).count();
        assert!(small > 2400 && small < 3200, "small files: {small}");
        assert!(big > 100 && big < 350, "big files: {big}");
        assert_eq!(a.parents.iter().filter(|p| p.is_none()).count(), 10);
        assert_ne!(make_tree(43, 200, 4000).files[0].size, a.files[0].size);
    }
}
