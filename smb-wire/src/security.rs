//! A minimal self-relative SECURITY_DESCRIPTOR (MS-DTYP 2.4.6) synthesised from POSIX
//! ownership and mode bits: owner S-1-22-1-uid, group S-1-22-2-gid (the Unix SIDs
//! Samba uses), and a DACL with one ACCESS_ALLOWED ACE each for owner, group and
//! Everyone (S-1-1-0). Plus a bounds-checked decoder so SET_INFO (security) can map
//! owner/group SIDs back to uid/gid.

use crate::buf::{len16, len32, Put, Reader};
use crate::error::{Result, WireError};

pub const SE_DACL_PRESENT: u16 = 0x0004;
pub const SE_SELF_RELATIVE: u16 = 0x8000;
pub const ACCESS_ALLOWED_ACE_TYPE: u8 = 0;
pub const ACCESS_DENIED_ACE_TYPE: u8 = 1;

pub const FILE_GENERIC_READ: u32 = 0x0012_0089;
pub const FILE_GENERIC_WRITE: u32 = 0x0012_0116;
pub const FILE_GENERIC_EXECUTE: u32 = 0x0012_00A0;
pub const FILE_ALL_ACCESS: u32 = 0x001F_01FF;
/// What an owner may always do: read/write the DACL and owner, read attributes.
pub const OWNER_BASE: u32 = 0x000C_0000 | 0x0002_0000 | 0x0010_0000 | 0x80;

/// A SID (MS-DTYP 2.4.2).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Sid {
    /// 48-bit IdentifierAuthority.
    pub authority: u64,
    pub sub_authorities: Vec<u32>,
}

impl Sid {
    pub fn new(authority: u64, subs: &[u32]) -> Sid {
        Sid {
            authority,
            sub_authorities: subs.to_vec(),
        }
    }
    /// S-1-22-1-uid.
    pub fn unix_user(uid: u32) -> Sid {
        Sid::new(22, &[1, uid])
    }
    /// S-1-22-2-gid.
    pub fn unix_group(gid: u32) -> Sid {
        Sid::new(22, &[2, gid])
    }
    /// S-1-1-0.
    pub fn everyone() -> Sid {
        Sid::new(1, &[0])
    }
    /// uid for S-1-22-1-uid.
    pub fn as_unix_user(&self) -> Option<u32> {
        match (self.authority, self.sub_authorities.as_slice()) {
            (22, [1, uid]) => Some(*uid),
            _ => None,
        }
    }
    /// gid for S-1-22-2-gid.
    pub fn as_unix_group(&self) -> Option<u32> {
        match (self.authority, self.sub_authorities.as_slice()) {
            (22, [2, gid]) => Some(*gid),
            _ => None,
        }
    }
    pub fn encoded_len(&self) -> usize {
        8 + 4 * self.sub_authorities.len()
    }
    pub fn encode(&self, out: &mut Vec<u8>) {
        out.put_u8(1);
        out.put_u8(self.sub_authorities.len() as u8);
        out.put(&self.authority.to_be_bytes()[2..8]);
        self.sub_authorities.iter().for_each(|&s| out.put_u32(s));
    }
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut v = Vec::new();
        self.encode(&mut v);
        v
    }
    pub fn decode(r: &mut Reader<'_>) -> Result<Sid> {
        if r.u8()? != 1 {
            return Err(WireError::BadValue("SID revision"));
        }
        let n = usize::from(r.u8()?);
        if n > 15 {
            return Err(WireError::BadValue("SID sub-authority count"));
        }
        let a: [u8; 6] = r.array()?;
        let mut auth = [0u8; 8];
        auth[2..].copy_from_slice(&a);
        let sub_authorities = (0..n).map(|_| r.u32()).collect::<Result<Vec<_>>>()?;
        Ok(Sid {
            authority: u64::from_be_bytes(auth),
            sub_authorities,
        })
    }
}

impl std::fmt::Display for Sid {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "S-1-{}", self.authority)?;
        for s in &self.sub_authorities {
            write!(f, "-{s}")?;
        }
        Ok(())
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ace {
    pub ace_type: u8,
    pub flags: u8,
    pub mask: u32,
    pub sid: Sid,
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SecurityDescriptor {
    pub control: u16,
    pub owner: Option<Sid>,
    pub group: Option<Sid>,
    pub dacl: Option<Vec<Ace>>,
}

/// rwx bits (0..=7) to an access mask.
pub fn mask_from_rwx(rwx: u32) -> u32 {
    if rwx & 7 == 7 {
        return FILE_ALL_ACCESS;
    }
    let mut m = 0;
    if rwx & 4 != 0 {
        m |= FILE_GENERIC_READ;
    }
    if rwx & 2 != 0 {
        m |= FILE_GENERIC_WRITE;
    }
    if rwx & 1 != 0 {
        m |= FILE_GENERIC_EXECUTE;
    }
    m
}

impl SecurityDescriptor {
    /// The descriptor for a file with `uid`, `gid`, `mode` (permission bits).
    pub fn from_unix(uid: u32, gid: u32, mode: u32) -> SecurityDescriptor {
        let ace = |mask, sid| Ace {
            ace_type: ACCESS_ALLOWED_ACE_TYPE,
            flags: 0,
            mask,
            sid,
        };
        SecurityDescriptor {
            control: SE_SELF_RELATIVE | SE_DACL_PRESENT,
            owner: Some(Sid::unix_user(uid)),
            group: Some(Sid::unix_group(gid)),
            dacl: Some(vec![
                ace(mask_from_rwx(mode >> 6) | OWNER_BASE, Sid::unix_user(uid)),
                ace(mask_from_rwx(mode >> 3), Sid::unix_group(gid)),
                ace(mask_from_rwx(mode), Sid::everyone()),
            ]),
        }
    }

    /// Self-relative encoding; `additional_information` (OWNER=1, GROUP=2, DACL=4)
    /// selects which parts to include, as QUERY_INFO asks.
    pub fn encode(&self, additional_information: u32) -> Vec<u8> {
        let mut out = Vec::new();
        out.put_u8(1);
        out.put_u8(0);
        let mut control = self.control | SE_SELF_RELATIVE;
        if additional_information & 4 == 0 {
            control &= !SE_DACL_PRESENT;
        }
        out.put_u16(control);
        out.zeros(16);
        if let (Some(o), true) = (&self.owner, additional_information & 1 != 0) {
            out.set_u32(4, len32(out.len()));
            o.encode(&mut out);
        }
        if let (Some(g), true) = (&self.group, additional_information & 2 != 0) {
            out.set_u32(8, len32(out.len()));
            g.encode(&mut out);
        }
        if let (Some(aces), true) = (&self.dacl, additional_information & 4 != 0) {
            let start = out.len();
            out.set_u32(16, len32(start));
            out.put_u8(2);
            out.put_u8(0);
            out.put_u16(0);
            out.put_u16(len16(aces.len()));
            out.put_u16(0);
            for a in aces {
                out.put_u8(a.ace_type);
                out.put_u8(a.flags);
                out.put_u16(len16(8 + a.sid.encoded_len()));
                out.put_u32(a.mask);
                a.sid.encode(&mut out);
            }
            let size = len16(out.len() - start);
            out.set_u16(start + 2, size);
        }
        out
    }

    /// Decodes a self-relative descriptor (SACL ignored); every offset checked.
    pub fn decode(buf: &[u8]) -> Result<SecurityDescriptor> {
        let mut r = Reader::new(buf);
        if r.u8()? != 1 {
            return Err(WireError::BadValue("SD revision"));
        }
        r.skip(1)?;
        let control = r.u16()?;
        let off_owner = r.u32()? as usize;
        let off_group = r.u32()? as usize;
        let _off_sacl = r.u32()?;
        let off_dacl = r.u32()? as usize;
        let sid_at = |off: usize| -> Result<Option<Sid>> {
            if off == 0 {
                return Ok(None);
            }
            if off < 20 {
                return Err(WireError::BadOffset {
                    what: "SD SID",
                    offset: off,
                });
            }
            Sid::decode(&mut Reader::at(buf, off)).map(Some)
        };
        let owner = sid_at(off_owner)?;
        let group = sid_at(off_group)?;
        let dacl = if control & SE_DACL_PRESENT != 0 && off_dacl != 0 {
            if off_dacl < 20 {
                return Err(WireError::BadOffset {
                    what: "SD DACL",
                    offset: off_dacl,
                });
            }
            let mut a = Reader::at(buf, off_dacl);
            a.skip(4)?;
            let n = usize::from(a.u16()?);
            a.skip(2)?;
            let mut aces = Vec::new();
            for _ in 0..n {
                let at = a.pos();
                let ace_type = a.u8()?;
                let flags = a.u8()?;
                let size = usize::from(a.u16()?);
                if size < 8 {
                    return Err(WireError::BadValue("ACE size"));
                }
                let mask = a.u32()?;
                let sid = Sid::decode(&mut a)?;
                aces.push(Ace {
                    ace_type,
                    flags,
                    mask,
                    sid,
                });
                a = Reader::at(buf, at + size);
            }
            Some(aces)
        } else {
            None
        };
        Ok(SecurityDescriptor {
            control,
            owner,
            group,
            dacl,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unix_sd_round_trip() {
        let sd = SecurityDescriptor::from_unix(1000, 100, 0o754);
        let b = sd.encode(7);
        let d = SecurityDescriptor::decode(&b).unwrap();
        assert_eq!(d, sd);
        assert_eq!(d.owner.as_ref().unwrap().to_string(), "S-1-22-1-1000");
        assert_eq!(d.owner.unwrap().as_unix_user(), Some(1000));
        assert_eq!(d.group.unwrap().as_unix_group(), Some(100));
        let aces = d.dacl.unwrap();
        assert_eq!(aces[0].mask, FILE_ALL_ACCESS | OWNER_BASE);
        assert_eq!(aces[1].mask, FILE_GENERIC_READ | FILE_GENERIC_EXECUTE);
        assert_eq!(aces[2].mask, FILE_GENERIC_READ);
        // Owner only: no DACL, no group.
        let o = SecurityDescriptor::decode(&sd.encode(1)).unwrap();
        assert!(o.group.is_none() && o.dacl.is_none() && o.owner.is_some());
    }
}
