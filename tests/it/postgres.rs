//! A throw-away PostgreSQL cluster for the tests: Debian's `postgresql` (`initdb` + `pg_ctl` from
//! `/usr/lib/postgresql/<version>/bin`), started once per test binary on a free loopback port in a
//! fresh folder, as the unprivileged `postgres` user when the tests run as root (initdb refuses
//! root). Each test gets its own database ([`database_url`]). A guard process watches the test
//! binary and stops the cluster (`pg_ctl stop -m immediate`) and removes its folder when the binary
//! exits, however it exits. Nothing is skipped: a cluster that cannot start fails the test loudly.
//!
//! The same file is compiled into the library's unit tests (`store::tests`) with `#[path]`, so the
//! store's behaviour tests run against PostgreSQL too; it uses only the standard library.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicUsize, Ordering};

/// The running cluster of this test binary.
pub struct Cluster {
    bin: PathBuf,
    port: u16,
}

static CLUSTER: OnceLock<Cluster> = OnceLock::new();
static DATABASES: AtomicUsize = AtomicUsize::new(0);

/// A new, empty database in the test binary's cluster (started on first use), as the URL golive
/// takes: `postgres://golive@127.0.0.1:PORT/NAME`.
pub fn database_url() -> String {
    let cluster =
        CLUSTER.get_or_init(|| Cluster::start().unwrap_or_else(|error| panic!("{error}")));
    let name = format!(
        "golive_test_{}_{}",
        std::process::id(),
        DATABASES.fetch_add(1, Ordering::SeqCst)
    );
    cluster.psql(&format!("CREATE DATABASE {name}"));
    format!("postgres://golive@127.0.0.1:{}/{name}", cluster.port)
}

/// Runs `sql` (one or more statements) on the database at `url` (one [`database_url`] gave).
pub fn run_sql(url: &str, sql: &str) {
    let cluster = CLUSTER.get().expect("the cluster is running");
    run(Command::new(cluster.bin.join("psql")).args([
        "-d",
        url,
        "-v",
        "ON_ERROR_STOP=1",
        "-q",
        "-c",
        sql,
    ]))
    .unwrap_or_else(|error| panic!("{error}"));
}

/// The first column of the first row `sql` answers on the database at `url`, as text.
pub fn query_sql(url: &str, sql: &str) -> String {
    let cluster = CLUSTER.get().expect("the cluster is running");
    run_output(Command::new(cluster.bin.join("psql")).args(["-d", url, "-At", "-c", sql]))
        .unwrap_or_else(|error| panic!("{error}"))
        .trim()
        .to_string()
}

impl Cluster {
    fn start() -> Result<Cluster, String> {
        let bin = postgres_bin()?;
        let as_root = run_output(Command::new("id").arg("-u"))?.trim() == "0";
        let dir = std::env::temp_dir().join(format!("golive-pg-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir)
            .map_err(|error| format!("cannot create {}: {error}", dir.display()))?;
        if as_root {
            run(Command::new("chown").args(["postgres:postgres"]).arg(&dir))?;
        }
        let data = dir.join("data");
        let as_owner = |program: &str| -> Command {
            if as_root {
                let mut command = Command::new("runuser");
                command
                    .args(["-u", "postgres", "--"])
                    .arg(bin.join(program));
                command
            } else {
                Command::new(bin.join(program))
            }
        };
        run(as_owner("initdb").arg("-D").arg(&data).args([
            "-A",
            "trust",
            "-U",
            "golive",
            "--no-sync",
        ]))?;
        guard(&dir, &data, &bin, as_root)?;
        let mut last_error = String::new();
        for _ in 0..3 {
            let port = free_port()?;
            let options = format!(
                "-p {port} -k {} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=200",
                dir.display()
            );
            let log = dir.join("postgres.log");
            match run(as_owner("pg_ctl")
                .arg("-D")
                .arg(&data)
                .arg("-l")
                .arg(&log)
                .args(["-o", &options, "-w", "-t", "60", "start"]))
            {
                Ok(()) => return Ok(Cluster { bin, port }),
                Err(error) => {
                    let log = std::fs::read_to_string(&log).unwrap_or_default();
                    last_error = format!("{error}\n{log}");
                }
            }
        }
        Err(format!("PostgreSQL did not start: {last_error}"))
    }

    /// Runs one statement as the cluster's superuser.
    fn psql(&self, sql: &str) {
        run(Command::new(self.bin.join("psql"))
            .args([
                "-h",
                "127.0.0.1",
                "-p",
                &self.port.to_string(),
                "-U",
                "golive",
            ])
            .args(["-d", "postgres", "-v", "ON_ERROR_STOP=1", "-q", "-c", sql]))
        .unwrap_or_else(|error| panic!("{error}"));
    }
}

/// The newest PostgreSQL server installed by Debian's packages.
fn postgres_bin() -> Result<PathBuf, String> {
    let root = Path::new("/usr/lib/postgresql");
    let mut versions: Vec<u32> = std::fs::read_dir(root)
        .map_err(|error| format!("PostgreSQL is not installed ({}: {error}); scripts/test installs it with apt-get install postgresql", root.display()))?
        .filter_map(|entry| entry.ok()?.file_name().to_str()?.parse().ok())
        .filter(|version| root.join(format!("{version}/bin/initdb")).exists())
        .collect();
    versions.sort_unstable();
    let version = versions
        .pop()
        .ok_or("PostgreSQL's server (initdb) is not installed; scripts/test installs it with apt-get install postgresql")?;
    Ok(root.join(format!("{version}/bin")))
}

/// A process that outlives nothing: it waits for this test binary to exit, then stops the cluster
/// at once and removes its folder.
fn guard(dir: &Path, data: &Path, bin: &Path, as_root: bool) -> Result<(), String> {
    let stop = format!(
        "{}{} stop -D {} -m immediate",
        if as_root {
            "runuser -u postgres -- "
        } else {
            ""
        },
        bin.join("pg_ctl").display(),
        data.display()
    );
    let script = format!(
        "while kill -0 {pid} 2>/dev/null; do sleep 1; done; {stop} >/dev/null 2>&1; rm -rf {dir}",
        pid = std::process::id(),
        dir = dir.display()
    );
    Command::new("sh")
        .args(["-c", &script])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .map(|_| ())
        .map_err(|error| format!("cannot start the cluster's guard: {error}"))
}

fn free_port() -> Result<u16, String> {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .map(|address| address.port())
        .map_err(|error| format!("no free port: {error}"))
}

fn run(command: &mut Command) -> Result<(), String> {
    run_output(command).map(|_| ())
}

fn run_output(command: &mut Command) -> Result<String, String> {
    let output = command
        .stdin(Stdio::null())
        .output()
        .map_err(|error| format!("cannot run {command:?}: {error}"))?;
    if !output.status.success() {
        return Err(format!(
            "{command:?} failed ({}): {}{}",
            output.status,
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        ));
    }
    Ok(String::from_utf8_lossy(&output.stdout).into_owned())
}
