//! golive as a service: the systemd unit passes `systemd-analyze verify` and its hardening holds,
//! the generated shell completions and man pages work, and the Debian package built by
//! `packaging/build-deb` installs on this machine (user, unit, checked example plan, completions,
//! man pages), keeps its state across an upgrade and a removal, and purges clean. The tools come
//! from `scripts/test`; a missing one fails the test with that advice, never skips it.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

const GOLIVE: &str = env!("CARGO_BIN_EXE_golive");

/// The Debian version of the package this test builds, so a leftover of an interrupted run is
/// told apart from a golive someone installed for real (which the test refuses to touch).
const TEST_VERSION: &str = "0.0.0~packaging-test";

fn repository() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Runs `command` to completion with no input; panics naming the program when it cannot start.
fn run(command: &mut Command) -> Output {
    command
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|error| panic!("cannot run {command:?}: {error}"))
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Runs `command` and panics with its output unless it exits 0; returns its standard output.
fn succeed(command: &mut Command) -> String {
    let output = run(command);
    assert!(
        output.status.success(),
        "{command:?} failed ({}):\n{}\n{}",
        output.status,
        text(&output.stdout),
        text(&output.stderr)
    );
    text(&output.stdout)
}

/// Fails the test (never skips it) when a tool `scripts/test` installs is missing.
fn require(program: &str, version_argument: &str, package: &str) {
    let found = Command::new(program)
        .arg(version_argument)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|status| status.success());
    assert!(
        found,
        "`{program}` ({package}) is required by this test: run scripts/test, which installs it"
    );
}

fn golive(arguments: &[&str]) -> String {
    succeed(Command::new(GOLIVE).args(arguments))
}

/// The unit as packaged, with ExecStart pointing at this build's binary (verify wants it to exist).
fn unit_for_this_build(folder: &Path) -> PathBuf {
    let unit = std::fs::read_to_string(repository().join("packaging/debian/golive.service"))
        .expect("packaging/debian/golive.service");
    assert!(
        unit.contains("\nExecStart=/usr/bin/golive run /etc/golive/plan.toml\n"),
        "the unit runs the installed binary on /etc/golive/plan.toml:\n{unit}"
    );
    let path = folder.join("golive.service");
    std::fs::write(
        &path,
        unit.replace("/usr/bin/golive ", &format!("{GOLIVE} ")),
    )
    .unwrap();
    path
}

#[test]
fn the_service_unit_passes_systemd_analyze_verify_and_keeps_its_hardening() {
    require("systemd-analyze", "--version", "Debian package systemd");
    let folder = tempfile::tempdir().unwrap();
    let unit = unit_for_this_build(folder.path());

    // verify exits 0 on keys it ignores (a typo, a bad value), so its output must be empty too.
    // The man page it names is installed by the package; the package test verifies with it.
    let verify = run(Command::new("systemd-analyze")
        .args(["verify", "--man=no"])
        .arg(&unit));
    let said = format!("{}{}", text(&verify.stdout), text(&verify.stderr));
    assert!(
        verify.status.success() && said.trim().is_empty(),
        "systemd-analyze verify: {}\n{said}",
        verify.status
    );

    // The offline security review: the protections the service relies on are each in force (a
    // weaker value such as ProtectSystem=full counts as missing), and the overall exposure (10 is
    // none at all) stays at most 2.0; the unit scores 1.2 today.
    let security = succeed(
        Command::new("systemd-analyze")
            .args(["security", "--offline=true", "--man=no", "--json=short"])
            .args(["--threshold=20", "--no-pager"])
            .arg(&unit),
    );
    let findings: Vec<Finding> = serde_json::from_str(&security).expect("security JSON");
    for required in HARDENING {
        let finding = findings.iter().find(|finding| finding.name == *required);
        assert!(
            finding.is_some_and(|finding| finding.set == Some(true)),
            "the unit lost {required}: {finding:?}"
        );
    }
}

/// The protections of `systemd-analyze security` the unit must have, by the names it reports.
const HARDENING: &[&str] = &[
    "User=/DynamicUser=",
    "NoNewPrivileges=",
    "ProtectSystem=",
    "ProtectHome=",
    "PrivateTmp=",
    "PrivateDevices=",
    "AmbientCapabilities=",
    "CapabilityBoundingSet=~CAP_SYS_ADMIN",
    "CapabilityBoundingSet=~CAP_NET_ADMIN",
    "RestrictAddressFamilies=~AF_PACKET",
    "RestrictAddressFamilies=~AF_NETLINK",
    "SystemCallFilter=~@privileged",
    "SystemCallArchitectures=",
    "ProtectKernelTunables=",
    "ProtectKernelModules=",
    "ProtectControlGroups=",
    "RestrictSUIDSGID=",
    "MemoryDenyWriteExecute=",
];

/// One line of `systemd-analyze security --json=short`.
#[derive(Debug, serde::Deserialize)]
struct Finding {
    name: String,
    set: Option<bool>,
}

#[test]
fn bash_completion_parses_and_completes_subcommands_and_values() {
    let folder = tempfile::tempdir().unwrap();
    let script = folder.path().join("golive.bash");
    std::fs::write(&script, golive(&["completions", "bash"])).unwrap();
    succeed(Command::new("bash").arg("-n").arg(&script));

    // What a user gets pressing Tab after `golive ch` and after `golive run --log-format `.
    let complete = |words: &str, current: usize| {
        let program = format!(
            "source {}; COMP_WORDS=({words}); COMP_CWORD={current}; \
             _golive golive \"${{COMP_WORDS[$COMP_CWORD]}}\" \"${{COMP_WORDS[$COMP_CWORD-1]}}\"; \
             printf '%s\\n' \"${{COMPREPLY[@]}}\"",
            script.display()
        );
        succeed(Command::new("bash").arg("-c").arg(program))
    };
    assert_eq!(complete("golive ch", 1), "check\nchecklist\nchecks\n");
    assert_eq!(complete("golive run --log-format ''", 3), "text\njson\n");

    let zsh = golive(&["completions", "zsh"]);
    assert!(zsh.starts_with("#compdef golive"), "{zsh:.200}");
    let fish = golive(&["completions", "fish"]);
    assert!(fish.contains("complete -c golive"), "{fish:.200}");
}

#[test]
fn the_man_pages_render_without_warnings_and_list_every_subcommand() {
    require(
        "groff",
        "--version",
        "Debian package groff-base, with man-db",
    );
    let folder = tempfile::tempdir().unwrap();
    let page = folder.path().join("golive.1");
    std::fs::write(&page, golive(&["man"])).unwrap();
    let rendered = run(Command::new("groff")
        .args(["-man", "-Tutf8", "-ww", "-rLL=100n", "-P-bou"])
        .arg(&page));
    assert!(
        rendered.status.success() && rendered.stderr.is_empty(),
        "groff: {}",
        text(&rendered.stderr)
    );
    let rendered = text(&rendered.stdout);
    for heading in [
        "NAME",
        "SYNOPSIS",
        "SUBCOMMANDS",
        "golive-run(1)",
        "golive-completions(1)",
    ] {
        assert!(rendered.contains(heading), "{heading} missing:\n{rendered}");
    }

    let pages = folder.path().join("pages");
    std::fs::create_dir(&pages).unwrap();
    golive(&["man", "--dir", pages.to_str().unwrap()]);
    let run_page = std::fs::read_to_string(pages.join("golive-run.1")).expect("golive-run.1");
    assert!(run_page.contains("listen"), "{run_page}");
    assert!(pages.join("golive-phase-advance.1").exists());
}

/// Purges the test's package when the test ends, also when an assertion failed half-way, so no
/// run leaves a golive installed on the machine.
struct Installed;

impl Drop for Installed {
    fn drop(&mut self) {
        let _ = run(Command::new("dpkg").args(["--purge", "golive"]));
    }
}

/// The version of golive dpkg knows as installed, if any.
fn installed_version() -> Option<String> {
    let output = run(Command::new("dpkg-query").args(["-W", "-f=${Status} ${Version}", "golive"]));
    let status = text(&output.stdout);
    status
        .strip_prefix("install ok installed ")
        .map(|version| version.trim().to_string())
}

/// Builds the package with `packaging/build-deb` from this test build's binary (the same source
/// as a release build, without compiling it again in release mode): it is copied to where a
/// release build would be, in a target folder of the test's own.
fn build_package(folder: &Path) -> PathBuf {
    let release = folder.join("target/release");
    std::fs::create_dir_all(&release).unwrap();
    std::fs::copy(GOLIVE, release.join("golive")).unwrap();
    let package = folder.join("golive.deb");
    succeed(
        Command::new(repository().join("packaging/build-deb"))
            .args(["--no-build", "--fast", "--deb-version", TEST_VERSION, "-o"])
            .arg(&package)
            .env("CARGO_TARGET_DIR", folder.join("target"))
            .current_dir(repository()),
    );
    package
}

fn assert_installed_layout() {
    for file in [
        "/usr/bin/golive",
        "/usr/lib/systemd/system/golive.service",
        "/etc/golive/plan.toml.example",
        "/etc/golive/golive.env",
        "/usr/share/bash-completion/completions/golive",
        "/usr/share/zsh/vendor-completions/_golive",
        "/usr/share/fish/vendor_completions.d/golive.fish",
        "/usr/share/man/man1/golive.1.gz",
        "/usr/share/man/man1/golive-run.1.gz",
        "/usr/share/doc/golive/operations.md",
    ] {
        assert!(Path::new(file).exists(), "{file} is not installed");
    }
    use std::os::unix::fs::PermissionsExt;
    let env_mode = std::fs::metadata("/etc/golive/golive.env")
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(
        env_mode & 0o777,
        0o600,
        "the secrets file is readable by root only"
    );

    let user = succeed(Command::new("getent").args(["passwd", "golive"]));
    let fields: Vec<&str> = user.trim().split(':').collect();
    assert_eq!(fields.get(5), Some(&"/var/lib/golive"), "{user}");
    assert_eq!(fields.get(6), Some(&"/usr/sbin/nologin"), "{user}");
    let uid: u32 = fields[2].parse().unwrap();
    assert!(uid < 1000, "golive is a system user: {user}");

    // The installed golive, as the service's user, accepts the installed example.
    let checked = succeed(
        Command::new("runuser")
            .args(["-u", "golive", "--", "/usr/bin/golive", "check"])
            .arg("/etc/golive/plan.toml.example"),
    );
    assert!(checked.starts_with("plan ok"), "{checked}");
    let example = std::fs::read_to_string("/etc/golive/plan.toml.example").unwrap();
    assert!(
        example.contains("\ndata_dir = \"/var/lib/golive\""),
        "state under /var/lib/golive"
    );

    // The installed unit with everything it names in place, its man page included.
    let verify =
        run(Command::new("systemd-analyze")
            .args(["verify", "/usr/lib/systemd/system/golive.service"]));
    let said = format!("{}{}", text(&verify.stdout), text(&verify.stderr));
    assert!(verify.status.success() && said.trim().is_empty(), "{said}");
    let manual = succeed(
        Command::new("man")
            .args(["-P", "cat", "golive"])
            .env("MANWIDTH", "100"),
    );
    assert!(manual.contains("golive-run(1)"), "{manual}");
}

#[test]
fn the_debian_package_installs_a_checked_service_keeps_state_on_upgrade_and_purges_clean() {
    require("cargo-deb", "--version", "cargo install --locked cargo-deb");
    require("dpkg", "--version", "Debian's dpkg");
    require("systemd-analyze", "--version", "Debian package systemd");
    require("man", "--version", "Debian package man-db");
    let whoami = succeed(Command::new("id").arg("-u"));
    assert_eq!(
        whoami.trim(),
        "0",
        "dpkg -i needs root: run scripts/test as root (as CI does)"
    );
    match installed_version() {
        None => {}
        Some(version) if version == TEST_VERSION => {
            succeed(Command::new("dpkg").args(["--purge", "golive"])).clear()
        }
        Some(version) => panic!(
            "golive {version} is installed on this machine; this test installs and purges its own \
             package, so it leaves that one alone: remove it first (dpkg --purge golive)"
        ),
    }
    let folder = tempfile::tempdir().unwrap();
    let package = build_package(folder.path());

    let guard = Installed;
    succeed(Command::new("dpkg").arg("-i").arg(&package));
    assert_eq!(installed_version().as_deref(), Some(TEST_VERSION));
    assert_installed_layout();

    // State the daemon wrote survives an upgrade (the same package again) and a removal.
    let state = Path::new("/var/lib/golive/golive.db");
    std::fs::create_dir_all("/var/lib/golive").unwrap();
    std::fs::write(state, "the launch's store").unwrap();
    succeed(Command::new("dpkg").arg("-i").arg(&package));
    assert!(state.exists(), "an upgrade keeps /var/lib/golive");
    succeed(Command::new("dpkg").args(["--remove", "golive"]));
    assert!(!Path::new("/usr/bin/golive").exists());
    assert!(state.exists(), "a removal keeps /var/lib/golive");
    assert!(
        Path::new("/etc/golive/golive.env").exists(),
        "a removal keeps conffiles"
    );

    succeed(Command::new("dpkg").args(["--purge", "golive"]));
    drop(guard);
    assert_eq!(installed_version(), None);
    for gone in [
        "/var/lib/golive",
        "/etc/golive",
        "/usr/lib/systemd/system/golive.service",
    ] {
        assert!(!Path::new(gone).exists(), "{gone} is left after purge");
    }
    let user = run(Command::new("getent").args(["passwd", "golive"]));
    assert!(
        !user.status.success(),
        "the golive user is left after purge"
    );
}
