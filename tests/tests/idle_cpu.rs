//! Idle sockets cost no CPU: with connections open, ports active and reads
//! pending, the process uses (almost) no CPU time. Alone in its binary
//! because it measures the CPU time of the whole process.

use std::thread;
use std::time::Duration;

use uvtcp::*;
use uvtcp_tests::*;

/// User plus system CPU time of this process, in clock ticks (`/proc/self/stat`).
fn cpu_ticks() -> u64 {
    let stat = std::fs::read_to_string("/proc/self/stat").expect("reading /proc/self/stat failed");
    // The fields after the command name, which is in parentheses: field 3
    // (state) is index 0, so utime (14) and stime (15) are 11 and 12.
    let after_command = &stat[stat.rfind(')').expect("malformed /proc/self/stat") + 2..];
    let fields: Vec<&str> = after_command.split_whitespace().collect();
    let utime: u64 = fields[11].parse().unwrap();
    let stime: u64 = fields[12].parse().unwrap();
    utime + stime
}

#[test]
fn idle_sockets_ports_and_pending_reads_use_no_cpu() {
    bounded(20, || {
        let iotask = new_iotask();
        let other_task = new_iotask();
        let pairs: Vec<(TcpSocket, TcpSocket)> = (0..10)
            .map(|index| {
                if index % 2 == 0 {
                    connected_pair(&iotask)
                } else {
                    connected_pair_on(localhost_v4(), &iotask, &other_task)
                }
            })
            .collect();
        let ports: Vec<ReadPort> = pairs[..5]
            .iter()
            .map(|(_, server)| t!(server.read_start()))
            .collect();
        let futures: Vec<_> = pairs[5..]
            .iter()
            .map(|(client, _)| client.read_future(0))
            .collect();
        let listener = t!(TcpListener::bind(localhost_v4(), 0, 16, &iotask));
        let accept_future = listener.accept_future();
        // Let the set-up work settle.
        thread::sleep(Duration::from_millis(200));

        let before = cpu_ticks();
        thread::sleep(Duration::from_millis(1500));
        let used = cpu_ticks() - before;
        // Clock ticks are usually 10 ms: a spinning or polling thread uses
        // about 150 in that time.
        assert!(
            used <= 15,
            "idle sockets used {used} clock ticks of CPU in 1.5 s"
        );

        // Everything still works afterwards.
        t!(pairs[0].0.write(&b"wake"[..]));
        let mut received = Vec::new();
        while received.len() < 4 {
            received.extend(t!(ports[0].recv_timeout(Duration::from_secs(5))));
        }
        assert_eq!(received, b"wake");
        drop(ports);
        drop(futures);
        drop(accept_future);
    });
}
