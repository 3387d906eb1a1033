//! The dynamic servers (docs/COMPATIBILITY.md, Servers and modes): for each connection attempt
//! a monitor reports, decide the port's mode and make sure exactly one listener serves that
//! (protocol, address, port); a thread per listener accepts, a thread per connection runs the
//! mode's handler and then the attack pipeline. Replaces the C original's fork of a server
//! process per request and of a handler process per connection.
//!
//! The table of listeners is the single source of truth: a request for a served port only
//! refreshes the listener's activity time (so that it cannot time out between the verdict and
//! the SYN's arrival), and a listener that times out removes itself and closes its socket
//! while holding the table's lock, so a request never sees a half-closed server. However a
//! listener's thread ends (a panic included), a guard removes its entry if it is still its
//! own, so a failed listener never leaves its port marked as served.

use super::capacity::{Capacity, Demand, Resources, Room, MAX_CAPACITY};
use super::conn::{self, panic_text, SessionParams};
use super::limits::{Kind, Limits, Policy, Refusal, Refused, Slot};
use super::relay::{self, RelayKind, RelayParams};
use super::udp::{self, UdpExit, UdpFlowRecord, UdpHost, UdpParams};
use crate::attack::{portstr, Attack, Payload, ProxyConn};
use crate::budget::{Budget, Charge, Intake};
use crate::config::{Config, Mode, Proto};
use crate::conn_request::ConnRequest;
use crate::log::Throttle;
use crate::pipeline::output::events::Event;
use crate::sys::{net, strerror};
use crate::{log_debug, log_err, log_noisy, log_notice, log_warn};
use crate::{stats, text};
use std::collections::HashMap;
use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::os::fd::AsFd;
use std::panic::{self, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::thread;
use std::time::{Duration, Instant, SystemTime};

/// Listen backlog: large, so that a burst is queued instead of answered with SYN cookies or
/// lost (the C original used 10). The kernel caps it at net.core.somaxconn.
pub const BACKLOG: i32 = 4096;

pub use super::settings::{Settings, SettingsError};

/// What happened to a connection request.
#[derive(Debug)]
pub enum Outcome {
    /// The port is in ignore mode: the kernel handles the attempt.
    Ignored,
    /// A listener already serves the port.
    Served,
    /// A listener was bound for this request.
    Bound,
    /// The port could not be bound (a real service, no privilege for ports < 1024, ...).
    BindFailed(#[allow(dead_code)] io::Error),
}

type ListenKey = (Proto, SocketAddr);

struct ListenerState {
    last_activity: Instant,
    /// Tells this server from a later one on the same key.
    id: u64,
    /// A TCP listener's second descriptor, to stop it from here when it is evicted.
    wake: Option<TcpListener>,
    /// A UDP server chosen to make room under `max_listeners`: its thread closes it when no
    /// flow is open, unless a request for its port comes first and clears the flag.
    evicted: bool,
}

/// Ids of [`ListenerState`].
static NEXT_SERVER_ID: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);

/// The dynamic servers of the daemon.
pub struct Engine {
    settings: RwLock<Arc<Settings>>,
    listeners: Mutex<HashMap<ListenKey, ListenerState>>,
    limits: Limits,
    /// What the connections and flows read, until their records are processed.
    budget: Arc<Budget>,
    /// The system's limits, read at start-up, and the capacity they give with the settings.
    resources: Resources,
    capacity: RwLock<Capacity>,
    /// The load fell at the last [`Engine::tend`].
    fell: AtomicBool,
    stop: AtomicBool,
}

/// `addr` in the original's `ip:port` form (`[ip]:port` for IPv6). An IPv4 address, on
/// the log lines of every connection, is written digit by digit: the formatter costs ten
/// times as much.
fn show(addr: &SocketAddr) -> String {
    let SocketAddr::V4(a) = addr else { return addr.to_string() };
    let mut s = String::with_capacity(21);
    text::push_ipv4(&mut s, *a.ip());
    s.push(':');
    text::push_u64(&mut s, a.port().into());
    s
}

impl Engine {
    /// The engine for `settings`. Reads the system's limits for the capacity: call it after
    /// the open-file limit is raised and the privileges are dropped.
    pub fn new(settings: Settings) -> Arc<Engine> {
        let resources = Resources::probe();
        let capacity = Capacity::new(&resources, Demand::of(&settings.cfg));
        log_notice!("{}", capacity.describe(settings.cfg.max_connections));
        let limits = Limits::new(policy(&settings.cfg));
        let budget = Budget::new(buffer_budget(&settings.cfg));
        Arc::new(Engine {
            settings: RwLock::new(Arc::new(settings)),
            listeners: Mutex::default(),
            limits,
            budget,
            resources,
            capacity: RwLock::new(capacity),
            fell: AtomicBool::new(false),
            stop: AtomicBool::new(false),
        })
    }

    pub fn settings(&self) -> Arc<Settings> {
        Arc::clone(&self.settings.read().unwrap_or_else(|e| e.into_inner()))
    }

    /// Installs new settings (SIGHUP). Listeners keep running; new connections use them.
    pub fn replace_settings(&self, s: Settings) {
        let capacity = Capacity::new(&self.resources, Demand::of(&s.cfg));
        let old = self.capacity_now();
        if (old.describe(self.settings().cfg.max_connections)) != capacity.describe(s.cfg.max_connections) {
            log_notice!("{}", capacity.describe(s.cfg.max_connections));
        }
        *self.capacity.write().unwrap_or_else(|e| e.into_inner()) = capacity;
        self.limits.set_policy(policy(&s.cfg));
        self.budget.set_cap(buffer_budget(&s.cfg));
        *self.settings.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(s);
    }

    fn table(&self) -> std::sync::MutexGuard<'_, HashMap<ListenKey, ListenerState>> {
        self.listeners.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Asks every listener and connection to finish.
    pub fn stop(&self) {
        self.stop.store(true, Ordering::SeqCst);
    }

    fn capacity_now(&self) -> Capacity {
        self.capacity.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// The room the system gives beside the listeners open now.
    fn room(&self) -> Room {
        let listeners = self.table().len();
        self.capacity.read().unwrap_or_else(|e| e.into_inner()).room(listeners)
    }

    /// Admits a connection or UDP flow of `kind` from `source` (limits.rs).
    fn admit(&self, source: IpAddr, kind: Kind) -> Result<Slot, Refused> {
        let admitted = self.limits.admit(source, kind, &self.room());
        let proto = stats::STATS.proto(match kind {
            Kind::Connection { .. } => Proto::Tcp,
            Kind::Flow { .. } => Proto::Udp,
        });
        match &admitted {
            Ok(_) => proto.accepted.inc(),
            Err(r) => proto.refused(stats_cause(*r)).inc(),
        }
        admitted
    }

    /// Connections and flows open now.
    pub fn open_connections(&self) -> u64 {
        self.limits.open().into()
    }

    /// Called about once a second (the daemon's main loop): once the load has fallen, the
    /// memory the allocator kept for it is given back to the system, at the next call, when
    /// the threads of the connections that ended have given back their caches too.
    pub fn tend(&self) {
        let due = self.fell.swap(self.limits.load_fell(), Ordering::Relaxed);
        if due {
            crate::sys::mem::give_back();
        }
    }

    /// Whether connections to `port` are relayed (mirror or proxy mode): they hold a second
    /// socket.
    fn relayed(&self, proto: Proto, port: u16) -> bool {
        let s = self.settings();
        matches!(s.cfg.ports.mode_for(s.cfg.portconf_default, proto, port), Mode::Mirror | Mode::Proxy)
    }

    /// Waits (at most `max`) until every connection has ended and saved its attack.
    pub fn drain(&self, max: Duration) {
        let end = Instant::now() + max;
        while self.limits.taken() > 0 && Instant::now() < end {
            thread::sleep(Duration::from_millis(20));
        }
    }

    /// The address a listener for `local` binds: `bind_address` when it is set and of the
    /// same family, else the unspecified address of the request's family (IPv6: the address
    /// the packet was sent to when `bind_address` names an IPv4 address).
    fn bind_addr(cfg: &Config, local: &SocketAddr) -> SocketAddr {
        let ip = match local.ip() {
            IpAddr::V4(_) if !cfg.bind_address.is_unspecified() => IpAddr::V4(cfg.bind_address),
            IpAddr::V4(_) => IpAddr::V4(Ipv4Addr::UNSPECIFIED),
            IpAddr::V6(dst) if !cfg.bind_address.is_unspecified() => IpAddr::V6(dst),
            IpAddr::V6(_) => IpAddr::V6(Ipv6Addr::UNSPECIFIED),
        };
        SocketAddr::new(ip, local.port())
    }

    /// Handles a connection attempt reported by a monitor: ignore, or make sure
    /// a listener serves the port. Returns once the listener is bound, so that an nfq verdict
    /// given afterwards lets the attempt reach it.
    pub fn request(self: &Arc<Engine>, req: &ConnRequest) -> Outcome {
        let s = self.settings();
        let port = req.local.port();
        if s.cfg.ports.mode_for(s.cfg.portconf_default, req.proto, port) == Mode::Ignore {
            stats::STATS.proto(req.proto).refused(stats::Cause::Ignored).inc();
            return Outcome::Ignored;
        }
        if req.proto == Proto::Udp && crate::own_ports::is_own(port) {
            log_debug!("Datagram to port {}/udp of one of our own sockets, not an attack.", port);
            return Outcome::Ignored;
        }
        let bind = Self::bind_addr(&s.cfg, &req.local);
        let key = (req.proto, bind);
        let proto = req.proto.name();
        let mut table = self.table();
        if let Some(st) = table.get_mut(&key) {
            st.last_activity = Instant::now();
            st.evicted = false;
            return Outcome::Served;
        }
        let max = s.cfg.max_listeners as usize;
        if table.len() >= max {
            // Make room: the server requested least recently is closed: a TCP listener at
            // once, a UDP server when its flows are over. Beyond twice the cap (UDP servers
            // evicted and still busy) the port is not served.
            let room = table.len() < 2 * max;
            let oldest =
                table.iter().filter(|(_, st)| !st.evicted).min_by_key(|(_, st)| st.last_activity).map(|(k, _)| *k);
            match oldest {
                Some(k) if room => {
                    log_debug!(
                        "{}  Server closed to make room for new ports (max_listeners).",
                        portstr(k.1.port(), k.0)
                    );
                    if table.get(&k).is_some_and(|st| st.wake.is_some()) {
                        if let Some(wake) = table.remove(&k).and_then(|st| st.wake) {
                            let _ = net::shutdown_listener(&wake);
                        }
                    } else if let Some(st) = table.get_mut(&k) {
                        st.evicted = true;
                    }
                }
                _ => {
                    stats::STATS.proto(req.proto).refused(stats::Cause::Listeners).inc();
                    static WARN: Throttle = Throttle::new(Duration::from_secs(10));
                    if let Some(more) = WARN.due() {
                        log_warn!(
                            "Warning - Port {}/{} not served: limit of {} servers (max_listeners) reached ({} more since the last warning).",
                            port,
                            proto,
                            max,
                            more
                        );
                    }
                    return Outcome::BindFailed(io::Error::from_raw_os_error(libc::EMFILE));
                }
            }
        }
        let bound = match req.proto {
            Proto::Tcp => net::tcp_listener(&bind, BACKLOG).map(Server::Tcp),
            Proto::Udp => net::udp_socket(&bind).map(Server::Udp),
        };
        let server = match bound {
            Ok(l) => l,
            Err(e) => {
                stats::STATS.proto(req.proto).refused(stats::Cause::Bind).inc();
                if e.raw_os_error() == Some(libc::EADDRINUSE) {
                    if first_time_in_use(req.proto, port) {
                        log_warn!(
                            "Warning - Port {}/{} is held by another program: attempts on it are not trapped (said once per port).",
                            port,
                            proto
                        );
                    }
                    log_debug!("Unable to bind to port {}/{}: {}.", port, proto, strerror(&e));
                } else {
                    log_noisy!("Warning - Could not bind to port {}/{}: {}.", port, proto, strerror(&e));
                }
                return Outcome::BindFailed(e);
            }
        };
        let engine = Arc::clone(self);
        let id = NEXT_SERVER_ID.fetch_add(1, Ordering::Relaxed);
        let wake = match &server {
            Server::Tcp(l) => l.try_clone().ok(),
            Server::Udp(_) => None,
        };
        let spawned = thread::Builder::new().name(format!("listen {port}/{proto}")).spawn(move || match server {
            Server::Tcp(l) => engine.listen(key, id, l),
            Server::Udp(u) => engine.serve_udp(key, id, u),
        });
        match spawned {
            Ok(_) => {
                table.insert(key, ListenerState { last_activity: Instant::now(), id, wake, evicted: false });
                log_debug!("{}  Server bound to {}.", portstr(port, req.proto), show(&bind));
                Outcome::Bound
            }
            Err(e) => {
                log_warn!("Warning - Unable to start a server for port {}/{}: {}.", port, proto, strerror(&e));
                Outcome::BindFailed(e)
            }
        }
    }

    /// A UDP server's thread: every flow on the socket (udp/) until the listen timeout
    /// passes with no flow open, or the daemon stops.
    fn serve_udp(self: Arc<Engine>, key: ListenKey, id: u64, socket: UdpSocket) {
        let _entry = EntryGuard { engine: &self, key, id };
        let socket = socket; // closed before the entry goes
        crate::fault::inject("listener");
        let host = UdpServer { engine: Arc::clone(&self), key, id };
        // Whatever the exit, the entry goes with the guard.
        if let UdpExit::Failed(e) = udp::serve_udp(socket, &host, &self.stop) {
            log_err!("{}  Error - UDP server failed: {}.", portstr(key.1.port(), key.0), strerror(&e));
        }
    }

    /// Removes the table entry of server `id`, if it is still there (an evicted TCP
    /// listener's entry is gone, and a new server may hold the key already).
    fn forget(&self, key: &ListenKey, id: u64) {
        let mut table = self.table();
        if table.get(key).is_some_and(|st| st.id == id) {
            table.remove(key);
        }
    }

    /// A finished attack through the pipeline, on a thread of its own when one can be had
    /// (the UDP socket thread must not wait for plugins), else right here. `slot` (the flow's
    /// place, no longer open) is held until the record is processed: the records waiting
    /// for the pipeline, each on a thread, are bounded by the threads the system gives
    /// (limits.rs); beyond, the socket's thread processes them itself and reads no datagram
    /// meanwhile.
    fn process_detached(self: &Arc<Engine>, mut attack: Attack, mut slot: Slot) {
        if !slot.record_thread(&self.room()) {
            process(&self.settings(), &mut attack);
            return;
        }
        let job = Arc::new(Mutex::new(Some((attack, slot))));
        let theirs = Arc::clone(&job);
        let engine = Arc::clone(self);
        let spawned = thread::Builder::new().name("attack".into()).spawn(move || {
            if let Some((mut attack, _slot)) = theirs.lock().unwrap_or_else(|e| e.into_inner()).take() {
                process(&engine.settings(), &mut attack);
            }
        });
        if spawned.is_err() {
            if let Some((mut attack, _slot)) = job.lock().unwrap_or_else(|e| e.into_inner()).take() {
                process(&self.settings(), &mut attack);
            }
        }
    }

    /// A listener's thread: accept until the listen timeout passes without a connection or
    /// the daemon stops.
    fn listen(self: Arc<Engine>, key: ListenKey, id: u64, listener: TcpListener) {
        let _entry = EntryGuard { engine: &self, key, id };
        let listener = listener; // closed before the entry goes
        crate::fault::inject("listener");
        let port = key.1.port();
        let ps = portstr(port, key.0);
        if let Err(e) = listener.set_nonblocking(true) {
            log_err!("{}  Error - Unable to configure the server socket: {}.", ps, strerror(&e));
        }
        loop {
            if self.stop.load(Ordering::SeqCst) {
                return;
            }
            let ready = crate::sys::poll::poll_readable(&[listener.as_fd()], Some(Duration::from_secs(1)));
            let timeout = self.settings().listen_timeout;
            let mut table = self.table();
            let Some(idle) = table.get(&key).filter(|st| st.id == id).map(|st| st.last_activity.elapsed()) else {
                // Evicted under max_listeners: the entry is gone and the socket shut down.
                drop(table);
                drop(listener);
                log_noisy!("-> {}  Server closed to make room for new ports.", ps);
                return;
            };
            if matches!(ready.as_deref(), Ok([true])) {
                drop(table);
                self.accept_all(&key, &listener, &ps);
                continue;
            }
            if let Some(t) = timeout.filter(|t| idle >= *t) {
                table.remove(&key);
                drop(listener);
                drop(table);
                log_noisy!("-> {}  No incoming connection for {} seconds - server terminated.", ps, t.as_secs());
                return;
            }
        }
    }

    fn accept_all(self: &Arc<Engine>, key: &ListenKey, listener: &TcpListener, ps: &str) {
        for _ in 0..1024 {
            match listener.accept() {
                Ok((stream, peer)) => {
                    if let Some(st) = self.table().get_mut(key) {
                        st.last_activity = Instant::now();
                    }
                    self.spawn_connection(stream, peer, key.1.port(), ps);
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    // Out of descriptors or memory: refuse work for a moment, stay up.
                    log_warn!("{}  Warning - Unable to accept a connection: {}.", ps, strerror(&e));
                    thread::sleep(Duration::from_millis(100));
                    return;
                }
            }
        }
    }

    /// Admits an accepted connection and starts its thread; the thread holds the connection's
    /// slot until its record is processed (the socket's close ends its count as a
    /// connection). A refused connection is closed at once; refusals are logged at most
    /// once a second.
    fn spawn_connection(self: &Arc<Engine>, stream: TcpStream, peer: SocketAddr, port: u16, ps: &str) {
        static REFUSED: Throttle = Throttle::new(Duration::from_secs(1));
        let kind = Kind::Connection { relayed: self.relayed(Proto::Tcp, port) };
        let mut slot = match self.admit(peer.ip(), kind) {
            Ok(s) => s,
            Err(r) => {
                drop(stream);
                if let Some(n) = REFUSED.due() {
                    let why = Refusal { cause: r, peer: peer.ip() };
                    log_warn!(
                        "{}  Warning - Connection from {} refused: limit of {} reached{}.",
                        ps,
                        show(&peer),
                        why,
                        more(n)
                    );
                }
                return;
            }
        };
        let engine = Arc::clone(self);
        let spawned = thread::Builder::new().name(format!("conn {}", ps.trim_start())).spawn(move || {
            engine.connection(stream, peer, &mut slot);
        });
        if let Err(e) = spawned {
            static FAILED: Throttle = Throttle::new(Duration::from_secs(1));
            if let Some(n) = FAILED.due() {
                log_warn!(
                    "{}  Warning - Unable to handle the connection from {}: {}{}.",
                    ps,
                    show(&peer),
                    strerror(&e),
                    more(n)
                );
            }
        }
    }

    /// One connection, start to end, then its attack record through the pipeline; `slot` is
    /// told when the socket is closed. What is read goes into buffers owned here, so that a
    /// panic of the mode's handler loses nothing: it is logged, and the record is processed
    /// as usual.
    fn connection(&self, mut stream: TcpStream, peer: SocketAddr, slot: &mut Slot) {
        let s = self.settings();
        let start = SystemTime::now();
        let local = match stream.local_addr() {
            Ok(a) => a,
            Err(e) => {
                log_warn!("Warning - Unable to get the local address of a connection: {}.", strerror(&e));
                return;
            }
        };
        let _ = net::set_keepalive(&stream);
        let ps = portstr(local.port(), Proto::Tcp);
        log_notice!("   {}  Handling tcp connection request from {} to {}.", ps, show(&peer), show(&local));
        let mode = s.cfg.ports.mode_for(s.cfg.portconf_default, Proto::Tcp, local.port());
        let session_limit = match s.cfg.session_limit {
            0 => Duration::from_secs(u64::from(u32::MAX)),
            n => Duration::from_secs(n.into()),
        };
        let mut attack = Attack::new(Proto::Tcp, local, peer, mode, start);
        let outputs = &s.pipeline.outputs;
        if outputs.wants_events() {
            outputs.emit(&Event::connect(&outputs.session(&attack), start));
        }
        // From the attacker, and from the mirror/proxy peer.
        let mut bufs =
            [Intake::new(self.budget.charge(), s.cfg.read_limit), Intake::new(self.budget.charge(), s.cfg.read_limit)];
        let mut sent = 0;
        let served = panic::catch_unwind(AssertUnwindSafe(|| {
            if matches!(mode, Mode::Mirror | Mode::Proxy) {
                if let Some((kind, target, mut up)) = self.relay_target(&s, mode, &ps, local, peer) {
                    let params = RelayParams {
                        kind,
                        idle_timeout: relay::MIRROR_READ_TIMEOUT,
                        read_limit: s.cfg.read_limit,
                        session_limit,
                        portstr: ps.clone(),
                    };
                    let up_local = up.local_addr().unwrap_or(target);
                    attack.proxy = Some(ProxyConn { local: up_local, remote: target, payload: Payload::default() });
                    relay::relay_into(&mut stream, &mut up, &params, &self.stop, &mut bufs);
                    return;
                }
            }
            let params = SessionParams {
                read_timeout: s.read_timeout,
                read_limit: s.cfg.read_limit,
                session_limit,
                policy: s.cfg.response_policy,
                response: s.responses.get(Proto::Tcp, local.port()),
                portstr: ps.clone(),
            };
            conn::serve_normal_into(&mut stream, &params, &self.stop, &mut bufs[0], &mut sent);
        }));
        if let Err(p) = served {
            log_err!(
                "   {}  Error - Handling the connection from {} failed ({}), processing what was read.",
                ps,
                show(&peer),
                panic_text(&*p)
            );
        }
        drop(stream);
        slot.closed();
        let [client, upstream] = bufs;
        let (data, mut charge) = client.into_parts();
        attack.payload = Payload::new(data);
        attack.bytes_out = sent;
        if let Some(proxy) = &mut attack.proxy {
            let (data, c) = upstream.into_parts();
            attack.bytes_out = data.len() as u64;
            proxy.payload = Payload::new(data);
            charge.absorb(c);
        }
        attack.charge = charge;
        attack.end = SystemTime::now();
        process(&s, &mut attack);
    }

    /// The outgoing TCP connection of a mirrored or proxied connection: the target
    /// ([`choose_relay_target`]), connected within 3 s; or `None` after logging why this
    /// connection falls back to normal mode (the C texts of mirror and proxy mode).
    fn relay_target(
        &self,
        s: &Settings,
        mode: Mode,
        ps: &str,
        local: SocketAddr,
        peer: SocketAddr,
    ) -> Option<(RelayKind, SocketAddr, TcpStream)> {
        let (kind, target) = choose_relay_target(s, Proto::Tcp, mode, ps, local, peer)?;
        match relay::connect_target(target, relay::FAST_CONN_TIMEOUT) {
            Ok(up) => {
                relay::log_established(kind, ps, target);
                Some((kind, target, up))
            }
            Err(e) => {
                log_debug!("{}  Connection to {} failed: {}.", ps, show(&target), strerror(&e));
                relay::log_rejected(kind, ps);
                None
            }
        }
    }
}

/// Where a connection or flow from `peer` to `local` in `mode` is relayed, TCP and UDP alike
/// (the connect step is the caller's): mirror mode, the attacker's own address on the same
/// port; proxy mode, the port's target, resolved now. `None` for the other modes, and, after
/// logging why it falls back to normal mode, when the target would loop back to the sensor or
/// does not resolve. Unlike the C original, a failure affects only this connection, and a proxy
/// host that does not resolve does not end the server.
fn choose_relay_target(
    s: &Settings,
    proto: Proto,
    mode: Mode,
    ps: &str,
    local: SocketAddr,
    peer: SocketAddr,
) -> Option<(RelayKind, SocketAddr)> {
    match mode {
        Mode::Mirror => {
            let target = SocketAddr::new(peer.ip(), local.port());
            if relay::is_loop_target(target.ip(), &[local.ip()]) {
                relay::log_loop_suppressed(RelayKind::Mirror, ps, target);
                relay::log_rejected(RelayKind::Mirror, ps);
                return None;
            }
            Some((RelayKind::Mirror, target))
        }
        Mode::Proxy => {
            let t = s.cfg.ports.get(proto, local.port()).and_then(|p| p.proxy.clone())?;
            let Some(target) = relay::resolve_target(&t.host, t.port, local.ip()) else {
                relay::log_unresolved(ps, &t.host);
                relay::log_rejected(RelayKind::Proxy, ps);
                return None;
            };
            // Proxying a port to itself would loop through honeytrap forever.
            if target.port() == local.port() && relay::is_loop_target(target.ip(), &[local.ip()]) {
                relay::log_loop_suppressed(RelayKind::Proxy, ps, target);
                relay::log_rejected(RelayKind::Proxy, ps);
                return None;
            }
            Some((RelayKind::Proxy, target))
        }
        _ => None,
    }
}

/// Removes a server's table entry when its thread ends, however it ends: after a panic the
/// port is free, and the next request for it binds a new server. An entry that already
/// belongs to a later server on the same key is left alone.
struct EntryGuard<'a> {
    engine: &'a Engine,
    key: ListenKey,
    id: u64,
}

impl Drop for EntryGuard<'_> {
    fn drop(&mut self) {
        if thread::panicking() {
            log_err!("{}  Error - The server failed and was closed.", portstr(self.key.1.port(), self.key.0));
        }
        self.engine.forget(&self.key, self.id);
    }
}

/// A bound server socket, before its thread starts.
enum Server {
    Tcp(TcpListener),
    Udp(UdpSocket),
}

/// The memory budget for attack data: `max_buffered_bytes`, else the default from the memory
/// size.
fn buffer_budget(cfg: &Config) -> u64 {
    cfg.max_buffered_bytes.unwrap_or_else(crate::budget::default_cap)
}

/// The admission rules of `cfg`.
fn policy(cfg: &Config) -> Policy {
    Policy { cap: cfg.max_connections, share: cfg.max_connections_per_source }
}

/// The log text of a refused connection or flow, to follow "limit of".
/// Whether this is the first time port `port`/`proto` was found held by another program in
/// this run (a bit per port and protocol, set on the first call).
fn first_time_in_use(proto: Proto, port: u16) -> bool {
    use std::sync::atomic::AtomicU64;
    const WORDS: usize = 65536 / 64;
    static SEEN: [AtomicU64; 2 * WORDS] = [const { AtomicU64::new(0) }; 2 * WORDS];
    let bit = usize::from(port) + if proto == Proto::Udp { 65536 } else { 0 };
    let mask = 1u64 << (bit % 64);
    SEEN[bit / 64].fetch_or(mask, Ordering::Relaxed) & mask == 0
}

/// The counter of a refusal's cause.
fn stats_cause(r: Refused) -> stats::Cause {
    match r {
        Refused::Total(_) => stats::Cause::Total,
        Refused::Descriptors(_) => stats::Cause::Descriptors,
        Refused::Threads(_) => stats::Cause::Threads,
        Refused::Memory(_) => stats::Cause::Memory,
        Refused::Share(_) => stats::Cause::Share,
    }
}

/// The tail of a throttled line: how many were kept quiet since the last one.
fn more(n: u64) -> String {
    if n == 0 {
        String::new()
    } else {
        format!(" ({n} more since the last warning)")
    }
}

/// What a UDP server asks of the engine (udp/).
struct UdpServer {
    engine: Arc<Engine>,
    key: ListenKey,
    id: u64,
}

impl UdpHost for UdpServer {
    type Slot = Slot;

    fn params(&self, local: SocketAddr) -> UdpParams {
        let s = self.engine.settings();
        UdpParams {
            session: SessionParams {
                read_timeout: s.read_timeout,
                read_limit: s.cfg.read_limit,
                session_limit: Duration::from_secs(s.cfg.session_limit.into()),
                policy: s.cfg.response_policy,
                response: s.responses.get(Proto::Udp, local.port()),
                portstr: portstr(local.port(), Proto::Udp),
            },
            max_flows: s.cfg.max_connections.unwrap_or(MAX_CAPACITY) as usize,
            relay_timeout: relay::MIRROR_READ_TIMEOUT,
        }
    }

    fn relay_target(&self, local: SocketAddr, remote: SocketAddr) -> Option<(RelayKind, SocketAddr)> {
        let s = self.engine.settings();
        let mode = s.cfg.ports.mode_for(s.cfg.portconf_default, Proto::Udp, local.port());
        choose_relay_target(&s, Proto::Udp, mode, &portstr(local.port(), Proto::Udp), local, remote)
    }

    fn charge(&self) -> Charge {
        self.engine.budget.charge()
    }

    fn admit(&self, local: SocketAddr, remote: SocketAddr) -> Result<Slot, Refusal> {
        let kind = Kind::Flow { relayed: self.engine.relayed(Proto::Udp, local.port()) };
        self.engine.admit(remote.ip(), kind).map_err(|cause| Refusal { cause, peer: remote.ip() })
    }

    /// The flow is over (a relayed flow's socket is closed): it no longer counts as a
    /// connection; its slot goes with the record until processed.
    fn on_end(&self, rec: UdpFlowRecord, mut slot: Slot) {
        slot.closed();
        let s = self.engine.settings();
        let mode = s.cfg.ports.mode_for(s.cfg.portconf_default, Proto::Udp, rec.local.port());
        let mut attack = Attack::new(Proto::Udp, rec.local, rec.remote, mode, rec.start);
        attack.bytes_out = rec.bytes_out;
        attack.end = rec.end;
        attack.payload = Payload::new(rec.data);
        attack.proxy =
            rec.upstream.map(|u| ProxyConn { local: u.local, remote: u.target, payload: Payload::new(u.data) });
        attack.charge = rec.charge;
        self.engine.process_detached(attack, slot);
    }

    fn on_idle(&self, idle: Duration, socket: UdpSocket) -> Option<UdpSocket> {
        let mut table = self.engine.table();
        if table.get(&self.key).is_none_or(|st| st.id != self.id || st.evicted) {
            if table.get(&self.key).is_some_and(|st| st.id == self.id) {
                table.remove(&self.key);
            }
            drop(socket);
            drop(table);
            log_noisy!("-> {}  Server closed to make room for new ports.", portstr(self.key.1.port(), Proto::Udp));
            return None;
        }
        let Some(t) = self.engine.settings().listen_timeout else { return Some(socket) };
        let requested = table.get(&self.key).map_or(Duration::MAX, |st| st.last_activity.elapsed());
        if idle < t || requested < t {
            return Some(socket);
        }
        table.remove(&self.key);
        drop(socket);
        drop(table);
        log_noisy!(
            "-> {}  No incoming connection for {} seconds - server terminated.",
            portstr(self.key.1.port(), Proto::Udp),
            t.as_secs()
        );
        None
    }
}

/// Runs a finished attack through the pipeline when its connection ends: the summary line, then
/// the plugins this program implements, in configuration order.
pub fn process(s: &Settings, attack: &mut Attack) {
    let ps = portstr(attack.local.port(), attack.proto);
    if attack.payload.data.is_empty() {
        log_notice!(" * {}  No bytes received from {}.", ps, show(&attack.remote));
    } else {
        log_notice!(" * {}  {} bytes attack string from {}.", ps, attack.payload.data.len(), show(&attack.remote));
    }
    s.pipeline.process(attack);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pipeline::Pipeline;
    use crate::server::responses::Responses;
    use std::path::Path;

    #[test]
    fn a_port_in_use_is_reported_once_per_protocol() {
        assert!(first_time_in_use(Proto::Tcp, 65535));
        assert!(!first_time_in_use(Proto::Tcp, 65535));
        assert!(first_time_in_use(Proto::Udp, 65535));
        assert!(!first_time_in_use(Proto::Udp, 65535));
        assert!(first_time_in_use(Proto::Tcp, 0));
    }

    fn settings(conf: &str) -> Settings {
        let cfg = crate::config::load_str(conf, Path::new("t.conf"), Path::new("/")).unwrap();
        Settings {
            cfg,
            responses: Responses::default(),
            pipeline: Pipeline::default(),
            read_timeout: Duration::from_secs(1),
            listen_timeout: None,
        }
    }

    fn addr(s: &str) -> SocketAddr {
        s.parse().unwrap()
    }

    #[test]
    fn show_writes_addresses_as_the_formatter() {
        for a in ["0.0.0.0:0", "10.77.0.2:54050", "255.255.255.255:65535", "1.20.100.9:7", "[fd77::2]:80", "[::1]:0"] {
            assert_eq!(show(&addr(a)), addr(a).to_string());
        }
    }

    /// TCP and UDP choose their targets alike, each from its own protocol's entries.
    #[test]
    fn relay_targets_for_tcp_and_udp() {
        let s = settings(
            "portconf = {
                mirror = { protocol = \"udp\" port = \"5400\" }
                proxy = {
                    dns = { protocol = \"udp\" port = \"53\" target_host = \"192.0.2.9\" target_port = \"5353\" }
                    web = { protocol = \"tcp\" port = \"80\" target_host = \"[2001:db8::9]\" target_port = \"8080\" }
                    self = { protocol = \"udp\" port = \"69\" target_host = \"127.0.0.1\" target_port = \"69\" }
                }
            }",
        );
        let local = addr("198.51.100.1:53");
        let peer = addr("203.0.113.7:40000");
        let choose = |proto, port: u16, peer: SocketAddr| {
            let local = SocketAddr::new(local.ip(), port);
            let mode = s.cfg.ports.mode_for(s.cfg.portconf_default, proto, port);
            choose_relay_target(&s, proto, mode, &portstr(port, proto), local, peer)
        };
        assert_eq!(choose(Proto::Udp, 53, peer), Some((RelayKind::Proxy, addr("192.0.2.9:5353"))));
        assert_eq!(choose(Proto::Tcp, 80, peer), Some((RelayKind::Proxy, addr("[2001:db8::9]:8080"))));
        assert_eq!(choose(Proto::Udp, 5400, peer), Some((RelayKind::Mirror, addr("203.0.113.7:5400"))));
        // Normal mode, and the other protocol's entry.
        assert_eq!(choose(Proto::Tcp, 53, peer), None);
        assert_eq!(choose(Proto::Udp, 80, peer), None);
        // Loops: a mirror to a loopback or the sensor's own address, a proxy to itself.
        assert_eq!(choose(Proto::Udp, 5400, addr("127.0.0.1:9")), None);
        assert_eq!(choose(Proto::Udp, 5400, SocketAddr::new(local.ip(), 9)), None);
        assert_eq!(choose(Proto::Udp, 69, peer), None);
    }
}
