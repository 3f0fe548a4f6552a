//! A throwaway PostgreSQL cluster for the test suite, from the machine's PostgreSQL binaries.
//!
//! If `DATABASE_URL` is set, the tests use it. Otherwise `initdb` and `pg_ctl` (on PATH or under
//! `/usr/lib/postgresql/*/bin`) create a cluster in a temporary directory on a free loopback port,
//! as the `postgres` user when running as root (`initdb` refuses root); it is stopped and removed
//! when the tests are done. Without the binaries, the PostgreSQL tests do not run, and the suite
//! says so loudly. The cluster also takes TLS, with a server certificate for `127.0.0.1` and
//! `localhost` signed by a certificate authority made for it (`Cluster::ca`, a PEM file), so that
//! the tests can connect with `sslmode=verify-full`.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::Command;

/// A running cluster, stopped and removed on drop.
pub(crate) struct Cluster {
    dir: PathBuf,
    pg_ctl: PathBuf,
    as_postgres: bool,
    pub(crate) url: String,
    /// The PEM certificate of the authority that signed the server's certificate.
    pub(crate) ca: PathBuf,
}

/// Writes a certificate authority (`ca.pem`) and a server certificate for `127.0.0.1` and
/// `localhost` signed by it (`server.pem`, `server.key`, the key readable by its owner only) to
/// `dir`; returns their paths.
fn write_tls_files(dir: &Path) -> Result<(PathBuf, PathBuf, PathBuf), String> {
    use rcgen::{
        BasicConstraints, CertificateParams, CertifiedIssuer, DnType, ExtendedKeyUsagePurpose,
        IsCa, KeyPair, KeyUsagePurpose,
    };
    let failed = |e: rcgen::Error| format!("cannot make the cluster's TLS certificates: {e}");
    let mut ca = CertificateParams::new(Vec::<String>::new()).map_err(failed)?;
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca.distinguished_name
        .push(DnType::CommonName, "oauth-lifecycle test PostgreSQL CA");
    ca.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    let issuer =
        CertifiedIssuer::self_signed(ca, KeyPair::generate().map_err(failed)?).map_err(failed)?;
    let mut server = CertificateParams::new(vec!["127.0.0.1".to_owned(), "localhost".to_owned()])
        .map_err(failed)?;
    server
        .distinguished_name
        .push(DnType::CommonName, "oauth-lifecycle test PostgreSQL");
    server.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    let key = KeyPair::generate().map_err(failed)?;
    let leaf = server.signed_by(&key, &issuer).map_err(failed)?;
    let paths = (
        dir.join("ca.pem"),
        dir.join("server.pem"),
        dir.join("server.key"),
    );
    let write = |path: &Path, text: String, mode: u32| -> Result<(), String> {
        use std::io::Write as _;
        use std::os::unix::fs::OpenOptionsExt as _;
        std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(mode)
            .open(path)
            .and_then(|mut file| file.write_all(text.as_bytes()))
            .map_err(|e| format!("cannot write {}: {e}", path.display()))
    };
    write(&paths.0, issuer.pem(), 0o644)?;
    write(&paths.1, leaf.pem(), 0o644)?;
    write(&paths.2, key.serialize_pem(), 0o600)?;
    Ok(paths)
}

fn find(binary: &str) -> Option<PathBuf> {
    if let Ok(path) = std::env::var("PATH") {
        for dir in std::env::split_paths(&path) {
            let candidate = dir.join(binary);
            if candidate.is_file() {
                return Some(candidate);
            }
        }
    }
    let mut versions: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .filter_map(|e| e.ok().map(|e| e.path().join("bin").join(binary)))
        .filter(|p| p.is_file())
        .collect();
    versions.sort();
    versions.pop()
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
        .unwrap_or(false)
}

fn run(as_postgres: bool, program: &Path, args: &[&str]) -> Result<(), String> {
    let mut command = if as_postgres {
        let mut c = Command::new("runuser");
        c.args(["-u", "postgres", "--"]).arg(program);
        c
    } else {
        Command::new(program)
    };
    let output = command
        .args(args)
        .output()
        .map_err(|e| format!("cannot run {}: {e}", program.display()))?;
    if output.status.success() {
        Ok(())
    } else {
        Err(format!(
            "{} failed: {}{}",
            program.display(),
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        ))
    }
}

impl Cluster {
    /// Starts a cluster, or `Ok(None)` when the machine has no PostgreSQL binaries.
    pub(crate) fn start() -> Result<Option<Cluster>, String> {
        let (Some(initdb), Some(pg_ctl)) = (find("initdb"), find("pg_ctl")) else {
            return Ok(None);
        };
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map_err(|e| format!("no free port: {e}"))?
            .port();
        let dir = std::env::temp_dir().join(format!("oauth-pg-{}-{port}", std::process::id()));
        std::fs::create_dir_all(&dir)
            .map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
        let (ca, cert, key) = write_tls_files(&dir)?;
        let as_postgres = is_root();
        if as_postgres {
            let status = Command::new("chown")
                .args(["-R", "postgres:postgres"])
                .arg(&dir)
                .status()
                .map_err(|e| format!("chown: {e}"))?;
            if !status.success() {
                return Err("cannot give the cluster directory to the postgres user".into());
            }
        }
        let data = dir.join("data");
        let data_str = data.to_string_lossy().into_owned();
        run(
            as_postgres,
            &initdb,
            &[
                "-D",
                &data_str,
                "--auth=trust",
                "--username=postgres",
                "--no-sync",
                "-E",
                "UTF8",
            ],
        )?;
        let options = format!(
            "-p {port} -c listen_addresses=127.0.0.1 -c unix_socket_directories={} -c fsync=off -c max_connections=200 -c ssl=on -c ssl_cert_file={} -c ssl_key_file={}",
            dir.display(),
            cert.display(),
            key.display()
        );
        let log = dir.join("postgres.log").to_string_lossy().into_owned();
        run(
            as_postgres,
            &pg_ctl,
            &["-D", &data_str, "-l", &log, "-o", &options, "-w", "start"],
        )?;
        eprintln!(
            "postgres: throwaway cluster on 127.0.0.1:{port} in {}",
            dir.display()
        );
        Ok(Some(Cluster {
            dir,
            pg_ctl,
            as_postgres,
            url: format!("postgres://postgres@127.0.0.1:{port}/postgres"),
            ca,
        }))
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        let data = self.dir.join("data").to_string_lossy().into_owned();
        if let Err(e) = run(
            self.as_postgres,
            &self.pg_ctl,
            &["-D", &data, "-m", "immediate", "stop"],
        ) {
            eprintln!("postgres: could not stop the throwaway cluster: {e}");
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
