<?php
// The one job every PHP system runs: parse a small JSON payload, hash it, and record its id with
// the time it was done (CLOCK_MONOTONIC ns) in a file of this process's own, opened for append in
// $JOBS_OUT. Included by the workers; run as `php job.php PAYLOAD` it does one job and exits (the
// process-per-job baseline).
function run_job(string $payload): void {
    static $out = null;
    $job = json_decode($payload, true, 8, JSON_THROW_ON_ERROR);
    hash('sha256', $payload);
    if ($out === null) $out = fopen(getenv('JOBS_OUT') . '/' . getmypid(), 'a');
    fwrite($out, $job['id'] . ' ' . hrtime(true) . "\n");
}

if (realpath($_SERVER['SCRIPT_FILENAME']) === __FILE__) run_job($argv[1]);
