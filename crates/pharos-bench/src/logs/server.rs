//! Helpers of the logs scenario around the pharos process
//! ([`crate::process::Server`] starts it): which flags `pharos serve --help`
//! lists (a flag it lacks is left out and reported, so a binary from before a
//! flag existed still runs), its version, and bytes on disk.

use std::path::Path;
use std::process::Command;

use anyhow::Context;

/// Flags of `pharos serve --help` among `wanted` (`--name`), and those missing.
pub fn supported_flags(bin: &Path, wanted: &[&str]) -> anyhow::Result<(Vec<String>, Vec<String>)> {
    let out = Command::new(bin)
        .args(["serve", "--help"])
        .output()
        .with_context(|| format!("running {} serve --help", bin.display()))?;
    let help =
        String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    let has = |f: &str| {
        help.split(|c: char| c.is_whitespace() || c == ',' || c == '=' || c == '[' || c == ']')
            .any(|w| w == f)
    };
    let (ok, missing): (Vec<&str>, Vec<&str>) = wanted.iter().partition(|f| has(f));
    Ok((
        ok.into_iter().map(String::from).collect(),
        missing.into_iter().map(String::from).collect(),
    ))
}

/// First line of `<bin> --version`.
pub fn version(bin: &Path) -> Option<String> {
    let out = Command::new(bin).arg("--version").output().ok()?;
    let text =
        String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    text.lines()
        .next()
        .map(|l| l.trim().to_string())
        .filter(|l| !l.is_empty())
}

/// Bytes under `dir`, recursively: `(apparent, allocated)` where apparent is
/// the sum of file lengths and allocated the sum of `st_blocks × 512`.
/// Missing directories count 0; files that vanish while walking are skipped.
pub fn dir_bytes(dir: &Path) -> (u64, u64) {
    use std::os::unix::fs::MetadataExt;
    let mut total = (0u64, 0u64);
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(rd) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in rd.flatten() {
            let Ok(md) = e.path().symlink_metadata() else {
                continue;
            };
            if md.is_dir() {
                stack.push(e.path());
            } else if md.is_file() {
                total.0 += md.len();
                total.1 += md.blocks() * 512;
            }
        }
    }
    total
}

/// [`dir_bytes`] of each entry directly under `dir` (files grouped as `.`), sorted by name.
pub fn dir_breakdown(dir: &Path) -> Vec<(String, u64)> {
    let mut out: std::collections::BTreeMap<String, u64> = Default::default();
    if let Ok(rd) = std::fs::read_dir(dir) {
        for e in rd.flatten() {
            let Ok(md) = e.path().symlink_metadata() else {
                continue;
            };
            if md.is_dir() {
                out.insert(
                    e.file_name().to_string_lossy().to_string(),
                    dir_bytes(&e.path()).0,
                );
            } else if md.is_file() {
                *out.entry(".".into()).or_default() += md.len();
            }
        }
    }
    out.into_iter().collect()
}

/// Free bytes of the file system holding `dir` (`df -B1 --output=avail`).
pub fn free_bytes(dir: &Path) -> Option<u64> {
    let out = Command::new("df")
        .args(["-B1", "--output=avail"])
        .arg(dir)
        .output()
        .ok()?;
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .nth(1)?
        .trim()
        .parse()
        .ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_of_a_tree() {
        let d = tempfile::tempdir().expect("tempdir");
        std::fs::create_dir_all(d.path().join("a/b")).expect("mkdir");
        std::fs::write(d.path().join("a/b/x"), [0u8; 1000]).expect("write");
        std::fs::write(d.path().join("a/y"), [0u8; 24]).expect("write");
        std::fs::write(d.path().join("z"), [0u8; 3]).expect("write");
        assert_eq!(dir_bytes(d.path()).0, 1027);
        assert!(dir_bytes(d.path()).1 >= 1027);
        assert_eq!(dir_bytes(&d.path().join("missing")), (0, 0));
        assert_eq!(
            dir_breakdown(d.path()),
            vec![(".".to_string(), 3), ("a".to_string(), 1024)]
        );
        assert!(free_bytes(d.path()).is_some_and(|b| b > 0));
    }
}
