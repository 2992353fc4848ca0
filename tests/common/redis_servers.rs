//! Private redis-server processes for tests that need one set up their own way (a password, TLS): started on
//! a free loopback port with no persistence, killed when dropped. `scripts/test` installs redis-server.

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// A redis-server of the test's own, killed (and its folder removed) when dropped.
pub(crate) struct RedisServer {
    pub(crate) port: u16,
    pub(crate) dir: PathBuf,
    child: Child,
}

impl RedisServer {
    /// Starts redis-server on a free port with the extra arguments `args` (a password, TLS); waits (10 s at
    /// most) until the port accepts connections.
    pub(crate) fn start(args: &[&str]) -> RedisServer {
        let port = free_port();
        let dir = std::env::temp_dir().join(format!("afterhours-redis-{}-{port}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let child = Command::new("redis-server")
            .args([
                "--port",
                &port.to_string(),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
            ])
            .arg("--dir")
            .arg(&dir)
            .args(args)
            .stdout(Stdio::null())
            .spawn()
            .expect("redis-server must be installed: run the tests with ./scripts/test");
        let server = RedisServer { port, dir, child };
        server.wait_for(port);
        server
    }

    /// Starts redis-server answering TLS too, on a second free port (returned), with the server certificate of
    /// `pki` and the extra arguments `args`.
    pub(crate) fn start_tls(pki: &Pki, args: &[&str]) -> (RedisServer, u16) {
        let tls_port = free_port();
        let tls_port_text = tls_port.to_string();
        let mut all = vec![
            "--tls-port",
            tls_port_text.as_str(),
            "--tls-cert-file",
            pki.server_cert.to_str().unwrap(),
            "--tls-key-file",
            pki.server_key.to_str().unwrap(),
            "--tls-ca-cert-file",
            pki.ca_cert.to_str().unwrap(),
            "--tls-auth-clients",
            "no",
        ];
        all.extend_from_slice(args);
        let server = Self::start(&all);
        server.wait_for(tls_port);
        (server, tls_port)
    }

    fn wait_for(&self, port: u16) {
        let address = SocketAddr::from(([127, 0, 0, 1], port));
        for _ in 0..200 {
            if TcpStream::connect(address).is_ok() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("redis-server did not start listening on {address}");
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A free loopback port (bound, then released).
pub(crate) fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// A private certificate authority and a server certificate it signed for `localhost` and 127.0.0.1, made
/// with the openssl command line in a folder of their own (removed when dropped).
pub(crate) struct Pki {
    pub(crate) dir: PathBuf,
    pub(crate) ca_cert: PathBuf,
    pub(crate) server_cert: PathBuf,
    pub(crate) server_key: PathBuf,
}

impl Pki {
    pub(crate) fn new() -> Pki {
        let dir = std::env::temp_dir().join(format!("afterhours-pki-{}-{}", std::process::id(), free_port()));
        std::fs::create_dir_all(&dir).unwrap();
        let openssl = |args: &[&str]| {
            let output = Command::new("openssl")
                .args(args)
                .current_dir(&dir)
                .output()
                .expect("the openssl command line makes the test certificates: install openssl");
            assert!(
                output.status.success(),
                "openssl {args:?}: {}",
                String::from_utf8_lossy(&output.stderr)
            );
        };
        openssl(&[
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            "ca.key",
            "-out",
            "ca.crt",
            "-days",
            "2",
            "-subj",
            "/CN=afterhours test CA",
        ]);
        openssl(&[
            "req",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            "server.key",
            "-out",
            "server.csr",
            "-subj",
            "/CN=localhost",
        ]);
        std::fs::write(
            dir.join("server.ext"),
            "subjectAltName=DNS:localhost,IP:127.0.0.1\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n",
        )
        .unwrap();
        openssl(&[
            "x509",
            "-req",
            "-in",
            "server.csr",
            "-CA",
            "ca.crt",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-out",
            "server.crt",
            "-days",
            "2",
            "-extfile",
            "server.ext",
        ]);
        Pki {
            ca_cert: dir.join("ca.crt"),
            server_cert: dir.join("server.crt"),
            server_key: dir.join("server.key"),
            dir,
        }
    }

    pub(crate) fn ca_pem(&self) -> Vec<u8> {
        std::fs::read(&self.ca_cert).unwrap()
    }
}

impl Drop for Pki {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Runs `afterhours --config CONFIG ARGS...` with only `PATH` and `env` in its environment: (success, stdout,
/// stderr).
pub(crate) fn afterhours(bin: &str, config: &Path, args: &[&str], env: &[(&str, &str)]) -> (bool, String, String) {
    let output = Command::new(bin)
        .arg("--config")
        .arg(config)
        .args(args)
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .envs(env.iter().copied())
        .output()
        .unwrap();
    (
        output.status.success(),
        String::from_utf8(output.stdout).unwrap(),
        String::from_utf8(output.stderr).unwrap(),
    )
}
