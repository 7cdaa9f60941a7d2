//! A fake cluster node for unit tests: answers each command with what a
//! closure says, so redirects can be scripted.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::Arc;

use gyre_resp::{parse_frame, Frame, Limits};

/// How a fake node answers one command (its words, as text), given how many
/// commands its connection has had (counting this one) and whether the
/// previous one was `ASKING`. Returns the raw RESP reply.
pub type Answer = dyn Fn(&[String], u64, bool) -> String + Send + Sync;

/// Starts a fake node on a free port of 127.0.0.1 and returns the port: a
/// thread per connection, each ending when the client hangs up. The
/// listener lives as long as the test process.
pub fn fake_node(answer: Arc<Answer>) -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind a fake node");
    let port = listener.local_addr().expect("local addr").port();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(stream) = stream else { return };
            let answer = Arc::clone(&answer);
            std::thread::spawn(move || serve(stream, &*answer));
        }
    });
    port
}

fn serve(mut stream: TcpStream, answer: &Answer) {
    let (mut buf, mut chunk) = (Vec::new(), [0u8; 4096]);
    let (mut count, mut asking) = (0, false);
    loop {
        while let Ok(Some((Frame::Array(args), used))) = parse_frame(&buf, &Limits::default()) {
            buf.drain(..used);
            let words: Vec<String> = args
                .iter()
                .map(|a| match a {
                    Frame::Bulk(b) => String::from_utf8_lossy(b).into_owned(),
                    other => format!("{other:?}"),
                })
                .collect();
            count += 1;
            let reply = answer(&words, count, asking);
            asking = words[0] == "ASKING";
            if stream.write_all(reply.as_bytes()).is_err() {
                return;
            }
        }
        match stream.read(&mut chunk) {
            Ok(0) | Err(_) => return,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    }
}
