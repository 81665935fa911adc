//! Delayed LastWriteTime updates, as Windows (through Server 2016) and Samba
//! do them for SMB: a WRITE does not move the write time at once. The first
//! write on a handle schedules one update [`WRITE_TIME_DELAY_MS`] later; later
//! writes on that handle only ask for an update at CLOSE. FLUSH, a
//! FileEndOfFileInformation and any FileBasicInformation SET_INFO apply a
//! pending update at once; an explicit LastWriteTime set on a handle (or -1,
//! "stop updating") makes the time sticky: that handle's writes and close no
//! longer change it (-2 resumes). smbtorture smb2.timestamps.delayed-*.
//!
//! Why in the SMB layer: NFS WRITE must set mtime at once (POSIX), so the fs
//! core keeps that rule; SMB writes go through [`Fs::write_keep_mtime`] and
//! this module sets mtime itself ([`Fs::touch_mtime`]). The state is per open
//! (`Open::write_time`), shared through an `Arc<Mutex>` (a parked durable
//! open crosses threads) with the one timer task
//! the first write spawns on this core; the task does nothing if the update was
//! applied or cancelled meanwhile (flush, set-info, close). An open that goes
//! away without CLOSE (connection loss) still gets its pending update from the
//! timer; its close-time update is lost, as the client never closed it.

use std::rc::Rc;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::fs::{Fs, InodeId};

/// How long after the first write on a handle its write time moves (Samba's
/// default `smbd:writetimeupdatedelay`, what Windows did).
pub const WRITE_TIME_DELAY_MS: u64 = 2000;

#[derive(Debug, Default, Clone, Copy)]
struct State {
    /// An explicit write time (or -1) was set on this handle: sticky.
    forced: bool,
    /// The first write happened (its delayed update scheduled or done).
    triggered: bool,
    /// The delayed update is still to run.
    pending: bool,
    /// A write since the last update: CLOSE sets the write time.
    on_close: bool,
}

/// One open's write-time state (cheap to clone: the timer task holds a clone).
#[derive(Debug, Default, Clone)]
pub struct WriteTime(Arc<Mutex<State>>);

impl WriteTime {
    fn get(&self) -> State {
        *self.0.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn update(&self, f: impl FnOnce(&mut State)) -> State {
        let mut s = self.0.lock().unwrap_or_else(|e| e.into_inner());
        f(&mut s);
        *s
    }

    /// A WRITE on this handle (called when it is admitted, before its I/O).
    pub fn on_write(&self, fs: &Rc<Fs>, ino: InodeId) {
        let before = self.get();
        if before.forced {
            return;
        }
        self.update(|s| {
            s.on_close = true;
            if !s.triggered {
                s.triggered = true;
                s.pending = true;
            }
        });
        if before.triggered {
            return;
        }
        let me = self.clone();
        let fs = fs.clone();
        glommio::spawn_local(async move {
            glommio::timer::sleep(Duration::from_millis(WRITE_TIME_DELAY_MS)).await;
            if !me.get().pending {
                return;
            }
            me.update(|s| {
                s.pending = false;
                s.on_close = false;
            });
            if let Err(e) = fs.touch_mtime(ino).await {
                log::debug!("delayed write-time update of inode {ino:?}: {e}");
            }
        })
        .detach();
    }

    /// FLUSH, FileBasicInformation: applies a pending delayed update now.
    pub async fn flush_pending(&self, fs: &Fs, ino: InodeId) {
        let s = self.get();
        if s.pending && !s.forced {
            self.apply_now(fs, ino).await;
        }
    }

    /// FileEndOfFileInformation: the write time moves now (a pending update
    /// is applied; without one it is a change of its own), unless sticky.
    pub async fn set_eof(&self, fs: &Fs, ino: InodeId) {
        if !self.get().forced {
            self.apply_now(fs, ino).await;
        }
    }

    async fn apply_now(&self, fs: &Fs, ino: InodeId) {
        self.update(|s| {
            s.triggered = true;
            s.pending = false;
            s.on_close = false;
        });
        if let Err(e) = fs.touch_mtime(ino).await {
            log::debug!("write-time update of inode {ino:?}: {e}");
        }
    }

    /// FileBasicInformation LastWriteTime as the client sent it: a time or -1
    /// makes the write time sticky on this handle, -2 lifts that, 0 nothing.
    pub fn on_set_write_time(&self, filetime: u64) {
        match filetime {
            0 => {}
            u64::MAX => self.make_sticky(),
            ft if ft == u64::MAX - 1 => {
                self.update(|s| s.forced = false);
            }
            _ => self.make_sticky(),
        }
    }

    fn make_sticky(&self) {
        self.update(|s| {
            s.forced = true;
            s.pending = false;
            s.on_close = false;
        });
    }

    /// CLOSE: a write since the last update moves the write time now.
    pub async fn on_close(&self, fs: &Fs, ino: InodeId) {
        let s = self.update(|s| s.pending = false);
        if s.on_close && !s.forced {
            self.update(|s| s.on_close = false);
            if let Err(e) = fs.touch_mtime(ino).await {
                log::debug!("close-time write-time update of inode {ino:?}: {e}");
            }
        }
    }

    #[cfg(test)]
    fn state(&self) -> State {
        self.get()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sticky_time_stops_updates_and_minus_two_resumes() {
        let w = WriteTime::default();
        w.update(|s| {
            s.triggered = true;
            s.pending = true;
            s.on_close = true;
        });
        w.on_set_write_time(0);
        assert!(w.state().pending && !w.state().forced);
        w.on_set_write_time(u64::MAX);
        let s = w.state();
        assert!(s.forced && !s.pending && !s.on_close);
        w.on_set_write_time(u64::MAX - 1);
        assert!(!w.state().forced);
        w.on_set_write_time(132_000_000_000_000_000);
        assert!(w.state().forced);
    }
}
