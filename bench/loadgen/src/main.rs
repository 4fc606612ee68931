//! Open-loop load at a fixed request rate, for latency below the knee.
//!
//! `loadgen ADDR PATH RATE SECONDS CONNECTIONS [Name: value]...`
//!
//! Each of CONNECTIONS keep-alive connections (one thread each) sends on its own fixed schedule
//! (RATE / CONNECTIONS requests per second, the connections' schedules staggered), one request
//! in flight at a time. Latency is measured from the moment the request is written until its
//! whole response is read. A send that starts more than one interval late (the previous
//! response was still outstanding, i.e. the arm is saturated) is counted as `late`, so a run
//! that is not really open-loop shows it. Prints one JSON object.

use std::io::{self, Read, Write};
use std::net::TcpStream;
use std::thread;
use std::time::{Duration, Instant};

struct Args {
    addr: String,
    request: Vec<u8>,
    rate: f64,
    seconds: f64,
    connections: usize,
}

fn parse_args() -> Result<Args, String> {
    let a: Vec<String> = std::env::args().skip(1).collect();
    let [addr, path, rate, seconds, connections, headers @ ..] = a.as_slice() else {
        return Err("usage: loadgen ADDR PATH RATE SECONDS CONNECTIONS [Name: value]...".into());
    };
    let num = |s: &str, what: &str| -> Result<f64, String> {
        s.parse::<f64>()
            .ok()
            .filter(|v| *v > 0.0)
            .ok_or_else(|| format!("{what} must be a positive number, got {s:?}"))
    };
    let mut request = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\n");
    for h in headers {
        request.push_str(h);
        request.push_str("\r\n");
    }
    request.push_str("\r\n");
    Ok(Args {
        addr: addr.clone(),
        request: request.into_bytes(),
        rate: num(rate, "RATE")?,
        seconds: num(seconds, "SECONDS")?,
        connections: num(connections, "CONNECTIONS")? as usize,
    })
}

/// Reads one HTTP/1.1 response (Content-Length or chunked-free bodies only). Returns the status.
fn read_response(conn: &mut TcpStream, buf: &mut Vec<u8>) -> io::Result<u16> {
    buf.clear();
    let mut chunk = [0u8; 16384];
    loop {
        let n = conn.read(&mut chunk)?;
        if n == 0 {
            return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "connection closed"));
        }
        buf.extend_from_slice(chunk.get(..n).unwrap_or_default());
        let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") else {
            continue;
        };
        let head = String::from_utf8_lossy(buf.get(..end).unwrap_or_default()).to_string();
        let status = head
            .split(' ')
            .nth(1)
            .and_then(|s| s.parse::<u16>().ok())
            .unwrap_or(0);
        let length = head
            .lines()
            .filter_map(|l| l.split_once(':'))
            .find(|(n, _)| n.trim().eq_ignore_ascii_case("content-length"))
            .and_then(|(_, v)| v.trim().parse::<usize>().ok())
            .unwrap_or(0);
        let want = end + 4 + length;
        while buf.len() < want {
            let n = conn.read(&mut chunk)?;
            if n == 0 {
                return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "body cut short"));
            }
            buf.extend_from_slice(chunk.get(..n).unwrap_or_default());
        }
        return Ok(status);
    }
}

struct ConnResult {
    latencies_ns: Vec<u64>,
    late: u64,
    errors: u64,
    non_2xx: u64,
}

fn run_connection(args: &Args, index: usize, start: Instant) -> ConnResult {
    let interval = Duration::from_secs_f64(args.connections as f64 / args.rate);
    let offset = interval.mul_f64(index as f64 / args.connections as f64);
    let end = start + Duration::from_secs_f64(args.seconds);
    let mut r = ConnResult {
        latencies_ns: Vec::new(),
        late: 0,
        errors: 0,
        non_2xx: 0,
    };
    let mut conn: Option<TcpStream> = None;
    let mut buf = Vec::with_capacity(16384);
    let mut due = start + offset;
    while due < end {
        let now = Instant::now();
        if due > now {
            thread::sleep(due - now);
        } else if now - due > interval {
            r.late += 1;
        }
        if conn.is_none() {
            conn = TcpStream::connect(&args.addr)
                .and_then(|c| c.set_nodelay(true).map(|_| c))
                .ok();
        }
        let Some(c) = conn.as_mut() else {
            r.errors += 1;
            due += interval;
            continue;
        };
        let sent = Instant::now();
        let result = c
            .write_all(&args.request)
            .and_then(|_| read_response(c, &mut buf));
        match result {
            Ok(status) => {
                r.latencies_ns.push(sent.elapsed().as_nanos() as u64);
                if !(200..300).contains(&status) {
                    r.non_2xx += 1;
                }
            }
            Err(_) => {
                r.errors += 1;
                conn = None;
            }
        }
        due += interval;
    }
    r
}

fn percentile(sorted: &[u64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted.get(i).copied().unwrap_or(0) as f64 / 1000.0
}

fn main() {
    let args = match parse_args() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("loadgen: {e}");
            std::process::exit(2);
        }
    };
    let start = Instant::now() + Duration::from_millis(50);
    let results: Vec<ConnResult> = thread::scope(|s| {
        let handles: Vec<_> = (0..args.connections)
            .map(|i| {
                let args = &args;
                s.spawn(move || run_connection(args, i, start))
            })
            .collect();
        handles.into_iter().filter_map(|h| h.join().ok()).collect()
    });
    let mut all: Vec<u64> = results
        .iter()
        .flat_map(|r| r.latencies_ns.iter().copied())
        .collect();
    all.sort_unstable();
    let late: u64 = results.iter().map(|r| r.late).sum();
    let errors: u64 = results.iter().map(|r| r.errors).sum();
    let non_2xx: u64 = results.iter().map(|r| r.non_2xx).sum();
    println!(
        "{{\"requests\":{},\"achieved_rps\":{:.1},\"p50_us\":{:.1},\"p90_us\":{:.1},\"p99_us\":{:.1},\"max_us\":{:.1},\"late\":{late},\"errors\":{errors},\"non_2xx\":{non_2xx}}}",
        all.len(),
        all.len() as f64 / args.seconds,
        percentile(&all, 0.50),
        percentile(&all, 0.90),
        percentile(&all, 0.99),
        percentile(&all, 1.0),
    );
}
