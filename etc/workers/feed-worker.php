<?php
// A feed-mode worker in PHP: the runtime boots once (the PHP-FPM idea), then one job per line
// on STDIN and its outcome on fd 3. Use it with `command = php workers/feed-worker.php`.
// EOF on STDIN means "finish and exit": solo recycles the worker that way after max_jobs.
$solo = fopen('php://fd/' . (getenv('SOLO_FD') ?: '3'), 'w');
fwrite($solo, "ready\n");

while (($line = fgets(STDIN)) !== false) {
    $job = json_decode($line, true);
    if (!is_array($job)) {
        fwrite($solo, "fail not JSON\n");                 // permanent: the job is dead
        continue;
    }
    try {
        echo "worker ", getenv('SOLO_WORKER'), " sends ", json_encode($job), "\n";
        fwrite($solo, 'ok ' . json_encode(['sent' => true]) . "\n");
    } catch (Throwable $e) {
        fwrite($solo, "retry 30\n");                      // transient: again in 30 seconds
        fwrite(STDERR, "will retry: " . $e->getMessage() . "\n");
    }
}
