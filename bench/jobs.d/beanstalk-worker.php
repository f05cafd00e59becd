<?php
// A beanstalkd worker over a plain socket (Debian has no PHP client library): reserve, run,
// delete, in its text protocol (beanstalkd's doc/protocol.txt), run until killed.
require __DIR__ . '/job.php';
$conn = stream_socket_client('tcp://127.0.0.1:' . $argv[1], $errno, $error, 5);
if ($conn === false) { fwrite(STDERR, "beanstalk-worker: $error\n"); exit(1); }
while (true) {
    fwrite($conn, "reserve\r\n");
    $head = fgets($conn);
    if (!preg_match('/^RESERVED (\d+) (\d+)\r\n$/', (string)$head, $m)) {
        fwrite(STDERR, "beanstalk-worker: reserve: $head\n");
        exit(1);
    }
    $body = stream_get_contents($conn, (int)$m[2] + 2);
    run_job(substr($body, 0, -2));
    fwrite($conn, "delete $m[1]\r\n");
    if (fgets($conn) !== "DELETED\r\n") { fwrite(STDERR, "beanstalk-worker: delete failed\n"); exit(1); }
}
