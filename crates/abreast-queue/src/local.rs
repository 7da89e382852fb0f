//! [`LocalRedis`]: a `redis-server` of its own, on a free port of 127.0.0.1 in a temporary
//! folder, for tests and the bench. It never touches port 6379 or a server it did not start,
//! and it is killed when dropped.

use std::io;
use std::net::{Ipv4Addr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

/// A `redis-server` started for one test or bench run, with append-only persistence (synced
/// every second, as deployed; a stop by SIGTERM syncs it), so [`LocalRedis::restart`] loses
/// nothing.
#[derive(Debug)]
pub struct LocalRedis {
    child: Option<Child>,
    port: u16,
    dir: PathBuf,
    password: Option<String>,
    /// With TLS: the server's certificate chain, its key, and the CA clients' certificates are
    /// checked against (clients are not asked for one).
    tls: Option<[PathBuf; 3]>,
}

impl LocalRedis {
    /// Starts a server with no password.
    pub fn start() -> io::Result<LocalRedis> {
        LocalRedis::start_as(None, None)
    }

    /// Starts a server that asks for `password`.
    pub fn start_with_password(password: &str) -> io::Result<LocalRedis> {
        LocalRedis::start_as(Some(password.to_owned()), None)
    }

    /// Starts a server that speaks only TLS (`rediss://`), with this certificate (PEM, for
    /// 127.0.0.1), its key and its CA.
    pub fn start_tls(certificate: &Path, key: &Path, ca: &Path) -> io::Result<LocalRedis> {
        LocalRedis::start_as(
            None,
            Some([certificate.to_owned(), key.to_owned(), ca.to_owned()]),
        )
    }

    fn start_as(password: Option<String>, tls: Option<[PathBuf; 3]>) -> io::Result<LocalRedis> {
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let dir = std::env::temp_dir().join(format!(
            "abreast-redis-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&dir)?;
        let port = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))?
            .local_addr()?
            .port();
        let mut redis = LocalRedis {
            child: None,
            port,
            dir,
            password,
            tls,
        };
        redis.launch()?;
        Ok(redis)
    }

    fn launch(&mut self) -> io::Result<()> {
        let mut command = Command::new(redis_server());
        match &self.tls {
            None => command.arg("--port").arg(self.port.to_string()),
            Some([certificate, key, ca]) => command
                .args(["--port", "0", "--tls-auth-clients", "no", "--tls-port"])
                .arg(self.port.to_string())
                .arg("--tls-cert-file")
                .arg(certificate)
                .arg("--tls-key-file")
                .arg(key)
                .arg("--tls-ca-cert-file")
                .arg(ca),
        };
        command
            .args(["--bind", "127.0.0.1", "--save", "", "--appendonly", "yes"])
            .args(["--appendfsync", "everysec", "--daemonize", "no"])
            .arg("--dir")
            .arg(&self.dir)
            .arg("--logfile")
            .arg(self.dir.join("redis.log"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        if let Some(password) = &self.password {
            command.arg("--requirepass").arg(password);
        }
        let child = command.spawn().map_err(|error| {
            if error.kind() == io::ErrorKind::NotFound {
                io::Error::new(
                    error.kind(),
                    "redis-server is not installed, and the broker's tests and bench need it: \
                     install it (Debian and Ubuntu: apt-get install redis-server), or set \
                     REDIS_SERVER to its path",
                )
            } else {
                error
            }
        })?;
        self.child = Some(child);
        self.wait_ready()
    }

    /// Waits until the server accepts connections (a time limit only against a hang).
    fn wait_ready(&mut self) -> io::Result<()> {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if TcpStream::connect((Ipv4Addr::LOCALHOST, self.port)).is_ok() {
                return Ok(());
            }
            if let Some(child) = &mut self.child
                && let Some(status) = child.try_wait()?
            {
                return Err(io::Error::other(format!(
                    "redis-server exited with {status} at start; its log: {}",
                    self.log()
                )));
            }
            if Instant::now() > deadline {
                return Err(io::Error::other(format!(
                    "redis-server did not listen on port {} within 20 s; its log: {}",
                    self.port,
                    self.log()
                )));
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("redis.log")).unwrap_or_default()
    }

    /// The server's port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The server's process id, while it runs (the bench reads its CPU time).
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// The folder of its data and log.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// `redis://[:PASSWORD@]127.0.0.1:PORT` (`rediss://` with TLS).
    pub fn url(&self) -> String {
        let scheme = if self.tls.is_some() {
            "rediss"
        } else {
            "redis"
        };
        match &self.password {
            Some(password) => format!("{scheme}://:{password}@127.0.0.1:{}", self.port),
            None => format!("{scheme}://127.0.0.1:{}", self.port),
        }
    }

    /// One command on a connection of its own, as the default user: the reply, arrays and
    /// maps flattened into their elements, each as text; an error reply is an error. For a
    /// server started without a password or TLS.
    pub fn command(&self, args: &[&str]) -> io::Result<Vec<String>> {
        fn flatten(value: redis::Value, into: &mut Vec<String>) {
            use redis::Value as V;
            match value {
                V::Array(items) | V::Set(items) => {
                    items.into_iter().for_each(|item| flatten(item, into));
                }
                V::Map(pairs) => {
                    for (key, value) in pairs {
                        flatten(key, into);
                        flatten(value, into);
                    }
                }
                V::BulkString(bytes) => into.push(String::from_utf8_lossy(&bytes).into_owned()),
                V::SimpleString(text) => into.push(text),
                V::Okay => into.push("OK".to_owned()),
                V::Int(number) => into.push(number.to_string()),
                V::Nil => into.push(String::new()),
                other => into.push(format!("{other:?}")),
            }
        }
        let (name, rest) = args
            .split_first()
            .ok_or_else(|| io::Error::other("no command given"))?;
        let client = redis::Client::open(self.url()).map_err(io::Error::other)?;
        let mut connection = client
            .get_connection_with_timeout(Duration::from_secs(30))
            .map_err(io::Error::other)?;
        let reply: redis::Value = redis::cmd(name)
            .arg(rest)
            .query(&mut connection)
            .map_err(io::Error::other)?;
        let mut flat = Vec::new();
        flatten(reply, &mut flat);
        Ok(flat)
    }

    /// Adds the user `name` with `password`: every command and key, but no pub/sub channel
    /// (`resetchannels`, what Redis 7 gives a new user by default), for tests of a broker that
    /// refuses abreast's announcements; the server's URL as that user. For a server started
    /// without a password or TLS.
    pub fn add_user_without_channels(&self, name: &str, password: &str) -> io::Result<String> {
        let rule = format!(">{password}");
        let rules = [
            "ACL",
            "SETUSER",
            name,
            "on",
            &rule,
            "~*",
            "resetchannels",
            "+@all",
        ];
        match self.command(&rules)?.as_slice() {
            [ok] if ok == "OK" => Ok(format!("redis://{name}:{password}@127.0.0.1:{}", self.port)),
            other => Err(io::Error::other(format!("ACL SETUSER answered {other:?}"))),
        }
    }

    /// Stops the server as an operator would (SIGTERM: it syncs its append-only file and
    /// exits), and waits for it.
    pub fn stop(&mut self) -> io::Result<()> {
        if let Some(mut child) = self.child.take() {
            // SAFETY: kill(2) on the pid of a child this struct started and has not reaped.
            unsafe {
                libc::kill(child.id() as libc::pid_t, libc::SIGTERM);
            }
            child.wait()?;
        }
        Ok(())
    }

    /// Stops the server and starts it again on the same port with the same data.
    pub fn restart(&mut self) -> io::Result<()> {
        self.stop()?;
        self.launch()
    }
}

impl Drop for LocalRedis {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn redis_server() -> PathBuf {
    std::env::var_os("REDIS_SERVER").map_or_else(|| PathBuf::from("redis-server"), PathBuf::from)
}
