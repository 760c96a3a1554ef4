//! Drop orders tried: seven objects of one connection (the IoTask, the
//! listener, both sockets, a read port, a pending read and a pending write)
//! dropped in every order, or a random sample of the orders. No order may
//! panic, hang or leave a descriptor or a thread behind.

use std::any::Any;
use std::time::{Duration, Instant};

use uvtcp::{IoTask, TcpListener, connect};

use super::report::{CaseReport, Table};
use super::system::{Failure, Rng, open_fds, threads, wait_until, within};
use super::{Scale, localhost};

const OBJECTS: [&str; 7] = [
    "IoTask",
    "TcpListener",
    "client TcpSocket",
    "server TcpSocket",
    "ReadPort (server)",
    "pending read Future (client)",
    "pending write Future (client)",
];
/// The pending write: more than loopback's socket buffers hold while the
/// server reads one chunk into its port and stops.
const WRITE_BYTES: usize = 8 << 20;

/// Runs the case.
pub fn run(scale: &Scale) -> CaseReport {
    let mut report = CaseReport::new("Drop orders tried");
    let all = permutations(OBJECTS.len());
    let orders = match scale.drop_orders {
        None => all,
        Some(count) => {
            let mut rng = Rng::new(scale.seed ^ 0xd0d0);
            let picks = rng.permutation(all.len());
            picks[..count.min(all.len())]
                .iter()
                .map(|&pick| all[pick].clone())
                .collect()
        }
    };
    report.tried.push(format!(
        "{} of the {} orders of dropping {}; the write future is {} MiB that the server, with a \
         read buffer limit of 0 and nobody receiving from its port, cannot take.",
        orders.len(),
        permutations(OBJECTS.len()).len(),
        OBJECTS.join(", "),
        WRITE_BYTES >> 20
    ));
    report.tried.push(
        "After each order the process's descriptor and thread counts must return to their \
         counts from before it (the loop thread exits), within 10 s; each order is bounded to \
         10 s."
            .to_string(),
    );
    let fds_before = open_fds();
    let threads_before = threads();
    let started = Instant::now();
    let mut both_pending = 0;
    let mut slowest = Duration::ZERO;
    let mut settle_slowest = Duration::ZERO;
    for order in &orders {
        let order_started = Instant::now();
        let names: Vec<&str> = order.iter().map(|&index| OBJECTS[index]).collect();
        let owned = order.clone();
        match within(scale.seconds(10), move || drop_in_order(&owned)) {
            Ok(Ok(pending)) => both_pending += usize::from(pending),
            Ok(Err(error)) => report
                .failures
                .push(format!("order {}: {error}", names.join(" < "))),
            Err(Failure::Panicked(message)) => report
                .failures
                .push(format!("order {} panicked: {message}", names.join(" < "))),
            Err(Failure::Hung) => {
                report
                    .failures
                    .push(format!("order {} hung", names.join(" < ")));
                break;
            }
        }
        slowest = slowest.max(order_started.elapsed());
        let settle_started = Instant::now();
        let settled = wait_until(scale.seconds(10), || {
            open_fds() <= fds_before && threads() <= threads_before
        });
        settle_slowest = settle_slowest.max(settle_started.elapsed());
        if !settled {
            report.failures.push(format!(
                "order {}: {} descriptors and {} threads left (before: {fds_before} and \
                 {threads_before})",
                names.join(" < "),
                open_fds(),
                threads()
            ));
            break;
        }
    }
    let mut table = Table::new(&["measure", "value"]);
    table.row(vec!["orders tried".into(), orders.len().to_string()]);
    table.row(vec![
        "orders with both futures still pending at the drops".into(),
        both_pending.to_string(),
    ]);
    table.row(vec![
        "panics, hangs, leaks".into(),
        format!(
            "{}, {}, {}",
            report.failures_mentioning("panicked"),
            report.failures_mentioning("hung"),
            report.failures_mentioning("left")
        ),
    ]);
    table.row(vec![
        "slowest order (setup and drops)".into(),
        format!("{} ms", slowest.as_millis()),
    ]);
    table.row(vec![
        "slowest return to the baseline counts".into(),
        format!("{} ms", settle_slowest.as_millis()),
    ]);
    table.row(vec![
        "descriptors / threads after the last order".into(),
        format!(
            "{} / {} (before: {fds_before} / {threads_before})",
            open_fds(),
            threads()
        ),
    ]);
    table.row(vec![
        "total time".into(),
        format!("{:.1} s", started.elapsed().as_secs_f64()),
    ]);
    report.tables.push(table);
    report
}

/// Builds the seven objects, then drops them in `order`; returns whether
/// both futures were still pending when the drops began.
fn drop_in_order(order: &[usize]) -> Result<bool, String> {
    let io_task = IoTask::spawn().map_err(|e| format!("IoTask::spawn: {e}"))?;
    let listener =
        TcpListener::bind(localhost(), 0, 4, &io_task).map_err(|e| format!("bind: {e}"))?;
    let port = listener.local_addr().map_err(|e| e.to_string())?.port();
    let client = connect(localhost(), port, &io_task).map_err(|e| format!("connect: {e}"))?;
    let server = listener
        .accept_timeout(5000)
        .map_err(|e| format!("accept: {e}"))?;
    server.set_read_buffer_limit(0);
    let read_port = server
        .read_start()
        .map_err(|e| format!("read_start: {e}"))?;
    let read = client.read_future(0);
    let write = client.write_future(vec![0x77; WRITE_BYTES]);
    let pending = !read.is_ready() && !write.is_ready();
    let mut objects: Vec<Option<Box<dyn Any + Send>>> = vec![
        Some(Box::new(io_task)),
        Some(Box::new(listener)),
        Some(Box::new(client)),
        Some(Box::new(server)),
        Some(Box::new(read_port)),
        Some(Box::new(read)),
        Some(Box::new(write)),
    ];
    for &index in order {
        drop(objects[index].take());
    }
    Ok(pending)
}

/// Every order of `0..n`, in lexicographic order.
fn permutations(n: usize) -> Vec<Vec<usize>> {
    let mut current: Vec<usize> = (0..n).collect();
    let mut all = vec![current.clone()];
    // Next permutation, until the sequence is descending.
    loop {
        let Some(pivot) = (1..n).rev().find(|&i| current[i - 1] < current[i]) else {
            return all;
        };
        let successor = (pivot..n)
            .rev()
            .find(|&i| current[i] > current[pivot - 1])
            .expect("a larger element follows the pivot");
        current.swap(pivot - 1, successor);
        current[pivot..].reverse();
        all.push(current.clone());
    }
}

#[cfg(test)]
mod tests {
    use super::permutations;

    #[test]
    fn seven_objects_have_5040_distinct_orders() {
        let all = permutations(7);
        assert_eq!(all.len(), 5040);
        let mut sorted = all.clone();
        sorted.sort();
        sorted.dedup();
        assert_eq!(sorted.len(), 5040);
    }
}
