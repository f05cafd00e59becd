<?php
// One job per request: PHP-FPM runs this script for every job of a solo pool with
// `fastcgi = ADDRESS` and `script = /path/to/job.php` (see etc/pool.d/fastcgi.conf). The
// payload is the request body; the job's id, queue, attempt, pool and group (when it has one)
// are in $_SERVER. The response is the outcome:
//   a 2xx status      ok, with the body (64K at most) as the job's result (`solo wait --results`)
//   X-Solo-Outcome: retry [SECONDS]   again later (after SECONDS, else after retry_delay)
//   X-Solo-Outcome: fail [REASON]     dead at once, with REASON as its error
//   any other status  (a fatal error's 500, say) a retry, counted toward max_attempts
// PHP-FPM keeps recycling its children (pm.max_requests); solo keeps the queue and retries.
$payload = file_get_contents('php://input');
$id = (int)$_SERVER['SOLO_JOB_ID'];
$attempt = (int)$_SERVER['SOLO_ATTEMPT'];
$job = json_decode($payload, true);
if (!is_array($job)) {
    header('X-Solo-Outcome: fail the payload is not a JSON object');   // permanent: dead now
    exit;
}
try {
    // A demo's jobs: {"task": "..."} is done; "sleep" takes that many seconds (try it against
    // job_timeout); "flaky" fails its first that many attempts; "fail" is refused for good.
    if (isset($job['sleep'])) {
        usleep((int)($job['sleep'] * 1000000));
    }
    if ($attempt <= (int)($job['flaky'] ?? 0)) {
        throw new RuntimeException("attempt $attempt failed on purpose");
    }
    if (isset($job['fail'])) {
        header('X-Solo-Outcome: fail ' . $job['fail']);
        exit;
    }
    header('Content-Type: application/json');
    echo json_encode(['job' => $id, 'attempt' => $attempt, 'task' => $job['task'] ?? null,
                      'queue' => $_SERVER['SOLO_QUEUE'], 'group' => $_SERVER['SOLO_GROUP'] ?? null]);
} catch (RuntimeException $e) {
    error_log("job $id: " . $e->getMessage() . '; retrying');
    header('X-Solo-Outcome: retry 1');                                // transient: again in 1s
}
