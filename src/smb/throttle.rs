//! Rate limiting of SMB requests: the NFS token buckets
//! ([`crate::runtime::ratelimit`]), per client address, per user (the
//! session's uid) and per share (the tree's share), in requests and bytes.
//!
//! Why slowed and never refused, as for NFS: a client over its limit waits
//! (a glommio timer) before its request runs, and while throttled it is
//! granted only the credits the request spent (one for most requests), so its
//! window does not grow; no request ever fails for being over the limit. Request
//! bytes are reserved before the request runs and response bytes charged
//! after, so big READs and WRITEs cost in proportion.

use std::time::Duration;

use super::dispatch::Call;
use super::state::{Auth, ConnState, Tree};
use super::SmbContext;
use crate::runtime::ratelimit::{Admit, Ticket};

/// (uid, share index) of `call`'s session and tree, when known.
fn who(st: &ConnState, call: &Call) -> (Option<u32>, Option<u32>) {
    let Some(sess) = st.sessions.get(&call.session_id) else {
        return (None, None);
    };
    let uid = matches!(sess.auth, Auth::Valid).then_some(sess.cred.uid);
    let share = match sess.trees.get(&call.tree_id) {
        Some(Tree::Disk(i)) => u32::try_from(*i).ok(),
        _ => None,
    };
    (uid, share)
}

/// How a request got through the limiter.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Admitted {
    /// To charge the response bytes with; `None` without limits.
    ticket: Option<Ticket>,
    /// The request had to wait: the client is over a limit.
    delayed: bool,
}

/// Charges one request of `request_bytes` and waits as long as its buckets
/// say.
pub(crate) async fn admit(
    ctx: &SmbContext,
    st: &ConnState,
    call: &Call,
    request_bytes: usize,
) -> Admitted {
    let (Some(limiter), Some(peer)) = (ctx.limiter.as_ref(), st.peer) else {
        return Admitted::default();
    };
    let (uid, share) = who(st, call);
    match limiter.admit_smb(peer.ip(), uid, share, request_bytes) {
        Admit::Free => Admitted::default(),
        Admit::After { delay, ticket } => {
            let delayed = delay > Duration::ZERO;
            if delayed {
                glommio::timer::sleep(delay).await;
            }
            Admitted {
                ticket: Some(ticket),
                delayed,
            }
        }
    }
}

/// Charges the response bytes of a request.
pub(crate) fn charge_response(ctx: &SmbContext, admitted: Admitted, response_bytes: usize) {
    if let (Some(limiter), Some(ticket)) = (ctx.limiter.as_ref(), admitted.ticket) {
        limiter.charge_reply(&ticket, response_bytes);
    }
}

/// Credits to grant for a request that asked for `requested` and spent
/// `charge`: as asked, or only what it spent (one for a one-credit request)
/// when the request had to wait or its client or user is still in debt (by
/// the time a delayed request runs its bucket is just back at zero). Giving
/// back the charge keeps the client's window from growing while throttled
/// but never below what a multi-credit READ/WRITE needs: granting one for a
/// 16-credit WRITE drained the window until the client could send nothing.
pub(crate) fn credits(
    ctx: &SmbContext,
    st: &ConnState,
    call: &Call,
    admitted: Admitted,
    requested: u16,
    charge: u16,
) -> u16 {
    let (Some(limiter), Some(peer)) = (ctx.limiter.as_ref(), st.peer) else {
        return requested;
    };
    let spent = throttled_grant(requested, charge);
    if admitted.delayed {
        return spent;
    }
    let (uid, _) = who(st, call);
    limiter.smb_credits(peer.ip(), uid, requested).max(spent)
}

/// The grant while throttled: the request's charge (at least one), never
/// more than asked.
fn throttled_grant(requested: u16, charge: u16) -> u16 {
    charge.max(1).min(requested.max(1))
}

#[cfg(test)]
mod tests {
    use super::throttled_grant;

    #[test]
    fn a_throttled_multi_credit_request_gets_its_charge_back() {
        assert_eq!(throttled_grant(32, 0), 1);
        assert_eq!(throttled_grant(32, 1), 1);
        assert_eq!(throttled_grant(32, 16), 16);
        assert_eq!(throttled_grant(8, 16), 8);
        assert_eq!(throttled_grant(0, 0), 1);
    }
}
