//! The fast lane's side of serving (`io::lane`): the accept threads of a
//! plain listener (blocking `accept` on a `TCP_DEFER_ACCEPT` socket, a whole
//! plain head answered on the spot), the hand-off of every other connection to
//! a connection task, which answers with the lane until a request is not the
//! lane's and then gives hyper the connection with the bytes already read
//! ([`Prefixed`]), and writing answers (`sendfile(2)` for file bodies on plain
//! TCP). The module doc of `io::serve` says when which path runs.
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use axum::http::Method;
use bytes::{Buf as _, Bytes, BytesMut};
use tokio::io::{AsyncRead, AsyncReadExt as _, AsyncWrite, AsyncWriteExt as _, ReadBuf};

use super::{Busy, Conn, Shared, SlotGuard, Tracker};
use crate::io::lane::{self, Lane, Parsed};

/// A connection an accept thread hands to the runtime, with what it read
/// and did not answer, and what it could not write yet.
struct Handoff {
    stream: std::net::TcpStream,
    remote: SocketAddr,
    pending: Pending,
}

/// Where an accept thread left a connection.
#[derive(Default)]
pub(super) struct Pending {
    /// Bytes read and not yet answered.
    input: BytesMut,
    /// The rest of an answer begun on the accept thread.
    output: Vec<Segment>,
    /// Close once `output` is written.
    close: bool,
    /// A request was answered already: the connection is idle after it.
    answered: bool,
}

/// The accept threads of a plain listener with a lane (module doc).
pub(super) async fn serve_inline(
    listener: tokio::net::TcpListener,
    lane: Lane,
    shared: Arc<Shared>,
    mut stop: tokio::sync::watch::Receiver<bool>,
) -> std::io::Result<()> {
    let listener = listener.into_std()?;
    listener.set_nonblocking(false)?;
    defer_accept(&listener);
    let acceptors = Acceptors {
        listener: Arc::new(listener),
        stopping: Arc::new(std::sync::atomic::AtomicBool::new(false)),
    };
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<Handoff>();
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get().min(16));
    let mut handles = Vec::with_capacity(threads);
    for i in 0..threads {
        let listener = acceptors.listener.clone();
        let stopping = acceptors.stopping.clone();
        let (lane, tx, tracker) = (lane.clone(), tx.clone(), shared.tracker.clone());
        handles.push(
            std::thread::Builder::new()
                .name(format!("hotpush-accept-{i}"))
                .spawn(move || accept_loop(&listener, &lane, &tx, &stopping, &tracker))?,
        );
    }
    drop(tx);
    let mut conns = tokio::task::JoinSet::new();
    let ended = loop {
        let handoff = tokio::select! {
            h = rx.recv() => h,
            Ok(_) = stop.wait_for(|s| *s) => break Ok(()),
            Some(_) = conns.join_next(), if !conns.is_empty() => continue,
        };
        let Some(h) = handoff else {
            break Err(std::io::Error::other(
                "every accept thread of the listener ended",
            ));
        };
        let Some(slot) = shared.tracker.admit() else {
            tracing::debug!(remote = %h.remote, "connection refused: the listener is at its cap and none is idle");
            continue;
        };
        let Ok(stream) = tokio::net::TcpStream::from_std(h.stream) else {
            continue;
        };
        let (shared, lane, stop) = (shared.clone(), lane.clone(), stop.clone());
        conns.spawn(async move {
            let guard = SlotGuard(slot.clone());
            let conn = Conn {
                shared: &shared,
                remote: h.remote,
                slot,
                stop,
            };
            conn.lane(stream, &lane, h.pending).await;
            drop(guard);
        });
    };
    // Wakes the threads blocked in accept and closes the socket once they
    // are gone, before this returns: the port is free then.
    drop(acceptors);
    let _ = tokio::task::spawn_blocking(move || {
        for h in handles {
            let _ = h.join();
        }
    })
    .await;
    drop(rx);
    while conns.join_next().await.is_some() {}
    ended
}

/// Asks the kernel to hand over a new connection only once its first bytes
/// have arrived (`TCP_DEFER_ACCEPT`, 1 s; nginx's `deferred`), so that the
/// accept thread's one read finds the whole request head and answers it on
/// the spot instead of handing a connection with nothing read to the runtime
/// (the difference between 27 and 12 µs of CPU per idle check, BENCHMARKS.md).
/// A connection that sends nothing is handed over after about a second and
/// then treated like any other. Best effort: without it, only slower.
fn defer_accept(listener: &std::net::TcpListener) {
    use std::os::fd::AsRawFd as _;
    let secs: libc::c_int = 1;
    // SAFETY: sets an integer option on a socket the caller owns; the
    // pointer and length describe `secs`.
    let rc = unsafe {
        libc::setsockopt(
            listener.as_raw_fd(),
            libc::IPPROTO_TCP,
            libc::TCP_DEFER_ACCEPT,
            (&secs as *const libc::c_int).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    if rc != 0 {
        tracing::debug!(error = %std::io::Error::last_os_error(), "TCP_DEFER_ACCEPT not set");
    }
}

/// The listening socket shared by the accept threads; dropping this tells
/// them to stop and wakes those blocked in `accept` (`shutdown(2)` on a
/// listening socket ends its `accept`s with `EINVAL`).
struct Acceptors {
    listener: Arc<std::net::TcpListener>,
    stopping: Arc<std::sync::atomic::AtomicBool>,
}

impl Drop for Acceptors {
    fn drop(&mut self) {
        use std::os::fd::AsRawFd as _;
        self.stopping.store(true, Ordering::Release);
        // SAFETY: shutdown only changes the state of the socket this struct
        // keeps open; the descriptor stays valid until the last Arc is gone.
        unsafe {
            libc::shutdown(self.listener.as_raw_fd(), libc::SHUT_RDWR);
        }
    }
}

/// One accept thread: accept, answer what is whole and the lane's, hand the
/// rest to the runtime.
fn accept_loop(
    listener: &std::net::TcpListener,
    lane: &Lane,
    tx: &tokio::sync::mpsc::UnboundedSender<Handoff>,
    stopping: &std::sync::atomic::AtomicBool,
    tracker: &Tracker,
) {
    let mut buf = vec![0u8; lane::HEAD_BYTES_MAX];
    loop {
        let accepted = listener.accept();
        if stopping.load(Ordering::Acquire) {
            return;
        }
        let (stream, remote) = match accepted {
            Ok(a) => a,
            Err(e) => {
                if matches!(e.raw_os_error(), Some(libc::EMFILE | libc::ENFILE)) {
                    // Out of descriptors: make room and try again shortly.
                    tracker.evict_idle();
                    tracing::warn!(error = %e, "accepting a connection failed");
                    std::thread::sleep(Duration::from_millis(20));
                }
                continue;
            }
        };
        if stream.set_nonblocking(true).is_err() {
            continue;
        }
        let _ = stream.set_nodelay(true);
        if let Some(handoff) = answer_inline(stream, remote, &mut buf, lane) {
            if tx.send(handoff).is_err() {
                return;
            }
        }
    }
}

/// Answers the first request of a new connection on the accept thread when
/// it is all there and the lane's; `None` when the connection is done (closed
/// after its answer, or by the client, or failed).
fn answer_inline(
    stream: std::net::TcpStream,
    remote: SocketAddr,
    buf: &mut [u8],
    lane: &Lane,
) -> Option<Handoff> {
    use std::io::Read as _;
    let n = match (&stream).read(buf) {
        Ok(0) => return None,
        Ok(n) => n,
        Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => 0,
        Err(_) => return None,
    };
    let mut pending = Pending {
        input: BytesMut::from(&buf[..n]),
        ..Pending::default()
    };
    if let Step::Answer(len, close, mut output) = lane_step(&pending.input, lane) {
        write_now(&stream, &mut output).ok()?;
        if output.is_empty() && close {
            return None;
        }
        pending.input.advance(len);
        pending.output = output;
        pending.close = close;
        pending.answered = true;
    }
    Some(Handoff {
        stream,
        remote,
        pending,
    })
}

/// What the lane does with the bytes at the start of `input`.
enum Step {
    /// Answered: the head's length, whether to close after it, the bytes to
    /// write.
    Answer(usize, bool, Vec<Segment>),
    /// Not a whole head yet: read more.
    Partial,
    /// Not the lane's (or the lane left it; a panicking lane too, whose
    /// router then answers 500): hyper takes the connection.
    Hyper,
}

/// The lane's [`Step`] for the head at the start of `input`.
fn lane_step(input: &[u8], lane: &Lane) -> Step {
    let head = match lane::parse(input) {
        Parsed::Lane(head) => head,
        Parsed::Partial => return Step::Partial,
        Parsed::Other => return Step::Hyper,
    };
    let answered = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| lane(&head.req)));
    let Ok(Some(answer)) = answered else {
        return Step::Hyper;
    };
    let (bytes, body) = lane::encode(&answer, head.req.method() == Method::HEAD, head.close);
    let mut output = vec![Segment {
        bytes: Bytes::from(bytes),
        file: None,
    }];
    if !body.is_empty() {
        let file = answer.extensions().get::<lane::FileBody>();
        output.push(Segment {
            bytes: body,
            file: file.map(|f| (f.0.clone(), 0)),
        });
    }
    Step::Answer(head.len, head.close, output)
}

/// Part of an answer still to write: bytes that may also be a file's from
/// `offset` on, which plain TCP sends with `sendfile(2)` (`lane::FileBody`).
struct Segment {
    bytes: Bytes,
    file: Option<(Arc<std::fs::File>, u64)>,
}

/// Drops `n` written bytes from the front of `segments`.
fn advance(segments: &mut Vec<Segment>, mut n: usize) {
    let mut done = 0;
    for s in segments.iter_mut() {
        let len = s.bytes.len();
        let step = n.min(len);
        s.bytes.advance(step);
        if let Some((_, offset)) = &mut s.file {
            *offset += step as u64;
        }
        n -= step;
        if step == len {
            done += 1;
        } else {
            break;
        }
    }
    segments.drain(..done);
}

/// `sendfile(2)` of up to `len` bytes of `file` from `offset` to `socket`.
fn send_file(
    socket: std::os::fd::RawFd,
    file: &std::fs::File,
    offset: u64,
    len: usize,
) -> std::io::Result<usize> {
    use std::os::fd::AsRawFd as _;
    let mut off = libc::off_t::try_from(offset).map_err(std::io::Error::other)?;
    // SAFETY: both descriptors are open for the duration of the call; `off`
    // is a valid off_t the kernel reads and updates.
    let n = unsafe { libc::sendfile(socket, file.as_raw_fd(), &mut off, len.min(1 << 30)) };
    usize::try_from(n).map_err(|_| std::io::Error::last_os_error())
}

/// Writes what the socket takes now (non-blocking); what is left stays in
/// `segments`. The head goes with `MSG_MORE` when file bytes follow, so that
/// both leave in one packet where they fit.
fn write_now(stream: &std::net::TcpStream, segments: &mut Vec<Segment>) -> std::io::Result<()> {
    use std::io::Write as _;
    use std::os::fd::AsRawFd as _;
    let fd = stream.as_raw_fd();
    while let Some(first) = segments.first() {
        let written = match &first.file {
            Some((file, offset)) => send_file(fd, file, *offset, first.bytes.len()),
            None if segments.get(1).is_some_and(|s| s.file.is_some()) => {
                let b = &first.bytes;
                // SAFETY: `b` is valid for `b.len()` bytes for the call.
                let n = unsafe {
                    libc::send(
                        fd,
                        b.as_ptr().cast(),
                        b.len(),
                        libc::MSG_MORE | libc::MSG_NOSIGNAL,
                    )
                };
                usize::try_from(n).map_err(|_| std::io::Error::last_os_error())
            }
            None => {
                let slices: Vec<std::io::IoSlice<'_>> = segments
                    .iter()
                    .map(|s| std::io::IoSlice::new(&s.bytes))
                    .collect();
                (&*stream).write_vectored(&slices)
            }
        };
        match written {
            Ok(0) => return Err(std::io::ErrorKind::WriteZero.into()),
            Ok(n) => advance(segments, n),
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => return Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// A stream the lane answers on: plain TCP sends file bytes with
/// `sendfile(2)`, TLS copies them.
pub(super) trait LaneStream: AsyncRead + AsyncWrite + Unpin + Send + 'static {
    fn sends_files(&self) -> bool {
        false
    }

    /// Sends up to `len` bytes of `file` from `offset` (only called when
    /// [`LaneStream::sends_files`]).
    fn poll_send_file(
        &mut self,
        _cx: &mut Context<'_>,
        _file: &std::fs::File,
        _offset: u64,
        _len: usize,
    ) -> Poll<std::io::Result<usize>> {
        Poll::Ready(Err(std::io::ErrorKind::Unsupported.into()))
    }
}

impl LaneStream for tokio::net::TcpStream {
    fn sends_files(&self) -> bool {
        true
    }

    fn poll_send_file(
        &mut self,
        cx: &mut Context<'_>,
        file: &std::fs::File,
        offset: u64,
        len: usize,
    ) -> Poll<std::io::Result<usize>> {
        use std::os::fd::AsRawFd as _;
        let fd = self.as_raw_fd();
        loop {
            match self.poll_write_ready(cx) {
                Poll::Ready(Ok(())) => {}
                other => return other.map(|r| r.map(|()| 0)),
            }
            match self.try_io(tokio::io::Interest::WRITABLE, || {
                send_file(fd, file, offset, len)
            }) {
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => continue,
                done => return Poll::Ready(done),
            }
        }
    }
}

impl LaneStream for tokio_rustls::server::TlsStream<tokio::net::TcpStream> {}

/// Writes every segment.
async fn write_all<S: LaneStream>(
    stream: &mut S,
    segments: &mut Vec<Segment>,
) -> std::io::Result<()> {
    let files = stream.sends_files();
    while let Some(first) = segments.first() {
        let n = match &first.file {
            Some((file, offset)) if files => {
                let (file, offset, len) = (file.clone(), *offset, first.bytes.len());
                std::future::poll_fn(|cx| stream.poll_send_file(cx, &file, offset, len)).await?
            }
            _ => {
                let upto = if files {
                    segments
                        .iter()
                        .position(|s| s.file.is_some())
                        .unwrap_or(segments.len())
                } else {
                    segments.len()
                };
                let slices: Vec<std::io::IoSlice<'_>> = segments[..upto]
                    .iter()
                    .map(|s| std::io::IoSlice::new(&s.bytes))
                    .collect();
                stream.write_vectored(&slices).await?
            }
        };
        if n == 0 {
            return Err(std::io::ErrorKind::WriteZero.into());
        }
        advance(segments, n);
    }
    stream.flush().await
}

impl Conn<'_> {
    /// Answers with the lane while requests are the lane's, then hands the
    /// connection, with the bytes read, to hyper. A head must arrive whole
    /// within the header-read timeout of its first byte (of the connection,
    /// for the first request); between requests the connection is idle: the
    /// idle timeout, eviction and shutdown close it.
    pub(super) async fn lane<S: LaneStream>(
        mut self,
        mut stream: S,
        lane: &Lane,
        pending: Pending,
    ) {
        let limits = self.shared.limits;
        let Pending {
            mut input,
            mut output,
            mut close,
            answered,
        } = pending;
        // The first head counts from the connection's start, a later one
        // from its first byte.
        let mut head_started = (!answered || !input.is_empty()).then(Instant::now);
        loop {
            if !output.is_empty() {
                let busy = Busy::start(self.slot.clone());
                let written = tokio::select! {
                    w = write_all(&mut stream, &mut output) => w.is_ok(),
                    _ = self.slot.evict.notified() => false,
                };
                drop(busy);
                if !written {
                    return;
                }
                head_started = (!input.is_empty()).then(Instant::now);
            }
            if close {
                let _ = stream.shutdown().await;
                return;
            }
            match lane_step(&input, lane) {
                Step::Answer(len, c, out) => {
                    input.advance(len);
                    (output, close) = (out, c);
                    continue;
                }
                Step::Hyper => break,
                Step::Partial => {}
            }
            let idle = input.is_empty();
            let deadline = match head_started {
                Some(t) => t + limits.header_read_timeout,
                None => self.slot.idle_deadline(limits.idle_timeout),
            };
            input.reserve(4096);
            tokio::select! {
                r = stream.read_buf(&mut input) => match r {
                    Ok(0) | Err(_) => return,
                    Ok(_) => {
                        head_started.get_or_insert_with(Instant::now);
                    }
                },
                _ = self.slot.evict.notified() => return,
                _ = tokio::time::sleep_until(deadline.into()) => return,
                Ok(_) = self.stop.wait_for(|s| *s), if idle => return,
            }
        }
        let stream = Prefixed {
            prefix: input.freeze(),
            inner: stream,
        };
        self.hyper(stream, Some(false)).await;
    }
}

/// A stream that first yields bytes already read from it.
struct Prefixed<S> {
    prefix: Bytes,
    inner: S,
}

impl<S: AsyncRead + Unpin> AsyncRead for Prefixed<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let this = self.get_mut();
        if !this.prefix.is_empty() {
            let n = this.prefix.len().min(buf.remaining());
            buf.put_slice(&this.prefix[..n]);
            this.prefix.advance(n);
            return Poll::Ready(Ok(()));
        }
        Pin::new(&mut this.inner).poll_read(cx, buf)
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Prefixed<S> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn advancing_segments_moves_bytes_and_file_offsets_together() {
        let file = Arc::new(tempfile::tempfile().unwrap());
        let mut segs = vec![
            Segment {
                bytes: Bytes::from_static(b"head"),
                file: None,
            },
            Segment {
                bytes: Bytes::from_static(b"0123456789"),
                file: Some((file, 0)),
            },
        ];
        advance(&mut segs, 2);
        assert_eq!(segs.len(), 2);
        assert_eq!(segs[0].bytes, "ad");
        advance(&mut segs, 5);
        assert_eq!(segs.len(), 1, "the head is written");
        assert_eq!(segs[0].bytes, "3456789");
        assert_eq!(segs[0].file.as_ref().unwrap().1, 3);
        advance(&mut segs, 7);
        assert!(segs.is_empty());
    }
}
