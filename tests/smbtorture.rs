//! Samba's smbtorture (Debian samba-testsuite) against the release binary: the
//! SMB2 conformance suites we pass a meaningful share of, each run once against
//! one LMDB-backed server, with a floor on the tests passed per suite (a little
//! below the count measured when the floor was set; see "SMB conformance" in
//! README.md and scripts/smbtorture.sh for the full table against Samba) and a
//! check that the server still answers an SMB2 session after every suite (a
//! crash or a wedged connection loop fails the test).
//!
//! Not run here: smb2.lease, smb2.setinfo (its one test fails on Samba
//! too). smb2.session: its reauth2-5 need an anonymous re-authentication,
//! bind_invalid_auth an unsigned re-authentication on a bound channel. Runtime:
//! a few minutes, most of it smb2.dir (directories of 700 and 1000+ files)
//! and smb2.notify.

mod common;

use std::process::Command;
use std::time::Duration;

use common::{add_smb_user, free_port, lmdb_config, require_tool, run_bounded, Server, TempDir};

const USER: &str = "torture";
const PASSWORD: &str = "Tort-ure1pass";
/// Bound on one suite (the slowest, smb2.notify and smb2.dir, take one to
/// four minutes depending on the machine's load).
const SUITE_LIMIT: Duration = Duration::from_secs(360);

/// smb2.notify: 23/0 (2026-11; notify.tree passes since CREATE resolves
/// `test_notify\\zqy\\..` lexically). Its mask test waits 200 ms
/// per filter bit and operation: about 2 minutes on an idle machine.
const NOTIFY_FLOOR: usize = 20;

/// (suite, floor on tests passed).
const SUITES: &[(&str, usize)] = &[
    // (measured when set, 2026-11: passed/failed)
    ("smb2.connect", 1),     // 1/0
    ("smb2.read", 3),        // 4/0
    ("smb2.rw", 2),          // 2/1
    ("smb2.getinfo", 4),     // 5/3
    ("smb2.dir", 4),         // 5/2
    ("smb2.create", 8),      // 10/6
    ("smb2.compound", 12),   // 15/4
    ("smb2.ioctl", 40), // 42/2 to 43/1 (41/3 before bug14769 and multichannel, 21/7 before sparse files)
    ("smb2.lock", 21),  // 22/0 (lock sequence replay, branch lockdur; Samba 22/0)
    ("smb2.rename", 6), // 10/1
    ("smb2.timestamps", 14), // 15/0 with delayed write time (11/4 before)
    ("smb2.notify", NOTIFY_FLOOR),
    // durable handles, reconnect, re-authentication (2026-11)
    ("smb2.durable-open", 16), // 20/3 alone (locks kept over the park), 17/6 before (Samba 4.17: 20/3)
    ("smb2.durable-v2-open", 13), // 14/1 (Samba 4.17: 14/1)
    ("smb2.session", 46), // 49/10 with session binding, 13/43 with encryption-* and ntlmssp_bug14932, 8/48 before (Samba 4.17: 53/6)
    // named streams (2026-11; 0/14 before; the test Samba share has no streams module: 0/14)
    ("smb2.streams", 10), // 10/4 (names3, rename2, attributes2, delete; branch streams2)
    // oplocks as Samba grants and breaks them (2026-11); batch22a waits out
    // the 35 s break timeout. Failing: doc (delete-pending).
    ("smb2.oplock", 39), // 41/1 (Samba 4.17: 38/4)
];

/// Counts of one smbtorture run: (passed, failed + errored, output).
fn smbtorture(port: u16, test: &str) -> (usize, usize, String) {
    let out = run_bounded(
        Command::new("smbtorture")
            .arg("//127.0.0.1/export")
            .args(["-p", &port.to_string()])
            .args(["-U", &format!("{USER}%{PASSWORD}")])
            .arg("--format=subunit")
            .arg(test),
        SUITE_LIMIT,
    );
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let count = |prefix: &str| text.lines().filter(|l| l.starts_with(prefix)).count();
    let passed = count("success: ");
    let failed = count("failure: ") + count("error: ");
    (passed, failed, text)
}

#[test]
fn smbtorture_smb2_suites_meet_their_floors() {
    require_tool("smbtorture", "samba-testsuite");
    let data = TempDir::new("smbtorture-data");
    add_smb_user(data.path(), USER, PASSWORD, 1000);
    let smb_port = free_port();
    let _server = Server::start_on_data(data.path(), move |port, dir| {
        format!(
            "{}\n[adapters.smb]\nenabled = true\nport = {smb_port}\n\n[api]\nport = 0\n\n[metrics]\nport = 0\n",
            lmdb_config(port, dir)
        )
    });
    let mut problems = Vec::new();
    let mut table = String::new();
    for &(suite, floor) in SUITES {
        let (passed, failed, text) = smbtorture(smb_port, suite);
        table.push_str(&format!("{suite}: passed {passed} failed {failed}\n"));
        if passed < floor {
            let tail: Vec<&str> = text.lines().rev().take(40).collect();
            let tail: Vec<&str> = tail.into_iter().rev().collect();
            problems.push(format!(
                "{suite}: {passed} passed, floor {floor}\n{}",
                tail.join("\n")
            ));
        }
        // The server must still serve a fresh session after the suite.
        let (alive, _, text) = smbtorture(smb_port, "smb2.connect");
        if alive != 1 {
            problems.push(format!(
                "server no longer answers smb2.connect after {suite}:\n{text}"
            ));
            break;
        }
    }
    eprintln!("{table}");
    assert!(problems.is_empty(), "{}\n{table}", problems.join("\n\n"));
}
