//! Build-time facts the binary reports about itself: the git commit it was built from (`-V`, JUnit and the
//! journal's provenance), or "unknown" when the source is not a git checkout or git is missing.

use std::process::Command;

fn git(args: &[&str]) -> Option<String> {
    let out = Command::new("git").args(args).output().ok()?;
    let text = String::from_utf8(out.stdout).ok()?.trim().to_string();
    (out.status.success() && !text.is_empty()).then_some(text)
}

fn main() {
    // A packager building from a tarball can say which commit it was.
    println!("cargo:rerun-if-env-changed=DEXTHIL_GIT_COMMIT");
    let commit = std::env::var("DEXTHIL_GIT_COMMIT")
        .ok()
        .filter(|c| !c.is_empty())
        .or_else(|| git(&["rev-parse", "--short=12", "HEAD"]))
        .unwrap_or_else(|| "unknown".to_string());
    println!("cargo:rustc-env=DEXTHIL_GIT_COMMIT={commit}");
    // Rebuild when HEAD moves: HEAD itself, and the branch it points at (worktrees keep both elsewhere).
    for path in [git(&["rev-parse", "--git-path", "HEAD"])]
        .into_iter()
        .chain([git(&["symbolic-ref", "-q", "HEAD"])
            .and_then(|r| git(&["rev-parse", "--git-path", &r]))])
        .flatten()
    {
        println!("cargo:rerun-if-changed={path}");
    }
    println!("cargo:rerun-if-changed=build.rs");
}
