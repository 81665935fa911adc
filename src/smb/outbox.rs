//! A per-connection outbox: messages the server sends without a request in
//! hand (the final response of an async operation, oplock/lease breaks,
//! change notifications).
//!
//! Why a channel: the connection task owns the socket and the session keys,
//! and only it may sign, encrypt and write. Anything else (a detached task on
//! this core waiting on a lock, or another core's thread noticing a change)
//! posts a complete, unsigned SMB2 message here; the connection loop seals it
//! with the session's keys (`dispatch::seal_outbound`, the same code that
//! seals ordinary responses) and writes it between frames. The sender is
//! `Send + Clone` (futures-channel; glommio wakes a task from a foreign thread).

use std::ops::Deref;

use futures_channel::mpsc;

/// One message to send on a connection.
#[derive(Debug)]
pub struct Outbound {
    /// The session whose keys sign/encrypt it (0 or unknown: sent as is).
    pub session_id: u64,
    /// One complete SMB2 message, header included, not yet signed or encrypted.
    pub msg: Vec<u8>,
    /// Sign it (when the session exists and the message is not encrypted).
    pub sign: bool,
}

/// Posts into a connection's outbox from any thread.
pub type OutboxSender = mpsc::UnboundedSender<Outbound>;
/// The connection loop's end.
pub type OutboxReceiver = mpsc::UnboundedReceiver<Outbound>;

/// A new outbox.
pub fn channel() -> (OutboxSender, OutboxReceiver) {
    mpsc::unbounded()
}

/// The connection state's handle on its outbox. Derefs to [`OutboxSender`], so
/// `st.outbox.clone()` is an `OutboxSender` (this wrapper is deliberately not
/// `Clone`) and `st.outbox.unbounded_send(..)` posts. `Default` gives an
/// outbox whose receiver is gone (sends fail, which callers ignore), so
/// `ConnState` keeps its derived `Default`; the connection loop installs a live one.
#[derive(Debug)]
pub struct Outbox(OutboxSender);

impl Outbox {
    pub fn new(tx: OutboxSender) -> Self {
        Outbox(tx)
    }
}

impl Default for Outbox {
    fn default() -> Self {
        Outbox(channel().0)
    }
}

impl Deref for Outbox {
    type Target = OutboxSender;
    fn deref(&self) -> &OutboxSender {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures_lite::StreamExt;

    #[test]
    fn posts_from_another_thread_arrive_in_order() {
        let (tx, rx) = channel();
        let outbox = Outbox::new(tx);
        let remote: OutboxSender = outbox.clone();
        std::thread::spawn(move || {
            for i in 0..3u8 {
                let _ = remote.unbounded_send(Outbound {
                    session_id: 7,
                    msg: vec![i],
                    sign: true,
                });
            }
        })
        .join()
        .unwrap();
        drop(outbox);
        let got: Vec<Vec<u8>> =
            futures_lite::future::block_on(async { rx.map(|o| o.msg).collect().await });
        assert_eq!(got, vec![vec![0], vec![1], vec![2]]);
    }

    #[test]
    fn default_outbox_drops_silently() {
        let o = Outbox::default();
        assert!(o
            .unbounded_send(Outbound {
                session_id: 0,
                msg: vec![],
                sign: false
            })
            .is_err());
    }
}
